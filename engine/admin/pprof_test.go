package admin_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stride-engine/stride/engine/admin"
	"github.com/stride-engine/stride/engine/runtime"
	"github.com/stride-engine/stride/engine/store"
)

// /debug/pprof is served behind the admin token.
func TestPprofNeedsTheToken(t *testing.T) {
	a := admin.NewAdmin(runtime.New(runtime.Options{}), "tok-123456", nil)
	a.AddPprof()
	c := serve(t, a, "")
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", c.Base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, _ := get("/debug/pprof/heap", ""); status != 401 {
		t.Errorf("heap profile without the token: %d, want 401", status)
	}
	if status, body := get("/debug/pprof/goroutine?debug=1", "tok-123456"); status != 200 || !strings.Contains(body, "goroutine profile") {
		t.Errorf("goroutine profile with the token: %d %.80s", status, body)
	}
	if status, body := get("/debug/pprof/", "tok-123456"); status != 200 || !strings.Contains(body, "heap") {
		t.Errorf("index: %d", status)
	}
}

// GET /admin/store reports the store's parts and files.
func TestStoreSize(t *testing.T) {
	db := openStore(t)
	a := admin.NewAdmin(runtime.New(runtime.Options{}), "", nil)
	a.AddStoreSize(db)
	c := serve(t, a, "")
	if err := db.KV().Put(t.Context(), "users", "ada", make([]byte, 4096), store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	sz, err := c.StoreSize(t.Context())
	if err != nil || sz.Parts.DataStores < 4096 || sz.Parts.At.IsZero() || sz.PartsNote == "" {
		t.Errorf("%+v %v", sz, err)
	}
}
