package store

import (
	"fmt"
	"slices"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// countKeys counts the live keys under prefix.
func countKeys(t *testing.T, db *DB, prefix []byte) int {
	t.Helper()
	n := 0
	err := db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A rare flow among a busy one, over many seconds: List by flow pages
// through exactly the flow's entries, newest first, as a filter of the
// whole log would; the seconds index holds a key per flow and second,
// not per entry, and no by-flow key is written.
func TestLogListByFlowOverSeconds(t *testing.T) {
	db, _ := openTest(t, Options{})
	lg := db.Log()
	t0 := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	var batch []LogEntry
	busySeconds := map[int64]bool{}
	for i := range 600 {
		// Several entries a second, some exactly on a second's edge.
		start := t0.Add(time.Duration(i) * 250 * time.Millisecond)
		flow := "busy"
		if i%37 == 0 {
			flow = "rare"
		} else {
			busySeconds[start.Unix()] = true
		}
		batch = append(batch, LogEntry{ID: fmt.Sprintf("m%04d", i), Flow: flow, Attempt: 1, Status: StatusCompleted, Start: start, End: start})
		if len(batch) == 64 {
			if err := lg.RecordBatch(bg, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := lg.RecordBatch(bg, batch); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, db, logByFlow); n != 0 {
		t.Errorf("%d by-flow keys written, want none", n)
	}
	if n, want := countKeys(t, db, logSecondsPrefix("busy")), len(busySeconds); n != want {
		t.Errorf("busy flow: %d seconds keys, want one per second with entries (%d)", n, want)
	}
	all, err := lg.List(bg, Filter{Limit: 1000})
	if err != nil || len(all) != 600 {
		t.Fatalf("List = %d, %v", len(all), err)
	}
	for _, flow := range []string{"rare", "busy"} {
		var want []string
		for _, e := range all {
			if e.Flow == flow {
				want = append(want, e.ID)
			}
		}
		for _, page := range []int{1, 3, 7, 100} {
			var got []string
			f := Filter{Flow: flow, Limit: page}
			for range 1000 {
				es, err := lg.List(bg, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range es {
					got = append(got, e.ID)
				}
				if len(es) < page {
					break
				}
				f.Before = es[len(es)-1].Start
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s, pages of %d: %d entries %v…, want %d %v…", flow, page, len(got), head(got), len(want), head(want))
			}
		}
	}
	// A status filter and a Before inside a second.
	es, err := lg.List(bg, Filter{Flow: "busy", Before: t0.Add(10*time.Second + 600*time.Millisecond), Limit: 2})
	if err != nil || len(es) != 2 || !es[0].Start.Equal(t0.Add(10*time.Second+500*time.Millisecond)) || !es[1].Start.Equal(t0.Add(10*time.Second+250*time.Millisecond)) {
		t.Errorf("busy before 10.6 s: %+v, %v", es, err)
	}
	if es, err := lg.List(bg, Filter{Flow: "rare", Status: StatusFailed}); err != nil || len(es) != 0 {
		t.Errorf("rare FAILED: %d, %v", len(es), err)
	}
}

func head(ids []string) []string { return ids[:min(len(ids), 4)] }

// A log written before the seconds index (a by-flow key per entry) still
// lists by flow, after the entries written since.
func TestLogListByFlowReadsTheOldIndex(t *testing.T) {
	db, _ := openTest(t, Options{})
	lg := db.Log()
	t0 := time.Now().Add(-time.Hour)
	var old []LogEntry
	for i := range 5 {
		old = append(old, LogEntry{ID: fmt.Sprintf("old%d", i), Flow: "f", Attempt: 1, Status: StatusCompleted, Start: t0.Add(time.Duration(i) * time.Second)})
	}
	if err := lg.RecordBatch(bg, old); err != nil {
		t.Fatal(err)
	}
	// Make them what an older Stride wrote: a by-flow key each, no
	// seconds keys.
	err := db.bdb.Update(func(txn *badger.Txn) error {
		for _, e := range old {
			if err := txn.Delete(logSecondKey("f", e.Start)); err != nil {
				return err
			}
			if err := txn.Set(append(logFlowPrefix("f"), logSuffix(e.Start, e.ID, 1)...), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.lg.seconds.forget()
	var fresh []LogEntry
	for i := range 3 {
		fresh = append(fresh, LogEntry{ID: fmt.Sprintf("new%d", i), Flow: "f", Attempt: 1, Status: StatusCompleted, Start: t0.Add(time.Minute + time.Duration(i)*time.Second)})
	}
	if err := lg.RecordBatch(bg, fresh); err != nil {
		t.Fatal(err)
	}
	want := []string{"new2", "new1", "new0", "old4", "old3", "old2", "old1", "old0"}
	var got []string
	f := Filter{Flow: "f", Limit: 3}
	for range 10 {
		es, err := lg.List(bg, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			got = append(got, e.ID)
		}
		if len(es) < 3 {
			break
		}
		f.Before = es[len(es)-1].Start
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages of 3: %v, want %v", got, want)
	}
	// Deleting the oldest entries takes their by-flow keys with them.
	for {
		n, err := db.lg.deleteOldest(bg, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if n, err := db.lg.size(bg); err != nil || n != 0 {
		t.Errorf("log size after deleting everything: %d, %v", n, err)
	}
}

// An entry written long after its start (a message that ran for an
// hour) is listed by flow: its second's key is written again with the
// entry's later expiry.
func TestLogSecondsKeyOutlivesItsEntries(t *testing.T) {
	clock := time.Now()
	db, _ := openTest(t, Options{LogRetention: time.Hour, Now: func() time.Time { return clock }})
	lg := db.Log()
	start := clock
	if err := lg.Record(bg, LogEntry{ID: "a", Flow: "f", Attempt: 1, Status: StatusProcessing, Start: start}); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(50 * time.Minute)
	if err := lg.Record(bg, LogEntry{ID: "a", Flow: "f", Attempt: 1, Status: StatusCompleted, Start: start}); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(30 * time.Minute) // the first write's keys have expired, the second's not
	es, err := lg.List(bg, Filter{Flow: "f"})
	if err != nil || len(es) != 1 || es[0].Status != StatusCompleted {
		t.Fatalf("List = %+v, %v", es, err)
	}
}
