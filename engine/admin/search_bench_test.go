package admin_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/admin"
	"github.com/stride-engine/stride/engine/store"
)

// BenchmarkMessageSearch measures one page of GET /admin/messages/search
// on a log of STRIDE_BENCH_LOG_ENTRIES entries (default 200,000; the
// closing note of issue 19 ran it with 1,000,000): 10 flows, one entry in
// 50 FAILED. Seeding takes most of the time; each case is one page.
func BenchmarkMessageSearch(b *testing.B) {
	n := 200_000
	if v, err := strconv.Atoi(os.Getenv("STRIDE_BENCH_LOG_ENTRIES")); err == nil && v > 0 {
		n = v
	}
	db, err := store.Open(b.TempDir(), store.Options{GCInterval: -1, Durability: store.SurviveProcessCrash, LogMaxBytes: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	base := time.Now().Add(-time.Duration(n) * time.Millisecond)
	batch := make([]store.LogEntry, 0, 10_000)
	for i := range n {
		e := store.LogEntry{ID: fmt.Sprintf("%024x", i), Flow: fmt.Sprintf("flow-%d", i%10), Trigger: "http", Attempt: 1, Status: "COMPLETED",
			Start: base.Add(time.Duration(i) * time.Millisecond), End: base.Add(time.Duration(i)*time.Millisecond + 3*time.Millisecond),
			Trace: []store.TraceEntry{{Step: "set", Kind: "set", At: "f.yaml:5", Outcome: "ok"}, {Step: "call-api", Kind: "request", At: "f.yaml:7", Outcome: "ok"}}}
		if i%50 == 0 {
			e.Status, e.Error = "FAILED", "upstream answered 503 for order "+strconv.Itoa(i)
			e.Trace[1].Outcome, e.Trace[1].Error = "error", "answered 503"
		}
		if batch = append(batch, e); len(batch) == cap(batch) || i == n-1 {
			if err := db.Log().RecordBatch(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	for _, c := range []struct {
		name string
		q    admin.MessageSearchQuery
	}{
		{"newest-page", admin.MessageSearchQuery{Limit: 50}},
		{"one-flow", admin.MessageSearchQuery{Flow: "flow-3", Limit: 50}},
		{"failed", admin.MessageSearchQuery{Status: "FAILED", Limit: 50}},
		{"failed-one-flow", admin.MessageSearchQuery{Flow: "flow-0", Status: "FAILED", Limit: 50}},
		{"text-no-match", admin.MessageSearchQuery{Text: "no-such-words", Limit: 50}},
		{"by-id", admin.MessageSearchQuery{ID: fmt.Sprintf("%024x", n/2)}},
		{"old-time-range", admin.MessageSearchQuery{Until: base.Add(time.Duration(n/10) * time.Millisecond), Limit: 50}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var scanned, found int
			for b.Loop() {
				res, err := admin.SearchMessages(context.Background(), db.Log(), c.q)
				if err != nil {
					b.Fatal(err)
				}
				scanned, found = res.Scanned, len(res.Messages)
			}
			b.ReportMetric(float64(scanned), "scanned/op")
			b.ReportMetric(float64(found), "found/op")
		})
	}
}
