package admin_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stride-engine/stride/engine/admin"
	"github.com/stride-engine/stride/engine/store"
)

// tokenFlow stores a user's tokens the way the shipped callback flows do,
// declaring them sensitive.
const tokenFlow = `flow: tokens
trigger: {http: {path: '/tokens/{user}', methods: [POST]}}
steps:
  - datastore_put:
      store: users
      id: '${request.params.user}'
      overwrite: true
      value: '${ {"user_id": request.params.user, "access_token": json.access_token, "refresh_token": json.refresh_token, "scope": "activity"} }'
      sensitive: [access_token, refresh_token]
  - datastore_put: {store: verifiers, id: '${request.params.user}', overwrite: true, sensitive: true, value: '${json.access_token}'}
  - respond: {status: 204}
`

func postTokens(t *testing.T, app http.Handler, user string) {
	t.Helper()
	srv := httptest.NewServer(app)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/tokens/"+user, "application/json", strings.NewReader(`{"access_token":"at-SECRET-`+user+`","refresh_token":"rt-SECRET-`+user+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /tokens/%s: %d", user, resp.StatusCode)
	}
}

// TestStoreGetMasksSensitiveFields: what a flow declared sensitive is
// "***" in GET /admin/stores/{store}/{id}, with and without a data key,
// while the store (and the flows) keep the value whole.
func TestStoreGetMasksSensitiveFields(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  []byte
	}{{"plain", nil}, {"sealed", bytes.Repeat([]byte{7}, store.KeySize)}} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := store.Open(t.TempDir(), store.Options{Key: tc.key, GCInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			rt := startRuntime(t, db, nil, "tokens.yaml", tokenFlow)
			a := admin.NewAdmin(rt, "s3cret", nil)
			a.AddStoreRoutes(rt.Services())
			c := serve(t, a, "s3cret")
			postTokens(t, rt, "ADA1")

			v, err := c.StoreGet(t.Context(), "users", "ADA1")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(v), "SECRET") {
				t.Fatalf("the admin API shows a sensitive value: %s", v)
			}
			for _, want := range []string{`\"access_token\":\"***\"`, `\"refresh_token\":\"***\"`, `\"user_id\":\"ADA1\"`, `\"scope\":\"activity\"`} {
				if !strings.Contains(string(v), want) {
					t.Errorf("GET users/ADA1 = %s, want it to contain %s", v, want)
				}
			}
			if v, err := c.StoreGet(t.Context(), "verifiers", "ADA1"); err != nil || string(v) != `"***"` {
				t.Errorf("a whole sensitive entry: %s %v, want \"***\"", v, err)
			}
			e, err := db.KV().Get(t.Context(), "users", "ADA1")
			if err != nil || !strings.Contains(string(e.Value), "at-SECRET-ADA1") {
				t.Errorf("the store keeps the value whole: %s %v", e.Value, err)
			}
		})
	}
}

// TestBackupEndpoint: GET /admin/backup needs the token, streams a backup
// that verifies, restores into a new directory and holds the data written
// through the flows; sealed values stay sealed in it.
func TestBackupEndpoint(t *testing.T) {
	key := bytes.Repeat([]byte{9}, store.KeySize)
	db, err := store.Open(t.TempDir(), store.Options{Key: key, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rt := startRuntime(t, db, nil, "tokens.yaml", tokenFlow)
	a := admin.NewAdmin(rt, "s3cret", nil)
	a.AddStoreRoutes(rt.Services())
	a.AddBackup(db)
	c := serve(t, a, "s3cret")
	for _, u := range []string{"ADA1", "BOB2"} {
		postTokens(t, rt, u)
	}

	var none bytes.Buffer
	_, err = (&admin.Client{Base: c.Base, HTTP: c.HTTP}).Backup(t.Context(), &none)
	apiError(t, "a backup without the token", err, http.StatusUnauthorized, admin.CodeUnauthorized)
	if none.Len() != 0 {
		t.Errorf("a refused backup wrote %d bytes", none.Len())
	}

	var buf bytes.Buffer
	n, err := c.Backup(t.Context(), &buf)
	if err != nil || n != int64(buf.Len()) || n == 0 {
		t.Fatalf("backup: %d bytes, %v", n, err)
	}
	if bytes.Contains(buf.Bytes(), []byte("SECRET")) {
		t.Error("a sealed value is readable in the backup")
	}
	info, err := store.VerifyBackup(bytes.NewReader(buf.Bytes()))
	if err != nil || !info.Encrypted || info.Bytes != n {
		t.Fatalf("verify: %+v %v", info, err)
	}
	dir := filepath.Join(t.TempDir(), "restored")
	if _, err := store.Restore(dir, &buf, store.Options{Key: key}); err != nil {
		t.Fatal(err)
	}
	rdb, err := store.Open(dir, store.Options{Key: key, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	for _, u := range []string{"ADA1", "BOB2"} {
		e, err := rdb.KV().Get(t.Context(), "users", u)
		if err != nil || !strings.Contains(string(e.Value), "rt-SECRET-"+u) || len(e.Sensitive.Paths) == 0 {
			t.Errorf("restored %s: %s %+v %v", u, e.Value, e.Sensitive, err)
		}
	}
}

// failingBackup fails before or after writing.
type failingBackup struct {
	err   error
	after []byte
}

func (f failingBackup) Backup(_ context.Context, w io.Writer) (store.BackupInfo, error) {
	if f.after != nil {
		if _, err := w.Write(f.after); err != nil {
			return store.BackupInfo{}, err
		}
	}
	return store.BackupInfo{}, f.err
}

// TestBackupEndpointErrors: a failure before the first byte is an error
// answer with a code; one after it cuts the connection, so the client
// never takes a partial backup for a whole one.
func TestBackupEndpointErrors(t *testing.T) {
	rt := startRuntime(t, nil, nil, "web.yaml", webFlow)
	for _, tc := range []struct {
		name   string
		b      failingBackup
		status int
		code   string
	}{
		{"closing", failingBackup{err: store.ErrClosed}, http.StatusServiceUnavailable, admin.CodeUnavailable},
		{"failed", failingBackup{err: errors.New("disk on fire")}, http.StatusInternalServerError, admin.CodeInternal},
	} {
		a := admin.NewAdmin(rt, "", nil)
		a.AddBackup(tc.b)
		_, err := serve(t, a, "").Backup(t.Context(), io.Discard)
		apiError(t, tc.name, err, tc.status, tc.code)
	}
	a := admin.NewAdmin(rt, "", nil)
	a.AddBackup(failingBackup{err: errors.New("disk on fire"), after: bytes.Repeat([]byte("x"), 64<<10)}) // past the response buffer: the headers are out
	var buf bytes.Buffer
	_, err := serve(t, a, "").Backup(t.Context(), &buf)
	var ae *admin.APIError
	if err == nil || errors.As(err, &ae) || !strings.Contains(err.Error(), "cut short") {
		t.Errorf("a backup failing mid-way: %v (%d bytes), want a transport error", err, buf.Len())
	}
}
