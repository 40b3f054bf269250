package steps_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/runtime"
	"github.com/stride-engine/stride/engine/store"
)

// openKV opens a real badger store in a temp dir.
func openKV(t *testing.T) *flow.Services {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &flow.Services{KV: db.KV(), Queues: db.Queues(), Log: db.Log()}
}

// runWith runs steps with services attached and, like a trigger, runs the
// completion hooks when the message succeeded.
func runWith(t *testing.T, svc *flow.Services, steps, body string) (*flow.Exchange, error) {
	t.Helper()
	src := "flow: f\ntrigger: {call: {}}\nsteps:\n" + strings.TrimLeft(steps, "\n")
	set, err := flow.Load([]flow.Source{{Name: "f.yaml", Data: []byte(src)}})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	set.Bind(func(string) (string, bool) { return "", false })
	x := newExchange(runtime.NewMessageID(), flow.NewMessage([]byte(body), "application/json"), set, nil)
	x.SetServices(svc)
	err = set.Run(context.Background(), "f", x)
	if err == nil {
		err = x.Complete(context.Background())
	}
	return x, err
}

// TestDatastoreCPISemantics is CPI's data store behaviour as a table: each
// row runs against the store the previous rows left.
func TestDatastoreCPISemantics(t *testing.T) {
	svc := openKV(t)
	rows := []struct {
		name, steps, body string
		wantErr           string
		check             func(t *testing.T, x *flow.Exchange)
	}{
		{name: "put stores the body", steps: "  - datastore_put: {store: users, id: u1}\n", body: `{"token":"a"}`},
		{name: "duplicate without overwrite fails", steps: "  - datastore_put: {store: users, id: u1}\n", body: `{"token":"b"}`,
			wantErr: `users already has an entry "u1" (set overwrite: true to replace it)`},
		{name: "get reads it back", steps: "  - datastore_get: {store: users, id: u1}\n", check: func(t *testing.T, x *flow.Exchange) {
			if string(x.Msg.Body()) != `{"token":"a"}` || x.Msg.ContentType() != "application/json" {
				t.Errorf("body %s (%s)", x.Msg.Body(), x.Msg.ContentType())
			}
		}},
		{name: "overwrite replaces", steps: "  - datastore_put: {store: users, id: u1, overwrite: true}\n", body: `{"token":"c"}`},
		{name: "get into a property decodes JSON", steps: "  - datastore_get: {store: users, id: u1, into: property.user}\n  - set: {properties: {tok: '${property.user.token}'}}\n",
			check: func(t *testing.T, x *flow.Exchange) { wantProp(t, x, "tok", "c") }},
		{name: "properties are stored and restored", steps: "  - set: {properties: {user_id: u2, scope: activity}}\n  - datastore_put: {store: users, id: '${property.user_id}', properties: [scope], value: '${ {\"token\": \"d\"} }'}\n"},
		{name: "restored properties", steps: "  - datastore_get: {store: users, id: u2}\n", check: func(t *testing.T, x *flow.Exchange) {
			wantProp(t, x, "scope", "activity")
		}},
		{name: "missing entry fails with 404", steps: "  - datastore_get: {store: users, id: nobody}\n", wantErr: "no entry nobody in data store users"},
		{name: "missing entry with skip", steps: "  - datastore_get: {store: users, id: nobody, missing: skip}\n", check: func(t *testing.T, x *flow.Exchange) {
			wantProp(t, x, "found", false)
		}},
		{name: "select as CPI's XML envelope, ordered by id", steps: "  - datastore_select: {store: users}\n", check: func(t *testing.T, x *flow.Exchange) {
			want := `<messages><message id="u1">{&#34;token&#34;:&#34;c&#34;}</message><message id="u2">{&#34;token&#34;:&#34;d&#34;}</message></messages>`
			if string(x.Msg.Body()) != want {
				t.Errorf("got  %s\nwant %s", x.Msg.Body(), want)
			}
			wantProp(t, x, "datastore_count", 2)
		}},
		{name: "select as JSON", steps: "  - datastore_select: {store: users, format: json, prefix: u2}\n", check: func(t *testing.T, x *flow.Exchange) {
			if s := strings.TrimSpace(string(x.Msg.Body())); s != `[{"id":"u2","body":{"token":"d"}}]` {
				t.Errorf("got %s", s)
			}
		}},
		{name: "delete_on_completion keeps entries when the message fails", steps: "  - datastore_select: {store: users, delete_on_completion: true}\n  - fail: later step failed\n", wantErr: "later step failed"},
		{name: "entries still there", steps: "  - datastore_select: {store: users, format: json}\n  - filter: json[0].id == \"u1\" && len(json) == 2\n  - set: {properties: {ok: true}}\n", check: func(t *testing.T, x *flow.Exchange) {
			wantProp(t, x, "ok", true)
		}},
		{name: "delete_on_completion deletes after success", steps: "  - datastore_select: {store: users, delete_on_completion: true}\n"},
		{name: "store is empty", steps: "  - datastore_select: {store: users}\n", check: func(t *testing.T, x *flow.Exchange) {
			if string(x.Msg.Body()) != "<messages></messages>" {
				t.Errorf("got %s", x.Msg.Body())
			}
		}},
		{name: "delete of a missing id is fine by default", steps: "  - datastore_delete: {store: users, id: nobody}\n"},
		{name: "delete of a missing id fails on request", steps: "  - datastore_delete: {store: users, id: nobody, missing: fail}\n", wantErr: "not found"},
		{name: "get with delete_after", steps: "  - datastore_put: {store: once, id: k}\n  - datastore_get: {store: once, id: k, delete_after: true}\n  - datastore_get: {store: once, id: k, missing: skip}\n",
			check: func(t *testing.T, x *flow.Exchange) { wantProp(t, x, "found", false) }},
	}
	for _, r := range rows {
		x, err := runWith(t, svc, r.steps, r.body)
		switch {
		case r.wantErr != "" && (err == nil || !strings.Contains(err.Error(), r.wantErr)):
			t.Fatalf("%s: got %v, want an error containing %q", r.name, err, r.wantErr)
		case r.wantErr == "" && err != nil:
			t.Fatalf("%s: %v", r.name, err)
		case r.check != nil:
			t.Run(r.name, func(t *testing.T) { r.check(t, x) })
		}
	}
}

func TestDatastoreXMLBodiesAreEmbeddedAsXML(t *testing.T) {
	svc := openKV(t)
	if _, err := runWith(t, svc, "  - datastore_put: {store: s, id: a}\n", `<?xml version="1.0"?><user><id>a</id></user>`); err != nil {
		t.Fatal(err)
	}
	x, err := runWith(t, svc, "  - datastore_select: {store: s}\n  - set: {properties: {id: '${xpath(\"/messages/message/user/id\")}'}}\n", "")
	if err != nil {
		t.Fatal(err)
	}
	wantProp(t, x, "id", "a")
}

func TestDatastoreLoadErrors(t *testing.T) {
	for _, tc := range []struct{ steps, want string }{
		{"  - datastore_put: {store: 'my store', id: x}\n", `store "my store"`},
		{"  - datastore_put: {store: " + strings.Repeat("s", 41) + ", id: x}\n", "store"},
		{"  - datastore_put: {store: s, id: x, expires: soon}\n", `expires "soon": write e.g. 30d, 12h or never`},
		{"  - datastore_get: {store: s, id: x, into: header.X}\n", `into "header.X": write body or property.NAME`},
		{"  - datastore_select: {store: s, limit: 0}\n", "limit must be at least 1"},
	} {
		if e := loadError(tc.steps); !strings.Contains(e, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.steps, e, tc.want)
		}
	}
}

func TestDatastoreWithoutStoreFailsClearly(t *testing.T) {
	_, err := runSteps(t, "  - datastore_get: {store: s, id: x}\n", "", "")
	if err == nil || !strings.Contains(err.Error(), "needs the data store") {
		t.Fatalf("got %v", err)
	}
}

func TestDatastoreExpiry(t *testing.T) {
	svc := openKV(t)
	if _, err := runWith(t, svc, "  - datastore_put: {store: s, id: short, expires: 1s}\n  - datastore_put: {store: s, id: forever, expires: never}\n", "x"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		x, err := runWith(t, svc, "  - datastore_get: {store: s, id: short, missing: skip}\n  - datastore_get: {store: s, id: forever}\n", "")
		if err != nil {
			t.Fatal(err)
		}
		if x.Msg.Property["found"] == false {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("an entry with expires: 1s was still there after 5 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
