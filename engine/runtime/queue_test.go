package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/runtime"
	"github.com/stride-engine/stride/engine/store"
)

// sink is an HTTP server that records the bodies POSTed to it, and can
// be told to fail for a while.
type sink struct {
	mu     sync.Mutex
	bodies []string
	fail   func(body string) bool
	srv    *httptest.Server
}

func newSink(t *testing.T) *sink {
	s := &sink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.fail != nil && s.fail(string(data)) {
			w.WriteHeader(503)
			return
		}
		s.bodies = append(s.bodies, string(data))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

func openStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// startRuntime serves the flows over HTTP with a real store.
func startRuntime(t *testing.T, db *store.DB, files ...string) (*httptest.Server, *runtime.Runtime) {
	t.Helper()
	return startRuntimeWith(t, runtime.Options{Services: &flow.Services{KV: db.KV(), Queues: db.Queues(), Log: db.Log()}}, files...)
}

// startRuntimeWith starts a runtime made with o on the flows and serves it
// over HTTP until the test ends.
func startRuntimeWith(t *testing.T, o runtime.Options, files ...string) (*httptest.Server, *runtime.Runtime) {
	t.Helper()
	rt := runtime.New(o)
	rt.Swap(load(t, files...))
	if err := rt.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rt)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rt.Stop(ctx)
	})
	return srv, rt
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const producerFlow = `
flow: ingest
trigger: {http: {path: /in, methods: [POST]}}
steps:
  - enqueue: {queue: work}
  - respond: {status: 204}
`

func consumerFlow(sinkURL string, workers int, retry string) string {
	return fmt.Sprintf(`
flow: worker
trigger:
  queue:
    name: work
    workers: %d
    key: '${json.user}'
    retry: %s
steps:
  - request: {method: POST, url: '%s', body: '${body}', retry: {max_attempts: 1}}
`, workers, retry, sinkURL)
}

func TestQueueDeliversInOrderPerKeyWithParallelWorkers(t *testing.T) {
	db := openStore(t)
	sk := newSink(t)
	srv, _ := startRuntime(t, db, "p.yaml", producerFlow, "c.yaml", consumerFlow(sk.srv.URL, 4, "{max_attempts: 3, backoff: 10ms}"))
	const users, perUser = 5, 20
	for i := range perUser {
		for u := range users {
			resp, _ := do(t, "POST", srv.URL+"/in", fmt.Sprintf(`{"user":"u%d","seq":%d}`, u, i))
			if resp.StatusCode != 204 {
				t.Fatalf("ingest answered %d", resp.StatusCode)
			}
		}
	}
	waitFor(t, "all messages", func() bool { return len(sk.got()) == users*perUser })
	last := map[string]int{}
	for _, b := range sk.got() {
		var m struct {
			User string
			Seq  int
		}
		if err := json.Unmarshal([]byte(b), &m); err != nil {
			t.Fatal(err)
		}
		if prev, ok := last[m.User]; ok && m.Seq != prev+1 {
			t.Fatalf("user %s: seq %d after %d — per-key order broken", m.User, m.Seq, prev)
		}
		last[m.User] = m.Seq
	}
}

func TestQueueRetriesThenEscalatesThenReplays(t *testing.T) {
	db := openStore(t)
	sk := newSink(t)
	broken := true
	sk.fail = func(body string) bool { return broken && strings.Contains(body, "poison") }
	srv, _ := startRuntime(t, db, "p.yaml", producerFlow, "c.yaml", consumerFlow(sk.srv.URL, 2, "{max_attempts: 3, backoff: 10ms, max_backoff: 20ms}"))
	do(t, "POST", srv.URL+"/in", `{"user":"a","v":"poison"}`)
	do(t, "POST", srv.URL+"/in", `{"user":"b","v":"fine"}`)
	ctx := context.Background()
	var dead []store.Message
	waitFor(t, "the poison message in the dead letters", func() bool {
		dead, _ = db.Queues().DeadLetters(ctx, "work")
		return len(dead) == 1
	})
	if dead[0].Attempts != 3 || !strings.Contains(dead[0].LastError, "503") {
		t.Fatalf("dead letter: attempts %d, error %q", dead[0].Attempts, dead[0].LastError)
	}
	waitFor(t, "the healthy message", func() bool { return len(sk.got()) == 1 })
	var entries []store.LogEntry
	waitFor(t, "the message log", func() bool {
		entries, _ = db.Log().Get(ctx, dead[0].ID)
		return len(entries) == 3
	})
	statuses := map[string]int{}
	for _, e := range entries {
		statuses[e.Status]++
		if e.Flow != "worker" || e.Trigger != "queue" || len(e.Trace) == 0 {
			t.Errorf("log entry %+v", e)
		}
	}
	if statuses["RETRY"] != 2 || statuses["ESCALATED"] != 1 {
		t.Fatalf("statuses %v, want 2 RETRY and 1 ESCALATED", statuses)
	}
	// The operator fixes the target and replays the dead letter.
	sk.mu.Lock()
	broken = false
	sk.mu.Unlock()
	if err := db.Queues().Replay(ctx, "work", dead[0].ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replayed message", func() bool { return len(sk.got()) == 2 })
	// The replay's attempt is added to the log after the failed ones:
	// attempts 1–3 keep their RETRY, RETRY, ESCALATED; 4 is COMPLETED.
	waitFor(t, "the replay's log entry", func() bool {
		entries, _ = db.Log().Get(ctx, dead[0].ID)
		return len(entries) == 4
	})
	for i, want := range []string{"RETRY", "RETRY", "ESCALATED", "COMPLETED"} {
		if entries[i].Attempt != i+1 || entries[i].Status != want {
			t.Errorf("log entry %d: attempt %d %s, want attempt %d %s", i, entries[i].Attempt, entries[i].Status, i+1, want)
		}
	}
}

func TestHTTPMessagesAreLogged(t *testing.T) {
	db := openStore(t)
	srv, rt := startRuntime(t, db, "f.yaml", `
flow: logged
trace: true
secrets: [CLIENT_SECRET]
trigger: {http: {path: /x}}
steps:
  - set: {body: 'payload with ${secret.CLIENT_SECRET}'}
  - fail: nope
`)
	resp, _ := do(t, "POST", srv.URL+"/x", "")
	id := resp.Header.Get("X-Stride-Message-Id")
	if err := rt.Stop(context.Background()); err != nil { // flushes the asynchronous log writer
		t.Fatal(err)
	}
	entries, err := db.Log().Get(context.Background(), id)
	if err != nil || len(entries) != 1 {
		t.Fatalf("entries %v err %v", entries, err)
	}
	e := entries[0]
	if e.Status != "FAILED" || e.Trigger != "http" || !strings.Contains(e.Error, "nope") || e.FlowVersion == "" {
		t.Errorf("entry %+v", e)
	}
	if string(e.Payload) != "payload with ***" {
		t.Errorf("payload %q: traced and redacted", e.Payload)
	}
}

func TestEnqueueToAQueueNobodyConsumesIsALoadError(t *testing.T) {
	_, err := loadErr("p.yaml", producerFlow)
	if err == nil || !strings.Contains(err.Error(), `enqueue: no flow consumes queue "work"`) {
		t.Fatalf("got %v", err)
	}
	_, err = loadErr("a.yaml", consumerFlow("http://127.0.0.1:1", 1, "{}"), "b.yaml", strings.Replace(consumerFlow("http://127.0.0.1:1", 1, "{}"), "flow: worker", "flow: other", 1))
	if err == nil || !strings.Contains(err.Error(), "queue work is already consumed by flow") {
		t.Fatalf("got %v", err)
	}
}

func TestPermanentFailureIsNotRetried(t *testing.T) {
	db := openStore(t)
	srv, _ := startRuntime(t, db, "p.yaml", producerFlow, "c.yaml", `
flow: worker
trigger: {queue: {name: work, retry: {max_attempts: 5, backoff: 10ms}}}
steps:
  - route:
      - when: '!(body startsWith "{")'
        steps:
          - fail: {message: 'not a JSON object: ${body}', retry: false}
`)
	resp, _ := do(t, "POST", srv.URL+"/in", "garbage")
	if resp.StatusCode != 204 {
		t.Fatal(resp.StatusCode)
	}
	ctx := context.Background()
	var entries []store.LogEntry
	waitFor(t, "the FAILED entry", func() bool {
		entries, _ = db.Log().List(ctx, store.Filter{Flow: "worker"})
		return len(entries) == 1 && entries[0].Status == "FAILED"
	})
	if !strings.Contains(entries[0].Error, "not a JSON object: garbage") {
		t.Fatalf("entry %+v", entries[0])
	}
	st, _ := db.Queues().Stats(ctx, "work")
	if st.Ready+st.Delayed+st.InFlight != 0 || st.Dead != 1 {
		t.Fatalf("the message must be in the dead letters at once, not retried: %+v", st)
	}
	dead, _ := db.Queues().DeadLetters(ctx, "work")
	if len(dead) != 1 || dead[0].Attempts != 1 || !strings.HasPrefix(dead[0].LastError, "[permanent] ") {
		t.Fatalf("dead letter %+v, want one attempt and the class in its reason", dead)
	}
}
