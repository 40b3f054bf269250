package store

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestLogRecordUpsertAndGet(t *testing.T) {
	clock := newClock()
	db, _ := openTest(t, Options{Key: testKey(5), Now: clock.Now})
	lg := db.Log()
	start := clock.Now()
	trace := []TraceEntry{{Step: "fetch", Kind: "http", At: "flows/a.yaml:12", DurationNS: 1500, Outcome: "ok"},
		{Step: "store", Kind: "datastore_put", At: "flows/a.yaml:20", DurationNS: 20, Outcome: "error", Error: "exists"}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(lg.Record(bg, LogEntry{ID: "m1", Flow: "sync", FlowVersion: "v1", Trigger: "queue", Queue: "in", Attempt: 1,
		Status: StatusProcessing, Start: start, Payload: []byte("p1")}))
	// The same attempt again, finished: replaces the entry, keeps the payload.
	must(lg.Record(bg, LogEntry{ID: "m1", Flow: "sync", FlowVersion: "v1", Trigger: "queue", Queue: "in", Attempt: 1,
		Status: StatusRetry, End: start.Add(time.Second), Error: "HTTP 503", Trace: trace, TraceDropped: 3}))
	must(lg.Record(bg, LogEntry{ID: "m1", Flow: "sync", Attempt: 2, Status: StatusCompleted,
		Start: start.Add(time.Minute), End: start.Add(time.Minute + time.Second)}))

	es, err := lg.Get(bg, "m1")
	if err != nil || len(es) != 2 {
		t.Fatalf("Get = %+v, %v; want 2 attempts", es, err)
	}
	a1 := es[0]
	if a1.Attempt != 1 || a1.Status != StatusRetry || !a1.Start.Equal(start) || !a1.End.Equal(start.Add(time.Second)) ||
		a1.Error != "HTTP 503" || a1.FlowVersion != "v1" || a1.Trigger != "queue" || a1.Queue != "in" ||
		string(a1.Payload) != "p1" || a1.TraceDropped != 3 || fmt.Sprint(a1.Trace) != fmt.Sprint(trace) {
		t.Fatalf("attempt 1 = %+v", a1)
	}
	if es[1].Attempt != 2 || es[1].Status != StatusCompleted || es[1].Payload != nil {
		t.Fatalf("attempt 2 = %+v", es[1])
	}
	// Upsert left one entry per attempt in the listing.
	all, err := lg.List(bg, Filter{})
	if err != nil || len(all) != 2 || all[0].Attempt != 2 || all[1].Attempt != 1 || all[1].Payload != nil {
		t.Fatalf("List = %+v, %v; want attempt 2 then 1, without payloads", all, err)
	}
	if _, err := lg.Get(bg, "nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("Get(nope) = %v", err)
	}
	if err := lg.Record(bg, LogEntry{ID: "x"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Record without status: %v", err)
	}
	if err := lg.Record(bg, LogEntry{ID: "a\x00b", Status: "X"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Record with NUL id: %v", err)
	}
}

// TestLogStartChange: re-recording an attempt with another start moves it
// in the time order instead of leaving a stale copy.
func TestLogStartChange(t *testing.T) {
	clock := newClock()
	db, _ := openTest(t, Options{Now: clock.Now})
	lg := db.Log()
	t0 := clock.Now()
	for _, s := range []time.Time{t0, t0.Add(time.Hour)} {
		if err := lg.Record(bg, LogEntry{ID: "m", Flow: "f", Attempt: 1, Status: StatusProcessing, Start: s}); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []Filter{{}, {Flow: "f"}} {
		es, err := lg.List(bg, f)
		if err != nil || len(es) != 1 || !es[0].Start.Equal(t0.Add(time.Hour)) {
			t.Fatalf("List(%+v) = %+v, %v; want the one entry at its new start", f, es, err)
		}
	}
}

func TestLogListFilters(t *testing.T) {
	clock := newClock()
	db, _ := openTest(t, Options{Now: clock.Now})
	lg := db.Log()
	t0 := clock.Now()
	statuses := []string{StatusCompleted, StatusFailed, StatusCompleted, StatusEscalated, "CUSTOM"}
	// 50 messages over 50 seconds, two flows, written out of time order.
	for i := 49; i >= 0; i-- {
		flow := "even"
		if i%2 == 1 {
			flow = "odd"
		}
		e := LogEntry{ID: fmt.Sprintf("m%02d", i), Flow: flow, Attempt: 1, Status: statuses[i%len(statuses)], Start: t0.Add(time.Duration(i) * time.Second)}
		if err := lg.Record(bg, e); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(es []LogEntry) string {
		var s []string
		for _, e := range es {
			s = append(s, e.ID)
		}
		return strings.Join(s, ",")
	}
	tests := []struct {
		f    Filter
		want string
	}{
		{Filter{Limit: 3}, "m49,m48,m47"},
		{Filter{Flow: "odd", Limit: 3}, "m49,m47,m45"},
		{Filter{Status: "failed", Limit: 3}, "m46,m41,m36"},
		{Filter{Flow: "even", Status: StatusEscalated}, "m48,m38,m28,m18,m08"},
		{Filter{Status: "CUSTOM", Limit: 2}, "m49,m44"},
		{Filter{Before: t0.Add(10 * time.Second), Limit: 3}, "m09,m08,m07"},
		{Filter{Flow: "odd", Before: t0.Add(10 * time.Second), Limit: 2}, "m09,m07"},
		{Filter{Before: t0.Add(time.Second)}, "m00"},
		{Filter{Flow: "none"}, ""},
	}
	for _, tc := range tests {
		es, err := lg.List(bg, tc.f)
		if err != nil || ids(es) != tc.want {
			t.Errorf("List(%+v) = %s, %v; want %s", tc.f, ids(es), err, tc.want)
		}
	}
	if es, _ := lg.List(bg, Filter{}); len(es) != 50 {
		t.Errorf("default limit: %d entries", len(es))
	}
	if es, _ := lg.List(bg, Filter{Limit: 1000}); len(es) != 50 {
		t.Errorf("all: %d entries", len(es))
	}
}

func TestLogRetention(t *testing.T) {
	clock := newClock()
	db, _ := openTest(t, Options{Now: clock.Now, LogRetention: 24 * time.Hour})
	lg := db.Log()
	if err := lg.Record(bg, LogEntry{ID: "old", Flow: "f", Attempt: 1, Status: StatusCompleted, Payload: []byte("p")}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(23 * time.Hour)
	if err := lg.Record(bg, LogEntry{ID: "new", Flow: "f", Attempt: 1, Status: StatusCompleted}); err != nil {
		t.Fatal(err)
	}
	if es, _ := lg.List(bg, Filter{}); len(es) != 2 {
		t.Fatalf("within retention: %d entries", len(es))
	}
	clock.Advance(2 * time.Hour)
	for _, f := range []Filter{{}, {Flow: "f"}} {
		es, err := lg.List(bg, f)
		if err != nil || len(es) != 1 || es[0].ID != "new" {
			t.Fatalf("List(%+v) after retention: %+v, %v", f, es, err)
		}
	}
	if _, err := lg.Get(bg, "old"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(old) after retention: %v", err)
	}
}
