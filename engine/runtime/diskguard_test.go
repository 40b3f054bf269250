package runtime_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/runtime"
	"github.com/stride-engine/stride/engine/store"
)

// fakeDisk is a file system whose free space the test sets.
type fakeDisk struct{ free atomic.Uint64 }

func (d *fakeDisk) statfs(string) (uint64, error) { return d.free.Load(), nil }

// Below the floor, nothing durable is written: a flow that enqueues
// answers 503 with Retry-After, consumers lease nothing, log entries are
// dropped and counted; when space returns, all of it resumes.
func TestDiskGuardRefusesDurableWritesUntilSpaceReturns(t *testing.T) {
	db := openStore(t)
	sink := newSink(t)
	disk := &fakeDisk{}
	disk.free.Store(10 << 30)
	guard := &runtime.DiskGuard{Dir: t.TempDir(), MinFree: 1 << 30, Statfs: disk.statfs}
	guard.Check()
	rt := newRuntime(t, runtime.Options{DiskGuard: guard, Services: &flow.Services{KV: db.KV(), Queues: db.Queues(), Log: db.Log()}})
	rt.Swap(load(t, "p.yaml", producerFlow, "c.yaml", consumerFlow(sink.srv.URL, 2, "")))
	srv := serveRuntime(t, rt)
	ctx := context.Background()

	if resp, _ := do(t, "POST", srv.URL+"/in", "before"); resp.StatusCode != 204 {
		t.Fatalf("with room: %d", resp.StatusCode)
	}
	waitFor(t, "the first message consumed", func() bool { return len(sink.got()) == 1 })
	// Its two log entries (ingest and worker) are written asynchronously.
	waitFor(t, "the first message's log entries", func() bool { return countLog(t, db) == 2 })

	disk.free.Store(100 << 20)
	guard.Check()
	if ok, why := rt.Ready(); ok || len(why) != 1 {
		t.Errorf("Ready() = %v %q, want not ready because of the disk", ok, why)
	}
	logged := countLog(t, db)
	for i := range 20 {
		resp, body := do(t, "POST", srv.URL+"/in", "during")
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("request %d with the disk low: %d Retry-After=%q %s", i, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	// A message enqueued behind the guard's back (another process, say)
	// is not leased while the disk is low.
	if _, err := db.Queues().Enqueue(ctx, "work", store.Message{Body: []byte("queued")}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if got := sink.got(); len(got) != 1 {
		t.Fatalf("consumed %q while the disk was low", got)
	}
	if n := countLog(t, db); n != logged {
		t.Errorf("%d log entries written while the disk was low", n-logged)
	}
	if guard.Dropped() == 0 {
		t.Error("the dropped log entries are not counted")
	}

	disk.free.Store(10 << 30)
	guard.Check()
	if ok, why := rt.Ready(); !ok {
		t.Errorf("not ready after space returned: %q", why)
	}
	if resp, _ := do(t, "POST", srv.URL+"/in", "after"); resp.StatusCode != 204 {
		t.Fatalf("after space returned: %d", resp.StatusCode)
	}
	waitFor(t, "the waiting and the new message consumed", func() bool { return len(sink.got()) == 3 })
}

func countLog(t *testing.T, db *store.DB) int {
	t.Helper()
	entries, err := db.Log().List(context.Background(), store.Filter{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// serveRuntime serves rt's http triggers on a test server.
func serveRuntime(t *testing.T, rt *runtime.Runtime) *httptest.Server {
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return srv
}

// fullKV refuses every write as a store out of room would.
type fullKV struct{ store.KV }

func (fullKV) Put(context.Context, string, string, []byte, store.PutOptions) error {
	return fmt.Errorf("store: put: %w: insufficient resources", store.ErrFull)
}

// A store that is full (a NATS server out of storage) makes an http flow
// answer 503 with Retry-After — the caller tries again later — not 500.
func TestFullStoreAnswers503(t *testing.T) {
	db := openStore(t)
	srv, _ := startRuntimeWith(t, runtime.Options{Services: &flow.Services{KV: fullKV{db.KV()}, Queues: db.Queues(), Log: db.Log()}}, "f.yaml", `
flow: keep
trigger: {http: {path: /keep, methods: [POST]}}
steps:
  - datastore_put: {store: things, id: a}
  - respond: {status: 204}
`)
	resp, body := do(t, "POST", srv.URL+"/keep", "x")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "store is full") {
		t.Fatalf("answer %d %q %s, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}
