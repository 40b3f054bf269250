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
// limit bytes. Badger's memtables and caches live in the Go heap, which
// the process holds to GoShare of the budget; the store takes about half
// of that share (memtables of a sixteenth of the budget, 2–64 MiB, two
// held at once, three from 512 MiB and five from 2 GiB; a block cache of
// a thirty-second; an index cache of a sixty-fourth), the rest is the
// runtime's (messages in flight, HTTP, the log writer's batches).
// Memtables below 16 MiB cost durable writes dearly: signed webhook
// ingest with fsync fell from ~7,200 to ~4,600 a second with 8 MiB ones
// (more rotations, each a write-ahead log more to sync, and more
// level-0 compactions).
// The other 5/8 of the budget is for what is not Go heap: the files
// badger maps (its tables and the memtables' write-ahead logs, pages the
// kernel can reclaim) and goroutine stacks.
func MemoryFor(limit int64) Memory {
	const mib = 1 << 20
	clamp := func(v, lo, hi int64) int64 { return max(lo, min(v, hi)) }
	m := Memory{
		MemTableSize:     clamp(limit/16, 2*mib, 64*mib),
		NumMemtables:     2,
		BlockCacheSize:   clamp(limit/32, 2*mib, 256*mib),
		IndexCacheSize:   clamp(limit/64, 1*mib, 128*mib),
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

// GoShare is the share of a memory budget that the Go runtime may use
// (its soft memory limit, debug.SetMemoryLimit): 3/8. At the default
// 256 MiB budget that is 96 MiB of anonymous memory, the rest of a
// container's limit being left to file-backed pages.
func GoShare(limit int64) int64 { return limit / 8 * 3 }

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
		// Badger refuses a value threshold above its largest batch (15%
		// of a memtable); larger values go to the value log.
		bo = bo.WithMemTableSize(m.MemTableSize).WithValueThreshold(min(1<<20, m.MemTableSize/8))
	}
	if m.NumMemtables > 0 {
		// Level-0 compaction starts early (small tables compact
		// quickly), but writes stall only well after it: a stall holds
		// every write, which is a p99 spike.
		l0 := max(m.NumMemtables, 2)
		bo = bo.WithNumMemtables(m.NumMemtables).WithNumLevelZeroTables(l0).WithNumLevelZeroTablesStall(l0 * 5)
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
