package runtime_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/runtime"
)

// newRuntime returns a started runtime, stopped when the test ends.
func newRuntime(t testing.TB, o runtime.Options) *runtime.Runtime {
	t.Helper()
	rt := runtime.New(o)
	if err := rt.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rt.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return rt
}

func serve(t *testing.T, files ...string) (*httptest.Server, *runtime.Runtime) {
	t.Helper()
	rt := newRuntime(t, runtime.Options{})
	rt.Swap(load(t, files...))
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return srv, rt
}

func do(t *testing.T, method, url, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

const userFlow = `
flow: users
trigger:
  http: {path: '/users/{id}', methods: [GET, PUT], max_body: 16B}
steps:
  - respond:
      status: 200
      headers: {X-User: '${request.params.id}'}
      body: '${request.method} ${request.params.id} ${query.verbose ?? "-"} ${header["x-client"] ?? "-"}'
`

func TestHTTPTriggerRoutesAndScopes(t *testing.T) {
	srv, _ := serve(t, "u.yaml", userFlow)
	resp, body := do(t, "GET", srv.URL+"/users/42?verbose=yes", "", "X-Client", "c1")
	if resp.StatusCode != 200 || body != "GET 42 yes c1" || resp.Header.Get("X-User") != "42" {
		t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp.Header.Get("X-Stride-Message-Id") == "" {
		t.Error("every reply carries its message id")
	}
}

func TestHTTPTriggerErrorAnswers(t *testing.T) {
	srv, _ := serve(t, "u.yaml", userFlow, "f.yaml", `
flow: failing
trigger: {http: {path: /fail}}
secrets: [CLIENT_SECRET]
steps:
  - fail: 'upstream said no to ${secret.CLIENT_SECRET}'
`, "g.yaml", `
flow: bad-request
trigger: {http: {path: /reject}}
steps:
  - fail: {message: missing field, status: 422}
`)
	resp, _ := do(t, "POST", srv.URL+"/users/1", "")
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD, PUT" {
		t.Errorf("wrong method: %d Allow=%q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	resp, _ = do(t, "GET", srv.URL+"/nowhere", "")
	if resp.StatusCode != 404 {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
	resp, body := do(t, "PUT", srv.URL+"/users/1", strings.Repeat("x", 17))
	if resp.StatusCode != 413 || !strings.Contains(body, "larger than 16 bytes") {
		t.Errorf("oversized body: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, "PUT", srv.URL+"/users/1", strings.Repeat("x", 16))
	if resp.StatusCode != 200 {
		t.Errorf("body at the limit: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, "POST", srv.URL+"/fail", "")
	var e struct {
		Error     string `json:"error"`
		MessageID string `json:"message_id"`
	}
	_ = json.Unmarshal([]byte(body), &e)
	if resp.StatusCode != 500 || e.MessageID == "" || e.MessageID != resp.Header.Get("X-Stride-Message-Id") {
		t.Errorf("failed flow: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(body, "upstream") || strings.Contains(body, testVars["CLIENT_SECRET"]) {
		t.Errorf("error details (and secrets) belong in the log, not the answer: %s", body)
	}
	resp, _ = do(t, "POST", srv.URL+"/reject", "")
	if resp.StatusCode != 422 {
		t.Errorf("fail with a status answers it: %d", resp.StatusCode)
	}
}

func TestHTTPReplyIsTheMessageWhenNoRespond(t *testing.T) {
	srv, _ := serve(t, "e.yaml", `
flow: echo
trigger: {http: {path: /echo}}
steps:
  - set: {body: '${ {"got": json.n + 1} }'}
`)
	resp, body := do(t, "POST", srv.URL+"/echo", `{"n":1}`, "Content-Type", "application/json")
	if resp.StatusCode != 200 || body != `{"got":2}` || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
}

func TestSwapChangesRoutesAtomically(t *testing.T) {
	srv, rt := serve(t, "a.yaml", "flow: a\ntrigger: {http: {path: /v, methods: [GET]}}\nsteps: [{respond: {body: one}}]\n")
	if _, body := do(t, "GET", srv.URL+"/v", ""); body != "one" {
		t.Fatalf("got %q", body)
	}
	rt.Swap(load(t, "a.yaml", "flow: a\ntrigger: {http: {path: /w, methods: [GET]}}\nsteps: [{respond: {body: two}}]\n"))
	if resp, _ := do(t, "GET", srv.URL+"/v", ""); resp.StatusCode != 404 {
		t.Errorf("old route still served: %d", resp.StatusCode)
	}
	if _, body := do(t, "GET", srv.URL+"/w", ""); body != "two" {
		t.Errorf("new route: %q", body)
	}
}

func TestDisabledFlowsAreNotServed(t *testing.T) {
	set, err := loadErr("a.yaml", "flow: a\nenv: [MISSING_VAR]\ntrigger: {http: {path: /a}}\nsteps: [{respond: {body: x}}]\n")
	if err != nil {
		t.Fatal(err)
	}
	set.Bind(func(string) (string, bool) { return "", false })
	rt := newRuntime(t, runtime.Options{})
	rt.Swap(set)
	srv := httptest.NewServer(rt)
	defer srv.Close()
	if resp, _ := do(t, "POST", srv.URL+"/a", ""); resp.StatusCode != 404 {
		t.Errorf("disabled flow answered %d", resp.StatusCode)
	}
}

func TestGzipOnlyWhenAcceptedAndWorthIt(t *testing.T) {
	srv, _ := serve(t, "g.yaml", `
flow: big
trigger: {http: {path: /big, methods: [GET]}}
steps:
  - respond: {body: '${ {"data": repeat("x", int(query.n))} }'}
`)
	get := func(n, enc string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+"/big?n="+n, nil)
		if enc != "" {
			req.Header.Set("Accept-Encoding", enc)
		}
		resp, err := http.DefaultTransport.RoundTrip(req) // no transparent decompression
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := get("5000", "gzip, deflate")
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("large JSON with gzip accepted: %v", resp.Header)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(zr)
	if len(data) != len(`{"data":""}`)+5000 {
		t.Fatalf("decompressed %d bytes", len(data))
	}
	if get("5000", "").Header.Get("Content-Encoding") != "" {
		t.Error("compressed without Accept-Encoding")
	}
	for _, refuse := range []string{"gzip;q=0", "gzip; q=0.0", "deflate, gzip;q=0.000"} {
		if get("5000", refuse).Header.Get("Content-Encoding") != "" {
			t.Errorf("compressed although %q refuses gzip", refuse)
		}
	}
	if get("5000", "gzip;q=0.5").Header.Get("Content-Encoding") != "gzip" {
		t.Error("q=0.5 accepts gzip")
	}
	if get("10", "gzip").Header.Get("Content-Encoding") != "" {
		t.Error("compressed a tiny body")
	}
}

// BenchmarkHTTPFlowGzip serves a 4 KB JSON answer to clients that accept
// gzip: pooled writers keep allocations per request flat.
func BenchmarkHTTPFlowGzip(b *testing.B) {
	rt := newRuntime(b, runtime.Options{})
	rt.Swap(load(b, "g.yaml", "flow: big\ntrigger: {http: {path: /big, methods: [GET]}}\nsteps:\n  - respond: {body: '${ {\"data\": repeat(\"activity \", 450)} }'}\n"))
	req := httptest.NewRequest("GET", "/big", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, req)
		if w.Header().Get("Content-Encoding") != "gzip" {
			b.Fatal("not compressed")
		}
	}
}

func TestHTTPTriggerTimeoutAnswers504(t *testing.T) {
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	srv, _ := serve(t, "s.yaml", `
flow: slow
trigger: {http: {path: /slow, timeout: 100ms}}
steps:
  - request: '`+hang.URL+`'
`)
	resp, body := do(t, "POST", srv.URL+"/slow", "")
	if resp.StatusCode != 504 || !strings.Contains(body, "did not finish within 100ms") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

// BenchmarkHTTPActivityFlow runs the example activity flow (parse JSON,
// rename two fields, compute one, respond) through the runtime's handler:
// the hot path of an http-triggered flow without the network.
func BenchmarkHTTPActivityFlow(b *testing.B) {
	set, err := flow.LoadPaths("../../flows/examples")
	if err != nil {
		b.Fatal(err)
	}
	set.Bind(func(string) (string, bool) { return "", false })
	rt := newRuntime(b, runtime.Options{})
	rt.Swap(set)
	body := `{"user":"26FWFL","day":"2026-11-22","steps":15720,"distanceKm":12.32,"note":"morning run"}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/examples/activity", strings.NewReader(body))
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
