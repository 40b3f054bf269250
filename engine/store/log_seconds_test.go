package store

import (
	"bytes"
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
			if got := pageIDs(t, lg, Filter{Flow: flow, Limit: page}); !slices.Equal(got, want) {
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

// pageIDs lists f page by page (f.Limit a page, each page's last start
// the next one's Before) and returns the ids in order.
func pageIDs(t *testing.T, lg Log, f Filter) []string {
	t.Helper()
	var got []string
	for range 10000 {
		es, err := lg.List(bg, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			got = append(got, e.ID)
		}
		if len(es) < f.Limit {
			return got
		}
		f.Before = es[len(es)-1].Start
	}
	t.Fatal("paging did not end")
	return nil
}

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
			if err := txn.Delete(logSecondKey("f", e.Start.Unix())); err != nil {
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
	if got := pageIDs(t, lg, Filter{Flow: "f", Limit: 3}); !slices.Equal(got, want) {
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
	clock := newClock() // the store's sweeper reads it too
	db, _ := openTest(t, Options{LogRetention: time.Hour, Now: clock.Now})
	lg := db.Log()
	start := clock.Now()
	if err := lg.Record(bg, LogEntry{ID: "a", Flow: "f", Attempt: 1, Status: StatusProcessing, Start: start}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(50 * time.Minute)
	if err := lg.Record(bg, LogEntry{ID: "a", Flow: "f", Attempt: 1, Status: StatusCompleted, Start: start}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Minute) // the first write's keys have expired, the second's not
	es, err := lg.List(bg, Filter{Flow: "f"})
	if err != nil || len(es) != 1 || es[0].Status != StatusCompleted {
		t.Fatalf("List = %+v, %v", es, err)
	}
}

// encodeCompactForTest is a record as Stride wrote it before
// logRecordSmall: version 2, the start in the record, EncodeLogBody's
// body.
func encodeCompactForTest(s *logStore, e *LogEntry) []byte {
	return oldRecordForTest(s, e, logRecordCompact, EncodeLogBody(e))
}

// The small record gives back every field, costs less than the compact
// one it replaced, and records of that one still read beside it.
func TestLogRecordSmall(t *testing.T) {
	db, _ := openTest(t, Options{Key: testKey(7)})
	lg := db.lg
	start := time.Now().Truncate(time.Microsecond)
	consumer := LogEntry{ID: "0193a4f5c6d7e8f90a1b2c3d4e5f6071", Flow: "fitbit-notifications", FlowVersion: "5c1e0f3a9b2d", Trigger: "queue",
		Queue: "fitbit-notifications", Attempt: 1, Status: StatusCompleted, Start: start, End: start.Add(3 * time.Millisecond),
		CorrelationID: "9f86d081884c7d659a2feaa0", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"}
	odd := LogEntry{ID: "m-2", Flow: "f", FlowVersion: "v1.2", Trigger: "custom", Attempt: 2, Status: "PARTIAL", Start: start.Add(time.Second),
		Error: "boom", CorrelationID: "not hex", TraceDropped: 3, Trace: []TraceEntry{{Step: "s", Kind: "set", At: "f.yaml:3", DurationNS: 5, Outcome: "ok"}}}
	small, compact := len(lg.encode(&consumer)), len(encodeCompactForTest(lg, &consumer))
	if small >= compact-30 {
		t.Errorf("a consumer's entry: %d bytes, against %d in the compact record: not 30 smaller", small, compact)
	}
	t.Logf("a consumer's entry: %d bytes (compact record: %d)", small, compact)
	if err := lg.RecordBatch(bg, []LogEntry{consumer, odd}); err != nil {
		t.Fatal(err)
	}
	// An entry an older Stride wrote, under its keys.
	old := LogEntry{ID: "old", Flow: "f", FlowVersion: "abc", Trigger: "http", Attempt: 1, Status: StatusFailed, Start: start.Add(-time.Second), End: start, Error: "e"}
	err := db.bdb.Update(func(txn *badger.Txn) error {
		primary := append(bytes.Clone(logByTime), logSuffix(old.Start, old.ID, 1)...)
		if err := txn.Set(primary, encodeCompactForTest(lg, &old)); err != nil {
			return err
		}
		if err := txn.Set(append(logFlowPrefix(old.Flow), logSuffix(old.Start, old.ID, 1)...), nil); err != nil {
			return err
		}
		return txn.Set(logIDKey(logByID, old.ID, 1), logPointer(primary))
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []LogEntry{consumer, odd, old} {
		got, err := lg.Get(bg, want.ID)
		if err != nil || len(got) != 1 {
			t.Fatalf("Get(%s) = %+v, %v", want.ID, got, err)
		}
		if want.CorrelationID == "" {
			want.CorrelationID = want.ID
		}
		if !sameEntry(got[0], want) {
			t.Errorf("Get(%s):\n got %+v\nwant %+v", want.ID, got[0], want)
		}
	}
	es, err := lg.List(bg, Filter{Flow: "f"})
	if err != nil || len(es) != 2 || es[0].ID != "m-2" || es[1].ID != "old" {
		t.Errorf("List(f) = %+v, %v", es, err)
	}
}

func sameEntry(a, b LogEntry) bool {
	return a.ID == b.ID && a.Flow == b.Flow && a.FlowVersion == b.FlowVersion && a.Trigger == b.Trigger && a.Queue == b.Queue &&
		a.Attempt == b.Attempt && a.Status == b.Status && a.Start.Equal(b.Start) && a.End.Equal(b.End) && a.Error == b.Error &&
		a.TraceDropped == b.TraceDropped && slices.Equal(a.Trace, b.Trace) && a.CorrelationID == b.CorrelationID && a.TraceID == b.TraceID
}

// With a data key, an entry whose body holds nothing of the message (a
// success at log level info, its correlation id one Stride made) is not
// sealed; an error, a trace or a correlation id a caller chose is.
func TestLogSealsWhatCarriesContent(t *testing.T) {
	db, _ := openTest(t, Options{Key: testKey(9)})
	base := LogEntry{ID: "0193a4f5c6d7e8f90a1b2c3d4e5f6071", Flow: "f", Attempt: 1, Status: StatusCompleted, Start: time.Now()}
	for _, tc := range []struct {
		name   string
		change func(*LogEntry)
		sealed bool
	}{
		{"success", func(*LogEntry) {}, false},
		{"correlated by a stride id", func(e *LogEntry) { e.CorrelationID = "9f86d081884c7d659a2feaa0" }, false},
		{"correlated by the caller", func(e *LogEntry) { e.CorrelationID = "order-4711.jane" }, true},
		{"failed", func(e *LogEntry) { e.Status, e.Error = StatusFailed, "user jane@example.com: 404" }, true},
		{"traced", func(e *LogEntry) { e.Trace = []TraceEntry{{Step: "s", Kind: "set"}} }, true},
	} {
		e := base
		tc.change(&e)
		h, err := decodeLogHead(db.lg.encode(&e), append(bytes.Clone(logByTime), logSuffix(e.Start, e.ID, 1)...))
		if err != nil {
			t.Fatal(err)
		}
		if sealed := h.flags&flagSealed != 0; sealed != tc.sealed {
			t.Errorf("%s: sealed %v, want %v", tc.name, sealed, tc.sealed)
		}
		got, err := db.lg.decode(e.ID, 1, &h)
		if err != nil || got.Error != e.Error || (e.CorrelationID != "" && got.CorrelationID != e.CorrelationID) {
			t.Errorf("%s: decoded %+v, %v", tc.name, got, err)
		}
	}
}

// A sweep that deletes every entry of a second deletes its seconds key
// too; one that leaves some of the second's entries keeps it, and the
// entries left are still listed by flow.
func TestLogSweepDeletesEmptySeconds(t *testing.T) {
	db, _ := openTest(t, Options{LogMaxBytes: -1})
	lg := db.lg
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	var es []LogEntry
	for i := range 10 { // ten entries in one second, five in the next
		es = append(es, LogEntry{ID: fmt.Sprintf("a%d", i), Flow: "f", Attempt: 1, Status: StatusCompleted, Start: t0.Add(time.Duration(i) * 50 * time.Millisecond)})
	}
	for i := range 5 {
		es = append(es, LogEntry{ID: fmt.Sprintf("b%d", i), Flow: "f", Attempt: 1, Status: StatusCompleted, Start: t0.Add(time.Second + time.Duration(i)*50*time.Millisecond)})
	}
	if err := lg.RecordBatch(bg, es); err != nil {
		t.Fatal(err)
	}
	// Delete the first second's ten entries and two of the next's, one
	// at a time (each sweep frees at least one entry).
	for range 12 {
		if n, err := lg.deleteOldest(bg, 1); err != nil || n != 1 {
			t.Fatalf("deleteOldest = %d, %v", n, err)
		}
	}
	if n := countKeys(t, db, logSecondsPrefix("f")); n != 1 {
		t.Errorf("%d seconds keys left, want 1 (the second that still has entries)", n)
	}
	if got := pageIDs(t, lg, Filter{Flow: "f", Limit: 10}); !slices.Equal(got, []string{"b4", "b3", "b2"}) {
		t.Errorf("listed by flow after the sweep: %v", got)
	}
	// The rest in one sweep: the newest second deleted is then empty.
	if n, err := lg.deleteOldest(bg, 1<<30); err != nil || n != 3 {
		t.Fatalf("deleteOldest = %d, %v; want the last 3", n, err)
	}
	if n, err := lg.size(bg); err != nil || n != 0 {
		t.Errorf("log size after deleting everything: %d, %v", n, err)
	}
}
