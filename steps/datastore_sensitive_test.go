package steps_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/stride-engine/stride/engine/store"
)

// TestDatastorePutSensitive: sensitive: declares fields of the stored
// value (or the whole entry); the store keeps the declaration, shows the
// fields as *** (Entry.Masked, what the admin API and the CLI show), and
// flows still read the entry whole.
func TestDatastorePutSensitive(t *testing.T) {
	svc := openKV(t)
	ctx := context.Background()
	get := func(id string) store.Entry {
		t.Helper()
		e, err := svc.KV.Get(ctx, "users", id)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	_, err := runWith(t, svc, `
  - datastore_put:
      store: users
      id: ada
      value: '${ {"user_id": "ada", "access_token": "t1", "token": {"refresh": "r1", "type": "Bearer"}} }'
      sensitive: [access_token, token.refresh]
`, `{}`)
	noError(t, err)
	e := get("ada")
	if want := []string{"data", "text.access_token", "text.token.refresh"}; !reflect.DeepEqual(e.Sensitive, store.Sensitivity{Paths: want}) {
		t.Errorf("declaration %+v, want paths %v", e.Sensitive, want)
	}
	shown := string(e.Masked())
	if strings.Contains(shown, "t1") || strings.Contains(shown, "r1") || !strings.Contains(shown, `\"access_token\":\"***\"`) ||
		!strings.Contains(shown, `\"refresh\":\"***\"`) || !strings.Contains(shown, `\"type\":\"Bearer\"`) || !strings.Contains(shown, `\"user_id\":\"ada\"`) {
		t.Errorf("masked entry: %s", shown)
	}
	x, err := runWith(t, svc, "  - datastore_get: {store: users, id: ada, into: property.user}\n", `{}`)
	noError(t, err)
	if u := x.Msg.Property["user"].(map[string]any); u["access_token"] != "t1" {
		t.Errorf("a flow reads the entry whole: %v", u)
	}

	// The whole entry; a single field as text; a listed property.
	_, err = runWith(t, svc, "  - datastore_put: {store: users, id: all, sensitive: true}\n", `{"secret":"s"}`)
	noError(t, err)
	if e := get("all"); !e.Sensitive.All || string(e.Masked()) != `"***"` {
		t.Errorf("sensitive: true: %+v %s", e.Sensitive, e.Masked())
	}
	_, err = runWith(t, svc, "  - set: {properties: {access_token: p1}}\n  - datastore_put: {store: users, id: prop, properties: [access_token], sensitive: access_token}\n", `{"access_token":"b1"}`)
	noError(t, err)
	if shown := string(get("prop").Masked()); strings.Contains(shown, "p1") || strings.Contains(shown, "b1") {
		t.Errorf("a listed property and the body field: %s", shown)
	}
	// A body that is not text cannot be searched for fields: hidden whole.
	_, err = runWith(t, svc, "  - set: {body: '${base64_decode(\"/wD+\")}'}\n  - datastore_put: {store: users, id: bin, sensitive: [x]}\n", `{}`)
	noError(t, err)
	if shown := string(get("bin").Masked()); !strings.Contains(shown, `"data":"***"`) {
		t.Errorf("a binary body: %s", shown)
	}
	// Without sensitive, nothing is declared.
	_, err = runWith(t, svc, "  - datastore_put: {store: users, id: plain}\n", `{"access_token":"t"}`)
	noError(t, err)
	if e := get("plain"); !e.Sensitive.IsZero() || string(e.Masked()) != string(e.Value) {
		t.Errorf("no declaration: %+v %s", e.Sensitive, e.Masked())
	}
}

func TestDatastorePutSensitiveLoadErrors(t *testing.T) {
	for _, tc := range []struct{ sensitive, want string }{
		{"{a: 1}", "sensitive: write true (the whole entry) or a list of fields"},
		{"[]", "the list is empty"},
		{"['$.access_token']", "not a template or JSONPath"},
		{"[a..b]", `sensitive path "a..b" has an empty name`},
		{"[[a]]", "each entry is a field name"},
		{"[a, ~]", "each entry is a field name"},
	} {
		got := loadError("  - datastore_put: {store: s, id: x, sensitive: " + tc.sensitive + "}\n")
		if !strings.Contains(got, tc.want) || !strings.Contains(got, "f.yaml:4:") {
			t.Errorf("sensitive: %s: load error %q, want one at f.yaml:4 containing %q", tc.sensitive, got, tc.want)
		}
	}
	if got := loadError("  - datastore_put: {store: s, id: x, sensitive: false}\n"); got != "" {
		t.Errorf("sensitive: false: %s", got)
	}
}
