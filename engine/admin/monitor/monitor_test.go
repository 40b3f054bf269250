package monitor_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/admin"
	"github.com/stride-engine/stride/engine/admin/monitor"
	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/runtime"
	_ "github.com/stride-engine/stride/steps" // step kinds
)

const token = "the-admin-token-0123456789"

// newServer serves the admin API of a runtime without flows with the
// monitor mounted, over TLS when tls is set.
func newServer(t *testing.T, adminToken string, tls bool) *httptest.Server {
	t.Helper()
	set, err := flow.Load([]flow.Source{{Name: "t.yaml", Data: []byte("flow: timed\ntrigger: {timer: {every: 1h}}\nsteps:\n  - log: tick\n")}})
	if err != nil {
		t.Fatal(err)
	}
	set.Bind(func(string) (string, bool) { return "", false })
	rt := runtime.New(runtime.Options{Log: slog.New(slog.DiscardHandler)})
	rt.Swap(set)
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rt.Stop(ctx)
	})
	a := admin.NewAdmin(rt, adminToken, nil)
	monitor.Mount(a)
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(a)
	} else {
		srv = httptest.NewServer(a)
	}
	t.Cleanup(srv.Close)
	return srv
}

// browser is a client with a cookie jar that does not follow redirects.
func browser(t *testing.T, srv *httptest.Server) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: srv.Client().Transport, Jar: jar}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

func do(t *testing.T, c *http.Client, method, u string, body io.Reader, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func login(t *testing.T, c *http.Client, srv *httptest.Server, tok string) (*http.Response, string) {
	t.Helper()
	return do(t, c, "POST", srv.URL+"/login", strings.NewReader(url.Values{"token": {tok}}.Encode()), "Content-Type", "application/x-www-form-urlencoded")
}

var csrfPattern = regexp.MustCompile(`"csrf_token": "([0-9a-f]+)"`)

func TestLoginRefusesAWrongTokenAndSetsAStrictHttpOnlyCookie(t *testing.T) {
	srv := newServer(t, token, false)
	c := browser(t, srv)
	if resp, _ := do(t, c, "GET", srv.URL+"/", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("GET / before login: %d %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, page := login(t, c, srv, "not-the-token")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "not the admin token") || strings.Contains(page, "not-the-token") {
		t.Fatalf("wrong token: %d, page %q; want 401 with the form again and the typed value not echoed", resp.StatusCode, page)
	}
	if len(resp.Cookies()) != 0 {
		t.Fatalf("a wrong token got cookies: %v", resp.Cookies())
	}
	if resp, _ := do(t, c, "GET", srv.URL+"/admin/flows", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("API after a failed login: %d, want 401", resp.StatusCode)
	}

	resp, _ = login(t, c, srv, token)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: %d %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("login set %d cookies, want 1", len(cookies))
	}
	ck := cookies[0]
	if ck.Name != monitor.CookieName || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Path != "/" {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, not Secure over plain HTTP", ck)
	}
	if strings.Contains(ck.Value, token) || len(ck.Value) < 32 {
		t.Errorf("cookie value %q: want a random session id, never the token", ck.Value)
	}
	if resp, body := do(t, c, "GET", srv.URL+"/admin/flows", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, "timed") {
		t.Fatalf("API with the session: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, c, "GET", srv.URL+"/", nil); resp.StatusCode != http.StatusOK || strings.Contains(body, token) {
		t.Fatalf("page with the session: %d; the token must never be in it", resp.StatusCode)
	}
}

func TestCookieIsSecureOverTLS(t *testing.T) {
	srv := newServer(t, token, true)
	resp, _ := login(t, browser(t, srv), srv, token)
	if cs := resp.Cookies(); len(cs) != 1 || !cs[0].Secure || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookies over TLS: %+v, want one Secure, HttpOnly, SameSite=Strict cookie", cs)
	}
}

func TestChangesNeedTheSessionsCSRFToken(t *testing.T) {
	srv := newServer(t, token, false)
	c := browser(t, srv)
	login(t, c, srv, token)
	run := srv.URL + "/admin/flows/timed/run"
	resp, body := do(t, c, "POST", run, nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"code": "forbidden"`) {
		t.Fatalf("POST without CSRF token: %d %s, want 403 forbidden", resp.StatusCode, body)
	}
	if resp, body := do(t, c, "POST", run, nil, monitor.CSRFHeader, strings.Repeat("0", 64)); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST with a wrong CSRF token: %d %s, want 403", resp.StatusCode, body)
	}
	_, sess := do(t, c, "GET", srv.URL+"/admin/session", nil)
	m := csrfPattern.FindStringSubmatch(sess)
	if m == nil {
		t.Fatalf("GET /admin/session: %s, want a csrf_token", sess)
	}
	if resp, body := do(t, c, "POST", run, nil, monitor.CSRFHeader, m[1]); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST with the CSRF token: %d %s, want 202", resp.StatusCode, body)
	}
	// Another session's token does not do.
	other := browser(t, srv)
	login(t, other, srv, token)
	if resp, _ := do(t, other, "POST", run, nil, monitor.CSRFHeader, m[1]); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST with another session's CSRF token: %d, want 403", resp.StatusCode)
	}
	// Logout needs it too, and ends the session.
	if resp, _ := do(t, c, "POST", srv.URL+"/logout", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without CSRF token: %d, want 403", resp.StatusCode)
	}
	if resp, _ := do(t, c, "POST", srv.URL+"/logout", nil, monitor.CSRFHeader, m[1]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d, want 204", resp.StatusCode)
	}
	if resp, _ := do(t, c, "GET", srv.URL+"/admin/flows", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("API after logout: %d, want 401", resp.StatusCode)
	}
}

func TestBearerTokenStillWorksAndAForgedCookieDoesNot(t *testing.T) {
	srv := newServer(t, token, false)
	c := browser(t, srv)
	if resp, _ := do(t, c, "GET", srv.URL+"/admin/flows", nil, "Authorization", "Bearer "+token); resp.StatusCode != http.StatusOK {
		t.Fatalf("bearer token: %d", resp.StatusCode)
	}
	if resp, _ := do(t, c, "POST", srv.URL+"/admin/flows/timed/run", nil, "Authorization", "Bearer "+token); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("a change with the bearer token needs no CSRF token: %d", resp.StatusCode)
	}
	if resp, _ := do(t, c, "GET", srv.URL+"/admin/flows", nil, "Cookie", monitor.CookieName+"="+token); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the token as cookie: %d, want 401", resp.StatusCode)
	}
	if resp, _ := do(t, c, "POST", srv.URL+"/login", strings.NewReader("token="+token), "Content-Type", "application/x-www-form-urlencoded", "Origin", "http://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("login posted from another origin: %d, want 403", resp.StatusCode)
	}
}

func TestEveryMonitorAnswerCarriesAStrictCSP(t *testing.T) {
	srv := newServer(t, token, false)
	c := browser(t, srv)
	login(t, c, srv, token)
	for _, p := range []string{"/", "/login", "/ui/app.js", "/ui/app.css", "/admin/session"} {
		resp, _ := do(t, c, "GET", srv.URL+p, nil)
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != http.StatusOK || !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("GET %s: %d, CSP %q; want 200 with default-src 'self' and nothing unsafe", p, resp.StatusCode, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: missing nosniff or frame denial: %v", p, resp.Header)
		}
	}
}

// TestPagesHaveNoInlineCodeAndLoadUnder200KB: the CSP forbids inline
// scripts and styles, so none may be in the pages; and the first load
// (page, script, style) stays under the 200 KB.
func TestPagesHaveNoInlineCodeAndLoadUnder200KB(t *testing.T) {
	ui := os.DirFS("ui")
	total := 0
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=|javascript:`)
	err := fs.WalkDir(ui, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(ui, p)
		if err != nil {
			return err
		}
		total += len(b)
		if strings.HasSuffix(p, ".html") && inline.Match(b) {
			t.Errorf("%s has inline script or style: %q", p, inline.Find(b))
		}
		if strings.HasSuffix(p, ".js") && strings.Contains(string(b), "innerHTML") {
			t.Errorf("%s sets innerHTML; build elements with textContent", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total > 200<<10 {
		t.Errorf("the monitor's files are %d bytes, want under 200 KB", total)
	}
}

func TestOnlyThePagesFilesAreServed(t *testing.T) {
	srv := newServer(t, token, false)
	c := browser(t, srv)
	for _, p := range []string{"/ui/", "/ui/login.html", "/ui/index.html", "/ui/nothing.js", "/ui/../monitor.go"} {
		if resp, body := do(t, c, "GET", srv.URL+p, nil); resp.StatusCode == http.StatusOK {
			t.Errorf("GET %s: 200 %.80q; want no listing, no template, nothing else", p, body)
		}
	}
	if resp, body := do(t, c, "GET", srv.URL+"/ui/app.js", nil); resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") || !strings.Contains(body, "X-CSRF-Token") {
		t.Errorf("GET /ui/app.js: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestWithoutATokenThePageIsOpen(t *testing.T) {
	srv := newServer(t, "", false)
	c := browser(t, srv)
	if resp, _ := do(t, c, "GET", srv.URL+"/", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / without STRIDE_ADMIN_TOKEN: %d, want the page", resp.StatusCode)
	}
	if _, body := do(t, c, "GET", srv.URL+"/admin/session", nil); !strings.Contains(body, `"auth": "open"`) {
		t.Fatalf("session without a token: %s", body)
	}
}

// Guessing the token: after 10 wrong ones within a minute every login,
// the right token too, answers 429 with Retry-After.
func TestLoginGuessesAreLimited(t *testing.T) {
	srv := newServer(t, token, false)
	c := browser(t, srv)
	for i := range 10 {
		if resp, _ := login(t, c, srv, fmt.Sprintf("guess-%d", i)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i, resp.StatusCode)
		}
	}
	resp, page := login(t, c, srv, token)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(page, "Too many wrong tokens") {
		t.Fatalf("after 10 wrong tokens: %d %q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if len(resp.Cookies()) != 0 {
		t.Fatal("a blocked login got a session")
	}
}
