package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/runtime"
	"github.com/stride-engine/stride/engine/store"
)

// TestMessageLogLevels runs one http flow per log level on a real store
// and reads back what the message log kept of a completed and a failed
// message of each.
func TestMessageLogLevels(t *testing.T) {
	db := openStore(t)
	flowAt := func(id, level string) string {
		return `
flow: ` + id + `
` + level + `
secrets: [CLIENT_SECRET]
trigger: {http: {path: /` + id + `, methods: [POST]}}
steps:
  - set: {body: 'payload ${body} with ${secret.CLIENT_SECRET}'}
  - route:
      - when: body contains "fail"
        steps: [{fail: boom}]
  - respond: {status: 200}
`
	}
	srv, rt := startRuntime(t, db,
		"none.yaml", flowAt("none", "log: none"),
		"errors.yaml", flowAt("errors", "log: errors"),
		"info.yaml", flowAt("info", "log: info"),
		"default.yaml", flowAt("default", ""),
		"trace.yaml", flowAt("trace", "log: trace"),
		"legacy.yaml", flowAt("legacy", "trace: true"),
	)
	type sent struct{ flow, body, id string }
	var msgs []sent
	for _, f := range []string{"none", "errors", "info", "default", "trace", "legacy"} {
		for _, body := range []string{"ok", "fail"} {
			resp, _ := do(t, "POST", srv.URL+"/"+f, body)
			msgs = append(msgs, sent{f, body, resp.Header.Get("X-Stride-Message-Id")})
		}
	}
	if err := rt.Stop(context.Background()); err != nil { // flushes the writer
		t.Fatal(err)
	}
	for _, m := range msgs {
		es, err := db.Log().Get(context.Background(), m.id)
		logged := !errors.Is(err, store.ErrNotFound)
		want := m.flow != "none" && (m.flow != "errors" || m.body == "fail")
		if logged != want {
			t.Errorf("%s, %s message: logged=%v (%v), want %v", m.flow, m.body, logged, err, want)
			continue
		}
		if !logged {
			continue
		}
		if err != nil || len(es) != 1 {
			t.Fatalf("%s: Get = %+v, %v", m.flow, es, err)
		}
		e := es[0]
		wantStatus := map[string]string{"ok": "COMPLETED", "fail": "FAILED"}[m.body]
		tracesPayload := m.flow == "trace" || m.flow == "legacy"
		if e.Status != wantStatus || e.Flow != m.flow {
			t.Errorf("%s, %s message: entry %+v", m.flow, m.body, e)
		}
		// The step trace: always at trace, and of a failed attempt at
		// every level; a compact entry (none) for a success at info.
		if keepsSteps := tracesPayload || m.body == "fail"; keepsSteps && (len(e.Trace) == 0 || e.Trace[0].Kind != "set") {
			t.Errorf("%s, %s message: no step trace in %+v", m.flow, m.body, e)
		} else if !keepsSteps && len(e.Trace) != 0 {
			t.Errorf("%s, %s message: step trace kept at level info: %+v", m.flow, m.body, e.Trace)
		}
		if wantPayload := "payload " + m.body + " with ***"; tracesPayload && string(e.Payload) != wantPayload {
			t.Errorf("%s: payload %q, want %q (traced, secret redacted)", m.flow, e.Payload, wantPayload)
		} else if !tracesPayload && e.Payload != nil {
			t.Errorf("%s: payload %q kept at level info", m.flow, e.Payload)
		}
	}
}

func TestLogLevelKeyAndTraceSynonym(t *testing.T) {
	const base = "trigger: {http: {path: /x}}\nsteps: [{respond: {status: 200}}]\n"
	for _, tc := range []struct{ keys, want string }{
		{"", "info"}, {"log: none\n", "none"}, {"log: errors\n", "errors"}, {"log: trace\n", "trace"}, {"trace: true\n", "trace"}, {"trace: false\n", "info"},
	} {
		set, err := loadErr("f.yaml", "flow: f\n"+tc.keys+base)
		if err != nil {
			t.Fatalf("%q: %v", tc.keys, err)
		}
		if got := set.Flow("f").LogLevel.String(); got != tc.want {
			t.Errorf("%q: level %s, want %s", tc.keys, got, tc.want)
		}
	}
	for keys, want := range map[string]string{
		"log: trace\ntrace: true\n": "f.yaml:3:1: give either `log: trace` or `trace`, not both",
		"log: debug\n":              "f.yaml:2:6:",
	} {
		_, err := loadErr("f.yaml", "flow: f\n"+keys+base)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", keys, err, want)
		}
	}
}

// fakeLog is a store.Log that records batches, and can be held: its
// writes then wait until released, as a slow disk would make them.
type fakeLog struct {
	mu      sync.Mutex
	batches int
	entries []store.LogEntry
	hold    chan struct{} // nil: no wait
	held    chan struct{} // receives when a write starts waiting
}

func (l *fakeLog) RecordBatch(_ context.Context, es []store.LogEntry) error {
	if l.hold != nil {
		select {
		case l.held <- struct{}{}:
		default:
		}
		<-l.hold
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.batches++
	l.entries = append(l.entries, es...)
	return nil
}

func (l *fakeLog) Record(ctx context.Context, e store.LogEntry) error {
	return l.RecordBatch(ctx, []store.LogEntry{e})
}
func (l *fakeLog) List(context.Context, store.Filter) ([]store.LogEntry, error) { return nil, nil }
func (l *fakeLog) Get(context.Context, string) ([]store.LogEntry, error) {
	return nil, store.ErrNotFound
}

func (l *fakeLog) counts() (batches, entries int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.batches, len(l.entries)
}

const echoFlow = `
flow: echo
trigger: {http: {path: /echo, methods: [POST]}}
steps:
  - respond: {status: 200}
`

// record makes n finished messages of flow f, as triggers do.
func record(rt *runtime.Runtime, set *flow.FlowSet, f string, n int) {
	for range n {
		x := rt.NewExchange(runtime.NewMessageID(), set, flow.NewMessage([]byte("b"), "text/plain"))
		rt.Finish(context.Background(), x, set.Flow(f), "http", 1, time.Now(), nil)
	}
}

// TestMessageLogWriterBatches: entries made faster than written go to
// the store in batches, far fewer than the entries.
func TestMessageLogWriterBatches(t *testing.T) {
	lg := &fakeLog{}
	rt := runtime.New(runtime.Options{Services: &flow.Services{Log: lg}})
	set := load(t, "e.yaml", echoFlow)
	rt.Swap(set)
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	record(rt, set, "echo", n)
	if err := rt.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	batches, entries := lg.counts()
	if entries != n || rt.LogDropped() != 0 {
		t.Fatalf("%d entries written, %d dropped; want %d and 0", entries, rt.LogDropped(), n)
	}
	if batches > n/20 {
		t.Fatalf("%d entries took %d batches; want at most %d", n, batches, n/20)
	}
	t.Logf("%d entries in %d batches", n, batches)
}

// TestMessageLogWriterBehindDropsInsteadOfStalling: while the store does
// not take writes, requests are answered at once; the entries that do
// not fit the writer's buffer are dropped, counted (LogDropped and the
// disk guard's counter, which feeds stride_message_log_dropped_total)
// and reported in one WARN line per second.
func TestMessageLogWriterBehindDropsInsteadOfStalling(t *testing.T) {
	lg := &fakeLog{hold: make(chan struct{}), held: make(chan struct{}, 1)}
	var out syncBuffer
	disk := &fakeDisk{}
	disk.free.Store(10 << 30)
	guard := &runtime.DiskGuard{Dir: t.TempDir(), MinFree: 1 << 30, Statfs: disk.statfs}
	guard.Check()
	rt := runtime.New(runtime.Options{Services: &flow.Services{Log: lg}, DiskGuard: guard,
		Log: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	set := load(t, "e.yaml", echoFlow)
	rt.Swap(set)
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	released := false
	release := func() {
		if !released {
			released = true
			close(lg.hold)
		}
	}
	t.Cleanup(func() {
		release()
		_ = rt.Stop(context.Background())
	})
	srv := serveRuntime(t, rt)

	// The first entry's write hangs; the buffer (4096 entries) fills.
	record(rt, set, "echo", 1)
	<-lg.held
	const extra = 500
	start := time.Now()
	record(rt, set, "echo", 4096+extra)
	for range 5 {
		if resp, _ := do(t, "POST", srv.URL+"/echo", "x"); resp.StatusCode != 200 {
			t.Fatalf("request while the log is behind: %d", resp.StatusCode)
		}
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("making %d entries and 5 requests took %v: stalled by the log writer", 4096+extra, took)
	}
	if got := rt.LogDropped(); got != extra+5 {
		t.Fatalf("LogDropped() = %d, want %d", got, extra+5)
	}
	if got := guard.Dropped(); got != extra+5 {
		t.Fatalf("guard.Dropped() = %d, want %d (the metric's source)", got, extra+5)
	}
	// At most one line a second (the first drop writes one at once).
	if n, most := strings.Count(out.String(), "message log writer is behind"), 1+int(time.Since(start)/time.Second); n < 1 || n > most {
		t.Fatalf("%d WARN lines about dropped entries, want 1 to %d:\n%s", n, most, out.String())
	}

	release()
	if err := rt.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, entries := lg.counts(); entries != 1+4096 {
		t.Fatalf("%d entries written, want the first and the buffered 4096", entries)
	}
	// The drops left unreported by the rate limit are reported when the
	// writer stops.
	if !strings.Contains(out.String(), "dropped_total=505") {
		t.Errorf("no line with the final total:\n%s", out.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
