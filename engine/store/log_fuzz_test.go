package store

import (
	"bytes"
	"testing"
	"time"
)

// FuzzLogRecord: any bytes under a log key decode to an entry or an
// error, never a panic, with and without a data key; what a record of
// the current version encodes decodes to the same head.
func FuzzLogRecord(f *testing.F) {
	start := time.Unix(1764900000, 123456789)
	for _, e := range []LogEntry{
		{ID: "0193a4f5c6d7e8f90a1b2c3d4e5f6071", Flow: "fitbit-notifications", FlowVersion: "5c1e0f3a9b2d", Trigger: "queue", Queue: "q",
			Attempt: 1, Status: StatusCompleted, Start: start, End: start.Add(time.Millisecond), CorrelationID: "9f86d081884c7d659a2feaa0"},
		{ID: "m", Flow: "f", Trigger: "odd", Attempt: 2, Status: "CUSTOM", Start: start, Error: "boom",
			Trace: []TraceEntry{{Step: "s", Kind: "set", At: "f.yaml:3", DurationNS: 5, Outcome: "ok"}, {Step: "x", Kind: "new-kind", Outcome: "error", Error: "e"}}},
	} {
		f.Add(e.ID, []byte(nil), false)
		db, _ := openTest(f, Options{})
		f.Add(e.ID, db.lg.encode(&e), false)
		f.Add(e.ID, encodeCompactForTest(db.lg, &e), false)
		sealed, _ := openTest(f, Options{Key: testKey(3)})
		f.Add(e.ID, sealed.lg.encode(&e), true)
	}
	plain, _ := openTest(f, Options{})
	sealed, _ := openTest(f, Options{Key: testKey(3)})
	f.Fuzz(func(t *testing.T, id string, v []byte, withKey bool) {
		db := plain
		if withKey {
			db = sealed
		}
		key := append(bytes.Clone(logByTime), logSuffix(start, id, 1)...)
		h, err := decodeLogHead(v, key)
		if err != nil {
			return
		}
		e, err := db.lg.decode(id, 1, &h)
		if err != nil || h.version != logRecordSmall {
			return
		}
		// A record that decodes encodes its head again the same way.
		again, err := decodeLogHead(db.lg.encode(&e), key)
		if err != nil || again.flow != h.flow || again.status != h.status || !again.start.Equal(h.start) {
			t.Fatalf("%+v re-encoded: %+v, %v", h, again, err)
		}
	})
}
