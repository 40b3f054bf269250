package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stride-engine/stride/engine/store"
)

// DiskGuard keeps a runtime from writing durable state when the data
// file system is nearly full. The store (badger) writes through
// memory-mapped files, and a page the file system cannot back is a bus
// error that kills the process; so below MinFree the runtime refuses new
// durable writes before making them: an enqueue or a datastore write fails
// with a DiskLowError (an HTTP trigger answers 503 with Retry-After), queue
// consumers stop leasing, and message-log entries are dropped and counted.
// Deletes and acknowledgements still pass: they are small, and the floor
// leaves room for them. When space returns, everything resumes within a
// poll interval.
type DiskGuard struct {
	// Dir is a directory on the watched file system (the data directory).
	Dir string
	// MinFree is the floor, in bytes.
	MinFree uint64
	// Interval is how often free space is read; default 500ms.
	Interval time.Duration
	// Statfs returns the bytes available to the process on dir's file
	// system; nil reads them with statfs(2). Tests fake it.
	Statfs func(dir string) (uint64, error)
	// Log receives one line per transition; nil discards.
	Log *slog.Logger

	free    atomic.Uint64
	low     atomic.Bool
	checked atomic.Bool
	dropped atomic.Int64
}

// DiskLowError is the error of a durable write refused by a DiskGuard.
type DiskLowError struct {
	Free, Min uint64
}

func (e *DiskLowError) Error() string {
	return fmt.Sprintf("the data disk is nearly full (%s free, the floor is %s): durable writes are refused until space is freed", formatBytes(e.Free), formatBytes(e.Min))
}

// retryAfter is what an HTTP client is told to wait when the disk is low.
const retryAfter = "5"

func formatBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func statfs(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// Check reads the free space once and updates the guard's state; Run
// calls it on every tick. It logs a transition.
func (g *DiskGuard) Check() {
	read := g.Statfs
	if read == nil {
		read = statfs
	}
	free, err := read(g.Dir)
	if err != nil {
		g.logger().Warn("cannot read the data disk's free space", "dir", g.Dir, "error", err)
		return
	}
	g.free.Store(free)
	low := free < g.MinFree
	wasLow := g.low.Swap(low)
	first := !g.checked.Swap(true)
	switch {
	case low && (!wasLow || first):
		g.logger().Warn("data disk nearly full: refusing durable writes (HTTP flows that write answer 503, queue consumers pause, message-log entries are dropped)",
			"dir", g.Dir, "free", formatBytes(free), "floor", formatBytes(g.MinFree))
	case !low && wasLow:
		g.logger().Warn("data disk has room again: durable writes resume", "dir", g.Dir, "free", formatBytes(free), "floor", formatBytes(g.MinFree),
			"log_entries_dropped", g.dropped.Load())
	}
}

// Run checks the free space every Interval until ctx ends.
func (g *DiskGuard) Run(ctx context.Context) {
	interval := g.Interval
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	g.Check()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.Check()
		}
	}
}

// Err returns a DiskLowError while the free space is below the floor.
func (g *DiskGuard) Err() error {
	if g == nil || !g.low.Load() {
		return nil
	}
	return &DiskLowError{Free: g.free.Load(), Min: g.MinFree}
}

// Free returns the free bytes last read.
func (g *DiskGuard) Free() uint64 { return g.free.Load() }

// Dropped returns how many message-log entries were dropped: while the
// disk was low, and (added by the runtime) when the log writer fell
// behind.
func (g *DiskGuard) Dropped() int64 {
	if g == nil {
		return 0
	}
	return g.dropped.Load()
}

func (g *DiskGuard) logger() *slog.Logger {
	if g.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Log
}

// guardedKV refuses datastore writes while the disk is low.
type guardedKV struct {
	store.KV
	g *DiskGuard
}

func (k guardedKV) Put(ctx context.Context, s, id string, value []byte, opt store.PutOptions) error {
	if err := k.g.Err(); err != nil {
		return err
	}
	return k.KV.Put(ctx, s, id, value, opt)
}

// guardedQueues refuses new messages while the disk is low.
type guardedQueues struct {
	store.Queues
	g *DiskGuard
}

func (q guardedQueues) Enqueue(ctx context.Context, queue string, m store.Message) (string, error) {
	if err := q.g.Err(); err != nil {
		return "", err
	}
	return q.Queues.Enqueue(ctx, queue, m)
}

func (q guardedQueues) Replay(ctx context.Context, queue, id string) error {
	if err := q.g.Err(); err != nil {
		return err
	}
	return q.Queues.Replay(ctx, queue, id)
}
