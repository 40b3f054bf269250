package steps

// The lock tests are internal: they check the lock table itself (empty
// once every message is done).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/flow"
)

func init() {
	// A step that panics, to prove the lock is released on that path too.
	flow.RegisterStep(flow.StepKind[struct{}]{
		Name:    "lock_test_panic",
		Summary: "Panics (lock tests only).",
		Build: func(*flow.Builder, *struct{}) (flow.Step, error) {
			return flow.StepFunc(func(context.Context, *flow.Exchange) error { panic("lock_test_panic") }), nil
		},
	})
}

// lockFlows loads flow files (each a complete flow) as one set.
func lockFlows(t testing.TB, files ...string) *flow.FlowSet {
	t.Helper()
	var srcs []flow.Source
	for i, f := range files {
		srcs = append(srcs, flow.Source{Name: fmt.Sprintf("f%d.yaml", i+1), Data: []byte(f)})
	}
	set, err := flow.Load(srcs)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	set.Bind(func(string) (string, bool) { return "", false })
	return set
}

func runLock(ctx context.Context, set *flow.FlowSet, id, body string) (*flow.Exchange, error) {
	x := NewTestExchange("m-"+body, flow.NewMessage([]byte(body), "application/json"), set, nil)
	return x, set.Run(ctx, id, x)
}

// callers is an httptest server that records how many requests it
// serves at the same time.
type callers struct {
	*httptest.Server
	cur, max, total atomic.Int64
}

func newCallers(t testing.TB, handle func(w http.ResponseWriter, r *http.Request)) *callers {
	c := &callers{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := c.cur.Add(1)
		defer c.cur.Add(-1)
		c.total.Add(1)
		for {
			m := c.max.Load()
			if n <= m || c.max.CompareAndSwap(m, n) {
				break
			}
		}
		handle(w, r)
	}))
	t.Cleanup(c.Close)
	return c
}

func lockFlow(id, lock string) string {
	return "flow: " + id + "\ntrigger: {call: {}}\nsteps:\n  - lock:\n" + lock
}

func wantNoLocks(t *testing.T) {
	t.Helper()
	if n := lockTableLen(); n != 0 {
		t.Errorf("the lock table holds %d entries after every message is done, want 0", n)
	}
}

func runConcurrently(set *flow.FlowSet, flow string, bodies []string) []error {
	errs := make([]error, len(bodies))
	var wg sync.WaitGroup
	for i, b := range bodies {
		wg.Go(func() { _, errs[i] = runLock(context.Background(), set, flow, b) })
	}
	wg.Wait()
	return errs
}

func TestLockOneHolderPerKey(t *testing.T) {
	srv := newCallers(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Millisecond) // widen the window an overlap would show in
		fmt.Fprint(w, `{"ok":true}`)
	})
	set := lockFlows(t, lockFlow("f", "      key: '${json.owner}'\n      steps:\n        - request: '"+srv.URL+"'\n"))
	bodies := make([]string, 50)
	for i := range bodies {
		bodies[i] = `{"owner":"26FWFL"}`
	}
	for i, err := range runConcurrently(set, "f", bodies) {
		if err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	if got := srv.total.Load(); got != 50 {
		t.Errorf("%d calls, want 50", got)
	}
	if got := srv.max.Load(); got != 1 {
		t.Errorf("%d callers at once under one key, want 1", got)
	}
	wantNoLocks(t)
}

func TestLockDifferentKeysRunInParallel(t *testing.T) {
	// Each caller waits until a second one is inside: with the keys
	// serialised the first would wait in vain and time out.
	overlap := make(chan struct{})
	var once sync.Once
	var srv *callers
	srv = newCallers(t, func(w http.ResponseWriter, r *http.Request) {
		if srv.cur.Load() >= 2 {
			once.Do(func() { close(overlap) })
		}
		select {
		case <-overlap:
			fmt.Fprint(w, `{}`)
		case <-time.After(10 * time.Second):
			http.Error(w, "no second caller came", http.StatusServiceUnavailable)
		}
	})
	set := lockFlows(t, lockFlow("f", "      key: '${json.owner}'\n      steps:\n        - request: '"+srv.URL+"'\n"))
	var bodies []string
	for i := range 10 {
		bodies = append(bodies, fmt.Sprintf(`{"owner":"user-%d"}`, i))
	}
	for i, err := range runConcurrently(set, "f", bodies) {
		if err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	if got := srv.max.Load(); got < 2 {
		t.Errorf("%d callers at once with 10 keys, want more than 1", got)
	}
	wantNoLocks(t)
}

// blocker is a server whose requests wait until the test lets them go,
// telling the test when each arrives.
type blocker struct {
	*callers
	entered chan string
	release chan struct{}
}

func newBlocker(t *testing.T) *blocker {
	b := &blocker{entered: make(chan string, 100), release: make(chan struct{})}
	b.callers = newCallers(t, func(w http.ResponseWriter, r *http.Request) {
		b.entered <- r.URL.Query().Get("who")
		<-b.release
		fmt.Fprint(w, `{}`)
	})
	t.Cleanup(func() {
		select {
		case <-b.release:
		default:
			close(b.release)
		}
	})
	return b
}

// hold runs a message that takes the lock and blocks in the server, and
// returns once it is there, with a channel that gives its result.
func (b *blocker) hold(t *testing.T, set *flow.FlowSet, flow, body string) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := runLock(context.Background(), set, flow, body)
		done <- err
	}()
	select {
	case <-b.entered:
	case err := <-done:
		t.Fatalf("the holder ended before reaching the server: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the holder never reached the server")
	}
	return done
}

func TestLockTimeout(t *testing.T) {
	b := newBlocker(t)
	set := lockFlows(t, lockFlow("f", "      name: fitbit-token-refresh\n      key: '${json.owner}'\n      timeout: 50ms\n      steps:\n        - request: '"+b.URL+"'\n"))
	holder := b.hold(t, set, "f", `{"owner":"26FWFL"}`)

	_, err := runLock(context.Background(), set, "f", `{"owner":"26FWFL"}`)
	if err == nil || !strings.Contains(err.Error(), `lock fitbit-token-refresh for key "26FWFL" not acquired within 50ms`) {
		t.Fatalf("got %v, want the lock timeout naming the lock, the key and the wait", err)
	}
	var se *flow.StatusError
	if !errors.As(err, &se) || se.Status != 503 {
		t.Errorf("status error %+v, want 503", se)
	}
	if got := b.total.Load(); got != 1 {
		t.Errorf("%d calls, want only the holder's", got)
	}

	// The message's context ends the wait as well.
	ctx, cancel := context.WithCancel(context.Background())
	waited := make(chan error, 1)
	slow := lockFlows(t, lockFlow("f", "      name: fitbit-token-refresh\n      key: '${json.owner}'\n      timeout: 1h\n      steps:\n        - request: '"+b.URL+"'\n"))
	go func() {
		_, err := runLock(ctx, slow, "f", `{"owner":"26FWFL"}`)
		waited <- err
	}()
	waitForWaiters(t, lockID{"fitbit-token-refresh", "26FWFL"}, 1)
	cancel()
	if err := <-waited; err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), `lock fitbit-token-refresh for key "26FWFL" not acquired: gave up after`) {
		t.Errorf("got %v, want the wait ended by the context", err)
	}

	close(b.release)
	if err := <-holder; err != nil {
		t.Errorf("holder: %v", err)
	}
	wantNoLocks(t)
}

// waitForWaiters waits until n messages wait for the lock id besides its
// holder.
func waitForWaiters(t *testing.T, id lockID, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		refs := lockEntryRefs(id)
		if refs == n+1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lock %v: %d references, want %d waiters and the holder", id, refs, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLockNameIsSharedAcrossFlows(t *testing.T) {
	b := newBlocker(t)
	step := func(name string) string {
		s := "      key: '${json.owner}'\n      timeout: 50ms\n      steps:\n        - request: '" + b.URL + "?who=${json.who}'\n"
		if name != "" {
			s = "      name: " + name + "\n" + s
		}
		return s
	}
	set := lockFlows(t,
		lockFlow("a", step("shared")), lockFlow("b", step("shared")),
		lockFlow("c", step("")), lockFlow("d", step("")))

	holder := b.hold(t, set, "a", `{"owner":"u1","who":"a"}`)
	_, err := runLock(context.Background(), set, "b", `{"owner":"u1","who":"b"}`)
	if err == nil || !strings.Contains(err.Error(), `lock shared for key "u1" not acquired within 50ms`) {
		t.Errorf("flow b: got %v, want it excluded by flow a's lock of the same name", err)
	}

	// Unnamed locks belong to their step: c holding does not stop d.
	other := b.hold(t, set, "c", `{"owner":"u1","who":"c"}`)
	done := make(chan error, 1)
	go func() {
		_, err := runLock(context.Background(), set, "d", `{"owner":"u1","who":"d"}`)
		done <- err
	}()
	select {
	case who := <-b.entered:
		if who != "d" {
			t.Errorf("%s entered, want d", who)
		}
	case err := <-done:
		t.Errorf("flow d ended before reaching the server: %v", err)
	case <-time.After(10 * time.Second):
		t.Error("flow d was kept out by flow c's lock")
	}
	close(b.release)
	for _, ch := range []<-chan error{holder, other, done} {
		if err := <-ch; err != nil {
			t.Error(err)
		}
	}
	wantNoLocks(t)
}

func TestLockReleasedOnEveryPath(t *testing.T) {
	set := lockFlows(t,
		lockFlow("fails", "      key: k\n      timeout: 1s\n      steps:\n        - fail: inside the lock\n"),
		lockFlow("filters", "      key: k\n      timeout: 1s\n      steps:\n        - filter: 'false'\n        - fail: never\n  - fail: never\n"),
		lockFlow("responds", "      key: k\n      timeout: 1s\n      steps:\n        - respond: {status: 202}\n  - fail: never\n"),
		lockFlow("panics", "      key: k\n      timeout: 1s\n      steps:\n        - lock_test_panic\n"),
		lockFlow("ok", "      key: k\n      timeout: 1s\n      steps:\n        - set: {properties: {ran: true}}\n"),
		lockFlow("reenters", "      name: re\n      key: k\n      steps:\n        - call: {flow: inner}\n"),
		"flow: inner\ntrigger: {call: {}}\nsteps:\n  - lock:\n      name: re\n      key: k\n      steps: [{set: {properties: {ran: true}}}]\n",
	)
	for range 2 { // a lock left held would time out the second round
		if _, err := runLock(context.Background(), set, "fails", "{}"); err == nil || !strings.Contains(err.Error(), "inside the lock") {
			t.Errorf("fails: %v", err)
		}
		x, err := runLock(context.Background(), set, "filters", "{}")
		if err != nil || x.Status != "DISCARDED" {
			t.Errorf("filters: %v, status %q", err, x.Status)
		}
		x, err = runLock(context.Background(), set, "responds", "{}")
		if err != nil || x.Response == nil || x.Response.Status != 202 {
			t.Errorf("responds: %v, response %+v", err, x.Response)
		}
		func() {
			defer func() {
				if r := recover(); r != "lock_test_panic" {
					t.Errorf("panics: recovered %v", r)
				}
			}()
			runLock(context.Background(), set, "panics", "{}")
		}()
		if x, err := runLock(context.Background(), set, "ok", "{}"); err != nil || x.Msg.Property["ran"] != true {
			t.Errorf("ok: %v", err)
		}
		_, err = runLock(context.Background(), set, "reenters", "{}")
		if err == nil || !strings.Contains(err.Error(), `lock re for key "k" is already held by this message`) {
			t.Errorf("reenters: got %v, want a reentry error at once", err)
		}
		wantNoLocks(t)
	}
}

func TestLockTableEmptyAfterManyKeys(t *testing.T) {
	set := lockFlows(t, lockFlow("f", "      key: '${json.owner}'\n      steps:\n        - set: {properties: {ran: true}}\n"))
	bodies := make([]string, 1000)
	for i := range bodies {
		bodies[i] = fmt.Sprintf(`{"owner":"user-%d"}`, i)
	}
	for i := 0; i < len(bodies); i += 100 { // 100 at a time: held and waited-for entries mix
		for j, err := range runConcurrently(set, "f", bodies[i:i+100]) {
			if err != nil {
				t.Fatalf("message %d: %v", i+j, err)
			}
		}
	}
	wantNoLocks(t)
}

func TestLockLoad(t *testing.T) {
	var example string
	for _, k := range flow.StepKinds() {
		if k.Name == "lock" {
			example = k.Example
		}
	}
	src := "flow: f\ntrigger: {call: {}}\nsteps:\n  " + strings.ReplaceAll(example, "\n", "\n  ") +
		"\n---\nflow: fitbit-refresh-token\ntrigger: {call: {}}\nsteps: [{set: {properties: {refreshed: true}}}]\n"
	a, b, _ := strings.Cut(src, "---\n")
	if _, err := flow.Load([]flow.Source{{Name: "f.yaml", Data: []byte(a)}, {Name: "g.yaml", Data: []byte(b)}}); err != nil {
		t.Errorf("the example does not load: %v\n%s", err, src)
	}

	for _, tc := range []struct{ steps, want string }{
		{"  - lock: {steps: [{set: {properties: {a: 1}}}]}\n", `missing required key "key"`},
		{"  - lock: {key: k}\n", `missing required key "steps"`},
		{"  - lock: {key: k, steps: []}\n", "lock: steps is empty"},
		{"  - lock: {key: k, timeout: 0s, steps: [{set: {properties: {a: 1}}}]}\n", "lock: timeout must be more than 0"},
		{"  - lock: {key: k, timeout: soon, steps: [{set: {properties: {a: 1}}}]}\n", `timeout: "soon" is not a duration`},
		{"  - lock: {key: '${nope.x}', steps: [{set: {properties: {a: 1}}}]}\n", "nope"},
	} {
		_, err := flow.Load([]flow.Source{{Name: "f.yaml", Data: []byte("flow: f\ntrigger: {call: {}}\nsteps:\n" + tc.steps)}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.steps, err, tc.want)
		}
	}
}

// TestLockDefaultNameAndKeyErrors: without a name, the lock is named by
// the flow id and the step's place; a key without a value fails clearly.
func TestLockDefaultNameAndKeyErrors(t *testing.T) {
	set := lockFlows(t, lockFlow("f", "      key: '${json.owner}'\n      steps:\n        - set: {properties: {ran: true}}\n"))
	_, err := runLock(context.Background(), set, "f", `{}`)
	if err == nil || !strings.Contains(err.Error(), "lock f@f1.yaml:4: key:") {
		t.Errorf("got %v, want the key error naming the lock f@f1.yaml:4", err)
	}
	wantNoLocks(t)
}
