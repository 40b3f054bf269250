package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/metrics"
	"github.com/stride-engine/stride/engine/runtime"
	"github.com/stride-engine/stride/engine/store"
	_ "github.com/stride-engine/stride/steps"
)

func TestMetricsCountMessagesRequestsQueuesAndReloads(t *testing.T) {
	db, err := store.Open(t.TempDir(), store.Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(202) }))
	defer upstream.Close()
	set, err := flow.Load([]flow.Source{
		{Name: "a.yaml", Data: []byte("flow: ok\ntrigger: {http: {path: /ok, methods: [POST]}}\nsteps:\n  - request: {method: POST, url: '" + upstream.URL + "'}\n  - enqueue: {queue: later}\n  - respond: {status: 204}\n")},
		{Name: "b.yaml", Data: []byte("flow: bad\ntrigger: {http: {path: /bad, methods: [POST]}}\nsteps:\n  - fail: no\n")},
		{Name: "c.yaml", Data: []byte("flow: consumer\ntrigger: {queue: {name: later, retry: {max_attempts: 5, backoff: 1h, max_backoff: 1h}}}\nsteps:\n  - fail: not today\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	set.Bind(func(string) (string, bool) { return "", false })
	m := metrics.New(db)
	rt := runtime.New(runtime.Options{Observer: m, Services: &flow.Services{KV: db.KV(), Queues: db.Queues(), Log: db.Log()}})
	rt.Swap(set)
	if err := rt.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rt.Stop(ctx)
	}()
	srv := httptest.NewServer(rt)
	defer srv.Close()
	for range 3 {
		resp, _ := http.Post(srv.URL+"/ok", "text/plain", nil)
		resp.Body.Close()
	}
	resp, _ := http.Post(srv.URL+"/bad", "text/plain", nil)
	resp.Body.Close()
	m.Reload(true, time.Millisecond)
	m.Reload(false, time.Millisecond)

	scrape := func() string {
		w := httptest.NewRecorder()
		m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(w.Body)
		return string(b)
	}
	want := []string{
		`stride_messages_total{flow="ok",status="COMPLETED",trigger="http"} 3`,
		`stride_messages_total{flow="bad",status="FAILED",trigger="http"} 1`,
		`stride_http_requests_total{code="204",flow="ok"} 3`,
		`stride_http_requests_total{code="500",flow="bad"} 1`,
		`stride_http_client_requests_total{code="202",host="` + strings.TrimPrefix(upstream.URL, "http://") + `"} 3`,
		`stride_step_duration_seconds_count{flow="ok",kind="request"} 3`,
		`stride_reloads_total{result="ok"} 1`,
		`stride_reloads_total{result="failed"} 1`,
		`stride_store_bytes{part="lsm"}`,
		"stride_store_gc_reclaimed_bytes_total 0",
		"stride_store_gc_runs_total 0",
		`stride_queue_oldest_message_age_seconds{queue="later"}`,
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := scrape()
		var missing []string
		for _, w := range want {
			if !strings.Contains(out, w) {
				missing = append(missing, w)
			}
		}
		// The consumer fails each message once, then waits an hour: all
		// three end up delayed.
		if len(missing) == 0 && strings.Contains(out, `stride_queue_messages{queue="later",state="delayed"} 3`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("missing from /metrics: %v\n%s", missing, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
