package store

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// BytesByPart counts each part's keys and values, and reuses a fresh
// count.
func TestBytesByPart(t *testing.T) {
	start := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	var offset atomic.Int64 // the store's background sweeper reads the clock too
	clock := func() time.Time { return start.Add(time.Duration(offset.Load())) }
	db, err := Open(t.TempDir(), Options{GCInterval: -1, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	empty, err := db.BytesByPart(ctx)
	if err != nil || empty.Log+empty.Queues+empty.DataStores != 0 {
		t.Fatalf("empty store: %+v %v", empty, err)
	}
	if err := db.KV().Put(ctx, "users", "ada", make([]byte, 1000), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Queues().Enqueue(ctx, "work", Message{Body: make([]byte, 2000)}); err != nil {
		t.Fatal(err)
	}
	if err := db.Log().Record(ctx, LogEntry{ID: "m1", Flow: "f", Status: "COMPLETED", Attempt: 1, Start: clock(), End: clock()}); err != nil {
		t.Fatal(err)
	}
	cached, _ := db.BytesByPart(ctx)
	if cached != empty {
		t.Errorf("a count less than 30 s old must be reused: %+v", cached)
	}
	offset.Add(int64(time.Minute))
	p, err := db.BytesByPart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.DataStores < 1000 || p.DataStores > 1200 || p.Queues < 2000 || p.Queues > 2400 || p.Log <= 0 || p.Log > 2000 {
		t.Errorf("parts %+v: want datastores ~1000, queues ~2000 bytes, a small log", p)
	}
}
