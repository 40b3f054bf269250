package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/runtime"
	"github.com/stride-engine/stride/engine/store"
	"github.com/stride-engine/stride/internal/loadgen"
)

const benchSecret = "bench-client-secret"

var notificationBody = []byte(`[{"collectionType":"activities","date":"2026-11-22","ownerId":"ADA1","ownerType":"user","subscriptionId":"ADA1-activities"}]`)

func sign(body []byte) string {
	m := hmac.New(sha1.New, []byte(benchSecret+"&"))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// plainWebhook does by hand what the flow's first steps do: check the
// signature over the raw body, answer 204 (no storage).
func plainWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 256<<10))
	if err != nil {
		w.WriteHeader(413)
		return
	}
	want, _ := base64.StdEncoding.DecodeString(r.Header.Get("X-Fitbit-Signature"))
	m := hmac.New(sha1.New, []byte(benchSecret+"&"))
	m.Write(body)
	if !hmac.Equal(m.Sum(nil), want) {
		w.WriteHeader(404)
		return
	}
	w.WriteHeader(204)
}

// benchWebhook measures the shipped webhook flow (signature check, durable
// enqueue with fsync, 204) against the plain handler, in one run.
func benchWebhook(w io.Writer, flowsDir string, d time.Duration, rounds, conc int) error {
	dir, err := os.MkdirTemp("", "stride-bench-webhook-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	flows := filepath.Join(dir, "flows")
	_ = os.MkdirAll(flows, 0o755)
	src, err := os.ReadFile(filepath.Join(flowsDir, "fitbit", "webhook.yaml"))
	if err != nil {
		return err
	}
	_ = os.WriteFile(filepath.Join(flows, "webhook.yaml"), src, 0o644)
	// The consumer is a stub here: the case measures intake.
	_ = os.WriteFile(filepath.Join(flows, "consumer.yaml"), []byte("flow: fitbit-notifications\ntrigger: {queue: {name: fitbit-notifications, workers: 1}}\nsteps: [complete]\n"), 0o644)
	set, err := flow.LoadPaths(flows)
	if err != nil {
		return err
	}
	set.Bind(func(n string) (string, bool) {
		return map[string]string{"FITBIT_CLIENT_SECRET": benchSecret, "FITBIT_VERIFY_CODE": "x"}[n], true
	})
	serve := func(name string, dur store.Durability) (string, func(), error) {
		db, err := store.Open(filepath.Join(dir, name), store.Options{Key: make([]byte, 32), Durability: dur, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return "", nil, err
		}
		rt := runtime.New(runtime.Options{Services: &flow.Services{KV: db.KV(), Queues: db.Queues(), Log: db.Log()}})
		rt.Swap(set)
		if err := rt.Start(context.Background()); err != nil {
			db.Close()
			return "", nil, err
		}
		srv := httptest.NewServer(rt)
		return srv.URL, func() {
			srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = rt.Stop(ctx)
			db.Close()
		}, nil
	}
	fsyncURL, stop1, err := serve("fsync", store.SurvivePowerLoss)
	if err != nil {
		return err
	}
	defer stop1()
	crashURL, stop2, err := serve("crash", store.SurviveProcessCrash)
	if err != nil {
		return err
	}
	defer stop2()
	plainSrv := httptest.NewServer(http.HandlerFunc(plainWebhook))
	defer plainSrv.Close()
	hdr := http.Header{"Content-Type": {"application/json"}, "X-Fitbit-Signature": {sign(notificationBody)}}
	check204 := func(status int, _ []byte) bool { return status == 204 }
	variants := []variant{
		{"plain handler (signature check, 204, no storage)", plainSrv.URL + "/fitbit/webhook", hdr},
		{"stride webhook flow, enqueue fsynced (survives power loss; default)", fsyncURL + "/fitbit/webhook", hdr},
		{"stride webhook flow, enqueue in the WAL (survives a process crash)", crashURL + "/fitbit/webhook", hdr},
	}
	results := make([]stats, len(variants))
	for r := 0; r < rounds; r++ {
		for i, v := range variants {
			res := loadgen.Run(context.Background(), loadgen.Config{URL: v.url, Method: "POST", Body: notificationBody, Header: v.hdr, Concurrency: conc, Duration: d, Check: check204})
			if res.Failed > 0 {
				return fmt.Errorf("%s: %d of %d failed (%v)", v.name, res.Failed, res.Requests, res.Status)
			}
			results[i].rps = append(results[i].rps, res.RPS())
			results[i].p50 = append(results[i].p50, float64(res.P50.Microseconds()))
			results[i].p99 = append(results[i].p99, float64(res.P99.Microseconds()))
		}
	}
	fmt.Fprintf(w, "### Fitbit webhook ingest (%d clients, %d rounds of %v, medians)\n\n", conc, rounds, d)
	fmt.Fprintln(w, "| variant | req/s | p50 µs | p99 µs | req/s ratio |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for i, v := range variants {
		fmt.Fprintf(w, "| %s | %.0f | %.0f | %.0f | %.2f |\n", v.name, median(results[i].rps), median(results[i].p50), median(results[i].p99), median(results[i].rps)/median(results[0].rps))
	}
	fmt.Fprintln(w)
	return nil
}
