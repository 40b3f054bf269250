package store

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Garbage collection of the value log.
//
// Badger keeps values larger than its value threshold in value-log files;
// a deleted or overwritten value stays there until GC rewrites the
// file's live values into a new one and removes it. The GC runs every
// Options.GCInterval, and soon after the message log's retention sweep
// deleted entries (a kick, so a burst of sweeps runs one GC). Each run
// that rewrote a file or freed bytes logs what it reclaimed, and
// GCStats counts it (stride_store_gc_reclaimed_bytes_total).
//
// Small values (all of Stride's own records) live in the LSM tree with
// their keys: their space comes back when badger's compactions drop
// deleted and expired keys; Compact forces that.

// gcState is the GC's kick and counters.
type gcState struct {
	kick      chan struct{} // a retention sweep deleted entries
	mu        sync.Mutex    // one GC run at a time
	runs      atomic.Int64
	rewrites  atomic.Int64
	reclaimed atomic.Int64
}

// GCStats is what the value-log GC did since the database opened.
type GCStats struct {
	Runs           int64 // GC runs (scheduled, after retention deletes, Compact)
	FilesRewritten int64 // value-log files rewritten
	ReclaimedBytes int64 // bytes of value-log files freed
}

// GCStats reports what the value-log GC has done since Open.
func (db *DB) GCStats() GCStats {
	return GCStats{Runs: db.gc.runs.Load(), FilesRewritten: db.gc.rewrites.Load(), ReclaimedBytes: db.gc.reclaimed.Load()}
}

// kickGC asks the GC loop for a run soon (after retention deletes).
func (db *DB) kickGC() {
	select {
	case db.gc.kick <- struct{}{}:
	default: // one is already due
	}
}

// gcAfterDeletes is how long the GC waits after a retention sweep's kick,
// so consecutive sweeps share one run.
const gcAfterDeletes = 5 * time.Second

func (db *DB) gcLoop(every time.Duration) {
	defer db.bg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-t.C:
			db.runGC("schedule")
		case <-db.gc.kick:
			select {
			case <-db.stop:
				return
			case <-time.After(gcAfterDeletes):
			}
			db.runGC("retention")
		}
	}
}

// runGC rewrites value log files until badger finds none worth rewriting
// (half of a file discardable), counts and logs what it reclaimed, and
// returns the bytes freed.
func (db *DB) runGC(reason string) int64 {
	db.gc.mu.Lock()
	defer db.gc.mu.Unlock()
	before := db.vlogDiskBytes()
	rewrites := 0
loop:
	for i := 0; i < 100; i++ {
		select {
		case <-db.stop:
			break loop
		default:
		}
		err := db.bdb.RunValueLogGC(0.5)
		switch {
		case err == nil:
			rewrites++
			continue
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
		default:
			db.log.Warn("store: value log GC", "reason", reason, "err", err)
		}
		break
	}
	// Bytes freed: the value-log files' sizes before and after (a
	// write in between can hide some: this errs low, never high).
	reclaimed := max(before-db.vlogDiskBytes(), 0)
	db.gc.runs.Add(1)
	db.gc.rewrites.Add(int64(rewrites))
	db.gc.reclaimed.Add(reclaimed)
	if rewrites > 0 || reclaimed > 0 {
		db.log.Info("store: value log GC reclaimed space", "reason", reason, "files_rewritten", rewrites, "reclaimed_bytes", reclaimed)
	}
	return reclaimed
}

// vlogDiskBytes is the size of the value-log files (0 in memory).
func (db *DB) vlogDiskBytes() int64 {
	if db.dir == "" {
		return 0
	}
	var n int64
	_ = filepath.WalkDir(db.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".vlog") {
			return nil
		}
		if info, err := d.Info(); err == nil {
			n += info.Size()
		}
		return nil
	})
	return n
}

// Compact forces what badger's background work does in time: the LSM
// tree flattened into one level (deleted and expired keys dropped, their
// space freed) and the value log collected. It returns the value-log
// bytes the GC reclaimed. Writes may go on meanwhile, but they compete
// with it: run it when the database is quiet (e.g. opened offline).
func (db *DB) Compact(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return 0, ErrClosed
	}
	if err := db.bdb.Flatten(1); err != nil {
		return 0, err
	}
	return db.runGC("compact"), nil
}
