package steps_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/steps"
)

// seenRequest is what a test server received.
type reqSeen struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     string
}

// recorder is an httptest server on 127.0.0.1 that keeps every request
// and answers with handle.
type reqServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []reqSeen
}

func newReqServer(t testing.TB, handle http.HandlerFunc) *reqServer {
	t.Helper()
	r := &reqServer{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, reqSeen{req.Method, req.URL.Path, req.URL.RawQuery, req.Header.Clone(), string(body)})
		r.mu.Unlock()
		handle(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *reqServer) requests() []reqSeen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]reqSeen(nil), r.reqs...)
}

func (r *reqServer) last(t *testing.T) reqSeen {
	t.Helper()
	reqs := r.requests()
	if len(reqs) == 0 {
		t.Fatal("the server got no request")
	}
	return reqs[len(reqs)-1]
}

// answer writes a fixed answer.
func reply(status int, contentType, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// sequence answers with the handlers in turn, the last one from then on.
func replies(hs ...http.HandlerFunc) http.HandlerFunc {
	var n atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		hs[min(i, len(hs)-1)](w, r)
	}
}

// flowOf loads a flow with a call trigger: head holds top-level keys
// (env:, secrets:), steps the steps indented by two spaces.
func reqFlow(t testing.TB, head, stepsYAML string, vars map[string]string) *flow.FlowSet {
	t.Helper()
	src := "flow: f\ntrigger: {call: {}}\n" + head + "steps:\n" + strings.TrimLeft(stepsYAML, "\n")
	set, err := flow.Load([]flow.Source{{Name: "f.yaml", Data: []byte(src)}})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if off := set.Bind(func(n string) (string, bool) { v, ok := vars[n]; return v, ok }); len(off) > 0 {
		t.Fatalf("disabled: %v", off)
	}
	return set
}

func runReqFlow(ctx context.Context, set *flow.FlowSet, body, contentType string) (*flow.Exchange, error) {
	if contentType == "" {
		contentType = "application/json"
	}
	x := newExchange("m1", flow.NewMessage([]byte(body), contentType), set, nil)
	return x, set.Run(ctx, "f", x)
}

func wantReqStatus(t *testing.T, err error, status int) *flow.StatusError {
	t.Helper()
	var se *flow.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("want a StatusError %d, got %v", status, err)
	}
	if se.Status != status {
		t.Fatalf("status %d, want %d (%v)", se.Status, status, err)
	}
	return se
}

func TestRequestGetWithQueryAndHeaders(t *testing.T) {
	srv := newReqServer(t, reply(200, "application/json", `{"steps": 1234}`, "X-Reply", "yes"))
	x, err := runSteps(t, fmt.Sprintf(`
  - set: {properties: {day: '2026-11-22', user: 'a b&c'}}
  - request:
      url: '%s/1/user/${property.user}/activities.json?fixed=1'
      query:
        date: '${property.day}'
        scope: '${ ["activity", "profile"] }'
        q: 'x=1&y=2'
      headers:
        accept-language: en_US
        X-Trace: 'id-${property.day}'
  - set: {properties: {code: '${header.CamelHttpResponseCode}'}}`, srv.URL), `{"in": true}`, "")
	noError(t, err)
	got := srv.last(t)
	if got.Method != "GET" || got.Path != "/1/user/a b&c/activities.json" {
		t.Errorf("request %s %s", got.Method, got.Path)
	}
	q := got.RawQuery
	for _, want := range []string{"fixed=1", "date=2026-11-22&", "scope=activity&scope=profile", "q=x%3D1%26y%3D2"} {
		if !strings.Contains(q, want) {
			t.Errorf("query %q lacks %q", q, want)
		}
	}
	if got.Header.Get("Accept-Language") != "en_US" || got.Header.Get("X-Trace") != "id-2026-11-22" {
		t.Errorf("headers %v", got.Header)
	}
	if got.Body != "" || got.Header.Get("Content-Type") != "" {
		t.Errorf("a GET sent a body %q (%s)", got.Body, got.Header.Get("Content-Type"))
	}
	if string(x.Msg.Body()) != `{"steps": 1234}` || x.Msg.ContentType() != "application/json" {
		t.Errorf("body %q %q", x.Msg.Body(), x.Msg.ContentType())
	}
	wantProp(t, x, "code", "200")
	wantProp(t, x, "http_status", 200)
	if h, _ := x.Msg.Property["http_headers"].(map[string]any); h["X-Reply"] != "yes" || h["Content-Type"] != "application/json" {
		t.Errorf("http_headers %v", x.Msg.Property["http_headers"])
	}
}

func TestRequestShorthandIsGet(t *testing.T) {
	srv := newReqServer(t, reply(200, "text/plain", "pong"))
	x, err := runSteps(t, fmt.Sprintf("  - request: '%s/ping'\n", srv.URL), `{"keep": 1}`, "")
	noError(t, err)
	if got := srv.last(t); got.Method != "GET" || got.Path != "/ping" {
		t.Errorf("%s %s", got.Method, got.Path)
	}
	if string(x.Msg.Body()) != "pong" || x.Msg.ContentType() != "text/plain" {
		t.Errorf("body %q %q", x.Msg.Body(), x.Msg.ContentType())
	}
}

func TestRequestBodies(t *testing.T) {
	srv := newReqServer(t, reply(201, "application/json", `{"ok":true}`))
	cases := []struct {
		name, steps, body, ct string
		wantBody, wantCT      string
	}{
		{"structured body is JSON", `
  - request:
      method: POST
      url: '%s/x'
      body: '${ {"id": json.id, "tags": ["a"]} }'`, `{"id": 7}`, "", `{"id":7,"tags":["a"]}`, "application/json"},
		{"JSON text is JSON", `
  - request: {method: PUT, url: '%s/x', body: '{"id": "${json.id}"}'}`, `{"id": 7}`, "", `{"id": "7"}`, "application/json"},
		{"other text is text/plain", `
  - request: {method: POST, url: '%s/x', body: 'id=${json.id}'}`, `{"id": 7}`, "", `id=7`, "text/plain; charset=utf-8"},
		{"content_type overrides", `
  - request: {method: POST, url: '%s/x', body: '<a/>', content_type: application/xml}`, `{}`, "", `<a/>`, "application/xml"},
		{"POST sends the message body", `
  - request: {method: POST, url: '%s/x'}`, `<user id="1"/>`, "application/xml", `<user id="1"/>`, "application/xml"},
		{"PATCH sends the message body", `
  - request: {method: PATCH, url: '%s/x'}`, `{"a":1}`, "", `{"a":1}`, "application/json"},
		{"DELETE sends none", `
  - request: {method: DELETE, url: '%s/x'}`, `{"a":1}`, "", ``, ""},
		{"form", `
  - request:
      method: POST
      url: '%s/oauth2/token'
      form:
        grant_type: authorization_code
        code: '${json.code}'
        redirect_uri: 'https://example.org/cb?a=1'`, `{"code": "c&d"}`, "",
			"grant_type=authorization_code&code=c%26d&redirect_uri=https%3A%2F%2Fexample.org%2Fcb%3Fa%3D1", "application/x-www-form-urlencoded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runSteps(t, fmt.Sprintf(tc.steps, srv.URL), tc.body, tc.ct)
			noError(t, err)
			got := srv.last(t)
			if tc.name == "form" {
				// Field order is url.Values' (sorted); compare as sets.
				if !sameReqForm(got.Body, tc.wantBody) {
					t.Errorf("form %q, want %q", got.Body, tc.wantBody)
				}
			} else if got.Body != tc.wantBody {
				t.Errorf("body %q, want %q", got.Body, tc.wantBody)
			}
			if ct := got.Header.Get("Content-Type"); ct != tc.wantCT {
				t.Errorf("content type %q, want %q", ct, tc.wantCT)
			}
		})
	}
}

func sameReqForm(a, b string) bool {
	pa, pb := strings.Split(a, "&"), strings.Split(b, "&")
	if len(pa) != len(pb) {
		return false
	}
	set := map[string]bool{}
	for _, p := range pa {
		set[p] = true
	}
	for _, p := range pb {
		if !set[p] {
			return false
		}
	}
	return true
}

func TestRequestAuth(t *testing.T) {
	srv := newReqServer(t, reply(200, "text/plain", "ok"))
	set := reqFlow(t, "env: [USER]\nsecrets: [PASSWORD, TOKEN]\n", fmt.Sprintf(`
  - request:
      url: '%[1]s/basic'
      auth: {basic: {user: '${env.USER}', password: '${secret.PASSWORD}'}}
  - request:
      url: '%[1]s/bearer'
      auth: {bearer: '${secret.TOKEN}'}`, srv.URL), map[string]string{"USER": "mkc-user", "PASSWORD": "pa:ss wörd", "TOKEN": "tok-123"})
	_, err := runReqFlow(context.Background(), set, "{}", "")
	noError(t, err)
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("mkc-user:pa:ss wörd"))
	if got := reqs[0].Header.Get("Authorization"); got != want {
		t.Errorf("basic: %q, want %q", got, want)
	}
	if got := reqs[1].Header.Get("Authorization"); got != "Bearer tok-123" {
		t.Errorf("bearer: %q", got)
	}
}

func TestRequestInto(t *testing.T) {
	jsonSrv := newReqServer(t, reply(200, "application/json; charset=utf-8", `{"user": {"encodedId": "ABC", "age": 42}}`))
	textSrv := newReqServer(t, reply(200, "text/html", `<p>hi</p>`))
	x, err := runSteps(t, fmt.Sprintf(`
  - request: {url: '%s/profile.json', into: property.profile}
  - request: {url: '%s/page', into: property.page}
  - set: {properties: {id: '${property.profile.user.encodedId}'}}`, jsonSrv.URL, textSrv.URL), `{"original": true}`, "")
	noError(t, err)
	if string(x.Msg.Body()) != `{"original": true}` || x.Msg.ContentType() != "application/json" {
		t.Errorf("the body changed: %q %q", x.Msg.Body(), x.Msg.ContentType())
	}
	wantProp(t, x, "id", "ABC")
	if p, _ := x.Msg.Property["profile"].(map[string]any); p["user"].(map[string]any)["age"] != int64(42) {
		t.Errorf("profile %#v", x.Msg.Property["profile"])
	}
	wantProp(t, x, "page", "<p>hi</p>")

	bad := newReqServer(t, reply(200, "application/json", `{not json`))
	_, err = runSteps(t, fmt.Sprintf("  - request: {url: '%s/x', into: property.p}\n", bad.URL), "", "")
	if err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("invalid JSON answer: %v", err)
	}
}

func TestRequestAcceptStatus(t *testing.T) {
	srv := newReqServer(t, reply(404, "application/json", `{"errors":[{"errorType":"not_found"}]}`))
	x, err := runSteps(t, fmt.Sprintf(`
  - request: {url: '%s/x', accept_status: [404, 410]}
  - set: {properties: {code: '${header.camelhttpresponsecode}'}}`, srv.URL), "{}", "")
	noError(t, err)
	wantProp(t, x, "http_status", 404)
	wantProp(t, x, "code", "404")
	if !strings.Contains(string(x.Msg.Body()), "not_found") {
		t.Errorf("body %q", x.Msg.Body())
	}
	// The same answer without accept_status fails the step.
	_, err = runSteps(t, fmt.Sprintf("  - request: {url: '%s/x', accept_status: [410]}\n", srv.URL), "{}", "")
	wantReqStatus(t, err, 404)
}

func TestRequestStatusError(t *testing.T) {
	long := `{"errors":[{"errorType":"expired_token","message":"` + strings.Repeat("é", 5000) + `"}]}`
	srv := newReqServer(t, reply(401, "application/json", long))
	x, err := runSteps(t, fmt.Sprintf(`
  - request:
      method: POST
      url: '%s/1/user/-/profile.json?access_token=s3cr3t&x=1'
      headers: {X-Api-Key: hdr-s3cr3t}`, srv.URL), "{}", "")
	se := wantReqStatus(t, err, 401)
	if len(se.Body) > 4096 || !strings.HasPrefix(long, se.Body) || len(se.Body) < 4090 {
		t.Errorf("body is %d bytes, want the first 4 KiB of the answer", len(se.Body))
	}
	wantPrefix := "POST " + srv.URL + "/1/user/-/profile.json answered 401: " + `{"errors":[{"errorType":"expired_token"`
	if !strings.HasPrefix(se.Msg, wantPrefix) {
		t.Errorf("message %q, want prefix %q", se.Msg, wantPrefix)
	}
	if n := len(se.Msg) - len("POST "+srv.URL+"/1/user/-/profile.json answered 401: "); n > 200 {
		t.Errorf("the message carries %d bytes of the body, want at most 200", n)
	}
	for _, secret := range []string{"s3cr3t", "access_token", "?", "hdr-"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error shows %q: %v", secret, err)
		}
	}
	if !strings.Contains(err.Error(), "f / request (f.yaml:") {
		t.Errorf("the engine's wrapping is missing: %v", err)
	}
	// The answer is recorded even when it fails the step.
	wantProp(t, x, "http_status", 401)
	if x.Msg.Header["Camelhttpresponsecode"] != "401" {
		t.Errorf("headers %v", x.Msg.Header)
	}
}

func TestRequestStatusReachesOnError(t *testing.T) {
	srv := newReqServer(t, reply(403, "text/plain", "forbidden: scope"))
	set := reqFlow(t, "", fmt.Sprintf(`
  - request: '%s/x'
on_error:
  - set: {properties: {status: '${error.status}', body: '${error.body}'}}
  - complete`, srv.URL), nil)
	x, err := runReqFlow(context.Background(), set, "", "")
	noError(t, err)
	wantProp(t, x, "status", 403)
	wantProp(t, x, "body", "forbidden: scope")
}

func TestRequestSecretsNeverInErrors(t *testing.T) {
	const token = "tok-VERY-s3cret"
	// The server echoes what it got, as some APIs do in their errors.
	srv := newReqServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		fmt.Fprintf(w, "bad request %s with %s", r.URL.String(), r.Header.Get("Authorization"))
	})
	set := reqFlow(t, "secrets: [TOKEN]\n", fmt.Sprintf(`
  - request:
      url: '%s/v1/${secret.TOKEN}/x'
      query: {key: '${secret.TOKEN}'}
      auth: {bearer: '${secret.TOKEN}'}`, srv.URL), map[string]string{"TOKEN": token})
	_, err := runReqFlow(context.Background(), set, "", "")
	se := wantReqStatus(t, err, 400)
	if got := srv.last(t); got.Header.Get("Authorization") != "Bearer "+token || !strings.Contains(got.RawQuery, token) {
		t.Fatalf("the secret was not sent: %+v", got)
	}
	for what, text := range map[string]string{"error": err.Error(), "message": se.Msg, "body": se.Body} {
		if strings.Contains(text, token) {
			t.Errorf("the %s shows the secret: %s", what, text)
		}
		if !strings.Contains(text, "***") {
			t.Errorf("the %s is not masked: %s", what, text)
		}
	}

	// A connection error never shows the URL's query either.
	dead := deadReqURL(t)
	set = reqFlow(t, "secrets: [TOKEN]\n", fmt.Sprintf("  - request: '%s/x?key=${secret.TOKEN}&plain=visible'\n", dead), map[string]string{"TOKEN": token})
	_, err = runReqFlow(context.Background(), set, "", "")
	if err == nil || strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "plain=visible") || !strings.Contains(err.Error(), "GET "+dead+"/x:") {
		t.Errorf("connection error: %v", err)
	}
}

// deadURL returns the URL of a port on 127.0.0.1 nothing listens on.
func deadReqURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestRequestMaxResponse(t *testing.T) {
	big := strings.Repeat("x", 2048)
	withLength := newReqServer(t, reply(200, "text/plain", big))
	chunked := newReqServer(t, func(w http.ResponseWriter, _ *http.Request) {
		for range 4 {
			_, _ = io.WriteString(w, big[:512])
			w.(http.Flusher).Flush() // no Content-Length: chunked
		}
	})
	for _, srv := range []*reqServer{withLength, chunked} {
		x, err := runSteps(t, fmt.Sprintf("  - request: {url: '%s/big', max_response: 1KiB}\n", srv.URL), "keep", "text/plain")
		if err == nil || !strings.Contains(err.Error(), "larger than max_response (1KiB)") {
			t.Errorf("got %v", err)
		}
		if string(x.Msg.Body()) != "keep" {
			t.Errorf("the body changed: %q", x.Msg.Body())
		}
	}
	// Exactly the limit is fine.
	_, err := runSteps(t, fmt.Sprintf("  - request: {url: '%s/big', max_response: 2KiB}\n", withLength.URL), "", "")
	noError(t, err)
}

func TestRequestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := newReqServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	start := time.Now()
	_, err := runSteps(t, fmt.Sprintf("  - request: {url: '%s/slow?k=v', timeout: 50ms}\n", srv.URL), "", "")
	if err == nil || !strings.Contains(err.Error(), "GET "+srv.URL+"/slow: no answer within 50ms") {
		t.Errorf("got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestRequestRetries(t *testing.T) {
	unavailable := reply(503, "text/plain", "busy")
	ok := reply(200, "application/json", `{"ok":true}`)

	t.Run("503 then success", func(t *testing.T) {
		waits := steps.RecordRequestWaits(t)
		srv := newReqServer(t, replies(unavailable, unavailable, ok))
		x, err := runSteps(t, fmt.Sprintf("  - request: {url: '%s/x', retry: {max_attempts: 3, backoff: 100ms}}\n", srv.URL), "", "")
		noError(t, err)
		if n := len(srv.requests()); n != 3 {
			t.Errorf("%d attempts, want 3", n)
		}
		// Jitter is fixed at its ceiling: the ceiling doubles.
		if got := waits.Waits(); !reflect.DeepEqual(got, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}) {
			t.Errorf("waits %v", got)
		}
		wantProp(t, x, "http_status", 200)
	})
	t.Run("back-off is capped", func(t *testing.T) {
		waits := steps.RecordRequestWaits(t)
		srv := newReqServer(t, unavailable)
		_, err := runSteps(t, fmt.Sprintf("  - request: {url: '%s/x', retry: {max_attempts: 5, backoff: 1s, max_backoff: 3s}}\n", srv.URL), "", "")
		se := wantReqStatus(t, err, 503)
		if !strings.Contains(se.Msg, "gave up after 5 attempts") {
			t.Errorf("message %q", se.Msg)
		}
		if got := waits.Waits(); !reflect.DeepEqual(got, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}) {
			t.Errorf("waits %v", got)
		}
	})
	t.Run("no retry by default", func(t *testing.T) {
		waits := steps.RecordRequestWaits(t)
		srv := newReqServer(t, unavailable)
		_, err := runSteps(t, fmt.Sprintf("  - request: '%s/x'\n", srv.URL), "", "")
		wantReqStatus(t, err, 503)
		if n := len(srv.requests()); n != 1 || len(waits.Waits()) != 0 {
			t.Errorf("%d attempts, waits %v", n, waits.Waits())
		}
	})
	t.Run("no retry on 400", func(t *testing.T) {
		waits := steps.RecordRequestWaits(t)
		srv := newReqServer(t, replies(reply(400, "", "bad"), ok))
		_, err := runSteps(t, fmt.Sprintf("  - request: {url: '%s/x', retry: {max_attempts: 3}}\n", srv.URL), "", "")
		wantReqStatus(t, err, 400)
		if n := len(srv.requests()); n != 1 || len(waits.Waits()) != 0 {
			t.Errorf("%d attempts, waits %v", n, waits.Waits())
		}
	})
	t.Run("POST is not retried by default", func(t *testing.T) {
		steps.RecordRequestWaits(t)
		srv := newReqServer(t, replies(unavailable, ok))
		_, err := runSteps(t, fmt.Sprintf("  - request: {method: POST, url: '%s/x', retry: {max_attempts: 3}}\n", srv.URL), "{}", "")
		wantReqStatus(t, err, 503)
		if n := len(srv.requests()); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
	t.Run("POST is retried with non_idempotent", func(t *testing.T) {
		steps.RecordRequestWaits(t)
		srv := newReqServer(t, replies(unavailable, ok))
		_, err := runSteps(t, fmt.Sprintf("  - request: {method: POST, url: '%s/x', retry: {max_attempts: 3, non_idempotent: true}}\n", srv.URL), `{"a":1}`, "")
		noError(t, err)
		reqs := srv.requests()
		if len(reqs) != 2 || reqs[1].Body != `{"a":1}` {
			t.Errorf("attempts %+v", reqs)
		}
	})
	t.Run("PUT is retried", func(t *testing.T) {
		steps.RecordRequestWaits(t)
		srv := newReqServer(t, replies(unavailable, ok))
		_, err := runSteps(t, fmt.Sprintf("  - request: {method: PUT, url: '%s/x', retry: {max_attempts: 2}}\n", srv.URL), `{"a":1}`, "")
		noError(t, err)
		if reqs := srv.requests(); len(reqs) != 2 || reqs[1].Body != `{"a":1}` {
			t.Errorf("attempts %+v", reqs)
		}
	})
	t.Run("connection refused is retried", func(t *testing.T) {
		waits := steps.RecordRequestWaits(t)
		_, err := runSteps(t, fmt.Sprintf("  - request: {url: '%s/x', retry: {max_attempts: 3, backoff: 10ms}}\n", deadReqURL(t)), "", "")
		if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "gave up after 3 attempts") {
			t.Errorf("got %v", err)
		}
		if n := len(waits.Waits()); n != 2 {
			t.Errorf("%d waits, want 2", n)
		}
	})
	t.Run("accepted 503 is an answer", func(t *testing.T) {
		steps.RecordRequestWaits(t)
		srv := newReqServer(t, replies(unavailable, ok))
		_, err := runSteps(t, fmt.Sprintf("  - request: {url: '%s/x', accept_status: [503], retry: {max_attempts: 3}}\n", srv.URL), "", "")
		noError(t, err)
		if n := len(srv.requests()); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
}

func TestRequestServerHints(t *testing.T) {
	ok := reply(200, "application/json", `{}`)
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name, retry string
		first       http.HandlerFunc
		want        time.Duration
	}{
		{"429 Retry-After seconds", "{max_attempts: 2, backoff: 10ms}",
			reply(429, "", "", "Retry-After", "1"), time.Second},
		{"503 Retry-After HTTP date", "{max_attempts: 2, backoff: 10ms}",
			reply(503, "", "", "Retry-After", now.Add(5*time.Second).Format(http.TimeFormat)), 5 * time.Second},
		{"fitbit-rate-limit-reset", "{max_attempts: 2, backoff: 10ms}",
			reply(429, "application/json", `{"errors":[]}`, "Fitbit-Rate-Limit-Limit", "150", "Fitbit-Rate-Limit-Remaining", "0", "Fitbit-Rate-Limit-Reset", "7"), 7 * time.Second},
		{"x-ratelimit-reset as a Unix time", "{max_attempts: 2, backoff: 10ms}",
			reply(429, "", "", "X-RateLimit-Reset", strconv.FormatInt(now.Add(12*time.Second).Unix(), 10)), 12 * time.Second},
		{"a hint is capped at max_backoff", "{max_attempts: 2, backoff: 10ms, max_backoff: 20s}",
			reply(429, "", "", "Fitbit-Rate-Limit-Reset", "3600"), 20 * time.Second},
		{"custom reset header", "{max_attempts: 2, backoff: 10ms, reset_headers: [X-Quota-Reset]}",
			reply(429, "", "", "X-Quota-Reset", "4", "Fitbit-Rate-Limit-Reset", "9"), 4 * time.Second},
		{"reset headers count on 429 only", "{max_attempts: 2, backoff: 10ms}",
			reply(503, "", "", "Fitbit-Rate-Limit-Reset", "9"), 10 * time.Millisecond},
		{"no reset headers", "{max_attempts: 2, backoff: 10ms, reset_headers: []}",
			reply(429, "", "", "Fitbit-Rate-Limit-Reset", "9"), 10 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			waits := steps.RecordRequestWaits(t)
			steps.SetRequestClock(t, now)
			srv := newReqServer(t, replies(tc.first, ok))
			_, err := runSteps(t, fmt.Sprintf("  - request: {url: '%s/x', retry: %s}\n", srv.URL, tc.retry), "", "")
			noError(t, err)
			got := waits.Waits()
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("waits %v, want [%v]", got, tc.want)
			}
			if len(got) == 1 && got[0] < tc.want {
				t.Errorf("waited %v, less than the hint %v", got[0], tc.want)
			}
		})
	}
}

func TestRequestGivesUpBeforeTheDeadline(t *testing.T) {
	for _, tc := range []struct {
		name, retry string
		handle      http.HandlerFunc
	}{
		{"hint", "{max_attempts: 5, max_backoff: 1m}", reply(429, "", "slow down", "Retry-After", "10")},
		{"back-off", "{max_attempts: 5, backoff: 10s}", reply(503, "", "down")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			waits := steps.RecordRequestWaits(t)
			srv := newReqServer(t, tc.handle)
			set := reqFlow(t, "", fmt.Sprintf("  - request: {url: '%s/x', retry: %s}\n", srv.URL, tc.retry), nil)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			start := time.Now()
			_, err := runReqFlow(ctx, set, "", "")
			if err == nil || !strings.Contains(err.Error(), "would pass the message's deadline") {
				t.Errorf("got %v", err)
			}
			if n := len(srv.requests()); n != 1 || len(waits.Waits()) != 0 {
				t.Errorf("%d attempts, waits %v", n, waits.Waits())
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("gave up after %v, want at once", d)
			}
		})
	}
}

func TestRequestSleepHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	if err := steps.SleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("slept %v", d)
	}
	if err := steps.SleepCtx(context.Background(), time.Millisecond); err != nil {
		t.Errorf("got %v", err)
	}
}

// fakeSAP imitates an SAP OData service's CSRF protection: a token is
// bound to the session cookie and the user it was fetched with.
type fakeSAP struct {
	*httptest.Server
	mu        sync.Mutex
	fetches   int
	posts     int                   // accepted modifying requests
	refused   int                   // 403 Required answers
	sessions  map[string]sapSession // session id → token and user
	fetchWait time.Duration
	alwaysNo  bool
}

type sapSession struct{ token, user string }

func newFakeSAP(t testing.TB) *fakeSAP {
	t.Helper()
	steps.ResetCSRFCache()
	f := &fakeSAP{sessions: map[string]sapSession{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSAP) serve(w http.ResponseWriter, r *http.Request) {
	user, _, ok := r.BasicAuth()
	if !ok {
		w.WriteHeader(401)
		return
	}
	if r.Method == http.MethodGet {
		if r.Header.Get("X-CSRF-Token") != "Fetch" {
			w.WriteHeader(200)
			return
		}
		time.Sleep(f.fetchWait) // widens the window of a stampede
		f.mu.Lock()
		f.fetches++
		id := fmt.Sprintf("s%d", f.fetches)
		tok := fmt.Sprintf("tok%d-%s", f.fetches, user)
		f.sessions[id] = sapSession{tok, user}
		f.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "SAP_SESSIONID_X", Value: id, Path: "/", HttpOnly: true})
		http.SetCookie(w, &http.Cookie{Name: "sap-usercontext", Value: "sap-client=100", Path: "/"})
		w.Header().Set("X-CSRF-Token", tok)
		w.WriteHeader(200)
		return
	}
	c, err := r.Cookie("SAP_SESSIONID_X")
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil || f.alwaysNo || f.sessions[c.Value].token == "" || f.sessions[c.Value].token != r.Header.Get("X-CSRF-Token") || f.sessions[c.Value].user != user {
		f.refused++
		w.Header().Set("X-CSRF-Token", "Required")
		w.WriteHeader(403)
		_, _ = io.WriteString(w, "CSRF token validation failed")
		return
	}
	if _, err := r.Cookie("sap-usercontext"); err != nil {
		w.WriteHeader(400)
		return
	}
	f.posts++
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(201)
	_, _ = io.WriteString(w, `{"d":{"Id":"1"}}`)
}

func (f *fakeSAP) counts() (fetches, posts, refused int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fetches, f.posts, f.refused
}

// expire ends every session, as SAP does after its timeout.
func (f *fakeSAP) expire() {
	f.mu.Lock()
	clear(f.sessions)
	f.mu.Unlock()
}

func sapFlow(t testing.TB, f *fakeSAP, user string) *flow.FlowSet {
	return reqFlow(t, "secrets: [MKC_PASSWORD]\n", fmt.Sprintf(`
  - request:
      method: POST
      url: '%s/sap/opu/odata/sap/CUAN_IMPORT_SRV/ImportHeaders'
      auth: {basic: {user: '%s', password: '${secret.MKC_PASSWORD}'}}
      csrf: {url: '%s/sap/opu/odata/sap/CUAN_IMPORT_SRV/'}`, f.URL, user, f.URL), map[string]string{"MKC_PASSWORD": "pw"})
}

func TestRequestCSRF(t *testing.T) {
	t.Run("fetched once for many messages", func(t *testing.T) {
		f := newFakeSAP(t)
		set := sapFlow(t, f, "mkc")
		for i := range 5 {
			x, err := runReqFlow(context.Background(), set, `{"Id":""}`, "")
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			wantProp(t, x, "http_status", 201)
		}
		if fetches, posts, refused := f.counts(); fetches != 1 || posts != 5 || refused != 0 {
			t.Errorf("fetches %d posts %d refused %d, want 1 5 0", fetches, posts, refused)
		}
	})
	t.Run("shared across flows", func(t *testing.T) {
		f := newFakeSAP(t)
		for range 2 {
			_, err := runReqFlow(context.Background(), sapFlow(t, f, "mkc"), `{}`, "")
			noError(t, err)
		}
		if fetches, _, _ := f.counts(); fetches != 1 {
			t.Errorf("fetches %d, want 1", fetches)
		}
	})
	t.Run("default token URL is the request URL", func(t *testing.T) {
		srv := newReqServer(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Method == "GET" {
				w.Header().Set("X-CSRF-Token", "t1")
				return
			}
			if r.Header.Get("X-CSRF-Token") != "t1" {
				w.WriteHeader(403)
			}
		})
		steps.ResetCSRFCache()
		_, err := runSteps(t, fmt.Sprintf("  - request: {method: DELETE, url: '%s/Items(1)', csrf: true}\n", srv.URL), "", "")
		noError(t, err)
		reqs := srv.requests()
		if len(reqs) != 2 || reqs[0].Method != "GET" || reqs[0].Path != "/Items(1)" || reqs[0].Header.Get("X-Csrf-Token") != "Fetch" {
			t.Errorf("requests %+v", reqs)
		}
	})
	t.Run("expired token is fetched again once", func(t *testing.T) {
		f := newFakeSAP(t)
		set := sapFlow(t, f, "mkc")
		_, err := runReqFlow(context.Background(), set, `{}`, "")
		noError(t, err)
		f.expire()
		_, err = runReqFlow(context.Background(), set, `{}`, "")
		noError(t, err)
		if fetches, posts, refused := f.counts(); fetches != 2 || posts != 2 || refused != 1 {
			t.Errorf("fetches %d posts %d refused %d, want 2 2 1", fetches, posts, refused)
		}
	})
	t.Run("a second 403 fails", func(t *testing.T) {
		f := newFakeSAP(t)
		f.alwaysNo = true
		_, err := runReqFlow(context.Background(), sapFlow(t, f, "mkc"), `{}`, "")
		se := wantReqStatus(t, err, 403)
		if !strings.Contains(se.Msg, "answered 403: CSRF token validation failed") {
			t.Errorf("message %q", se.Msg)
		}
		if fetches, _, refused := f.counts(); fetches != 2 || refused != 2 {
			t.Errorf("fetches %d refused %d, want 2 2", fetches, refused)
		}
	})
	t.Run("concurrent messages fetch once", func(t *testing.T) {
		f := newFakeSAP(t)
		f.fetchWait = 50 * time.Millisecond
		set := sapFlow(t, f, "mkc")
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Go(func() {
				_, err := runReqFlow(context.Background(), set, `{}`, "")
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			noError(t, err)
		}
		if fetches, posts, _ := f.counts(); fetches != 1 || posts != 20 {
			t.Errorf("fetches %d posts %d, want 1 20", fetches, posts)
		}
	})
	t.Run("different credentials get their own token", func(t *testing.T) {
		f := newFakeSAP(t)
		set := reqFlow(t, "", fmt.Sprintf(`
  - request:
      method: POST
      url: '%s/sap/opu/odata/sap/CUAN_IMPORT_SRV/ImportHeaders'
      auth: {basic: {user: '${json.user}', password: pw}}
      csrf: true`, f.URL), nil)
		for _, user := range []string{"alice", "bob", "alice", "bob"} {
			_, err := runReqFlow(context.Background(), set, `{"user":"`+user+`"}`, "")
			if err != nil {
				t.Fatalf("%s: %v", user, err)
			}
		}
		if fetches, posts, refused := f.counts(); fetches != 2 || posts != 4 || refused != 0 {
			t.Errorf("fetches %d posts %d refused %d, want 2 4 0", fetches, posts, refused)
		}
	})
	t.Run("a failed fetch fails with its status", func(t *testing.T) {
		srv := newReqServer(t, reply(401, "text/plain", "no such user"))
		steps.ResetCSRFCache()
		_, err := runSteps(t, fmt.Sprintf("  - request: {method: POST, url: '%s/x?sap-client=100', csrf: true}\n", srv.URL), "{}", "")
		se := wantReqStatus(t, err, 401)
		if se.Msg != "CSRF token fetch GET "+srv.URL+"/x answered 401: no such user" {
			t.Errorf("message %q", se.Msg)
		}
		if n := len(srv.requests()); n != 1 {
			t.Errorf("%d requests, want only the fetch", n)
		}
	})
	t.Run("a fetch without a token fails", func(t *testing.T) {
		srv := newReqServer(t, reply(200, "text/plain", "hello"))
		steps.ResetCSRFCache()
		_, err := runSteps(t, fmt.Sprintf("  - request: {method: POST, url: '%s/x', csrf: true}\n", srv.URL), "{}", "")
		if err == nil || !strings.Contains(err.Error(), "without an X-CSRF-Token header") {
			t.Errorf("got %v", err)
		}
	})
}

func TestRequestReusesConnections(t *testing.T) {
	var conns atomic.Int32
	answers := replies(
		reply(200, "application/json", strings.Repeat(`{"a":1}`, 1000)),
		reply(500, "text/plain", strings.Repeat("e", 10000)),
		reply(200, "", ""),
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" { // over max_response: never read, only drained
			reply(200, "text/plain", strings.Repeat("b", 8000))(w, r)
			return
		}
		answers(w, r)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	set := reqFlow(t, "", fmt.Sprintf("  - request: {url: '%s/x', accept_status: [500]}\n", srv.URL), nil)
	big := reqFlow(t, "", fmt.Sprintf("  - request: {url: '%s/big', max_response: 1KiB}\n", srv.URL), nil)
	for range 5 {
		_, err := runReqFlow(context.Background(), set, "", "")
		noError(t, err)
		if _, err := runReqFlow(context.Background(), big, "", ""); err == nil {
			t.Fatal("an answer over max_response passed")
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 10 sequential requests, want 1", n)
	}
}

func TestRequestTransport(t *testing.T) {
	tr := steps.RequestTransport()
	if tr.Proxy != nil {
		t.Error("the transport reads a proxy; outbound requests must go where the flow says")
	}
	if tr.MaxIdleConnsPerHost < 64 || tr.IdleConnTimeout != 90*time.Second {
		t.Errorf("MaxIdleConnsPerHost %d, IdleConnTimeout %v", tr.MaxIdleConnsPerHost, tr.IdleConnTimeout)
	}
}

func TestRequestLoadErrors(t *testing.T) {
	for _, tc := range []struct{ steps, want string }{
		{"  - request: 'ftp://example.org/x'\n", `not an http:// or https:// URL (scheme "ftp")`},
		{"  - request: '/relative'\n", `not an http:// or https:// URL`},
		{"  - request: 'http:///nohost'\n", "the URL has no host"},
		{"  - request: 42\n", "url 42 is not an http"},
		{"  - request: {method: POST, url: 'http://h/x', body: a, form: {b: c}}\n", "give body or form, not both"},
		{"  - request: {url: 'http://h/x', body: a}\n", "a GET request sends no body"},
		{"  - request: {method: HEAD, url: 'http://h/x', form: {a: b}}\n", "a HEAD request sends no body"},
		{"  - request: {method: FETCH, url: 'http://h/x'}\n", `"FETCH" is not one of GET, POST`},
		{"  - request: {url: 'http://h/x', auth: {}}\n", "auth takes exactly one of"},
		{"  - request: {url: 'http://h/x', auth: {bearer: t, basic: {user: u, password: p}}}\n", "auth takes exactly one of"},
		{"  - request: {url: 'http://h/x', auth: {basic: {user: u}}}\n", `missing required key "password"`},
		{"  - request: {url: 'http://h/x', auth: {bearer: t}, headers: {authorization: x}}\n", "give auth or an Authorization header, not both"},
		{"  - request: {url: 'http://h/x', into: header.x}\n", `into: write body or property.NAME, not "header.x"`},
		{"  - request: {url: 'http://h/x', into: 'property.'}\n", `into: write body or property.NAME`},
		{"  - request: {url: 'http://h/x', accept_status: [404, 700]}\n", "accept_status: 700 is not an HTTP status"},
		{"  - request: {url: 'http://h/x', retry: {max_attempts: 0}}\n", "max_attempts must be at least 1"},
		{"  - request: {url: 'http://h/x', retry: {backoff: 10s, max_backoff: 1s}}\n", "max_backoff (1s) is shorter than backoff (10s)"},
		{"  - request: {url: 'http://h/x', retry: {max_attemps: 2}}\n", `unknown key "max_attemps"`},
		{"  - request: {url: 'http://h/x', timeout: 0s}\n", "timeout must be more than 0"},
		{"  - request: {url: 'http://h/x', max_response: lots}\n", "not a size"},
		{"  - request: {url: 'http://h/x', csrf: true}\n", "csrf is for modifying requests (POST, PUT, PATCH, DELETE), not GET"},
		{"  - request: {method: POST, url: 'http://h/x', csrf: yes please}\n", "csrf: write true, or {url: ...}"},
		{"  - request: {method: POST, url: 'http://h/x', csrf: {uri: 'http://h/'}}\n", `csrf: unknown key "uri"`},
		{"  - request: {method: POST, url: 'http://h/x', csrf: {url: 'h/'}}\n", "csrf url: not an http:// or https:// URL"},
		{"  - request: {method: POST, url: 'http://h/x', csrf: {url: '${property.x +}'}}\n", "in ${property.x +}"},
		{"  - request: {url: 'http://h/${secret.NOPE}'}\n", "NOPE"},
	} {
		if e := loadError(tc.steps); !strings.Contains(e, tc.want) {
			t.Errorf("%s: got %q, want %q", strings.TrimSpace(tc.steps), e, tc.want)
		}
	}
	// Positions point at the offending key.
	if e := loadError("  - request:\n      url: 'http://h/x'\n      into: nowhere\n"); !strings.Contains(e, "f.yaml:6:7:") {
		t.Errorf("position: %q", e)
	}
	// Valid forms load.
	for _, ok := range []string{
		"  - request: 'https://h/x'\n",
		"  - request: {url: '${property.base}/x'}\n",
		"  - request: {method: POST, url: 'http://h/x', csrf: false}\n",
		"  - request: {method: POST, url: 'http://h/x', csrf: {}}\n",
		"  - request: {method: PATCH, url: 'http://h/x', csrf: {url: '${property.base}/'}, retry: {max_attempts: 3, non_idempotent: true, reset_headers: [X-Reset]}}\n",
	} {
		if e := loadError(ok); e != "" {
			t.Errorf("%s: %s", strings.TrimSpace(ok), e)
		}
	}
}

func TestRequestRunTimeURLErrors(t *testing.T) {
	_, err := runSteps(t, "  - request: '${json.url}'\n", `{"url": "file:///etc/passwd?x=1"}`, "")
	if err == nil || !strings.Contains(err.Error(), `url: not an http:// or https:// URL (scheme "file")`) || strings.Contains(err.Error(), "passwd") {
		t.Errorf("got %v", err)
	}
}

func TestRequestExampleLoads(t *testing.T) {
	var example string
	for _, k := range flow.StepKinds() {
		if k.Name == "request" {
			example = k.Example
		}
	}
	if example == "" {
		t.Fatal("request is not registered")
	}
	src := "flow: f\ntrigger: {call: {}}\nenv: [FITBIT_API_URL, MKC_URL, MKC_USER]\nsecrets: [MKC_PASSWORD]\nsteps:\n" + indentReq(example, "  ")
	if _, err := flow.Load([]flow.Source{{Name: "f.yaml", Data: []byte(src)}}); err != nil {
		t.Errorf("the example does not load: %v\n%s", err, src)
	}
}

func indentReq(s, by string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = by + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// A JSON answer decodes like the message's JSON view (integers exact).
func TestRequestPropertyMatchesJSONView(t *testing.T) {
	body := `{"n": 3, "list": [1, "a", null]}`
	srv := newReqServer(t, reply(200, "application/vnd.api+json", body))
	x, err := runSteps(t, fmt.Sprintf("  - request: {url: '%s/x', into: property.v}\n", srv.URL), "", "")
	noError(t, err)
	want, _ := flow.NewMessage([]byte(body), "application/json").JSON()
	if !reflect.DeepEqual(x.Msg.Property["v"], want) {
		t.Errorf("%#v", x.Msg.Property["v"])
	}
}

func BenchmarkRequestStep(b *testing.B) {
	payload := `{"activities":[],"summary":{"steps":1234,"caloriesOut":2100}}`
	srv := httptest.NewServer(reply(200, "application/json", payload))
	defer srv.Close()
	set := reqFlow(b, "", fmt.Sprintf(`
  - request:
      url: '%s/1/user/-/activities/date/2026-11-22.json'
      auth: {bearer: abc}
      into: property.activities`, srv.URL), nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		x := newExchange("m", flow.NewMessage(nil, ""), set, nil)
		if err := set.Run(ctx, "f", x); err != nil {
			b.Fatal(err)
		}
	}
}

// Message content never becomes URL syntax: a value in the path is one
// segment, a value in the query one value; only the base at the start and
// raw_url() are taken as written.
func TestRequestURLValuesAreEscaped(t *testing.T) {
	var mu sync.Mutex
	var seen []string // escaped path ? raw query
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.EscapedPath()+"?"+r.URL.RawQuery)
		mu.Unlock()
		_, _ = io.WriteString(w, "{}")
	}))
	defer srv.Close()
	for _, tc := range []struct{ name, url, body, want string }{
		{"path traversal stays one segment", "${env.API}/1/user/${json.user}/date/${json.date}.json",
			`{"user":"ADA1","date":"2026-07-01/../../../profile"}`, "/1/user/ADA1/date/2026-07-01%2F..%2F..%2F..%2Fprofile.json?"},
		{"a query value cannot add parameters", "${env.API}/search?q=${json.q}&limit=5",
			`{"q":"run & walk&admin=true#x"}`, "/search?q=run%20%26%20walk%26admin%3Dtrue%23x&limit=5"},
		{"a literal base escapes every value", env0 + "/u/${json.user}",
			`{"user":"a?b"}`, "/u/a%3Fb?"},
		{"numbers and plain ids are unchanged", "${env.API}/1/user/${json.user}/${json.n}",
			`{"user":"26FWFL","n":7}`, "/1/user/26FWFL/7?"},
		{"raw_url inserts URL syntax on purpose", "${env.API}/${raw_url(json.path)}",
			`{"path":"v4/users/me"}`, "/v4/users/me?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			u := strings.ReplaceAll(tc.url, env0, srv.URL)
			set := reqFlow(t, "env: [API]\n", "  - request: {url: '"+u+"'}\n", map[string]string{"API": srv.URL})
			_, err := runReqFlow(context.Background(), set, tc.body, "")
			noError(t, err)
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 1 || seen[0] != tc.want {
				t.Errorf("the server saw %q, want %q", seen, tc.want)
			}
		})
	}
}

// env0 stands for the test server's URL written literally in a template.
const env0 = "BASE"
