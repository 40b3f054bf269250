package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/stride-engine/stride/sandbox"
)

// cmdSandbox runs the local fakes of the Fitbit API and Marketing Cloud.
func cmdSandbox(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("sandbox", "[options]",
		"Runs local fakes of the Fitbit Web API (OAuth, profile, activities, subscriptions,\n"+
			"notifications) and of Marketing Cloud's CUAN_IMPORT_SRV on loopback ports, prints\n"+
			"their URLs and the variables to give `stride run`, and serves until SIGINT/SIGTERM.\n\n"+
			"The authorization page approves without a human: add sandbox_user=ID (default ADA1),\n"+
			"sandbox_scopes=\"activity profile\" (default: all requested) or sandbox_deny=1 to its URL.\n"+
			"Control endpoints (no auth) live under /sandbox/ on both; see the sandbox package docs.", stderr)
	fitbitAddr := fs.String("fitbit-addr", "127.0.0.1:9001", "Fitbit fake listen address (loopback only; port 0 picks one)")
	mkcAddr := fs.String("mkc-addr", "127.0.0.1:9002", "Marketing Cloud fake listen address (loopback only)")
	clientID := fs.String("client-id", sandbox.DefaultClientID, "the registered Fitbit app's client id")
	clientSecret := fs.String("client-secret", sandbox.DefaultClientSecret, "the registered Fitbit app's client secret")
	redirectURI := fs.String("redirect-uri", sandbox.DefaultRedirectURI, "registered callback URL(s), comma-separated; the first is printed")
	verifyCode := fs.String("verify-code", sandbox.DefaultVerifyCode, "subscriber verification code (printed as FITBIT_VERIFY_CODE)")
	rateLimit := fs.Int("rate-limit", sandbox.DefaultRateLimit, "Fitbit API requests per hour per user (negative: unlimited)")
	mkcUser := fs.String("mkc-user", sandbox.DefaultMKCUser, "Marketing Cloud communication user")
	mkcPassword := fs.String("mkc-password", sandbox.DefaultMKCPassword, "Marketing Cloud communication user's password")
	envOut := fs.String("env-out", "", "also write the variables to `FILE` (KEY=VALUE lines, for stride run --env-file)")
	verbose := fs.Bool("v", false, "log every request to stderr")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "stride sandbox: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var uris []string
	for _, u := range strings.Split(*redirectURI, ",") {
		if u = strings.TrimSpace(u); u != "" {
			uris = append(uris, u)
		}
	}
	cfg := sandbox.Config{
		FitbitAddr: *fitbitAddr,
		MKCAddr:    *mkcAddr,
		Fitbit: sandbox.FitbitOptions{
			ClientID: *clientID, ClientSecret: *clientSecret, RedirectURIs: uris, RateLimit: *rateLimit,
		},
		MKC:        sandbox.MarketingCloudOptions{User: *mkcUser, Password: *mkcPassword},
		VerifyCode: *verifyCode,
		EnvOut:     *envOut,
	}
	if *verbose {
		cfg.Log = stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := sandbox.Serve(ctx, cfg, stdout); err != nil {
		fmt.Fprintf(stderr, "stride sandbox: %v\n", err)
		return 1
	}
	return 0
}
