package store

import (
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// Memory sizes the store's share of a memory budget: badger's memtables
// (each an arena, several held at once while they flush), its block and
// index caches, and the size of value-log files (each mapped into memory).
// The zero Memory keeps badger's sizes as Stride has always set them.
type Memory struct {
	MemTableSize     int64 // bytes of one memtable
	NumMemtables     int   // memtables held at once (the active one and those flushing)
	BlockCacheSize   int64 // cached decompressed blocks of tables
	IndexCacheSize   int64 // cached table indexes and bloom filters; 0 keeps them in memory uncapped
	ValueLogFileSize int64 // bytes of one value-log file
}

// MemoryFor sizes the store for a process whose memory is limited to
// limit bytes: about a third of it for the store (memtables and caches),
// the rest for the Go heap of the runtime (messages in flight, HTTP),
// goroutine stacks and the files badger maps. Below 128 MiB the store
// keeps its smallest sizes.
func MemoryFor(limit int64) Memory {
	const mib = 1 << 20
	clamp := func(v, lo, hi int64) int64 { return max(lo, min(v, hi)) }
	m := Memory{
		MemTableSize:     clamp(limit/16, 8*mib, 64*mib),
		NumMemtables:     2,
		BlockCacheSize:   clamp(limit/10, 8*mib, 256*mib),
		IndexCacheSize:   clamp(limit/32, 4*mib, 128*mib),
		ValueLogFileSize: clamp(limit/4, 32*mib, 256*mib),
	}
	switch {
	case limit >= 2<<30:
		m.NumMemtables = 5
	case limit >= 512*mib:
		m.NumMemtables = 3
	}
	return m
}

// Bytes is the most memory the store's memtables and caches take.
func (m Memory) Bytes() int64 {
	return m.MemTableSize*int64(m.NumMemtables) + m.BlockCacheSize + m.IndexCacheSize
}

func (m Memory) String() string {
	if m == (Memory{}) {
		return "badger defaults"
	}
	mb := func(n int64) string { return fmt.Sprintf("%dMiB", n>>20) }
	return fmt.Sprintf("memtables %d×%s, block cache %s, index cache %s, value-log files %s (store total ≤ %s)",
		m.NumMemtables, mb(m.MemTableSize), mb(m.BlockCacheSize), mb(m.IndexCacheSize), mb(m.ValueLogFileSize), mb(m.Bytes()))
}

// apply sets m's sizes on badger's options; the zero Memory changes
// nothing.
func (m Memory) apply(bo badger.Options) badger.Options {
	if m.MemTableSize > 0 {
		bo = bo.WithMemTableSize(m.MemTableSize)
	}
	if m.NumMemtables > 0 {
		bo = bo.WithNumMemtables(m.NumMemtables).WithNumLevelZeroTables(max(m.NumMemtables, 2)).WithNumLevelZeroTablesStall(max(m.NumMemtables, 2) * 3)
	}
	if m.BlockCacheSize > 0 {
		bo = bo.WithBlockCacheSize(m.BlockCacheSize)
	}
	if m.IndexCacheSize > 0 {
		bo = bo.WithIndexCacheSize(m.IndexCacheSize)
	}
	if m.ValueLogFileSize > 0 {
		bo = bo.WithValueLogFileSize(m.ValueLogFileSize)
	}
	return bo
}
