package store

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Values past badger's value threshold live in the value log; deleted,
// their files are rewritten by the GC, which counts and logs the bytes
// it freed.
func TestValueLogGCReportsWhatItReclaimed(t *testing.T) {
	ctx := context.Background()
	var out lockedBuffer
	logger := slog.New(slog.NewTextHandler(&out, nil))
	dir := t.TempDir()
	// One memtable: two level-0 tables make a compaction due, whose merge
	// of the puts and deletes gives badger its discard statistics.
	opts := Options{Logger: logger, GCInterval: -1, Memory: Memory{ValueLogFileSize: 4 << 20, NumMemtables: 1}}
	big := bytes.Repeat([]byte("x"), 1<<20+512) // past the 1 MB threshold
	var db *DB
	// Each round is flushed into a table of its own by closing.
	for _, round := range []func(i int) error{
		func(i int) error { return db.KV().Put(ctx, "blobs", strconv.Itoa(i), big, PutOptions{Overwrite: true}) },
		func(i int) error { return db.KV().Delete(ctx, "blobs", strconv.Itoa(i)) },
		func(i int) error {
			return db.KV().Put(ctx, "small", strconv.Itoa(i), []byte("v"), PutOptions{Overwrite: true})
		},
	} {
		db = openAt(t, dir, opts)
		for i := range 12 {
			if err := round(i); err != nil {
				t.Fatal(err)
			}
		}
		if st := db.GCStats(); st.ReclaimedBytes != 0 || st.Runs != 0 {
			t.Fatalf("GC counted before it ran: %+v", st)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	db = openAt(t, dir, opts)
	before := db.vlogDiskBytes()
	reclaimed, err := db.Compact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := db.GCStats()
	if reclaimed <= 0 || st.ReclaimedBytes != reclaimed || st.Runs != 1 || st.FilesRewritten == 0 {
		t.Fatalf("reclaimed %d, stats %+v (value log was %d bytes)", reclaimed, st, before)
	}
	if after := db.vlogDiskBytes(); after != before-reclaimed {
		t.Fatalf("value log %d → %d, reported %d", before, after, reclaimed)
	}
	log := out.String()
	if !strings.Contains(log, "value log GC reclaimed space") || !strings.Contains(log, "reclaimed_bytes="+strconv.FormatInt(reclaimed, 10)) || !strings.Contains(log, "reason=compact") {
		t.Fatalf("the GC's log line is missing or wrong:\n%s", log)
	}
}

// A retention sweep that deleted entries kicks the GC loop.
func TestRetentionDeletesKickTheGC(t *testing.T) {
	db, _ := openTest(t, Options{GCInterval: -1, LogMaxBytes: 4 << 10})
	db.lg.sweepNow() // after the sweeper's first scan
	select {
	case <-db.gc.kick:
		t.Fatal("a sweep that deleted nothing asked for a GC")
	default:
	}
	es := make([]LogEntry, 100)
	for i := range es {
		es[i] = LogEntry{ID: fmt.Sprintf("m%05d", i), Flow: "a", Attempt: 1, Status: StatusCompleted,
			Start: time.Now().Add(time.Duration(i) * time.Millisecond), Trace: testTrace(4)}
	}
	if err := db.lg.RecordBatch(bg, es); err != nil {
		t.Fatal(err)
	}
	db.lg.sweepNow()
	if db.lg.sweeps.Load() == 0 {
		t.Fatal("the sweep deleted nothing")
	}
	select {
	case <-db.gc.kick:
	default:
		t.Fatal("a retention sweep that deleted entries did not ask for a GC")
	}
}
