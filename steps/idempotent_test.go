package steps_test

import (
	"context"
	"encoding/json"
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
	"github.com/stride-engine/stride/engine/runtime"
	"github.com/stride-engine/stride/engine/store"
)

// counter is an httptest server counting its calls; fail makes the
// first calls fail with 500.
type counter struct {
	*httptest.Server
	calls atomic.Int64
	fail  atomic.Int64
}

func newCounter(t *testing.T) *counter {
	c := &counter{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.calls.Add(1)
		if c.fail.Add(-1) >= 0 {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, `{"stored":true}`)
	}))
	t.Cleanup(c.Close)
	return c
}

// idemSet loads a flow f whose steps are given.
func idemSet(t *testing.T, steps string) *flow.FlowSet {
	t.Helper()
	src := "flow: f\ntrigger: {call: {}}\nsteps:\n" + strings.TrimLeft(steps, "\n")
	set, err := flow.Load([]flow.Source{{Name: "f.yaml", Data: []byte(src)}})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	set.Bind(func(string) (string, bool) { return "", false })
	return set
}

func idemRun(set *flow.FlowSet, svc *flow.Services, body string) (*flow.Exchange, error) {
	// Each run is a different message, as two deliveries of a webhook are.
	x := newExchange(runtime.NewMessageID(), flow.NewMessage([]byte(body), "application/json"), set, nil)
	x.SetServices(svc)
	return x, set.Run(context.Background(), "f", x)
}

// idemSteps is an idempotent block that calls srv, then a step after it.
func idemSteps(srv *counter, opts string) string {
	return `
  - idempotent:
      id: '${json.ownerId}-${json.date}-${json.collectionType}'` + opts + `
      steps:
        - set: {properties: {seen_inside: '${property.duplicate}'}}
        - request: {url: '` + srv.URL + `', into: property.answer}
  - set: {properties: {after: true}}
`
}

const notification = `{"ownerId":"26FWFL","date":"2026-11-23","collectionType":"activities"}`

func TestIdempotentSkipsAnIDSeenBefore(t *testing.T) {
	svc := openKV(t)
	srv := newCounter(t)
	set := idemSet(t, idemSteps(srv, ""))

	x, err := idemRun(set, svc, notification)
	noError(t, err)
	first := x.ID
	wantProp(t, x, "duplicate", false)
	wantProp(t, x, "seen_inside", false)
	wantProp(t, x, "after", true)
	if x.Msg.Property["answer"] == nil || srv.calls.Load() != 1 {
		t.Fatalf("the block did not run: answer %v, %d calls", x.Msg.Property["answer"], srv.calls.Load())
	}

	x, err = idemRun(set, svc, notification)
	noError(t, err)
	wantProp(t, x, "duplicate", true)
	wantProp(t, x, "after", true)
	if _, ran := x.Msg.Property["seen_inside"]; ran || x.Msg.Property["answer"] != nil || srv.calls.Load() != 1 {
		t.Errorf("the block ran for a duplicate: %v, %d calls", x.Msg.Property, srv.calls.Load())
	}
	if x.Status != "" {
		t.Errorf("status %q, want COMPLETED (empty) when skipping", x.Status)
	}

	// Another id is new; the claim is kept in the default store.
	x, err = idemRun(set, svc, strings.Replace(notification, "activities", "sleep", 1))
	noError(t, err)
	wantProp(t, x, "duplicate", false)
	e, err := svc.KV.Get(context.Background(), "idempotent", "26FWFL-2026-11-23-activities")
	noError(t, err)
	var claim struct{ Text string }
	noError(t, json.Unmarshal(e.Value, &claim))
	if !strings.Contains(claim.Text, `"flow":"f"`) || !strings.Contains(claim.Text, `"message":"`+first+`"`) {
		t.Errorf("claim %s, want the flow and message that claimed it", e.Value)
	}
	if want := time.Now().Add(7 * 24 * time.Hour); e.Expires.Before(want.Add(-time.Minute)) || e.Expires.After(want.Add(time.Minute)) {
		t.Errorf("claim expires %v, want in 7 days (%v)", e.Expires, want)
	}
}

func TestIdempotentStopEndsTheMessageAsDuplicate(t *testing.T) {
	svc := openKV(t)
	srv := newCounter(t)
	set := idemSet(t, idemSteps(srv, "\n      on_duplicate: stop\n      store: notifications\n      ttl: never")+"  - fail: never\n")
	// The first message runs the block and reaches the later steps.
	if _, err := idemRun(set, svc, notification); err == nil || !strings.Contains(err.Error(), "never") {
		t.Fatalf("first message: got %v, want the later fail step to run", err)
	}
	e, err := svc.KV.Get(context.Background(), "notifications", "26FWFL-2026-11-23-activities")
	noError(t, err)
	if !e.Expires.IsZero() {
		t.Errorf("ttl: never gave an expiry %v", e.Expires)
	}
	// The block succeeded, the message failed later: the id stays claimed.
	x, err := idemRun(set, svc, notification)
	noError(t, err)
	if x.Status != "DUPLICATE" {
		t.Errorf("status %q, want DUPLICATE", x.Status)
	}
	wantProp(t, x, "duplicate", true)
	if _, ran := x.Msg.Property["after"]; ran {
		t.Error("a step after the block ran for a stopped duplicate")
	}
	if srv.calls.Load() != 1 {
		t.Errorf("%d calls, want 1", srv.calls.Load())
	}
}

func TestIdempotentFailingBlockReleasesTheID(t *testing.T) {
	svc := openKV(t)
	srv := newCounter(t)
	srv.fail.Store(1)
	set := idemSet(t, idemSteps(srv, ""))

	_, err := idemRun(set, svc, notification)
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("got %v, want the block's request to fail", err)
	}
	if _, err := svc.KV.Get(context.Background(), "idempotent", "26FWFL-2026-11-23-activities"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after a failed block the id is still claimed: %v", err)
	}
	x, err := idemRun(set, svc, notification)
	noError(t, err)
	wantProp(t, x, "duplicate", false)
	if x.Msg.Property["answer"] == nil || srv.calls.Load() != 2 {
		t.Errorf("the retry did not run the block: %v, %d calls", x.Msg.Property, srv.calls.Load())
	}
	x, err = idemRun(set, svc, notification)
	noError(t, err)
	wantProp(t, x, "duplicate", true)
}

func TestIdempotentConcurrentDuplicatesRunTheBlockOnce(t *testing.T) {
	svc := openKV(t)
	srv := newCounter(t)
	set := idemSet(t, idemSteps(srv, ""))
	var wg sync.WaitGroup
	var fresh, dups atomic.Int64
	errs := make([]error, 20)
	start := make(chan struct{})
	for i := range errs {
		wg.Go(func() {
			<-start
			x, err := idemRun(set, svc, notification)
			errs[i] = err
			switch x.Msg.Property["duplicate"] {
			case false:
				fresh.Add(1)
			case true:
				dups.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	if srv.calls.Load() != 1 || fresh.Load() != 1 || dups.Load() != 19 {
		t.Errorf("block ran %d times; %d new, %d duplicates; want 1, 1, 19", srv.calls.Load(), fresh.Load(), dups.Load())
	}
}

// clock is a settable clock for the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestIdempotentIDExpires(t *testing.T) {
	clk := &clock{t: time.Now().Truncate(time.Second)}
	db, err := store.Open(t.TempDir(), store.Options{GCInterval: -1, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := &flow.Services{KV: db.KV()}
	srv := newCounter(t)
	set := idemSet(t, idemSteps(srv, "\n      ttl: 1h"))

	for _, step := range []struct {
		advance time.Duration
		dup     bool
	}{
		{0, false},
		{59 * time.Minute, true},
		{61 * time.Second, false}, // 1h1s after the claim: forgotten, claimed anew
		{59 * time.Minute, true},
	} {
		clk.Add(step.advance)
		x, err := idemRun(set, svc, notification)
		noError(t, err)
		if x.Msg.Property["duplicate"] != step.dup {
			t.Errorf("at %v: duplicate = %v, want %v", clk.Now(), x.Msg.Property["duplicate"], step.dup)
		}
	}
	if srv.calls.Load() != 2 {
		t.Errorf("%d calls, want 2", srv.calls.Load())
	}
}

// flakyKV is a KV whose Put runs the real one and then reports an error,
// the ambiguous cases of a claim.
type flakyKV struct {
	store.KV
	before func() // runs before the real Put
	commit bool   // whether the real Put runs
	failed atomic.Int64
}

func (f *flakyKV) Put(ctx context.Context, st, id string, v []byte, opt store.PutOptions) error {
	if f.failed.Add(1) > 1 {
		return f.KV.Put(ctx, st, id, v, opt)
	}
	if f.before != nil {
		f.before()
	}
	if f.commit {
		if err := f.KV.Put(ctx, st, id, v, opt); err != nil {
			return err
		}
	}
	return errors.New("Transaction Conflict. Please retry")
}

func TestIdempotentAmbiguousClaimErrors(t *testing.T) {
	srv := newCounter(t)
	set := idemSet(t, idemSteps(srv, ""))
	const id = "26FWFL-2026-11-23-activities"

	// The put lost to a concurrent claim: the entry is someone else's.
	real := openKV(t).KV
	kv := &flakyKV{KV: real, before: func() {
		noError(t, real.Put(context.Background(), "idempotent", id, []byte("other"), store.PutOptions{}))
	}}
	x, err := idemRun(set, &flow.Services{KV: kv}, notification)
	noError(t, err)
	wantProp(t, x, "duplicate", true)

	// The put failed with no entry left: the claim is tried again.
	kv = &flakyKV{KV: openKV(t).KV}
	x, err = idemRun(set, &flow.Services{KV: kv}, notification)
	noError(t, err)
	wantProp(t, x, "duplicate", false)

	// The put committed but reported an error (a failed sync): the claim
	// is withdrawn and the message fails, so that a retry runs the block.
	real = openKV(t).KV
	kv = &flakyKV{KV: real, commit: true}
	_, err = idemRun(set, &flow.Services{KV: kv}, notification)
	if err == nil || !strings.Contains(err.Error(), `idempotent: claiming id "`+id+`" in store idempotent: Transaction Conflict`) {
		t.Fatalf("got %v, want the claim's error", err)
	}
	if _, err := real.Get(context.Background(), "idempotent", id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the unconfirmed claim was left behind: %v", err)
	}
	if srv.calls.Load() != 1 {
		t.Errorf("%d calls, want 1 (the retried claim only)", srv.calls.Load())
	}
}

// A block that ends the message (respond, filter) has done its work: the
// id stays claimed.
func TestIdempotentBlockEndingTheMessageKeepsTheID(t *testing.T) {
	svc := openKV(t)
	steps := "  - idempotent: {id: '${json.id}', steps: [{respond: {status: 202}}]}\n  - fail: never\n"
	x, err := runWith(t, svc, steps, `{"id":"a"}`)
	noError(t, err)
	if x.Response == nil || x.Response.Status != 202 {
		t.Fatalf("response %+v, want 202", x.Response)
	}
	x, err = runWith(t, svc, steps, `{"id":"a"}`)
	if err == nil || !strings.Contains(err.Error(), "never") {
		t.Fatalf("second message: got %v, want the block skipped and the later step run", err)
	}
	wantProp(t, x, "duplicate", true)
}

// TestIdempotentRedeliveryOfTheSameMessageRunsTheBlock: a queue message
// redelivered after a crash inside the block keeps its id and finds its
// own claim: that is not a duplicate, and the work must be done.
func TestIdempotentRedeliveryOfTheSameMessageRunsTheBlock(t *testing.T) {
	srv := newCounter(t)
	svc := openKV(t)
	set := idemSet(t, idemSteps(srv, ""))
	run := func(id string) *flow.Exchange {
		x := newExchange(id, flow.NewMessage([]byte(notification), "application/json"), set, nil)
		x.SetServices(svc)
		if err := set.Run(context.Background(), "f", x); err != nil {
			t.Fatal(err)
		}
		return x
	}
	if x := run("queue-msg-1"); x.Msg.Property["duplicate"] != false {
		t.Fatal("first delivery must run the block")
	}
	if x := run("queue-msg-1"); x.Msg.Property["duplicate"] != false {
		t.Fatal("a redelivery of the same message must run the block again")
	}
	if x := run("queue-msg-2"); x.Msg.Property["duplicate"] != true {
		t.Fatal("another message with the same id is a duplicate")
	}
}

func TestIdempotentRunErrors(t *testing.T) {
	_, err := runSteps(t, "  - idempotent: {id: x, steps: [{set: {properties: {a: 1}}}]}\n", "", "")
	if err == nil || !strings.Contains(err.Error(), "needs the data store") {
		t.Errorf("without a store: %v", err)
	}
	svc := openKV(t)
	_, err = runWith(t, svc, "  - idempotent: {id: '${json.missing}', steps: [{set: {properties: {a: 1}}}]}\n", "{}")
	if err == nil || !strings.Contains(err.Error(), "idempotent: id: ${json.missing} has no value") {
		t.Errorf("id without a value: %v", err)
	}
	_, err = runWith(t, svc, "  - idempotent: {id: '${json.s}', steps: [{set: {properties: {a: 1}}}]}\n", `{"s":""}`)
	if err == nil || !strings.Contains(err.Error(), "idempotent: id ${json.s} is empty") {
		t.Errorf("empty id: %v", err)
	}
}

func TestIdempotentLoad(t *testing.T) {
	var example string
	for _, k := range flow.StepKinds() {
		if k.Name == "idempotent" {
			example = k.Example
		}
	}
	src := "flow: f\ntrigger: {call: {}}\nsteps:\n  " + strings.ReplaceAll(example, "\n", "\n  ") + "\n"
	consumer := "flow: collect\ntrigger: {queue: {name: fitbit-collect}}\nsteps: [{log: collected}]\n"
	if _, err := flow.Load([]flow.Source{{Name: "f.yaml", Data: []byte(src)}, {Name: "c.yaml", Data: []byte(consumer)}}); err != nil {
		t.Errorf("the example does not load: %v\n%s", err, src)
	}

	block := "steps: [{set: {properties: {a: 1}}}]"
	for _, tc := range []struct{ steps, want string }{
		{"  - idempotent: {" + block + "}\n", `missing required key "id"`},
		{"  - idempotent: {id: x}\n", `missing required key "steps"`},
		{"  - idempotent: {id: x, steps: []}\n", "idempotent: steps is empty"},
		{"  - idempotent: {id: x, store: 'my store', " + block + "}\n", `idempotent: store "my store"`},
		{"  - idempotent: {id: x, store: " + strings.Repeat("s", 41) + ", " + block + "}\n", "idempotent: store"},
		{"  - idempotent: {id: x, ttl: soon, " + block + "}\n", `idempotent: ttl "soon": write e.g. 7d, 12h, 90m or never`},
		{"  - idempotent: {id: x, ttl: 0d, " + block + "}\n", `idempotent: ttl "0d"`},
		{"  - idempotent: {id: x, on_duplicate: drop, " + block + "}\n", `on_duplicate: "drop" is not one of skip, stop`},
		{"  - idempotent: {id: '${json.}', " + block + "}\n", "${json.}"},
	} {
		if e := loadError(tc.steps); !strings.Contains(e, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.steps, e, tc.want)
		}
	}
}
