package sandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is an injectable, settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// noRedirect does not follow 3xx: the tests look at Location themselves.
var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

const testVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-sandbox-test-verifier"

// startFitbit starts a Fitbit fake on loopback with a fake clock at
// 2025-11-23 10:00:00 UTC.
func startFitbit(t *testing.T, opts FitbitOptions) (*Fitbit, *clock) {
	t.Helper()
	c := newClock(time.Date(2025, 11, 23, 10, 0, 0, 0, time.UTC))
	if opts.Now == nil {
		opts.Now = c.Now
	}
	f := NewFitbit(opts)
	if err := f.Start(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, c
}

type result struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func do(t *testing.T, req *http.Request) result {
	t.Helper()
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := result{status: resp.StatusCode, header: resp.Header, raw: raw}
	if strings.Contains(resp.Header.Get("Content-Type"), "json") {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err == nil {
			r.body = m
		}
	}
	return r
}

// authorizeURL is the URL the connect flow redirects to, plus extra.
func authorizeURL(f *Fitbit, scope, state string, extra url.Values) string {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {f.ClientID()},
		"redirect_uri":          {f.RedirectURI()},
		"scope":                 {scope},
		"state":                 {state},
		"code_challenge":        {S256(testVerifier)},
		"code_challenge_method": {"S256"},
	}
	for k, v := range extra {
		q[k] = v
	}
	return f.URL + "/oauth2/authorize?" + q.Encode()
}

func get(t *testing.T, u string) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

// authorize runs the authorization page and returns the redirect's query.
func authorize(t *testing.T, f *Fitbit, scope, state string, extra url.Values) url.Values {
	t.Helper()
	r := get(t, authorizeURL(f, scope, state, extra))
	if r.status != http.StatusFound {
		t.Fatalf("authorize: status %d, body %s", r.status, r.raw)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := url.Parse(f.RedirectURI())
	if loc.Scheme != want.Scheme || loc.Host != want.Host || loc.Path != want.Path {
		t.Fatalf("redirected to %s, want the registered %s", loc, f.RedirectURI())
	}
	return loc.Query()
}

func tokenRequest(t *testing.T, f *Fitbit, id, secret string, form url.Values) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" || secret != "" {
		req.SetBasicAuth(id, secret)
	}
	return do(t, req)
}

func exchange(t *testing.T, f *Fitbit, code, verifier string) result {
	t.Helper()
	return tokenRequest(t, f, f.ClientID(), f.ClientSecret(), url.Values{
		"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {f.RedirectURI()}, "code_verifier": {verifier},
	})
}

func refreshReq(t *testing.T, f *Fitbit, refresh string) result {
	t.Helper()
	return tokenRequest(t, f, f.ClientID(), f.ClientSecret(), url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {refresh},
	})
}

type tokens struct{ access, refresh, scope, user string }

func tokensOf(t *testing.T, r result) tokens {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("token endpoint: status %d, body %s", r.status, r.raw)
	}
	s := func(k string) string { v, _ := r.body[k].(string); return v }
	tk := tokens{access: s("access_token"), refresh: s("refresh_token"), scope: s("scope"), user: s("user_id")}
	if tk.access == "" || tk.refresh == "" {
		t.Fatalf("token response without tokens: %s", r.raw)
	}
	return tk
}

// connect does the whole OAuth dance for user with the scopes granted.
func connect(t *testing.T, f *Fitbit, user, scopes string) tokens {
	t.Helper()
	q := authorize(t, f, "activity profile weight sleep nutrition", "st", url.Values{"sandbox_user": {user}, "sandbox_scopes": {scopes}})
	return tokensOf(t, exchange(t, f, q.Get("code"), testVerifier))
}

func api(t *testing.T, f *Fitbit, method, token, path string, header ...string) result {
	t.Helper()
	req, err := http.NewRequest(method, f.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

// errorType is errors[0].errorType of a Fitbit error body.
func errorType(r result) string {
	errs, _ := r.body["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	e, _ := errs[0].(map[string]any)
	s, _ := e["errorType"].(string)
	return s
}

func errorMessage(r result) string {
	errs, _ := r.body["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	e, _ := errs[0].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func wantFitbitError(t *testing.T, r result, status int, typ string) {
	t.Helper()
	if r.status != status || errorType(r) != typ {
		t.Fatalf("got %d %q (%s), want %d %s", r.status, errorType(r), r.raw, status, typ)
	}
	if r.body["success"] != false {
		t.Errorf("error body without \"success\": false: %s", r.raw)
	}
}

// sample reads a sample payload copied from shared/samples.
func sample(t *testing.T, name string) any {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// missingKeys lists the object keys of want (recursively, through the
// first element of arrays) that got lacks.
func missingKeys(want, got any, path string) []string {
	var out []string
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{path + " (not an object)"}
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				out = append(out, path+"."+k)
				continue
			}
			out = append(out, missingKeys(wv, gv, path+"."+k)...)
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{path + " (not an array)"}
		}
		if len(w) > 0 && len(g) > 0 {
			out = append(out, missingKeys(w[0], g[0], path+"[0]")...)
		}
	}
	sort.Strings(out)
	return out
}
