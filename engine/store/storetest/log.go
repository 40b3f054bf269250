package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/store"
)

// LogOpener opens an empty message log for one test, on the wall clock;
// the backend closes it when the test ends (t.Cleanup).
type LogOpener func(t *testing.T) store.Log

// TestLog runs the Log contract against a backend.
func TestLog(t *testing.T, open LogOpener) {
	for _, tc := range []struct {
		name string
		run  func(*testing.T, LogOpener)
	}{
		{"RecordGet", logRecordGet},
		{"Attempts", logAttempts},
		{"Rewrite", logRewrite},
		{"ZeroStart", logZeroStart},
		{"ListOrderFiltersPaging", logList},
		{"DefaultLimit", logDefaultLimit},
		{"InvalidEntries", logInvalid},
		{"OddIDsAndFlows", logOdd},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open) })
	}
}

// logBase is a start time safely in the past: backends may assume an
// entry is written after it started.
func logBase() time.Time { return time.Now().Add(-time.Hour).Truncate(time.Second) }

func fullEntry(id string, attempt int, start time.Time) store.LogEntry {
	return store.LogEntry{
		ID: id, Flow: "fitbit-webhook", FlowVersion: "v7", Trigger: "queue", Attempt: attempt,
		Status: store.StatusFailed, Start: start, End: start.Add(1500 * time.Millisecond),
		Error: "HTTP 503 from https://api.example/x", TraceDropped: 2, Queue: "notifications",
		Trace: []store.TraceEntry{
			{Step: "map", Kind: "mapping", At: "flows/a.yaml:7", DurationNS: 1200, Outcome: "ok"},
			{Step: "call", Kind: "request", At: "flows/a.yaml:9", DurationNS: 900000, Outcome: "error", Error: "HTTP 503"},
		},
		Payload: []byte(`{"user":"26FWFL"}`),
	}
}

// sameEntry compares every field; payload only when withPayload.
func sameEntry(a, b store.LogEntry, withPayload bool) bool {
	if a.ID != b.ID || a.Flow != b.Flow || a.FlowVersion != b.FlowVersion || a.Trigger != b.Trigger ||
		a.Attempt != b.Attempt || a.Status != b.Status || !a.Start.Equal(b.Start) || !a.End.Equal(b.End) ||
		a.Error != b.Error || a.TraceDropped != b.TraceDropped || a.Queue != b.Queue || len(a.Trace) != len(b.Trace) {
		return false
	}
	for i := range a.Trace {
		if a.Trace[i] != b.Trace[i] {
			return false
		}
	}
	if withPayload {
		return string(a.Payload) == string(b.Payload)
	}
	return b.Payload == nil
}

func logRecordGet(t *testing.T, open LogOpener) {
	l := open(t)
	e := fullEntry("0123456789abcdef0123456789abcdef", 1, logBase())
	must(t, "record", l.Record(bg, e))
	got, err := l.Get(bg, e.ID)
	must(t, "get", err)
	if len(got) != 1 || !sameEntry(e, got[0], true) {
		t.Fatalf("get = %s\nwant %s", describe(got), describe(e))
	}
	list, err := l.List(bg, store.Filter{})
	must(t, "list", err)
	if len(list) != 1 || !sameEntry(e, list[0], false) {
		t.Fatalf("list = %s, want the entry without its payload", describe(list))
	}
	_, err = l.Get(bg, "nothing-here")
	wantErr(t, "get of an unknown id", err, store.ErrNotFound, "")
	_, err = l.Get(bg, "")
	wantErr(t, "get of an empty id", err, store.ErrInvalid, "")
	// A minimal entry.
	min := store.LogEntry{ID: "m", Attempt: 1, Status: store.StatusCompleted, Start: logBase()}
	must(t, "record minimal", l.Record(bg, min))
	got, err = l.Get(bg, "m")
	if err != nil || len(got) != 1 || !sameEntry(min, got[0], false) {
		t.Fatalf("get minimal = %s, %v", describe(got), err)
	}
}

func logAttempts(t *testing.T, open LogOpener) {
	l := open(t)
	base := logBase()
	var batch []store.LogEntry
	for a := 3; a >= 1; a-- { // written newest attempt first
		e := fullEntry("msg", a, base.Add(time.Duration(a)*time.Minute))
		e.Payload = []byte(fmt.Sprintf("payload %d", a))
		if a == 2 {
			e.Payload = nil
		}
		batch = append(batch, e)
	}
	must(t, "record batch", l.RecordBatch(bg, batch))
	must(t, "record other", l.Record(bg, fullEntry("msg2", 1, base)))
	got, err := l.Get(bg, "msg")
	must(t, "get", err)
	if len(got) != 3 {
		t.Fatalf("get = %d entries, want 3", len(got))
	}
	for i, e := range got {
		want := batch[2-i]
		if !sameEntry(want, e, want.Payload != nil) {
			t.Fatalf("attempt %d = %s\nwant %s", i+1, describe(e), describe(want))
		}
	}
}

// logRewrite: an entry replaces the one of the same id and attempt written
// before; a nil payload keeps the earlier one.
func logRewrite(t *testing.T, open LogOpener) {
	l := open(t)
	base := logBase()
	first := fullEntry("msg", 1, base)
	first.Status = store.StatusProcessing
	must(t, "record", l.Record(bg, first))
	second := first
	second.Status = store.StatusCompleted
	second.Error = ""
	second.Payload = nil
	second.Start = base.Add(time.Second) // even under another start
	must(t, "record again", l.Record(bg, second))
	got, err := l.Get(bg, "msg")
	must(t, "get", err)
	second.Payload = first.Payload
	if len(got) != 1 || !sameEntry(second, got[0], true) {
		t.Fatalf("get = %s\nwant the second write with the first payload", describe(got))
	}
	list, err := l.List(bg, store.Filter{})
	must(t, "list", err)
	if len(list) != 1 || list[0].Status != store.StatusCompleted || !list[0].Start.Equal(second.Start) {
		t.Fatalf("list = %s, want the second write only", describe(list))
	}
	if list, _ := l.List(bg, store.Filter{Status: store.StatusProcessing}); len(list) != 0 {
		t.Fatalf("list of PROCESSING = %s, want none: it was replaced", describe(list))
	}
}

func logZeroStart(t *testing.T, open LogOpener) {
	l := open(t)
	before := time.Now()
	must(t, "record", l.Record(bg, store.LogEntry{ID: "z", Attempt: 1, Status: store.StatusProcessing}))
	after := time.Now()
	got, err := l.Get(bg, "z")
	must(t, "get", err)
	start := got[0].Start
	if start.Before(before.Truncate(time.Millisecond)) || start.After(after) {
		t.Fatalf("zero start became %v, want the time of the write (%v–%v)", start, before, after)
	}
	// A zero start keeps the start written before, within a batch too.
	must(t, "record again", l.RecordBatch(bg, []store.LogEntry{
		{ID: "z", Attempt: 1, Status: store.StatusCompleted},
		{ID: "y", Attempt: 1, Status: store.StatusProcessing, Start: logBase()},
		{ID: "y", Attempt: 1, Status: store.StatusCompleted},
	}))
	got, _ = l.Get(bg, "z")
	if len(got) != 1 || got[0].Status != store.StatusCompleted || !got[0].Start.Equal(start) {
		t.Fatalf("after a rewrite with a zero start: %s, want start %v", describe(got), start)
	}
	got, _ = l.Get(bg, "y")
	if len(got) != 1 || got[0].Status != store.StatusCompleted || !got[0].Start.Equal(logBase()) {
		t.Fatalf("y = %s, want COMPLETED at the start of the batch's first write", describe(got))
	}
}

func logList(t *testing.T, open LogOpener) {
	l := open(t)
	base := logBase()
	flows := []string{"a", "b", "a.b"}
	statuses := []string{store.StatusCompleted, store.StatusFailed, "CUSTOM"}
	var all []store.LogEntry
	for i := range 60 {
		all = append(all, store.LogEntry{
			ID: fmt.Sprintf("m%02d", i), Attempt: 1 + i%2, Flow: flows[i%3], Status: statuses[i%5%3],
			Start: base.Add(time.Duration(i) * time.Second), Payload: []byte("p"),
		})
	}
	// Written in random order, in batches: List orders by Start.
	shuffled := slices.Clone(all)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for i := 0; i < len(shuffled); i += 7 {
		must(t, "record batch", l.RecordBatch(bg, shuffled[i:min(i+7, len(shuffled))]))
	}
	newestFirst := slices.Clone(all)
	slices.Reverse(newestFirst)
	check := func(f store.Filter, keep func(store.LogEntry) bool) {
		t.Helper()
		var want []string
		for _, e := range newestFirst {
			if keep(e) && (f.Before.IsZero() || e.Start.Before(f.Before)) {
				want = append(want, e.ID)
			}
		}
		limit := f.Limit
		if limit <= 0 {
			limit = store.DefaultListLimit
		}
		want = want[:min(limit, len(want))]
		got, err := l.List(bg, f)
		must(t, "list", err)
		var gotIDs []string
		for _, e := range got {
			gotIDs = append(gotIDs, e.ID)
			if e.Payload != nil {
				t.Fatalf("list %+v returned a payload", f)
			}
		}
		if !slices.Equal(gotIDs, want) {
			t.Fatalf("list %+v = %v\nwant %v", f, gotIDs, want)
		}
	}
	check(store.Filter{}, func(store.LogEntry) bool { return true })
	check(store.Filter{Limit: 5}, func(store.LogEntry) bool { return true })
	check(store.Filter{Flow: "a"}, func(e store.LogEntry) bool { return e.Flow == "a" })
	check(store.Filter{Flow: "a.b", Limit: 3}, func(e store.LogEntry) bool { return e.Flow == "a.b" })
	check(store.Filter{Flow: "none"}, func(store.LogEntry) bool { return false })
	check(store.Filter{Status: "failed"}, func(e store.LogEntry) bool { return e.Status == store.StatusFailed })
	check(store.Filter{Status: "custom", Flow: "b"}, func(e store.LogEntry) bool { return e.Status == "CUSTOM" && e.Flow == "b" })
	check(store.Filter{Before: base.Add(30 * time.Second)}, func(store.LogEntry) bool { return true })
	check(store.Filter{Before: base.Add(30 * time.Second), Flow: "b", Limit: 4}, func(e store.LogEntry) bool { return e.Flow == "b" })
	check(store.Filter{Before: base}, func(store.LogEntry) bool { return false })

	// Paging with Before visits every entry once.
	var paged []string
	f := store.Filter{Limit: 8}
	for {
		page, err := l.List(bg, f)
		must(t, "list page", err)
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			paged = append(paged, e.ID)
		}
		f.Before = page[len(page)-1].Start
	}
	var want []string
	for _, e := range newestFirst {
		want = append(want, e.ID)
	}
	if !slices.Equal(paged, want) {
		t.Fatalf("pages = %v\nwant %v", paged, want)
	}
}

func logDefaultLimit(t *testing.T, open LogOpener) {
	l := open(t)
	base := logBase()
	var es []store.LogEntry
	for i := range store.DefaultListLimit + 5 {
		es = append(es, store.LogEntry{ID: fmt.Sprint(i), Attempt: 1, Status: store.StatusCompleted, Start: base.Add(time.Duration(i) * time.Millisecond)})
	}
	must(t, "record batch", l.RecordBatch(bg, es))
	got, err := l.List(bg, store.Filter{})
	must(t, "list", err)
	if len(got) != store.DefaultListLimit || got[0].ID != fmt.Sprint(store.DefaultListLimit+4) {
		t.Fatalf("list without a limit returned %d entries, first %s; want %d, newest first", len(got), got[0].ID, store.DefaultListLimit)
	}
}

func logInvalid(t *testing.T, open LogOpener) {
	l := open(t)
	good := func(id string) store.LogEntry {
		return store.LogEntry{ID: id, Attempt: 1, Status: store.StatusCompleted, Start: logBase()}
	}
	bad := []store.LogEntry{
		{ID: "", Attempt: 1, Status: "X"},
		{ID: "x", Attempt: -1, Status: "X"},
		{ID: "x", Attempt: 1},
		{ID: "x", Attempt: 1, Status: "X", Flow: "a\x00b"},
		{ID: "a\x00b", Attempt: 1, Status: "X"},
		{ID: strings.Repeat("x", 1025), Attempt: 1, Status: "X"},
	}
	for _, e := range bad {
		wantErr(t, fmt.Sprintf("record %.30q attempt %d status %q", e.ID, e.Attempt, e.Status), l.Record(bg, e), store.ErrInvalid, "")
	}
	err := l.RecordBatch(bg, []store.LogEntry{good("ok1"), bad[2], good("ok2")})
	if !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("batch with an invalid entry: %v, want ErrInvalid", err)
	}
	for _, id := range []string{"ok1", "ok2"} {
		if _, err := l.Get(bg, id); err != nil {
			t.Fatalf("the valid entry %s of a batch with an invalid one was not written: %v", id, err)
		}
	}
	must(t, "empty batch", l.RecordBatch(bg, nil))
}

// logOdd: ids and flow names are text of any bytes, not names.
func logOdd(t *testing.T, open LogOpener) {
	l := open(t)
	base := logBase()
	odd := []string{"a.b", "*", ">", "a b", "é", "x/y", "=", "", strings.Repeat("f", 300)}
	for i, s := range odd {
		id := s
		if id == "" {
			id = "empty-flow"
		}
		must(t, "record", l.Record(bg, store.LogEntry{ID: id, Flow: s, Attempt: 1, Status: store.StatusCompleted, Start: base.Add(time.Duration(i) * time.Second)}))
	}
	long := strings.Repeat("i", 1024)
	must(t, "record long", l.Record(bg, store.LogEntry{ID: long, Flow: strings.Repeat("f", 1024), Attempt: 2, Status: "S", Start: base}))
	for _, s := range odd {
		id := s
		if id == "" {
			id = "empty-flow"
		}
		got, err := l.Get(bg, id)
		if err != nil || len(got) != 1 || got[0].ID != id || got[0].Flow != s {
			t.Fatalf("get %q = %s, %v", id, describe(got), err)
		}
		if s == "" {
			continue
		}
		list, err := l.List(bg, store.Filter{Flow: s})
		if err != nil || len(list) != 1 || list[0].ID != id {
			t.Fatalf("list flow %q = %s, %v", s, describe(list), err)
		}
	}
	if got, err := l.Get(bg, long); err != nil || len(got) != 1 || got[0].Attempt != 2 {
		t.Fatalf("get long = %v", err)
	}
	// "a" is not "a.b", nor "*" every flow.
	if list, _ := l.List(bg, store.Filter{Flow: "a"}); len(list) != 0 {
		t.Fatalf("list flow a = %s", describe(list))
	}
}
