package steps

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Hooks for request_test.go (package steps_test); compiled into tests only.

// WaitRecorder records the waits between request attempts instead of
// sleeping.
type WaitRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

// Waits returns the waits recorded so far.
func (r *WaitRecorder) Waits() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.waits...)
}

// RecordRequestWaits makes the request step record its waits and go on at
// once, with the jitter fixed at its ceiling, until the test ends.
func RecordRequestWaits(t testing.TB) *WaitRecorder {
	pool := httpPools.Get(testResources)
	prevSleep, prevJitter := pool.sleep, pool.jitter
	r := &WaitRecorder{}
	pool.sleep = func(ctx context.Context, d time.Duration) error {
		r.mu.Lock()
		r.waits = append(r.waits, d)
		r.mu.Unlock()
		return ctx.Err()
	}
	pool.jitter = func(d time.Duration) time.Duration { return d }
	t.Cleanup(func() { pool.sleep, pool.jitter = prevSleep, prevJitter })
	return r
}

// SetRequestClock fixes the clock the request step reads hints with.
func SetRequestClock(t testing.TB, now time.Time) {
	pool := httpPools.Get(testResources)
	prev := pool.now
	pool.now = func() time.Time { return now }
	t.Cleanup(func() { pool.now = prev })
}

// ResetCSRFCache forgets every cached CSRF token.
func ResetCSRFCache() {
	c := csrfCaches.Get(testResources)
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

// RequestTransport returns the Transport of outbound requests.
func RequestTransport() *http.Transport { return newTransport() }

// SleepCtx is the real wait between attempts.
var SleepCtx = sleepCtx
