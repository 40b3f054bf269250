package store

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeClock is an injectable Options.Now that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Now().Truncate(time.Second)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// openTest opens a DB in a fresh temp dir, closed when the test ends.
func openTest(t testing.TB, opts Options) (*DB, string) {
	t.Helper()
	dir := t.TempDir()
	return openAt(t, dir, opts), dir
}

func openAt(t testing.TB, dir string, opts Options) *DB {
	t.Helper()
	if opts.GCInterval == 0 {
		opts.GCInterval = -1
	}
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var bg = context.Background()

func testKey(b byte) []byte {
	k := make([]byte, KeySize)
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}
