package runtime_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/runtime"
	"github.com/stride-engine/stride/engine/store"
)

// sharedRuntime is one of several instances on one store, as with NATS:
// Services name the instance.
func sharedRuntime(t *testing.T, db *store.DB, instance string, clock runtime.Clock, files ...string) *runtime.Runtime {
	t.Helper()
	_, rt := startRuntimeWith(t, runtime.Options{Clock: clock, Services: &flow.Services{KV: db.KV(), Queues: db.Queues(), Log: db.Log(), Instance: instance}}, files...)
	return rt
}

// Three instances share a store and a schedule: each tick runs once, on
// whichever instance claimed it; the others record it as SKIPPED.
func TestTimerTickRunsOnceAcrossInstances(t *testing.T) {
	db := openStore(t)
	g := newGate(t)
	clock := &fakeClock{now: time.Date(2026, 12, 4, 9, 59, 30, 0, time.UTC)}
	src := fmt.Sprintf(`
flow: nightly
trigger: {timer: {every: 1m}}
steps:
  - request: {method: POST, url: '%s', retry: {max_attempts: 1}}
`, g.srv.URL)
	for _, name := range []string{"a", "b", "c"} {
		sharedRuntime(t, db, name, clock, "t.yaml", src)
	}
	for tick := 1; tick <= 3; tick++ {
		clock.waitWaiting(t, 3)
		clock.Advance(time.Minute)
		waitFor(t, "the tick's run and its two skips", func() bool {
			es, _ := db.Log().List(context.Background(), store.Filter{Flow: "nightly", Limit: 100})
			return g.calls.Load() == int64(tick) && len(es) == 3*tick
		})
	}
	time.Sleep(50 * time.Millisecond) // a second run of a tick would show now
	if n := g.calls.Load(); n != 3 {
		t.Fatalf("3 ticks on 3 instances made %d runs, want 3", n)
	}
	es, err := db.Log().List(context.Background(), store.Filter{Flow: "nightly", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	byStatus := map[string]int{}
	for _, e := range es {
		byStatus[e.Status]++
		if e.Status == runtime.StatusSkipped && !strings.Contains(e.Error, "runs on instance ") {
			t.Errorf("a skipped tick does not say where it ran: %q", e.Error)
		}
	}
	if byStatus["COMPLETED"] != 3 || byStatus[runtime.StatusSkipped] != 6 {
		t.Errorf("log statuses %v, want 3 COMPLETED and 6 SKIPPED", byStatus)
	}
}

// A lock step on instances sharing a store excludes across instances:
// messages of one key never overlap, whichever instance runs them.
func TestLockExcludesAcrossInstances(t *testing.T) {
	db := openStore(t)
	var inside, overlaps, calls atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if inside.Add(1) > 1 {
			overlaps.Add(1)
		}
		time.Sleep(5 * time.Millisecond)
		inside.Add(-1)
		calls.Add(1)
	}))
	defer api.Close()
	src := fmt.Sprintf(`
flow: refresh
trigger: {http: {path: /refresh, methods: [POST]}}
steps:
  - lock:
      name: token-refresh
      key: user-1
      timeout: 20s
      steps:
        - request: {method: POST, url: '%s', retry: {max_attempts: 1}}
  - respond: {status: 204}
`, api.URL)
	var srvs []*httptest.Server
	for _, name := range []string{"a", "b"} {
		srv := httptest.NewServer(sharedRuntime(t, db, name, nil, "f.yaml", src))
		t.Cleanup(srv.Close)
		srvs = append(srvs, srv)
	}
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(srvs[i%2].URL+"/refresh", "text/plain", nil)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 204 {
				t.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	if calls.Load() != 10 || overlaps.Load() != 0 {
		t.Fatalf("%d calls, %d overlapping: the lock did not exclude across instances", calls.Load(), overlaps.Load())
	}
	if h, _ := (store.Leases{KV: db.KV()}).Holder(context.Background(), "lock/token-refresh/user-1"); h != "" {
		t.Errorf("the lease is still held by %q after every message", h)
	}
}
