package store

import (
	"context"
	"testing"
)

func TestMemoryForScalesWithTheLimit(t *testing.T) {
	const mib = 1 << 20
	prev := int64(0)
	for _, limit := range []int64{64 * mib, 256 * mib, 512 * mib, 1 << 30, 4 << 30} {
		m := MemoryFor(limit)
		if m.Bytes() > limit/2 && limit >= 256*mib {
			t.Errorf("limit %dMiB: the store takes %dMiB, more than half", limit>>20, m.Bytes()>>20)
		}
		if m.Bytes() < prev {
			t.Errorf("limit %dMiB: %dMiB, less than for a smaller limit", limit>>20, m.Bytes()>>20)
		}
		prev = m.Bytes()
	}
	if m := MemoryFor(256 * mib); m.NumMemtables != 2 || m.MemTableSize != 16*mib || m.String() == "" {
		t.Errorf("256MiB: %+v", m)
	}
	// The store's memtables and caches are Go heap: at every budget they
	// must leave the runtime at least a third of the Go share.
	for _, limit := range []int64{64 * mib, 128 * mib, 256 * mib, 512 * mib, 1 << 30, 4 << 30} {
		if m := MemoryFor(limit); m.Bytes() > GoShare(limit)*2/3 {
			t.Errorf("limit %dMiB: the store takes %dMiB of a Go share of %dMiB", limit>>20, m.Bytes()>>20, GoShare(limit)>>20)
		}
	}
	if GoShare(256*mib) != 96*mib {
		t.Errorf("GoShare(256MiB) = %dMiB, want 96MiB", GoShare(256*mib)>>20)
	}
	if (Memory{}).String() != "badger defaults" {
		t.Error("the zero Memory describes itself wrong")
	}
}

// A store sized for a small container opens, writes and reads.
func TestStoreWorksWithASmallBudget(t *testing.T) {
	db, err := Open(t.TempDir(), Options{Memory: MemoryFor(64 << 20), GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for i := range 2000 {
		if err := db.KV().Put(ctx, "s", "id"+string(rune('a'+i%26))+string(rune('a'+i/26%26)), make([]byte, 512), PutOptions{Overwrite: true}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := db.KV().Count(ctx, "s"); err != nil || n != 26*26 {
		t.Fatalf("count %d %v", n, err)
	}
}
