package runtime_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/admin"
	"github.com/stride-engine/stride/engine/runtime"
)

// fakeClock is a Clock that moves only when the test advances it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, fakeWaiter{c.now.Add(d), ch})
	return ch
}

// Advance moves the clock and fires every wait that is due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

func (c *fakeClock) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// waitWaiting blocks until n timers wait on the clock: then an Advance
// cannot race with a timer computing its next tick.
func (c *fakeClock) waitWaiting(t *testing.T, n int) {
	t.Helper()
	waitFor(t, "timers to wait on the clock", func() bool { return c.waiting() >= n })
}

// gate is an HTTP target that counts calls and can hold them.
type gate struct {
	calls   atomic.Int64
	held    chan struct{}
	holding atomic.Bool
	srv     *httptest.Server
}

func newGate(t *testing.T) *gate {
	g := &gate{held: make(chan struct{})}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.calls.Add(1)
		if g.holding.Load() {
			<-g.held
		}
	}))
	t.Cleanup(func() {
		if g.holding.Load() {
			close(g.held)
		}
		g.srv.Close()
	})
	return g
}

func timerRuntime(t *testing.T, clock *fakeClock, lookup map[string]string, files ...string) *runtime.Runtime {
	t.Helper()
	set, err := loadErr(files...)
	if err != nil {
		t.Fatal(err)
	}
	set.Bind(func(n string) (string, bool) { v, ok := lookup[n]; return v, ok })
	rt := newRuntime(t, runtime.Options{Clock: clock})
	rt.Swap(set)
	return rt
}

func TestTimerEveryFiresOnTheClock(t *testing.T) {
	g := newGate(t)
	clock := &fakeClock{now: time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)}
	timerRuntime(t, clock, nil, "t.yaml", "flow: tick\ntrigger: {timer: {every: 10s}}\nsteps:\n  - request: '"+g.srv.URL+"'\n")
	clock.waitWaiting(t, 1)
	clock.Advance(9 * time.Second)
	if n := g.calls.Load(); n != 0 {
		t.Fatalf("fired before its time: %d", n)
	}
	clock.Advance(time.Second)
	waitFor(t, "the first run", func() bool { return g.calls.Load() == 1 })
	clock.waitWaiting(t, 1)
	clock.Advance(10 * time.Second)
	waitFor(t, "the second run", func() bool { return g.calls.Load() == 2 })
}

func TestTimerCronInItsTimeZone(t *testing.T) {
	g := newGate(t)
	// 00:59 UTC is 01:59 in Berlin (winter): the 02:00 Berlin run is one minute away.
	clock := &fakeClock{now: time.Date(2026, 11, 23, 0, 59, 0, 0, time.UTC)}
	timerRuntime(t, clock, map[string]string{"SCHEDULE": "0 2 * * *"}, "t.yaml",
		"flow: nightly\nenv: [SCHEDULE]\ntrigger: {timer: {cron: '${env.SCHEDULE}', timezone: Europe/Berlin}}\nsteps:\n  - request: '"+g.srv.URL+"'\n")
	clock.waitWaiting(t, 1)
	clock.Advance(59 * time.Second)
	if g.calls.Load() != 0 {
		t.Fatal("fired early")
	}
	clock.Advance(time.Second)
	waitFor(t, "the 02:00 Berlin run", func() bool { return g.calls.Load() == 1 })
}

func TestTimerNeverOverlapsItself(t *testing.T) {
	g := newGate(t)
	g.holding.Store(true)
	clock := &fakeClock{now: time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)}
	rt := timerRuntime(t, clock, nil, "t.yaml", "flow: slow\ntrigger: {timer: {every: 1m}}\nsteps:\n  - request: '"+g.srv.URL+"'\n")
	clock.waitWaiting(t, 1)
	clock.Advance(time.Minute)
	waitFor(t, "the first run to be under way", func() bool { return g.calls.Load() == 1 })
	if _, err := rt.RunNow("slow"); err != runtime.ErrAlreadyRunning {
		t.Fatalf("run now during a run: %v, want ErrAlreadyRunning", err)
	}
	clock.waitWaiting(t, 1)
	clock.Advance(time.Minute) // this tick is skipped
	clock.waitWaiting(t, 1)
	g.holding.Store(false)
	close(g.held)
	waitFor(t, "the run to finish", func() bool {
		_, err := rt.RunNow("slow")
		return err == nil
	})
	waitFor(t, "the run started on demand", func() bool { return g.calls.Load() == 2 })
}

func TestTimerWithABadCronFromAVariableIsDisabled(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	rt := timerRuntime(t, clock, map[string]string{"SCHEDULE": "every night"}, "t.yaml",
		"flow: nightly\nenv: [SCHEDULE]\ntrigger: {timer: {cron: '${env.SCHEDULE}'}}\nsteps: [{log: x}]\n")
	if r := rt.Set().Flow("nightly").Disabled; !strings.Contains(r, `cron "every night"`) {
		t.Fatalf("disabled reason %q", r)
	}
}

func TestTimerLoadErrors(t *testing.T) {
	for _, tc := range []struct{ trigger, want string }{
		{"{timer: {cron: '61 * * * *'}}", `cron "61 * * * *"`},
		{"{timer: {}}", "give exactly one of cron and every"},
		{"{timer: {cron: '@daily', every: 1h}}", "give exactly one of cron and every"},
		{"{timer: {every: 1h, timezone: Mars/Base}}", `unknown time zone "Mars/Base"`},
		{"{timer: {every: 10ms}}", "every must be at least 1s"},
	} {
		_, err := loadErr("t.yaml", "flow: t\ntrigger: "+tc.trigger+"\nsteps: [{log: x}]\n")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.trigger, err, tc.want)
		}
	}
}

func TestAdminRunNow(t *testing.T) {
	g := newGate(t)
	clock := &fakeClock{now: time.Now()}
	rt := timerRuntime(t, clock, nil, "t.yaml", "flow: nightly\ntrigger: {timer: {cron: '0 2 * * *'}}\nsteps:\n  - request: '"+g.srv.URL+"'\n",
		"h.yaml", "flow: web\ntrigger: {http: {path: /w}}\nsteps: [{log: x}]\n")
	admin := httptest.NewServer(admin.NewAdmin(rt, "", nil))
	defer admin.Close()
	resp, body := do(t, "POST", admin.URL+"/admin/flows/nightly/run", "")
	if resp.StatusCode != 202 || !strings.Contains(body, "message_id") {
		t.Fatalf("run now: %d %s", resp.StatusCode, body)
	}
	waitFor(t, "the run", func() bool { return g.calls.Load() == 1 })
	if resp, _ := do(t, "POST", admin.URL+"/admin/flows/nope/run", ""); resp.StatusCode != 404 {
		t.Errorf("unknown flow: %d", resp.StatusCode)
	}
	if resp, body := do(t, "POST", admin.URL+"/admin/flows/web/run", ""); resp.StatusCode != 422 || !strings.Contains(body, "only timer flows") {
		t.Errorf("http flow: %d %s", resp.StatusCode, body)
	}
}
