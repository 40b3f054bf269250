package store

import (
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Durability says what a write that returned survives.
type Durability int

const (
	// SurvivePowerLoss (the default): Enqueue, Replay and datastore
	// Put/Delete return only after their write is fsynced. Concurrent
	// writers share one fsync (group commit), so throughput grows with
	// concurrency while a lone writer pays a full fsync per write. Leases,
	// acks, retries, dead-lettering and the message log are not synced: a
	// power loss can undo the last of them, which at-least-once delivery
	// absorbs (a lost ack is a redelivery).
	SurvivePowerLoss Durability = iota
	// SurviveProcessCrash: a write returns once it is in badger's
	// write-ahead log, an mmap'd file, i.e. in the OS page cache. It survives
	// the process being killed (SIGKILL, OOM killer, panic), not a power
	// loss or kernel crash, which may lose the last seconds of writes.
	// Several times faster for a single writer.
	SurviveProcessCrash
)

func (d Durability) String() string {
	switch d {
	case SurvivePowerLoss:
		return "power-loss"
	case SurviveProcessCrash:
		return "process-crash"
	}
	return "unknown"
}

// groupSync makes writes durable with as few fsyncs as possible: a caller
// needs a sync that started after its write committed; callers that arrive
// while one runs wait for the next, which one of them runs for all.
type groupSync struct {
	do func() error

	mu      sync.Mutex
	cond    sync.Cond
	started uint64 // syncs started
	done    uint64 // syncs finished (the last one with err)
	running bool
	err     error
}

func newGroupSync(do func() error) *groupSync {
	g := &groupSync{do: do}
	g.cond.L = &g.mu
	return g
}

// sync returns once a sync that started after the call has finished.
func (g *groupSync) sync() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	need := g.started + 1
	for g.done < need {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		gen := g.started
		g.mu.Unlock()
		err := g.do()
		g.mu.Lock()
		g.running = false
		g.done, g.err = gen, err
		g.cond.Broadcast()
	}
	return g.err
}

// syncFiles flushes everything a commit may have written. Badger's Sync
// covers the active memtable's write-ahead log and the value log. A
// memtable that filled up since the write (rotated, waiting to be flushed
// into a table) has its own log, which badger does not sync: those logs —
// every *.mem file but the newest, badger numbers them in order — are
// fsynced too (fsync covers pages dirtied through mmap on Linux). Usually
// there is none, so the common case costs one sync. A log deleted
// meanwhile was flushed into a table, which badger syncs.
func (db *DB) syncFiles() error {
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return nil // Close flushed the memtables into synced tables
	}
	err := db.bdb.Sync()
	entries, rerr := os.ReadDir(db.dir)
	if rerr != nil {
		return errors.Join(err, rerr)
	}
	type mem struct {
		name string
		fid  uint64
	}
	var mems []mem
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".mem"); ok {
			if fid, perr := strconv.ParseUint(n, 10, 64); perr == nil {
				mems = append(mems, mem{e.Name(), fid})
			}
		}
	}
	// Numeric order: %05d names stop sorting as text past 99999.
	slices.SortFunc(mems, func(a, b mem) int { return cmp.Compare(a.fid, b.fid) })
	for i := 0; i < len(mems)-1; i++ { // all but the active (newest) log
		f, oerr := os.Open(filepath.Join(db.dir, mems[i].name))
		if errors.Is(oerr, os.ErrNotExist) {
			continue
		}
		if oerr != nil {
			err = errors.Join(err, oerr)
			continue
		}
		err = errors.Join(err, f.Sync(), f.Close())
	}
	return err
}

// durable makes committed writes survive per Options.Durability.
func (db *DB) durable() error {
	if db.gsync == nil {
		return nil
	}
	return db.gsync.sync()
}
