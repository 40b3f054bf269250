package runtime_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/runtime"
	"github.com/stride-engine/stride/engine/store"
)

// A caller's trace: its traceparent names this trace and parent span.
const (
	callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID  = "00f067aa0ba902b7"
	traceparent   = "00-" + callerTraceID + "-" + callerSpanID + "-01"
)

// tracedFlows: a webhook that enqueues, and a consumer that calls an API
// and echoes its correlation id to it.
func tracedFlows(apiURL string) []string {
	return []string{"in.yaml", `
flow: ingest
trigger: {http: {path: /in, methods: [POST]}}
steps:
  - enqueue: {queue: work}
  - respond: {status: 204}
`, "work.yaml", `
flow: worker
trigger: {queue: {name: work}}
steps:
  - request: {method: POST, url: '` + apiURL + `', headers: {X-Chain: '${message.correlation_id}'}, retry: {max_attempts: 1}}
`}
}

// api records the traceparent and X-Chain headers it is sent.
type api struct {
	mu      sync.Mutex
	parents []string
	chains  []string
	srv     *httptest.Server
}

func newAPI(t *testing.T) *api {
	a := &api{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.parents = append(a.parents, r.Header.Get("Traceparent"))
		a.chains = append(a.chains, r.Header.Get("X-Chain"))
		w.WriteHeader(204)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *api) calls() ([]string, []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.parents...), append([]string(nil), a.chains...)
}

func startTraced(t *testing.T, db *store.DB, tracer trace.Tracer, files []string) (*httptest.Server, *runtime.Runtime) {
	t.Helper()
	return startRuntimeWith(t, runtime.Options{Services: &flow.Services{KV: db.KV(), Queues: db.Queues(), Log: db.Log()}, Tracer: tracer}, files...)
}

func post(t *testing.T, url string, header map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(`{"user":"u1"}`))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// The webhook's span continues the caller's trace; the queued message's
// run continues the webhook's span across the queue; every step has a
// span under its run; the API is sent the request step's span as its
// parent; the correlation id reaches the consumer, its expressions and
// both message log entries.
func TestTracingFollowsAMessageAcrossTheQueue(t *testing.T) {
	db := openStore(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	a := newAPI(t)
	srv, rt := startTraced(t, db, tp.Tracer("test"), tracedFlows(a.srv.URL))

	resp := post(t, srv.URL+"/in", map[string]string{"Traceparent": traceparent})
	if resp.StatusCode != 204 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	webhookID := resp.Header.Get("X-Stride-Message-Id")
	if got := resp.Header.Get("X-Correlation-Id"); got != webhookID {
		t.Errorf("X-Correlation-Id %q, want the message id %q (none was sent)", got, webhookID)
	}
	waitFor(t, "the API call", func() bool { p, _ := a.calls(); return len(p) == 1 })
	if err := rt.Stop(context.Background()); err != nil { // ends the spans, flushes the log
		t.Fatal(err)
	}

	spans := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		spans[s.Name()] = s
		if got := s.SpanContext().TraceID().String(); got != callerTraceID {
			t.Errorf("span %q is in trace %s, want the caller's %s", s.Name(), got, callerTraceID)
		}
	}
	for _, name := range []string{"http ingest", "enqueue", "respond", "queue work", "request"} {
		if spans[name] == nil {
			t.Fatalf("no span %q among %v", name, names(rec.Ended()))
		}
	}
	parentOf := func(name string) string { return spans[name].Parent().SpanID().String() }
	if got := parentOf("http ingest"); got != callerSpanID {
		t.Errorf("http span's parent %s, want the caller's span %s", got, callerSpanID)
	}
	if parentOf("enqueue") != spans["http ingest"].SpanContext().SpanID().String() {
		t.Error("the enqueue step's span is not a child of the http run's span")
	}
	if parentOf("queue work") != spans["enqueue"].SpanContext().SpanID().String() {
		t.Error("the consumer's run does not continue the enqueue step's span")
	}
	if parentOf("request") != spans["queue work"].SpanContext().SpanID().String() {
		t.Error("the request step's span is not a child of the consumer's run")
	}
	if spans["queue work"].SpanKind() != trace.SpanKindConsumer || spans["http ingest"].SpanKind() != trace.SpanKindServer {
		t.Error("span kinds: want server for http, consumer for queue")
	}
	parents, chains := a.calls()
	if want := "00-" + callerTraceID + "-" + spans["request"].SpanContext().SpanID().String() + "-01"; parents[0] != want {
		t.Errorf("API got traceparent %q, want %q", parents[0], want)
	}
	if chains[0] != webhookID {
		t.Errorf("message.correlation_id in the consumer = %q, want the webhook's id %q", chains[0], webhookID)
	}

	entries, err := db.Log().List(context.Background(), store.Filter{})
	if err != nil || len(entries) != 2 {
		t.Fatalf("log: %d entries, err %v", len(entries), err)
	}
	for _, e := range entries {
		if e.CorrelationID != webhookID || e.TraceID != callerTraceID {
			t.Errorf("%s entry: correlation %q trace %q, want %q and %q", e.Flow, e.CorrelationID, e.TraceID, webhookID, callerTraceID)
		}
	}
}

// Without a tracer no span is made, but the caller's correlation id and
// trace id are still carried through the queue into the log; a
// correlation id that is not a short token is ignored.
func TestCorrelationWithoutTracing(t *testing.T) {
	db := openStore(t)
	a := newAPI(t)
	srv, rt := startTraced(t, db, nil, tracedFlows(a.srv.URL))

	resp := post(t, srv.URL+"/in", map[string]string{"Traceparent": traceparent, "X-Correlation-Id": "order-42"})
	if got := resp.Header.Get("X-Correlation-Id"); got != "order-42" {
		t.Errorf("X-Correlation-Id answered %q, want the caller's", got)
	}
	bad := post(t, srv.URL+"/in", map[string]string{"X-Correlation-Id": "a b; forged=1"})
	badID := bad.Header.Get("X-Stride-Message-Id")
	if got := bad.Header.Get("X-Correlation-Id"); got != badID {
		t.Errorf("a malformed correlation id was kept: %q", got)
	}
	waitFor(t, "two API calls", func() bool { p, _ := a.calls(); return len(p) == 2 })
	if err := rt.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	parents, chains := a.calls()
	for _, p := range parents {
		if p != "" {
			t.Errorf("traceparent %q sent with tracing off", p)
		}
	}
	if !contains(chains, "order-42") || !contains(chains, badID) {
		t.Errorf("correlation ids the consumers saw: %v", chains)
	}
	entries, err := db.Log().List(context.Background(), store.Filter{Flow: "worker"})
	if err != nil || len(entries) != 2 {
		t.Fatalf("log: %d entries, err %v", len(entries), err)
	}
	for _, e := range entries {
		switch e.CorrelationID {
		case "order-42":
			if e.TraceID != callerTraceID {
				t.Errorf("trace id %q, want the caller's traceparent's", e.TraceID)
			}
		case badID:
			if e.TraceID != "" {
				t.Errorf("trace id %q without any trace", e.TraceID)
			}
		default:
			t.Errorf("entry with correlation %q", e.CorrelationID)
		}
		if e.CorrelationID == e.ID {
			t.Error("a queued message's correlation id is its own id")
		}
	}
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// BenchmarkHTTPFlowTracing measures what tracing costs an http flow of
// three steps: off (no tracer), on and sampled (every span recorded and
// handed to a span processor), and on but not sampled.
func BenchmarkHTTPFlowTracing(b *testing.B) {
	files := []string{"f.yaml", `
flow: rename
trigger: {http: {path: /rename, methods: [POST]}}
steps:
  - set: {properties: {user: '${json.user}'}}
  - set: {body: '{"name": "${property.user}"}', content_type: application/json}
  - respond: {status: 200}
`}
	for _, c := range []struct {
		name   string
		tracer trace.Tracer
	}{
		{"off", nil},
		{"sampled", sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(discardSpans{})).Tracer("bench")},
		{"not-sampled", sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample())).Tracer("bench")},
	} {
		b.Run(c.name, func(b *testing.B) {
			rt := runtime.New(runtime.Options{Tracer: c.tracer})
			rt.Swap(load(b, files...))
			if err := rt.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer rt.Stop(context.Background())
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("POST", "/rename", strings.NewReader(`{"user":"u1"}`))
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				rt.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}

// discardSpans is a span processor that drops every span it is handed.
type discardSpans struct{}

func (discardSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (discardSpans) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (discardSpans) Shutdown(context.Context) error                  { return nil }
func (discardSpans) ForceFlush(context.Context) error                { return nil }
