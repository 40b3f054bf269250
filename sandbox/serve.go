package sandbox

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// Config is what Serve runs.
type Config struct {
	FitbitAddr string // loopback HOST:PORT; "" → 127.0.0.1:0
	MKCAddr    string // loopback HOST:PORT; "" → 127.0.0.1:0
	GoogleAddr string // loopback HOST:PORT; "" → 127.0.0.1:0
	Fitbit     FitbitOptions
	MKC        MarketingCloudOptions
	Google     GoogleHealthOptions
	// GoogleWebhookAuthorization is the Authorization header the fake
	// Google sends to webhooks (printed as GOOGLE_HEALTH_WEBHOOK_AUTHORIZATION);
	// default "Bearer sandbox-webhook".
	GoogleWebhookAuthorization string
	// VerifyCode is the subscriber verification code registered with the
	// fake Fitbit app (printed as FITBIT_VERIFY_CODE); default "sandbox-verify-code".
	VerifyCode string
	// EnvOut, when set, also writes the variables to this file (KEY=VALUE
	// lines, for `stride run --env-file`).
	EnvOut string
	// Log, when set, gets one line per request: "fitbit GET /path 200 1.2ms".
	Log io.Writer
}

// DefaultVerifyCode is the subscriber verification code of `stride sandbox`.
const DefaultVerifyCode = "sandbox-verify-code"

// Env is the environment `stride run` needs to use f and m, as sorted
// KEY=VALUE lines (CONTRACT.md's variables).
func Env(f *Fitbit, m *MarketingCloud, verifyCode string) []string {
	if verifyCode == "" {
		verifyCode = DefaultVerifyCode
	}
	return []string{
		"FITBIT_API_URL=" + f.URL,
		"FITBIT_AUTHORIZE_URL=" + f.URL + "/oauth2/authorize",
		"FITBIT_CLIENT_ID=" + f.ClientID(),
		"FITBIT_CLIENT_SECRET=" + f.ClientSecret(),
		"FITBIT_REDIRECT_URI=" + f.RedirectURI(),
		"FITBIT_VERIFY_CODE=" + verifyCode,
		"MKC_PASSWORD=" + m.Password(),
		"MKC_URL=" + m.URL,
		"MKC_USER=" + m.User(),
	}
}

// Serve starts both fakes, prints their URLs and the environment for
// `stride run` to out, and serves until ctx is done.
func Serve(ctx context.Context, cfg Config, out io.Writer) error {
	f := NewFitbit(cfg.Fitbit)
	m := NewMarketingCloud(cfg.MKC)
	var fh, mh http.Handler = f, m
	if cfg.Log != nil {
		var mu sync.Mutex
		fh, mh = logRequests("fitbit", f, cfg.Log, &mu), logRequests("mkc", m, cfg.Log, &mu)
	}
	if err := f.start(fh, cfg.FitbitAddr); err != nil {
		return fmt.Errorf("fitbit: %w", err)
	}
	defer f.Close()
	if err := m.start(mh, cfg.MKCAddr); err != nil {
		return fmt.Errorf("marketing cloud: %w", err)
	}
	defer m.Close()
	g := NewGoogleHealth(cfg.Google)
	var gh http.Handler = g
	if cfg.Log != nil {
		gh = logRequests("google", g, cfg.Log, new(sync.Mutex))
	}
	if err := g.start(gh, cfg.GoogleAddr); err != nil {
		return fmt.Errorf("google health: %w", err)
	}
	defer g.Close()
	if cfg.GoogleWebhookAuthorization == "" {
		cfg.GoogleWebhookAuthorization = "Bearer sandbox-webhook"
	}
	env := Env(f, m, cfg.VerifyCode)
	env = append(env, g.Env()...)
	env = append(env, "GOOGLE_HEALTH_REVOKE_URL="+g.URL+"/revoke", "GOOGLE_HEALTH_WEBHOOK_AUTHORIZATION="+cfg.GoogleWebhookAuthorization)
	sort.Strings(env)
	if cfg.EnvOut != "" {
		if err := os.WriteFile(cfg.EnvOut, []byte(strings.Join(env, "\n")+"\n"), 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "Fitbit sandbox:          %s (authorize: %s/oauth2/authorize?...&sandbox_user=ADA1&sandbox_scopes=activity+profile)\n", f.URL, f.URL)
	fmt.Fprintf(out, "Google Health sandbox:   %s (authorize: %s/o/oauth2/v2/auth?...&sandbox_user=NOVA7)\n", g.URL, g.URL)
	fmt.Fprintf(out, "Marketing Cloud sandbox: %s%s (listing: %s/sandbox/contacts, %s/sandbox/interactions)\n", m.URL, ServicePath, m.URL, m.URL)
	fmt.Fprintf(out, "\n# environment for `stride run`\n%s\n", strings.Join(env, "\n"))
	<-ctx.Done()
	return nil
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func logRequests(name string, h http.Handler, w io.Writer, mu *sync.Mutex) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: rw}
		h.ServeHTTP(sw, r)
		mu.Lock()
		fmt.Fprintf(w, "%s %s %s %d %s\n", name, r.Method, r.URL.Path, sw.status, time.Since(start).Round(10*time.Microsecond))
		mu.Unlock()
	})
}
