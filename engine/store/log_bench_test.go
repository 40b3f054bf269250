package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strconv"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// BenchmarkLogRecord: message log entries written per second (records/s)
// by the three ways of writing them:
//
//   - read-then-write: the writer before batching, one transaction per
//     entry that first reads the attempt's by-id key (legacyRecord below);
//   - txn-per-record: Record, one write batch per entry, no read;
//   - batch-256: RecordBatch with 256 entries, as the runtime's writer
//     does under load.
//
// Entries are a typical http flow's: five traced steps, no payload.
//
//	go test -run '^$' -bench LogRecord -benchtime 2s ./engine/store/
func BenchmarkLogRecord(b *testing.B) {
	t0 := time.Now()
	trace := testTrace(5)
	entry := func(i int) LogEntry {
		return LogEntry{ID: "0123456789abcdef" + strconv.Itoa(i), Flow: "fitbit-webhook", FlowVersion: "0123456789ab", Trigger: "http", Attempt: 1,
			Status: StatusCompleted, Start: t0.Add(time.Duration(i) * time.Microsecond), End: t0.Add(time.Duration(i)*time.Microsecond + time.Millisecond),
			Trace: trace}
	}
	b.Run("read-then-write", func(b *testing.B) {
		db, _ := openTest(b, Options{LogMaxBytes: -1})
		i := 0
		for b.Loop() {
			if err := legacyRecord(db.lg, bg, entry(i)); err != nil {
				b.Fatal(err)
			}
			i++
		}
		perSecond(b, "records/s")
	})
	b.Run("txn-per-record", func(b *testing.B) {
		db, _ := openTest(b, Options{LogMaxBytes: -1})
		i := 0
		for b.Loop() {
			if err := db.lg.Record(bg, entry(i)); err != nil {
				b.Fatal(err)
			}
			i++
		}
		perSecond(b, "records/s")
	})
	b.Run("batch-256", func(b *testing.B) {
		db, _ := openTest(b, Options{LogMaxBytes: -1})
		batch := make([]LogEntry, 0, 256)
		i := 0
		for b.Loop() {
			batch = append(batch, entry(i))
			i++
			if len(batch) == cap(batch) {
				if err := db.lg.RecordBatch(bg, batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		if len(batch) > 0 {
			if err := db.lg.RecordBatch(bg, batch); err != nil {
				b.Fatal(err)
			}
		}
		perSecond(b, "records/s")
	})
}

// legacyRecord is Record as it was before batching (the baseline of
// BenchmarkLogRecord): one transaction per entry, reading the attempt's
// by-id key to keep its start and drop a stale copy.
func legacyRecord(s *logStore, ctx context.Context, e LogEntry) error {
	if err := validLogEntry(&e); err != nil {
		return err
	}
	now := s.db.now()
	exp := expiresAt(now.Add(s.db.retention))
	idKey := logIDKey(logByID, e.ID, e.Attempt)
	return s.db.update(ctx, func(txn *badger.Txn) error {
		x := e
		item, err := txn.Get(idKey)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			if x.Start.IsZero() {
				x.Start = now
			}
		case err != nil:
			return err
		default:
			old, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			suffix := old[len(logByTime):]
			if x.Start.IsZero() {
				x.Start = time.Unix(0, int64(^binary.BigEndian.Uint64(suffix[:8])))
			}
			if !bytes.Equal(suffix, logSuffix(x.Start, x.ID, x.Attempt)) {
				if err := txn.Delete(old); err != nil {
					return err
				}
			}
		}
		suffix := logSuffix(x.Start, x.ID, x.Attempt)
		primary := append(bytes.Clone(logByTime), suffix...)
		set := func(k, v []byte) error {
			ent := badger.NewEntry(k, v)
			ent.ExpiresAt = exp
			return txn.SetEntry(ent)
		}
		if err := set(primary, s.encode(&x)); err != nil {
			return err
		}
		if err := set(idKey, primary); err != nil {
			return err
		}
		if x.Flow != "" {
			return set(append(logFlowPrefix(x.Flow), suffix...), nil)
		}
		return nil
	})
}

// BenchmarkLogListByFlow: a page of 100 entries of one flow from a log of
// 100,000 entries written at 400 a second (250 s), for a flow that wrote
// most of them and for one that wrote one entry in 1,000. The seconds
// index leads a page to the seconds that hold the flow's entries, whose
// entries it reads: the rare flow's page reads every second's entries
// here (it has one entry every 2.5 s), about page × entries a second
// heads at most; a flow absent from most seconds costs less.
func BenchmarkLogListByFlow(b *testing.B) {
	db, _ := openTest(b, Options{LogMaxBytes: -1})
	t0 := time.Now().Add(-time.Hour)
	trace := testTrace(5)
	const n = 100_000
	batch := make([]LogEntry, 0, 256)
	for i := range n {
		flow := "busy"
		if i%1000 == 0 {
			flow = "rare"
		}
		batch = append(batch, LogEntry{ID: "0123456789abcdef" + strconv.Itoa(i), Flow: flow, Attempt: 1, Status: StatusCompleted,
			Start: t0.Add(time.Duration(i) * 2500 * time.Microsecond), Trace: trace})
		if len(batch) == cap(batch) || i == n-1 {
			if err := db.lg.RecordBatch(bg, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	for _, flow := range []string{"busy", "rare"} {
		b.Run(flow, func(b *testing.B) {
			for b.Loop() {
				es, err := db.lg.List(bg, Filter{Flow: flow, Limit: 100})
				if err != nil || len(es) != 100 {
					b.Fatalf("List(%s) = %d entries, %v", flow, len(es), err)
				}
			}
		})
	}
}
