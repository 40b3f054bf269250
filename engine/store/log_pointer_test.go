package store

import (
	"errors"
	"fmt"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// The by-id index holds the primary's 8-byte start, not the primary key
// whole; pointers written before (the whole key) still work for Get, a
// rewrite of the attempt without a start, and the size sweep.
func TestLogByIDPointer(t *testing.T) {
	db, _ := openTest(t, Options{LogMaxBytes: 8 << 10})
	lg := db.lg
	lg.sweepNow()
	t0 := time.Now().Truncate(time.Microsecond)
	if err := lg.Record(bg, LogEntry{ID: "new", Flow: "f", Attempt: 1, Status: StatusCompleted, Start: t0}); err != nil {
		t.Fatal(err)
	}
	err := db.bdb.View(func(txn *badger.Txn) error {
		item, err := txn.Get(logIDKey(logByID, "new", 1))
		if err != nil {
			return err
		}
		if item.ValueSize() != 8 {
			return fmt.Errorf("by-id pointer is %d bytes, want 8", item.ValueSize())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// An entry as written before: its pointer is the whole primary key.
	old := LogEntry{ID: "old", Flow: "f", Attempt: 1, Status: StatusProcessing, Start: t0.Add(-time.Hour)}
	primary := append([]byte(string(logByTime)), logSuffix(old.Start, old.ID, old.Attempt)...)
	err = db.bdb.Update(func(txn *badger.Txn) error {
		return errors.Join(txn.Set(primary, lg.encode(&old)), txn.Set(logIDKey(logByID, old.ID, old.Attempt), primary),
			txn.Set(append(logFlowPrefix("f"), primary[len(logByTime):]...), nil))
	})
	if err != nil {
		t.Fatal(err)
	}
	if es, err := lg.Get(bg, "old"); err != nil || len(es) != 1 || !es[0].Start.Equal(old.Start) || es[0].Status != StatusProcessing {
		t.Fatalf("old entry: %+v, %v", es, err)
	}
	// Written again without a start: it keeps the start its old pointer names.
	if err := lg.Record(bg, LogEntry{ID: "old", Flow: "f", Attempt: 1, Status: StatusCompleted}); err != nil {
		t.Fatal(err)
	}
	if es, err := lg.Get(bg, "old"); err != nil || len(es) != 1 || !es[0].Start.Equal(old.Start) || es[0].Status != StatusCompleted {
		t.Fatalf("old entry written again: %+v, %v", es, err)
	}
	if es, err := lg.List(bg, Filter{Flow: "f"}); err != nil || len(es) != 2 {
		t.Fatalf("List: %+v, %v", es, err)
	}

	// Past the size cap the oldest go, old pointer or new.
	for i := range 200 {
		if err := lg.Record(bg, LogEntry{ID: fmt.Sprintf("m%03d", i), Flow: "f", Attempt: 1, Status: StatusCompleted, Start: t0.Add(time.Duration(i+1) * time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
	}
	lg.sweepNow()
	for _, id := range []string{"old", "new"} {
		if _, err := lg.Get(bg, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s after the sweep: %v, want ErrNotFound", id, err)
		}
	}
	err = db.bdb.View(func(txn *badger.Txn) error {
		for _, id := range []string{"old", "new"} {
			if _, err := txn.Get(logIDKey(logByID, id, 1)); !errors.Is(err, badger.ErrKeyNotFound) {
				return fmt.Errorf("%s's by-id pointer survived the sweep: %v", id, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
