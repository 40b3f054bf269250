package admin_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/admin"
	"github.com/stride-engine/stride/engine/store"
)

const branchyFlow = `flow: branchy
trigger:
  http: {path: /branchy}
steps:
  - name: pick
    route:
      - when: json.a == 1
        steps:
          - set: {properties: {one: true}}
      - otherwise:
          - fail: not one
  - split:
      jsonpath: '$[*]'
      steps:
        - log: item
  - respond: {status: 200}
on_error:
  - respond: {status: 500}
`

// TestDiagramDescribesTriggerBranchesSplitAndOnError: the diagram has the
// trigger, every step with its file:line (as traces carry it) and YAML,
// a route's branches with their conditions, a split's steps and on_error.
func TestDiagramDescribesTriggerBranchesSplitAndOnError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "branchy.yaml")
	if err := os.WriteFile(file, []byte(branchyFlow), 0o600); err != nil {
		t.Fatal(err)
	}
	rt := startRuntime(t, nil, nil, file, branchyFlow)
	a := admin.NewAdmin(rt, "", nil)
	a.AddMonitorRoutes(rt.Services(), nil)
	c := serve(t, a, "")
	d, err := c.Diagram(context.Background(), "branchy")
	if err != nil {
		t.Fatal(err)
	}
	at := func(line int) string { return fmt.Sprintf("%s:%d", file, line) }
	if d.Stale || d.Trigger.Kind != "http" || d.Trigger.At != at(3) || !strings.Contains(d.Trigger.YAML, "/branchy") {
		t.Errorf("trigger %+v (stale %v)", d.Trigger, d.Stale)
	}
	if len(d.Steps) != 3 {
		t.Fatalf("steps %+v, want route, split, respond", d.Steps)
	}
	route := d.Steps[0]
	if route.Kind != "route" || route.Name != "pick" || route.At != at(6) || !strings.HasPrefix(route.YAML, "- name: pick\n  route:") || strings.Contains(route.YAML, "split") {
		t.Errorf("route %+v", route)
	}
	if len(route.Branches) != 2 || route.Branches[0].Label != "when json.a == 1" || route.Branches[0].Steps[0].At != at(9) ||
		route.Branches[1].Label != "otherwise" || route.Branches[1].Steps[0].Kind != "fail" || route.Branches[1].Steps[0].At != at(11) {
		t.Errorf("route branches %+v", route.Branches)
	}
	split := d.Steps[1]
	if split.Kind != "split" || len(split.Branches) != 1 || split.Branches[0].Label != "for each item" || split.Branches[0].Steps[0].At != at(15) {
		t.Errorf("split %+v", split)
	}
	if len(d.OnError) != 1 || d.OnError[0].At != at(18) || d.OnError[0].YAML != "- respond: {status: 500}" {
		t.Errorf("on_error %+v", d.OnError)
	}
	if err := os.WriteFile(file, []byte(branchyFlow+"# edited\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if d, err := c.Diagram(context.Background(), "branchy"); err != nil || !d.Stale {
		t.Errorf("after an edit not loaded: stale=%v %v, want stale", d.Stale, err)
	}
	if _, err := c.Diagram(context.Background(), "nope"); err == nil {
		t.Error("diagram of an unknown flow answered")
	} else {
		apiError(t, "unknown flow", err, 404, admin.CodeNotFound)
	}
}

// seedLog writes n log entries a second apart, newest last: every third
// FAILED with an error naming its number, the others COMPLETED; flows
// alternate between a and b.
func seedLog(t *testing.T, log store.Log, n int, base time.Time) {
	t.Helper()
	var es []store.LogEntry
	for i := range n {
		e := store.LogEntry{ID: fmt.Sprintf("m%04d", i), Flow: []string{"a", "b"}[i%2], Trigger: "http", Attempt: 1, Status: "COMPLETED",
			Start: base.Add(time.Duration(i) * time.Second), End: base.Add(time.Duration(i)*time.Second + time.Millisecond),
			Trace: []store.TraceEntry{{Step: "call-api", Kind: "request", At: "a.yaml:5", Outcome: "ok"}}}
		if i%10 == 7 { // a queued message of the webhook before it
			e.CorrelationID = fmt.Sprintf("m%04d", i-1)
		}
		if i%3 == 0 {
			e.Status, e.Error = "FAILED", fmt.Sprintf("upstream refused number-%d", i)
			e.Trace[0].Outcome, e.Trace[0].Error = "error", "HTTP 503"
		}
		es = append(es, e)
	}
	if err := log.RecordBatch(context.Background(), es); err != nil {
		t.Fatal(err)
	}
}

func TestMessageSearchFiltersAndPagesWithACursor(t *testing.T) {
	db := openStore(t)
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	seedLog(t, db.Log(), 90, base)
	rt := startRuntime(t, db, nil)
	a := admin.NewAdmin(rt, "", nil)
	a.AddMonitorRoutes(rt.Services(), db.Queues())
	c := serve(t, a, "")
	ctx := context.Background()

	// Failed messages of flow a: i%3==0 and i%2==0, i.e. every sixth: 15.
	var got []string
	q := admin.MessageSearchQuery{Flow: "a", Status: "failed", Limit: 4}
	for page := 0; ; page++ {
		res, err := c.SearchMessages(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res.Messages {
			got = append(got, m.ID)
		}
		if res.Next == "" {
			break
		}
		if page > 10 {
			t.Fatal("the cursor does not advance")
		}
		q.Before, _ = time.Parse(time.RFC3339Nano, res.Next)
	}
	if len(got) != 15 || got[0] != "m0084" || got[14] != "m0000" {
		t.Errorf("failed messages of a, newest first over pages: %v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] >= got[i-1] {
			t.Errorf("page order: %v", got)
			break
		}
	}

	res, err := c.SearchMessages(ctx, admin.MessageSearchQuery{Text: "Number-42 REFUSED"})
	if err != nil || len(res.Messages) != 1 || res.Messages[0].ID != "m0042" {
		t.Errorf("free text: %+v %v", res.Messages, err)
	}
	res, err = c.SearchMessages(ctx, admin.MessageSearchQuery{Text: "503", Since: base.Add(80 * time.Second), Until: base.Add(88 * time.Second)})
	if err != nil || len(res.Messages) != 3 || res.Messages[0].ID != "m0087" || res.Messages[2].ID != "m0081" || res.Next != "" {
		t.Errorf("time range [80s, 88s) with a step's error: %+v next=%q %v", res.Messages, res.Next, err)
	}
	res, err = c.SearchMessages(ctx, admin.MessageSearchQuery{ID: "m0007"})
	if err != nil || len(res.Messages) != 1 || res.Messages[0].Flow != "b" {
		t.Errorf("by id: %+v %v", res.Messages, err)
	}
	// A correlation id finds the message that started the chain and the
	// one it caused.
	res, err = c.SearchMessages(ctx, admin.MessageSearchQuery{Correlation: "m0046"})
	if err != nil || len(res.Messages) != 2 || res.Messages[0].ID != "m0047" || res.Messages[1].ID != "m0046" || res.Messages[0].CorrelationID != "m0046" {
		t.Errorf("by correlation id: %+v %v", res.Messages, err)
	}
	if res, err := c.SearchMessages(ctx, admin.MessageSearchQuery{ID: "nothing-like-it"}); err != nil || len(res.Messages) != 0 {
		t.Errorf("unknown id: %+v %v", res, err)
	}
	res, err = c.SearchMessages(ctx, admin.MessageSearchQuery{})
	if err != nil || len(res.Messages) != 50 || res.Messages[0].ID != "m0089" || res.Next == "" || res.Scanned != 50 {
		t.Errorf("no filter: %d messages from %v, next %q, scanned %d; want the newest 50 and a cursor", len(res.Messages), res.Messages[0].ID, res.Next, res.Scanned)
	}
}

func TestMessageSearchRefusesABadTime(t *testing.T) {
	rt := startRuntime(t, openStore(t), nil)
	a := admin.NewAdmin(rt, "", nil)
	a.AddMonitorRoutes(rt.Services(), nil)
	srvURL := serveURL(t, a)
	status, body := getBody(t, srvURL+"/admin/messages/search?since=yesterday")
	if status != 400 || !strings.Contains(body, `"code": "bad_request"`) {
		t.Errorf("since=yesterday: %d %s", status, body)
	}
}

func TestQueuesDeadLettersReplayAndPurge(t *testing.T) {
	db := openStore(t)
	ctx := context.Background()
	qs := db.Queues()
	var ids []string
	for i := range 3 {
		id, err := qs.Enqueue(ctx, "orders", store.Message{Body: []byte(fmt.Sprintf(`{"n":%d}`, i)), Key: "k"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// One key: one message at a time is leased.
	if ms, err := qs.Lease(ctx, "orders", 3, time.Minute); err != nil || len(ms) != 1 {
		t.Fatal(ms, err)
	}
	for _, id := range ids[:1] {
		if err := qs.DeadLetter(ctx, "orders", id, "upstream said 400"); err != nil {
			t.Fatal(err)
		}
	}
	rt := startRuntime(t, db, nil)
	a := admin.NewAdmin(rt, "tok", nil)
	a.AddMonitorRoutes(rt.Services(), qs)
	c := serve(t, a, "tok")
	res, err := c.Queues(ctx)
	if err != nil || len(res.Queues) != 1 || res.Queues[0].Name != "orders" || res.Queues[0].Dead != 1 || res.Queues[0].Ready != 2 || res.Queues[0].Oldest.IsZero() {
		t.Fatalf("queues: %+v %v", res, err)
	}
	dl, err := c.DeadLetters(ctx, "orders")
	if err != nil || len(dl.DeadLetters) != 1 || dl.DeadLetters[0].Body != `{"n":0}` || dl.DeadLetters[0].LastError != "upstream said 400" {
		t.Fatalf("dead letters: %+v %v", dl, err)
	}
	if _, err := c.PurgeDeadLetters(ctx, "orders", "0000"); err == nil {
		t.Error("purging an unknown dead letter answered")
	} else {
		apiError(t, "purge unknown", err, 404, admin.CodeNotFound)
	}
	p, err := c.PurgeDeadLetters(ctx, "orders", "")
	if err != nil || p.Purged != 1 {
		t.Fatalf("purge all: %+v %v", p, err)
	}
	if res, _ := c.Queues(ctx); res.Queues[0].Dead != 0 {
		t.Errorf("after purge: %+v", res.Queues[0])
	}
	if _, _, err := qs.FindDeadLetter(ctx, ids[0]); err == nil {
		t.Error("the purged dead letter is still there")
	}
}

func TestConnectionsNeverShowSensitiveFields(t *testing.T) {
	db := openStore(t)
	ctx := context.Background()
	kv := db.KV()
	put := func(storeName, id, value string, s store.Sensitivity) {
		if err := kv.Put(ctx, storeName, id, []byte(value), store.PutOptions{Overwrite: true, Sensitive: s}); err != nil {
			t.Fatal(err)
		}
	}
	put("fitbit-users", "ADA1", `{"user_id":"ADA1","access_token":"at-SECRET-1","refresh_token":"rt-SECRET-1","scope":"activity profile"}`,
		store.Sensitivity{Paths: []string{"access_token", "refresh_token"}})
	put("google-users", "hu-1", `{"text":"{\"user\":\"hu-1\",\"access_token\":\"at-SECRET-2\",\"scope\":\"steps\"}","content_type":"application/json"}`,
		store.Sensitivity{Paths: []string{"text.access_token"}})
	put("vault", "k", `"whole-SECRET"`, store.Sensitivity{All: true})
	put("plain", "p", `{"x":1}`, store.Sensitivity{})
	rt := startRuntime(t, db, nil)
	a := admin.NewAdmin(rt, "", nil)
	a.AddMonitorRoutes(rt.Services(), db.Queues())
	srvURL := serveURL(t, a)
	status, body := getBody(t, srvURL+"/admin/connections")
	if status != 200 || strings.Contains(body, "SECRET") {
		t.Fatalf("connections: %d %s; no token may appear", status, body)
	}
	res, err := serve(t, a, "").Connections(ctx)
	if err != nil || len(res.Connections) != 3 {
		t.Fatalf("connections: %+v %v, want the three entries with sensitive fields", res, err)
	}
	fb, g := res.Connections[0], res.Connections[1]
	if g.Store != "google-users" || g.Fields["scope"] != "steps" || g.Fields["user"] != "hu-1" || strings.Join(g.Hidden, ",") != "access_token" {
		t.Errorf("a value stored by datastore_put (an envelope): %+v, want the fields of its text", g)
	}
	if fb.Store != "fitbit-users" || fb.ID != "ADA1" || fb.Fields["scope"] != "activity profile" ||
		strings.Join(fb.Hidden, ",") != "access_token,refresh_token" || fb.Updated.IsZero() {
		t.Errorf("fitbit connection %+v", fb)
	}
}

func serveURL(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func getBody(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
