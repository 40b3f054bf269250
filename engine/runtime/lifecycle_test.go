package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/runtime"
	"github.com/stride-engine/stride/engine/store"
)

// The lifecycle tests stop a runtime while it works, many times, and check
// what Stop promises: no panic, no goroutine left behind, nothing queued
// lost, and runs past the drain deadline cancelled.

// iterations of each stop-while-busy loop.
const iterations = 100

// hangingUpstream answers after the request's context ends (or after
// hold), counting the requests it saw begin and end.
type hangingUpstream struct {
	*httptest.Server
	started, finished atomic.Int64
}

func newHangingUpstream(t *testing.T, hold time.Duration) *hangingUpstream {
	u := &hangingUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.started.Add(1)
		defer u.finished.Add(1)
		select {
		case <-r.Context().Done():
		case <-time.After(hold):
			_, _ = io.WriteString(w, `{"ok":true}`)
		}
	}))
	return u
}

func TestStopDuringATimerRunCancelsItAndLeavesNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	up := newHangingUpstream(t, time.Hour)
	set := load(t, "t.yaml", `
flow: nightly
trigger: {timer: {cron: '0 2 * * *'}}
steps:
  - request: '`+up.URL+`'
`)
	for i := range iterations {
		rt := runtime.New(runtime.Options{})
		rt.Swap(set)
		if err := rt.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := rt.RunNow("nightly"); err != nil {
			t.Fatal(err)
		}
		// Stop at a random point: before the request left, while it waits.
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		err := rt.Stop(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("iteration %d: Stop = %v, want the drain deadline passed (the run hangs)", i, err)
		}
		if _, err := rt.RunNow("nightly"); !errors.Is(err, runtime.ErrStopped) {
			t.Fatalf("iteration %d: RunNow after Stop = %v, want ErrStopped", i, err)
		}
	}
	up.Close()
	if s, f := up.started.Load(), up.finished.Load(); s != f {
		t.Errorf("upstream saw %d requests begin and %d end: a run outlived Stop", s, f)
	}
}

func TestStopDuringAQueueBurstLosesNothing(t *testing.T) {
	db, err := store.Open(t.TempDir(), store.Options{GCInterval: -1, Durability: store.SurviveProcessCrash, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(time.Duration(rand.IntN(3)) * time.Millisecond):
		}
		_, _ = io.WriteString(w, "{}")
	}))
	set := load(t, "c.yaml", `
flow: consume
trigger: {queue: {name: burst, workers: 8, timeout: 10s, retry: {max_attempts: 1000, backoff: 1ms, max_backoff: 1ms}}}
steps:
  - request: '`+up.URL+`'
  - set: {properties: {done: 'yes'}}
`)
	services := &flow.Services{KV: db.KV(), Queues: db.Queues(), Log: db.Log()}
	observer := &doneRecorder{}

	const perIteration = 20
	total := 0
	q := db.Queues()
	for i := range iterations {
		for range perIteration {
			if _, err := q.Enqueue(context.Background(), "burst", store.Message{Body: []byte("{}"), ContentType: "application/json"}); err != nil {
				t.Fatal(err)
			}
			total++
		}
		rt := runtime.New(runtime.Options{Services: services, Observer: observer})
		rt.Swap(set)
		if err := rt.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(3))*time.Millisecond)
		_ = rt.Stop(ctx)
		cancel()
		st, err := q.Stats(context.Background(), "burst")
		if err != nil {
			t.Fatal(err)
		}
		if st.InFlight != 0 {
			t.Fatalf("iteration %d: %d messages still leased after Stop; an interrupted message must go back to its queue", i, st.InFlight)
		}
		if st.Dead != 0 {
			t.Fatalf("iteration %d: %d dead letters: shutdown must not spend attempts", i, st.Dead)
		}
	}
	// A last runtime drains the queue: every message ever enqueued ran to
	// the end at least once.
	rt := runtime.New(runtime.Options{Services: services, Observer: observer})
	rt.Swap(set)
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _ := q.Stats(context.Background(), "burst")
		if st.Ready+st.InFlight+st.Delayed == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := rt.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	up.Close()
	st, _ := q.Stats(context.Background(), "burst")
	if observer.completed.Load() != int64(total) || st.Ready+st.InFlight+st.Delayed+st.Dead != 0 {
		t.Errorf("%d messages enqueued, %d completed (acked), queue left %+v", total, observer.completed.Load(), st)
	}
}

// doneRecorder counts the queue messages that completed.
type doneRecorder struct{ completed atomic.Int64 }

func (d *doneRecorder) MessageDone(_, trigger, status string, _ time.Duration, _ []flow.TraceEntry) {
	if trigger == "queue" && status == "COMPLETED" {
		d.completed.Add(1)
	}
}
func (d *doneRecorder) InboundHTTP(string, int)                 {}
func (d *doneRecorder) OutboundHTTP(string, int, time.Duration) {}
func (d *doneRecorder) Reload(bool, time.Duration)              {}

func TestStopDuringAReloadUnderLoad(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	write := func(version string) {
		data := "flow: hello\ntrigger: {http: {path: /hello, methods: [GET]}}\nsteps:\n  - respond: {body: '" + version + "'}\n"
		tmp := filepath.Join(dir, ".tmp")
		if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "hello.yaml")); err != nil {
			t.Fatal(err)
		}
	}
	write("v0")
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	for i := range iterations {
		rt := runtime.New(runtime.Options{})
		r := &runtime.Reloader{Dir: dir, Lookup: func(string) (string, bool) { return "", false }, RT: rt, Log: slog.New(slog.DiscardHandler)}
		if !r.Reload().OK {
			t.Fatal("initial load")
		}
		if err := rt.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(rt)
		var wg sync.WaitGroup
		var bad atomic.Value
		for range 2 {
			wg.Go(func() {
				for range 5 {
					resp, err := client.Get(srv.URL + "/hello")
					if err != nil {
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					// Before Stop a version answers; after it, 503. Never a 404
					// or a 500 from a half-swapped set.
					if resp.StatusCode != 200 && resp.StatusCode != 503 || resp.StatusCode == 200 && !strings.HasPrefix(string(body), "v") {
						bad.Store(fmt.Sprintf("%d %s", resp.StatusCode, body))
					}
				}
			})
		}
		wg.Go(func() {
			write(fmt.Sprintf("v%d", i+1))
			r.Reload()
		})
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := rt.Stop(ctx); err != nil {
			t.Fatalf("iteration %d: Stop: %v", i, err)
		}
		cancel()
		wg.Wait()
		srv.Close()
		if v := bad.Load(); v != nil {
			t.Fatalf("iteration %d: answered %v", i, v)
		}
	}
}

// Runtimes side by side in one process share nothing: a lock held in one
// does not hold a message of another, and each runs its own messages.
func TestRuntimesSideBySideShareNoLocks(t *testing.T) {
	release := make(chan struct{})
	var held atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			held.Add(1)
			<-release
		}
		_, _ = io.WriteString(w, "{}")
	}))
	defer up.Close()
	lockFlow := func(path string) string {
		return `
flow: guarded
trigger: {http: {path: /guarded}}
steps:
  - lock:
      name: token-refresh
      key: user-1
      timeout: 5s
      steps:
        - request: '` + up.URL + path + `'
  - respond: {body: done}
`
	}
	holder := newRuntime(t, runtime.Options{})
	holder.Swap(load(t, "a.yaml", lockFlow("/hold")))
	holderSrv := httptest.NewServer(holder)
	defer holderSrv.Close()
	defer close(release) // first: the holder's request ends, then its server closes
	go func() {
		resp, err := http.Post(holderSrv.URL+"/guarded", "text/plain", nil)
		if err == nil {
			resp.Body.Close()
		}
	}()
	for held.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	// The holder's runtime holds token-refresh/user-1. Other runtimes
	// take the same lock at once.
	t.Run("others", func(t *testing.T) {
		for i := range 8 {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				srv, _ := serve(t, "b.yaml", lockFlow("/free"))
				resp, body := do(t, "POST", srv.URL+"/guarded", "")
				if resp.StatusCode != 200 || body != "done" {
					t.Errorf("%d %s: another runtime's lock held this one", resp.StatusCode, body)
				}
			})
		}
	})
}

// Served as cmd/stride serves it (http.Server.BaseContext = the
// runtime's), an http run still in progress at Stop's deadline is
// cancelled, and its caller told that stride shut down (503), through
// the request's own context — with and without BaseContext alike.
func TestStopDeadlineEndsHTTPRuns(t *testing.T) {
	up := newHangingUpstream(t, time.Hour)
	defer up.Close()
	set := load(t, "h.yaml", `
flow: slow
trigger: {http: {path: /slow, methods: [GET]}}
steps:
  - request: '`+up.URL+`'
`)
	for _, base := range []bool{true, false} {
		rt := runtime.New(runtime.Options{})
		rt.Swap(set)
		if err := rt.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(rt)
		if base {
			srv.Config.BaseContext = rt.BaseContext
		}
		srv.Start()
		before := up.started.Load()
		answer := make(chan *http.Response, 1)
		go func() {
			resp, err := http.Get(srv.URL + "/slow")
			if err != nil {
				t.Error(err)
				answer <- nil
				return
			}
			resp.Body.Close()
			answer <- resp
		}()
		waitFor(t, "the request to reach the upstream", func() bool { return up.started.Load() > before })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		if err := rt.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("base %v: Stop = %v, want the drain deadline passed", base, err)
		}
		cancel()
		if resp := <-answer; resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("base %v: the cancelled run answered %v, want 503", base, resp)
		}
		srv.Close()
	}
}
