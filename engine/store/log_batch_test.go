package store

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

func testTrace(n int) []TraceEntry {
	tr := make([]TraceEntry, n)
	for i := range tr {
		tr[i] = TraceEntry{Step: fmt.Sprintf("step%d", i), Kind: "set", At: fmt.Sprintf("flows/f.yaml:%d", 10+i), DurationNS: int64(1000 * i), Outcome: "ok"}
	}
	return tr
}

// TestLogRecordBatchIsOneBatch: N entries in batches of 250 are N/250
// badger write batches, and read back as if recorded one by one.
func TestLogRecordBatchIsOneBatch(t *testing.T) {
	clock := newClock()
	db, _ := openTest(t, Options{Now: clock.Now})
	lg := db.lg
	t0 := clock.Now()
	const n, per = 1000, 250
	for b := 0; b < n/per; b++ {
		batch := make([]LogEntry, per)
		for i := range batch {
			k := b*per + i
			batch[i] = LogEntry{ID: fmt.Sprintf("m%04d", k), Flow: []string{"even", "odd"}[k%2], Attempt: 1, Status: StatusCompleted,
				Start: t0.Add(time.Duration(k) * time.Millisecond), Trace: testTrace(3)}
		}
		if err := lg.RecordBatch(bg, batch); err != nil {
			t.Fatal(err)
		}
	}
	if got := lg.batches.Load(); got != n/per {
		t.Fatalf("%d entries in batches of %d took %d write batches, want %d", n, per, got, n/per)
	}
	all, err := lg.List(bg, Filter{Limit: 2 * n})
	if err != nil || len(all) != n || all[0].ID != "m0999" || all[n-1].ID != "m0000" {
		t.Fatalf("List: %d entries, %v", len(all), err)
	}
	odd, err := lg.List(bg, Filter{Flow: "odd", Limit: 3})
	if err != nil || len(odd) != 3 || odd[0].ID != "m0999" || odd[2].ID != "m0995" {
		t.Fatalf("List(odd) = %v, %v", odd, err)
	}
	es, err := lg.Get(bg, "m0500")
	if err != nil || len(es) != 1 || !es[0].Start.Equal(t0.Add(500*time.Millisecond)) || len(es[0].Trace) != 3 {
		t.Fatalf("Get(m0500) = %+v, %v", es, err)
	}
	// Record is a batch of one.
	before := lg.batches.Load()
	for i := range 10 {
		if err := lg.Record(bg, LogEntry{ID: fmt.Sprintf("single%d", i), Attempt: 1, Status: StatusCompleted, Start: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if got := lg.batches.Load() - before; got != 10 {
		t.Fatalf("10 Records: %d batches", got)
	}
}

// TestLogWriteReadsNothing: writing an attempt that exists already (the
// upsert case that used to read its id key) reads nothing when the entry
// has its Start, as the runtime's entries always do; the last write wins
// in Get and List. Only a zero Start reads, to keep the existing start.
// (Structurally, logStore.write holds only a *badger.WriteBatch, which has
// no way to read.)
func TestLogWriteReadsNothing(t *testing.T) {
	clock := newClock()
	db, _ := openTest(t, Options{Now: clock.Now})
	lg := db.lg
	t0 := clock.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(lg.Record(bg, LogEntry{ID: "m", Flow: "f", Attempt: 1, Status: StatusProcessing, Start: t0, Payload: []byte("p")}))
	must(lg.Record(bg, LogEntry{ID: "m", Flow: "f", Attempt: 1, Status: StatusRetry, Start: t0, Error: "503"}))
	must(lg.RecordBatch(bg, []LogEntry{
		{ID: "m", Flow: "f", Attempt: 2, Status: StatusProcessing, Start: t0.Add(time.Minute)},
		{ID: "m", Flow: "g", Attempt: 2, Status: StatusCompleted, Start: t0.Add(2 * time.Minute)}, // same attempt, later start, other flow
		{ID: "other", Flow: "f", Attempt: 1, Status: StatusCompleted, Start: t0.Add(time.Second)},
	}))
	if r := lg.reads.Load(); r != 0 {
		t.Fatalf("writes with a Start made %d reads", r)
	}
	es, err := lg.Get(bg, "m")
	if err != nil || len(es) != 2 || es[0].Status != StatusRetry || string(es[0].Payload) != "p" || es[0].Error != "503" ||
		es[1].Status != StatusCompleted || es[1].Flow != "g" || !es[1].Start.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("Get(m) = %+v, %v", es, err)
	}
	ids := func(f Filter) string {
		t.Helper()
		es, err := lg.List(bg, f)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, e := range es {
			s = append(s, fmt.Sprintf("%s/%d/%s", e.ID, e.Attempt, e.Status))
		}
		return strings.Join(s, ",")
	}
	if got, want := ids(Filter{}), "m/2/COMPLETED,other/1/COMPLETED,m/1/RETRY"; got != want {
		t.Errorf("List = %s, want %s (the stale copy of m/2 hidden)", got, want)
	}
	if got, want := ids(Filter{Flow: "f"}), "other/1/COMPLETED,m/1/RETRY"; got != want {
		t.Errorf("List(f) = %s, want %s (m/2 moved to flow g)", got, want)
	}
	if got, want := ids(Filter{Flow: "g"}), "m/2/COMPLETED"; got != want {
		t.Errorf("List(g) = %s, want %s", got, want)
	}

	// A zero Start keeps the start written before: one read.
	clock.Advance(time.Hour)
	must(lg.Record(bg, LogEntry{ID: "other", Flow: "f", Attempt: 1, Status: StatusFailed}))
	if r := lg.reads.Load(); r != 1 {
		t.Fatalf("a zero Start made %d reads, want 1", r)
	}
	if es, err := lg.Get(bg, "other"); err != nil || len(es) != 1 || es[0].Status != StatusFailed || !es[0].Start.Equal(t0.Add(time.Second)) {
		t.Fatalf("Get(other) = %+v, %v; want FAILED at the first start", es, err)
	}
}

func TestLogRecordBatchWritesTheValidEntries(t *testing.T) {
	db, _ := openTest(t, Options{})
	lg := db.Log()
	err := lg.RecordBatch(bg, []LogEntry{
		{ID: "a", Attempt: 1, Status: StatusCompleted, Start: time.Now()},
		{ID: "b", Attempt: 1}, // no status
		{ID: "c", Attempt: 1, Status: StatusCompleted, Start: time.Now()},
	})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "log record b") {
		t.Fatalf("err = %v, want ErrInvalid about b", err)
	}
	for _, id := range []string{"a", "c"} {
		if _, err := lg.Get(bg, id); err != nil {
			t.Errorf("Get(%s): %v", id, err)
		}
	}
	if err := lg.RecordBatch(bg, nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
}

func TestLogPayloadRetentionIsShorter(t *testing.T) {
	clock := newClock()
	db, _ := openTest(t, Options{Now: clock.Now, LogRetention: 48 * time.Hour, LogPayloadRetention: time.Hour})
	lg := db.Log()
	if err := lg.Record(bg, LogEntry{ID: "m", Attempt: 1, Status: StatusCompleted, Start: clock.Now(), Payload: []byte("body")}); err != nil {
		t.Fatal(err)
	}
	if es, err := lg.Get(bg, "m"); err != nil || string(es[0].Payload) != "body" {
		t.Fatalf("fresh: %+v, %v", es, err)
	}
	clock.Advance(2 * time.Hour)
	es, err := lg.Get(bg, "m")
	if err != nil || len(es) != 1 || es[0].Payload != nil || es[0].Status != StatusCompleted {
		t.Fatalf("after the payload retention: %+v, %v; want the entry without its payload", es, err)
	}
}

// TestLogSizeRetention writes four times LogMaxBytes and checks that the
// log, measured as the limit is enforced (logStore.size: len(key) +
// len(value) of every live log key, from badger's key and value sizes),
// is under the limit once each batch's sweep has run, that the newest
// entries are kept whole (Get, List, List by flow agree) and the oldest
// gone. Then, without waiting for sweeps explicitly, the sweeper woken
// by the batches brings it under the limit on its own.
func TestLogSizeRetention(t *testing.T) {
	const limit = 64 << 10
	db, _ := openTest(t, Options{LogMaxBytes: limit})
	lg := db.lg
	lg.sweepNow() // after the sweeper's first scan
	t0 := time.Now()
	payload := []byte(strings.Repeat("x", 300))
	k := 0
	batch := func(n int) {
		t.Helper()
		es := make([]LogEntry, n)
		for i := range es {
			es[i] = LogEntry{ID: fmt.Sprintf("m%05d", k), Flow: []string{"a", "b"}[k%2], Attempt: 1, Status: StatusCompleted,
				Start: t0.Add(time.Duration(k) * time.Millisecond), Trace: testTrace(4), Payload: payload}
			k++
		}
		if err := lg.RecordBatch(bg, es); err != nil {
			t.Fatal(err)
		}
	}
	size := func() int64 {
		t.Helper()
		n, err := lg.size(bg)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var written int64
	for written < 4*limit {
		before := size()
		batch(20)
		written += size() - before // before the sweep: what the batch added
		lg.sweepNow()
		if n := size(); n > limit {
			t.Fatalf("after %d entries the log is %d bytes, over its limit of %d", k, n, limit)
		}
	}
	if lg.sweeps.Load() == 0 {
		t.Fatal("no sweep deleted anything")
	}
	newest := fmt.Sprintf("m%05d", k-1)
	if es, err := lg.Get(bg, newest); err != nil || string(es[0].Payload) != string(payload) {
		t.Fatalf("newest entry: %v", err)
	}
	if _, err := lg.Get(bg, "m00000"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("oldest entry: %v, want ErrNotFound", err)
	}
	all, err := lg.List(bg, Filter{Limit: 100000})
	if err != nil || len(all) == 0 || len(all) >= k {
		t.Fatalf("List: %d of %d entries, %v", len(all), k, err)
	}
	a, _ := lg.List(bg, Filter{Flow: "a", Limit: 100000})
	b, _ := lg.List(bg, Filter{Flow: "b", Limit: 100000})
	if len(a)+len(b) != len(all) {
		t.Errorf("by flow %d + %d entries, in all %d", len(a), len(b), len(all))
	}
	for _, e := range all {
		if _, err := lg.Get(bg, e.ID); err != nil {
			t.Fatalf("listed %s but Get: %v", e.ID, err)
		}
	}
	// The estimate the sweeper goes by is what a scan measures.
	if est, n := lg.est.Load(), size(); est != n {
		t.Errorf("estimate %d, measured %d", est, n)
	}

	// Without sweepNow: the batches wake the sweeper.
	for range 40 {
		batch(20)
	}
	deadline := time.Now().Add(10 * time.Second)
	for size() > limit {
		if time.Now().After(deadline) {
			t.Fatalf("the log stayed at %d bytes, over its limit of %d", size(), limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLogSweepKeepsALaterWriteOfTheAttempt: deleting the stale copy of
// an attempt written again under a later start leaves the attempt's
// pointer and payload to the later write.
func TestLogSweepKeepsALaterWriteOfTheAttempt(t *testing.T) {
	db, _ := openTest(t, Options{})
	lg := db.lg
	t0 := time.Now()
	for i, st := range []string{StatusProcessing, StatusCompleted} {
		if err := lg.Record(bg, LogEntry{ID: "m", Flow: "f", Attempt: 1, Status: st, Start: t0.Add(time.Duration(i) * time.Hour), Payload: []byte("p")}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := lg.deleteOldest(bg, 1); err != nil || n != 1 {
		t.Fatalf("deleteOldest = %d, %v", n, err)
	}
	es, err := lg.Get(bg, "m")
	if err != nil || len(es) != 1 || es[0].Status != StatusCompleted || string(es[0].Payload) != "p" {
		t.Fatalf("Get = %+v, %v", es, err)
	}
	if n, err := lg.deleteOldest(bg, 1); err != nil || n != 1 {
		t.Fatalf("deleteOldest = %d, %v", n, err)
	}
	if _, err := lg.Get(bg, "m"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after deleting both: %v", err)
	}
	if n, err := lg.size(bg); err != nil || n != 0 {
		t.Fatalf("log size after deleting everything: %d, %v", n, err)
	}
}

// TestLogTraceCompact: the compact trace encoding gives back every field
// (named and unnamed steps, other files, outcomes, errors), costs far
// less than the plain one, and records written before it still read.
func TestLogTraceCompact(t *testing.T) {
	trace := []TraceEntry{
		{Step: "set", Kind: "set", At: "flows/fitbit/webhook.yaml:12", DurationNS: 1200, Outcome: "ok"},
		{Step: "check-signature", Kind: "filter", At: "flows/fitbit/webhook.yaml:19", DurationNS: 300, Outcome: "ok"},
		{Step: "import", Kind: "call", At: "flows/mkc/mkc-import.yaml:7", DurationNS: -5, Outcome: "error", Error: "HTTP 503"},
		{Step: "", Kind: "respond", At: "", Outcome: "stopped"},
		{Step: "respond", Kind: "respond", At: "flows/fitbit/webhook.yaml:30", DurationNS: 1 << 40, Outcome: "ok"},
	}
	var compact encoder
	encodeTrace(&compact, trace)
	d := decoder{B: compact.B}
	if got := decodeTrace(&d, logRecordCompact); d.Err != nil || len(d.B) != 0 || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", trace) {
		t.Fatalf("round trip: %+v, %v\nwant %+v", got, d.Err, trace)
	}
	// A typical http flow's trace: unnamed steps of one file, all ok.
	var typical []TraceEntry
	for i, kind := range []string{"verify_signature", "set", "filter", "enqueue", "respond"} {
		typical = append(typical, TraceEntry{Step: kind, Kind: kind, At: fmt.Sprintf("flows/fitbit/webhook.yaml:%d", 12+4*i), DurationNS: int64(2000 + 9000*i), Outcome: "ok"})
	}
	var small, plain encoder
	encodeTrace(&small, typical)
	plainTrace(&plain, typical)
	if len(small.B)*2 > len(plain.B) {
		t.Errorf("typical trace: %d bytes compact, %d plain; want half at most", len(small.B), len(plain.B))
	}
	t.Logf("typical trace of %d steps: %d bytes compact, %d plain", len(typical), len(small.B), len(plain.B))
	d = decoder{B: compact.B[:len(compact.B)-3]}
	if decodeTrace(&d, logRecordCompact); d.Err == nil {
		t.Error("a cut trace decodes")
	}

	// A record of the first version, as Stride wrote them before.
	for _, key := range [][]byte{nil, testKey(9)} {
		db, _ := openTest(t, Options{Key: key})
		e := LogEntry{ID: "old", Flow: "f", FlowVersion: "v1", Trigger: "http", Attempt: 1, Status: StatusCompleted,
			Start: time.Now().Truncate(time.Microsecond), End: time.Now().Truncate(time.Microsecond), Error: "e", Trace: trace, TraceDropped: 2}
		v1 := encodeV1(db.lg, &e)
		e.CorrelationID = e.ID // an entry from before correlation ids started its chain
		suffix := logSuffix(e.Start, e.ID, e.Attempt)
		primary := append([]byte(string(logByTime)), suffix...)
		err := db.bdb.Update(func(txn *badger.Txn) error {
			return errors.Join(txn.Set(primary, v1), txn.Set(logIDKey(logByID, e.ID, e.Attempt), primary), txn.Set(append(logFlowPrefix("f"), suffix...), nil))
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, get := range []func() ([]LogEntry, error){
			func() ([]LogEntry, error) { return db.lg.Get(bg, "old") },
			func() ([]LogEntry, error) { return db.lg.List(bg, Filter{Flow: "f"}) },
		} {
			es, err := get()
			if err != nil || len(es) != 1 || fmt.Sprintf("%+v", es[0]) != fmt.Sprintf("%+v", e) {
				t.Fatalf("version 1 record (key %v): %+v, %v\nwant %+v", key != nil, es, err, e)
			}
		}
	}
}

// plainTrace is the trace encoding of record version 1.
func plainTrace(b *encoder, trace []TraceEntry) {
	b.Uvarint(uint64(len(trace)))
	for _, t := range trace {
		b.String(t.Step)
		b.String(t.Kind)
		b.String(t.At)
		b.Varint(t.DurationNS)
		b.String(t.Outcome)
		b.String(t.Error)
	}
}

// encodeV1 is logStore.encode as it was for record version 1.
func encodeV1(s *logStore, e *LogEntry) []byte {
	var b encoder
	b.String(e.FlowVersion)
	b.String(e.Trigger)
	b.String(e.Queue)
	b.Time(e.End)
	b.String(e.Error)
	b.Uvarint(uint64(e.TraceDropped))
	plainTrace(&b, e.Trace)
	return oldRecordForTest(s, e, recordVersion, b.B)
}

// oldRecordForTest is a log record of a version before logRecordSmall:
// version, flags, flow, status, start, then body, sealed when the store
// has a key.
func oldRecordForTest(s *logStore, e *LogEntry, version byte, body []byte) []byte {
	blob, sealed := s.db.sealBlob(body, LogAAD(e.ID, e.Attempt, "entry"))
	var r encoder
	r.Byte(version)
	var flags byte
	if sealed {
		flags |= flagSealed
	}
	r.Byte(flags)
	r.String(e.Flow)
	r.String(e.Status)
	r.Time(e.Start)
	return append(r.B, blob...)
}

// The correlation id is stored only when it is not the entry's id, the
// trace id as 16 bytes; both come back, and an entry that started its
// chain reads its own id.
func TestLogEntryCorrelationAndTraceID(t *testing.T) {
	db, _ := openTest(t, Options{Key: testKey(3)})
	start := time.Now().Truncate(time.Microsecond)
	chained := LogEntry{ID: "m2", Flow: "worker", Attempt: 1, Status: StatusCompleted, Start: start, End: start,
		CorrelationID: "m1", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"}
	first := LogEntry{ID: "m1", Flow: "ingest", Attempt: 1, Status: StatusCompleted, Start: start.Add(-time.Millisecond), End: start,
		CorrelationID: "m1", TraceID: "not-hex"}
	if len(EncodeLogBody(&first)) >= len(EncodeLogBody(&chained)) {
		t.Error("an entry that starts its chain stores its correlation id and an invalid trace id")
	}
	if err := db.lg.RecordBatch(bg, []LogEntry{chained, first}); err != nil {
		t.Fatal(err)
	}
	got, err := db.lg.List(bg, Filter{})
	if err != nil || len(got) != 2 {
		t.Fatalf("list: %v, %v", got, err)
	}
	if got[0].CorrelationID != "m1" || got[0].TraceID != chained.TraceID {
		t.Errorf("chained entry: %+v", got[0])
	}
	if got[1].CorrelationID != "m1" || got[1].TraceID != "" {
		t.Errorf("first entry: %+v", got[1])
	}
}
