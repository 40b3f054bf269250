package steps_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/runtime"
	"github.com/stride-engine/stride/engine/store"
)

// provider is an OAuth2 provider on 127.0.0.1: an authorization-code
// grant with PKCE, refresh tokens that rotate (a spent one is refused and
// counted), a revocation endpoint and an API that takes only the newest
// access token.
type provider struct {
	srv *httptest.Server

	mu         sync.Mutex
	challenge  string          // the consent's code_challenge
	n          int             // tokens issued
	access     string          // the one access token the API takes
	refresh    map[string]bool // refresh token → spent
	refreshes  int             // refresh requests that issued tokens
	reused     int             // refresh requests with a spent token
	revoked    []string
	scope      string
	expiresIn  int
	dropAnswer int // refresh requests whose connection is cut before the answer
	// hold makes API calls with a stale token wait until this many have
	// arrived, so that concurrent 401s overlap for sure.
	hold    int
	waiting int
	release chan struct{}
}

func newProvider(t *testing.T) *provider {
	p := &provider{refresh: map[string]bool{}, scope: "read profile", expiresIn: 3600, release: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("POST /revoke", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.revoked = append(p.revoked, r.FormValue("token"))
		p.mu.Unlock()
	})
	mux.HandleFunc("GET /api/data", p.api)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) issueLocked(w http.ResponseWriter) {
	p.n++
	p.access = fmt.Sprintf("a%d", p.n)
	rt := fmt.Sprintf("r%d", p.n)
	p.refresh[rt] = false
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": p.access, "refresh_token": rt, "expires_in": p.expiresIn, "scope": p.scope, "user_id": "U1", "token_type": "Bearer"})
}

func (p *provider) token(w http.ResponseWriter, r *http.Request) {
	if id, secret, ok := r.BasicAuth(); !ok || id != "cid" || secret != "s3cret-value" {
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch r.FormValue("grant_type") {
	case "authorization_code":
		sum := sha256.Sum256([]byte(r.FormValue("code_verifier")))
		if r.FormValue("code") != "code-1" || base64.RawURLEncoding.EncodeToString(sum[:]) != p.challenge || r.FormValue("redirect_uri") != "https://stride.test/prov/callback" {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		p.issueLocked(w)
	case "refresh_token":
		rt := r.FormValue("refresh_token")
		spent, known := p.refresh[rt]
		switch {
		case !known:
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		case spent:
			p.reused++
			http.Error(w, `{"error":"invalid_grant","error_description":"refresh token reused"}`, http.StatusBadRequest)
		default:
			p.refresh[rt] = true
			p.refreshes++
			if p.dropAnswer > 0 {
				p.dropAnswer--
				conn, _, _ := w.(http.Hijacker).Hijack()
				conn.Close()
				return
			}
			p.issueLocked(w)
		}
	default:
		http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
	}
}

func (p *provider) api(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	ok := r.Header.Get("Authorization") == "Bearer "+p.access
	if !ok && p.hold > 0 {
		p.waiting++
		if p.waiting == p.hold {
			close(p.release)
		}
		p.mu.Unlock()
		<-p.release
	} else {
		p.mu.Unlock()
	}
	if !ok {
		http.Error(w, `{"error":"invalid_token"}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"steps":15720}`)
}

const connectionFlow = `flow: prov
env: {PROV_URL: }
secrets: [PROV_SECRET]
trigger:
  connection:
    title: Prov
    connect: /prov/connect
    callback: /prov/callback
    authorize_url: '${env.PROV_URL}/authorize'
    token_url: '${env.PROV_URL}/token'
    revoke_url: '${env.PROV_URL}/revoke'
    client_id: cid
    client_secret: '${secret.PROV_SECRET}'
    redirect_uri: https://stride.test/prov/callback
    scopes: read profile
    require: [read]
    store: prov-users
    refresh: {rotates: true, grace: GRACE}
steps:
  - set: {properties: {hooked: '${property.user_id} ${property.scope}'}}
`

const readerFlow = `flow: reader
env: {PROV_URL: }
trigger: {call: {}}
steps:
  - request: {url: '${env.PROV_URL}/api/data', connection: prov, user: '${property.user}', into: property.data}
`

// connectionRuntime runs the two flows against p with a real badger
// store (sealed with a data key) at the clock now.
func connectionRuntime(t *testing.T, p *provider, grace string, now func() time.Time) (*runtime.Runtime, *store.DB) {
	t.Helper()
	db := openConnectionStore(t)
	return connectionRuntimeOn(t, p, grace, now, db, ""), db
}

func openConnectionStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{GCInterval: -1, Key: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() }) // after the runtimes' cleanups
	return db
}

// connectionRuntimeOn runs the flows on db as the named instance of
// several sharing it ("" for a store of one process).
func connectionRuntimeOn(t *testing.T, p *provider, grace string, now func() time.Time, db *store.DB, instance string) *runtime.Runtime {
	t.Helper()
	set, err := flow.Load([]flow.Source{
		{Name: "prov.yaml", Data: []byte(strings.Replace(connectionFlow, "GRACE", grace, 1))},
		{Name: "reader.yaml", Data: []byte(readerFlow)},
	})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	vars := map[string]string{"PROV_URL": p.srv.URL, "PROV_SECRET": "s3cret-value"}
	if disabled := set.Bind(func(n string) (string, bool) { v, ok := vars[n]; return v, ok }); len(disabled) > 0 {
		t.Fatalf("disabled: %v", disabled)
	}
	var logs strings.Builder
	var logMu sync.Mutex
	rt := runtime.New(runtime.Options{
		Log:      slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil)),
		Services: &flow.Services{KV: db.KV(), Queues: db.Queues(), Log: db.Log(), Instance: instance},
		Now:      now,
	})
	rt.Swap(set)
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Stop(ctx)
		logMu.Lock()
		defer logMu.Unlock()
		if strings.Contains(logs.String(), "s3cret-value") {
			t.Errorf("the client secret is in the log:\n%s", logs.String())
		}
	})
	return rt
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func serve(rt *runtime.Runtime, path string, cookie *http.Cookie) *http.Response {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	rec := httptest.NewRecorder()
	rt.ServeHTTP(rec, req)
	return rec.Result()
}

// consent walks the consent chain and returns the callback's answer.
func consent(t *testing.T, rt *runtime.Runtime, p *provider, withCookie bool) (*http.Response, string) {
	t.Helper()
	resp := serve(rt, "/prov/connect", nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("connect: %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if loc.Path != "/authorize" || q.Get("code_challenge_method") != "S256" || q.Get("client_id") != "cid" || q.Get("scope") != "read profile" ||
		q.Get("redirect_uri") != "https://stride.test/prov/callback" || q.Get("response_type") != "code" || len(q.Get("state")) < 32 {
		t.Fatalf("consent page URL %s", loc)
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 || cookies[0].Value != q.Get("state") || !cookies[0].HttpOnly || !cookies[0].Secure || cookies[0].Path != "/prov/callback" {
		t.Fatalf("state cookie %+v", cookies)
	}
	p.mu.Lock()
	p.challenge = q.Get("code_challenge")
	p.mu.Unlock()
	var c *http.Cookie
	if withCookie {
		c = cookies[0]
	}
	cb := serve(rt, "/prov/callback?code=code-1&state="+q.Get("state"), c)
	body, _ := io.ReadAll(cb.Body)
	return cb, string(body)
}

func storedToken(t *testing.T, db *store.DB, user string) (store.Entry, map[string]any) {
	t.Helper()
	e, err := db.KV().Get(context.Background(), "prov-users", user)
	if err != nil {
		t.Fatalf("stored token of %s: %v", user, err)
	}
	var rec struct{ Text string }
	var tok map[string]any
	if err := json.Unmarshal(e.Value, &rec); err != nil || json.Unmarshal([]byte(rec.Text), &tok) != nil {
		t.Fatalf("stored entry %s", e.Masked())
	}
	return e, tok
}

func readAs(rt *runtime.Runtime, user string) (*flow.Exchange, error) {
	x := rt.NewExchange(runtime.NewMessageID(), rt.Set(), flow.NewMessage(nil, ""))
	x.Msg.Property["user"] = user
	return x, rt.Set().Run(context.Background(), "reader", x)
}

func TestConnectionConsentStoresTokensSealedAndMasked(t *testing.T) {
	p := newProvider(t)
	rt, db := connectionRuntime(t, p, "0s", nil)
	resp, page := consent(t, rt, p, true)
	if resp.StatusCode != 200 || !strings.Contains(page, "Your Prov account U1 is connected") {
		t.Fatalf("callback: %d %s", resp.StatusCode, page)
	}
	e, tok := storedToken(t, db, "U1")
	if tok["access_token"] != "a1" || tok["refresh_token"] != "r1" || tok["scope"] != "read profile" || tok["expires_at"] == nil {
		t.Errorf("stored %v", tok)
	}
	if m := string(e.Masked()); strings.Contains(m, "a1") || strings.Contains(m, "r1") || !strings.Contains(m, "read profile") {
		t.Errorf("masked entry shows %s", m)
	}
	if n, _ := db.KV().Count(context.Background(), "oauth-state"); n != 0 {
		t.Errorf("%d consent states left, want the used one gone", n)
	}
	x, err := readAs(rt, "U1")
	if err != nil || x.Msg.Property["data"].(map[string]any)["steps"] != int64(15720) {
		t.Fatalf("read with the stored token: %v %v", err, x.Msg.Property["data"])
	}
}

func TestConnectionConsentRefusals(t *testing.T) {
	p := newProvider(t)
	rt, db := connectionRuntime(t, p, "0s", nil)
	if resp, page := consent(t, rt, p, false); resp.StatusCode != 400 || !strings.Contains(page, "another browser") {
		t.Errorf("callback without the state cookie: %d %s", resp.StatusCode, page)
	}
	if resp := serve(rt, "/prov/callback?error=access_denied&state=x", nil); resp.StatusCode != 403 {
		t.Errorf("declined consent: %d", resp.StatusCode)
	}
	// A replayed callback: the state is single use.
	resp := serve(rt, "/prov/connect", nil)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	p.mu.Lock()
	p.challenge = loc.Query().Get("code_challenge")
	p.mu.Unlock()
	cb := "/prov/callback?code=code-1&state=" + loc.Query().Get("state")
	if first := serve(rt, cb, resp.Cookies()[0]); first.StatusCode != 200 {
		t.Fatalf("first callback: %d", first.StatusCode)
	}
	if again := serve(rt, cb, resp.Cookies()[0]); again.StatusCode != 400 {
		t.Errorf("replayed callback: %d, want 400", again.StatusCode)
	}
	// A grant without a required scope is revoked and nothing is stored.
	if err := db.KV().Delete(context.Background(), "prov-users", "U1"); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.scope = "profile"
	p.mu.Unlock()
	resp2, page := consent(t, rt, p, true)
	if resp2.StatusCode != 403 || !strings.Contains(page, "Prov permission(s) read") {
		t.Errorf("consent without read: %d %s", resp2.StatusCode, page)
	}
	if n, _ := db.KV().Count(context.Background(), "prov-users"); n != 0 || len(p.revoked) != 1 || p.revoked[0] != "a2" {
		t.Errorf("stored %d users, revoked %v; want nothing stored and a2 revoked", n, p.revoked)
	}
}

// TestConnectionConcurrent401sRefreshOnce: eight messages of one user send
// the same dead token at once; the token endpoint, which refuses a spent
// refresh token, sees exactly one refresh, and every message succeeds
// with the new token.
func TestConnectionConcurrent401sRefreshOnce(t *testing.T) {
	p := newProvider(t)
	rt, db := connectionRuntime(t, p, "0s", nil)
	if resp, page := consent(t, rt, p, true); resp.StatusCode != 200 {
		t.Fatalf("consent: %d %s", resp.StatusCode, page)
	}
	const n = 8
	p.mu.Lock()
	p.access = "revoked-elsewhere" // a1 now answers 401
	p.hold = n
	p.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x, err := readAs(rt, "U1")
			if err == nil && x.Msg.Property["http_status"] != 200 {
				err = fmt.Errorf("status %v", x.Msg.Property["http_status"])
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a read failed: %v", err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refreshes != 1 || p.reused != 0 {
		t.Errorf("%d refreshes, %d with a spent refresh token; want 1 and 0", p.refreshes, p.reused)
	}
	if _, tok := storedToken(t, db, "U1"); tok["access_token"] != "a2" || tok["refresh_token"] != "r2" {
		t.Errorf("stored %v, want the rotated pair a2/r2", tok)
	}
}

// Two instances sharing a store (as on NATS): concurrent 401s for one
// user on both still make one refresh, and no refresh token is spent
// twice — the refresh's lease in the store excludes across instances.
func TestConnectionRefreshOnceAcrossInstances(t *testing.T) {
	p := newProvider(t)
	db := openConnectionStore(t)
	rts := []*runtime.Runtime{connectionRuntimeOn(t, p, "0s", nil, db, "a"), connectionRuntimeOn(t, p, "0s", nil, db, "b")}
	if resp, page := consent(t, rts[0], p, true); resp.StatusCode != 200 {
		t.Fatalf("consent: %d %s", resp.StatusCode, page)
	}
	const n = 8
	p.mu.Lock()
	p.access = "revoked-elsewhere"
	p.hold = n
	p.mu.Unlock()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x, err := readAs(rts[i%2], "U1")
			if err == nil && x.Msg.Property["http_status"] != 200 {
				err = fmt.Errorf("status %v", x.Msg.Property["http_status"])
			}
			if err != nil {
				t.Errorf("a read on instance %d failed: %v", i%2, err)
			}
		}()
	}
	wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refreshes != 1 || p.reused != 0 {
		t.Errorf("%d refreshes, %d with a spent refresh token; want 1 and 0", p.refreshes, p.reused)
	}
}

func TestConnectionRefreshesBeforeExpiry(t *testing.T) {
	p := newProvider(t)
	var mu sync.Mutex
	now := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	rt, db := connectionRuntime(t, p, "0s", clock)
	if resp, _ := consent(t, rt, p, true); resp.StatusCode != 200 {
		t.Fatalf("consent: %d", resp.StatusCode)
	}
	if _, err := readAs(rt, "U1"); err != nil || p.refreshes != 0 {
		t.Fatalf("a fresh token: %v, %d refreshes", err, p.refreshes)
	}
	mu.Lock()
	now = now.Add(59*time.Minute + 30*time.Second) // within the 60s skew of expires_in 3600
	mu.Unlock()
	if _, err := readAs(rt, "U1"); err != nil {
		t.Fatal(err)
	}
	if _, tok := storedToken(t, db, "U1"); p.refreshes != 1 || tok["access_token"] != "a2" || tok["expires_at"] != "2026-11-23T03:59:30Z" {
		t.Errorf("%d refreshes, stored %v", p.refreshes, tok)
	}
}

// TestConnectionLostRefreshAnswer: a rotating refresh token whose answer
// was lost is not sent again (it is spent), unless the provider declares
// a grace for an identical repeat.
func TestConnectionLostRefreshAnswer(t *testing.T) {
	for _, tc := range []struct {
		grace    string
		attempts int // refresh requests that reach the provider
		ok       bool
	}{{"0s", 1, false}, {"2m", 2, false}} {
		t.Run("grace "+tc.grace, func(t *testing.T) {
			p := newProvider(t)
			rt, _ := connectionRuntime(t, p, tc.grace, nil)
			if resp, _ := consent(t, rt, p, true); resp.StatusCode != 200 {
				t.Fatalf("consent: %d", resp.StatusCode)
			}
			p.mu.Lock()
			p.access, p.dropAnswer = "revoked-elsewhere", 1
			p.mu.Unlock()
			_, err := readAs(rt, "U1")
			p.mu.Lock()
			defer p.mu.Unlock()
			got := p.refreshes + p.reused
			if got != tc.attempts || err == nil {
				t.Errorf("%d refresh requests (err %v), want %d and a failure", got, err, tc.attempts)
			}
			if err != nil && strings.Contains(err.Error(), "r1") {
				t.Errorf("the error shows the refresh token: %v", err)
			}
		})
	}
}

func TestDisconnectRevokesAndForgets(t *testing.T) {
	p := newProvider(t)
	rt, db := connectionRuntime(t, p, "0s", nil)
	if resp, _ := consent(t, rt, p, true); resp.StatusCode != 200 {
		t.Fatalf("consent: %d", resp.StatusCode)
	}
	src := "flow: bye\ntrigger: {call: {}}\nsteps:\n  - disconnect: {connection: prov, user: U1}\n"
	set, err := flow.Load([]flow.Source{{Name: "prov.yaml", Data: []byte(strings.Replace(connectionFlow, "GRACE", "0s", 1))}, {Name: "bye.yaml", Data: []byte(src)}})
	if err != nil {
		t.Fatal(err)
	}
	set.Bind(func(n string) (string, bool) {
		return map[string]string{"PROV_URL": p.srv.URL, "PROV_SECRET": "s3cret-value"}[n], true
	})
	x := rt.NewExchange("m", set, flow.NewMessage(nil, ""))
	if err := set.Run(context.Background(), "bye", x); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.KV().Count(context.Background(), "prov-users"); n != 0 || len(p.revoked) != 1 || p.revoked[0] != "r1" {
		t.Errorf("%d users stored, revoked %v", n, p.revoked)
	}
}

func TestConnectionLoadErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"flow: r\ntrigger: {call: {}}\nsteps:\n  - request: {url: 'https://x.test/', connection: nope, user: u}\n", `connection: no connection "nope"`},
		{"flow: r\ntrigger: {call: {}}\nsteps:\n  - request: {url: 'https://x.test/', connection: prov}\n", "say whose token to send with user"},
		{"flow: r\ntrigger: {call: {}}\nsteps:\n  - request: {url: 'https://x.test/', connection: prov, user: u, auth: {bearer: x}}\n", "give connection or auth, not both"},
		{strings.Replace(strings.Replace(connectionFlow, "GRACE", "0s", 1), "'${secret.PROV_SECRET}'", "literal", 1), "client_secret: read it from a secret"},
		{strings.Replace(strings.Replace(connectionFlow, "GRACE", "0s", 1), "    store: prov-users\n", "    store: prov-users\n    scope: x\n", 1), `unknown key "scope"`},
	} {
		_, err := flow.Load([]flow.Source{{Name: "prov.yaml", Data: []byte(strings.Replace(connectionFlow, "GRACE", "0s", 1))}, {Name: "r.yaml", Data: []byte(tc.src)}})
		if tc.src[:10] == connectionFlow[:10] {
			_, err = flow.Load([]flow.Source{{Name: "prov.yaml", Data: []byte(tc.src)}})
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("load error %v, want %q", err, tc.want)
		}
	}
}

func TestConnectionCallbackAnswersWhatWentWrong(t *testing.T) {
	p := newProvider(t)
	rt, db := connectionRuntime(t, p, "0s", nil)
	if resp := serve(rt, "/prov/callback?state=s1", &http.Cookie{Name: "stride_oauth_prov", Value: "s1"}); resp.StatusCode != 400 {
		t.Errorf("a callback without a code: %d", resp.StatusCode)
	}
	// The provider refuses the code (here: a PKCE challenge it never saw).
	resp := serve(rt, "/prov/connect", nil)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	cb := serve(rt, "/prov/callback?code=code-1&state="+loc.Query().Get("state"), resp.Cookies()[0])
	body, _ := io.ReadAll(cb.Body)
	if cb.StatusCode != 400 || !strings.Contains(string(body), "Prov did not accept the authorization (it answered 400)") {
		t.Errorf("a refused code exchange: %d %s", cb.StatusCode, body)
	}
	if n, _ := db.KV().Count(context.Background(), "prov-users"); n != 0 {
		t.Errorf("%d users stored after a refused exchange", n)
	}
	// A user who never connected: the request fails for good (no retries).
	_, err := readAs(rt, "NOBODY")
	var perm *flow.PermanentError
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), "user NOBODY is not connected") {
		t.Errorf("a user without tokens: %v", err)
	}
}

// TestFlowsUsingADisabledConnectionAreDisabled: a connection without its
// required variables is not started, nor is a flow that sends as its
// users.
func TestFlowsUsingADisabledConnectionAreDisabled(t *testing.T) {
	set, err := flow.Load([]flow.Source{
		{Name: "prov.yaml", Data: []byte(strings.Replace(connectionFlow, "GRACE", "0s", 1))},
		{Name: "reader.yaml", Data: []byte(readerFlow)},
	})
	if err != nil {
		t.Fatal(err)
	}
	disabled := set.Bind(func(n string) (string, bool) { return "https://p.test", n == "PROV_URL" })
	if strings.Join(disabled, ",") != "prov,reader" || !strings.Contains(set.Flow("reader").Disabled, "uses connection prov, which is disabled (missing variables: PROV_SECRET)") {
		t.Errorf("disabled %v: %q", disabled, set.Flow("reader").Disabled)
	}
}
