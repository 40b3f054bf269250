// Package storetest is the conformance suite of the store interfaces
// (store.KV, store.Queues, store.Log): what every backend — the embedded
// badger one, NATS JetStream — must do, asserted the same way on each.
// A backend's test calls TestKV, TestQueues and TestLog with a function
// that opens an empty store for one test; TestSharedQueues is for backends
// that several Stride instances share.
//
// The suite asserts the documented contracts of the interfaces, not how a
// backend meets them. Where a contract is about time (expiry, leases,
// delays) the KV tests move a fake clock the backend is given, and the
// queue tests wait for a condition with a deadline instead of sleeping:
// nothing asserts how long something took.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// Clock is a fake clock a test moves by hand; Now is what a backend is
// given as its clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at now, truncated to the second and moved
// 300ms on, so that expiry rounding is visible.
func NewClock() *Clock {
	return &Clock{t: time.Now().Truncate(time.Second).Add(300 * time.Millisecond)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// waitDeadline bounds every wait for a condition: long enough for a
// loaded CI machine, short enough that a broken backend fails the test.
const waitDeadline = 15 * time.Second

// waitFor polls cond until it holds, failing the test after waitDeadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// closed waits for ch to be closed, failing the test after waitDeadline.
func closed(t testing.TB, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitDeadline):
		t.Fatalf("timed out waiting for %s", what)
	}
}

var bg = context.Background()

// wantErr fails unless err is target, and, when mention is given, says it.
func wantErr(t testing.TB, what string, err, target error, mention string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
	if mention != "" && !strings.Contains(err.Error(), mention) {
		t.Fatalf("%s: err = %v, want it to mention %q", what, err, mention)
	}
}

func must(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func sameTime(a, b time.Time) bool { return a.Equal(b) }

func describe(v any) string { return fmt.Sprintf("%+v", v) }
