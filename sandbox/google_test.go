package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Error bodies of the real API (shared/samples/google-health), kept here so
// the test has no files outside the package.
const (
	googleSampleUnauthenticated = `{"error":{"code":401,"message":"Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.","status":"UNAUTHENTICATED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"CREDENTIALS_MISSING","domain":"googleapis.com"}]}}`
	googleSampleExhausted       = `{"error":{"code":429,"message":"Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service 'health.googleapis.com' for consumer 'project_number:123456789'.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED","domain":"googleapis.com"},{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"subject":"project:123456789","description":"Quota exceeded"}]}]}}`
)

var bothGoogleScopes = GoogleScopeActivity + " " + GoogleScopeProfile

func startGoogle(t *testing.T, opts GoogleHealthOptions) (*GoogleHealth, *clock) {
	t.Helper()
	c := newClock(time.Date(2026, 11, 23, 10, 0, 30, 0, time.UTC))
	if opts.Now == nil {
		opts.Now = c.Now
	}
	g := NewGoogleHealth(opts)
	if err := g.Start(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g, c
}

func googleAuthorizeURL(g *GoogleHealth, scope, state string, extra url.Values) string {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {g.ClientID()},
		"redirect_uri":          {g.RedirectURI()},
		"scope":                 {scope},
		"state":                 {state},
		"access_type":           {"offline"},
		"prompt":                {"consent"},
		"code_challenge":        {S256(testVerifier)},
		"code_challenge_method": {"S256"},
	}
	for k, v := range extra {
		q[k] = v
	}
	return g.AuthorizeURL() + "?" + q.Encode()
}

// googleAuthorize runs the consent screen and returns the redirect's query.
func googleAuthorize(t *testing.T, g *GoogleHealth, scope, state string, extra url.Values) url.Values {
	t.Helper()
	r := get(t, googleAuthorizeURL(g, scope, state, extra))
	if r.status != http.StatusFound {
		t.Fatalf("authorize: status %d, body %s", r.status, r.raw)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if want := g.RedirectURI(); loc.Scheme+"://"+loc.Host+loc.Path != want {
		t.Fatalf("redirected to %s, want the registered %s", loc, want)
	}
	return loc.Query()
}

// googleTokenPost posts form to /token; basic sends the client credentials
// as HTTP Basic instead of in the body.
func googleTokenPost(t *testing.T, g *GoogleHealth, form url.Values, id, secret string, basic bool) result {
	t.Helper()
	form = cloneValues(form)
	if !basic {
		if id != "" {
			form.Set("client_id", id)
		}
		if secret != "" {
			form.Set("client_secret", secret)
		}
	}
	req, err := http.NewRequest(http.MethodPost, g.TokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(id, secret)
	}
	return do(t, req)
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func googleExchange(t *testing.T, g *GoogleHealth, code, verifier string) result {
	t.Helper()
	return googleTokenPost(t, g, url.Values{
		"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {g.RedirectURI()}, "code_verifier": {verifier},
	}, g.ClientID(), g.ClientSecret(), false)
}

func googleRefresh(t *testing.T, g *GoogleHealth, refresh string) result {
	t.Helper()
	return googleTokenPost(t, g, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}},
		g.ClientID(), g.ClientSecret(), false)
}

type googleTokens struct{ access, refresh, scope string }

func googleTokensOf(t *testing.T, r result) googleTokens {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("token endpoint: status %d, body %s", r.status, r.raw)
	}
	s := func(k string) string { v, _ := r.body[k].(string); return v }
	tk := googleTokens{access: s("access_token"), refresh: s("refresh_token"), scope: s("scope")}
	if tk.access == "" {
		t.Fatalf("token response without access_token: %s", r.raw)
	}
	return tk
}

// googleConnect does the whole OAuth dance for user with scopes granted.
func googleConnect(t *testing.T, g *GoogleHealth, user, scopes string) googleTokens {
	t.Helper()
	q := googleAuthorize(t, g, bothGoogleScopes, "st", url.Values{"sandbox_user": {user}, "sandbox_scopes": {scopes}})
	tk := googleTokensOf(t, googleExchange(t, g, q.Get("code"), testVerifier))
	if tk.refresh == "" {
		t.Fatalf("offline consent gave no refresh token")
	}
	return tk
}

func googleAPI(t *testing.T, g *GoogleHealth, method, token, path, body string) result {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, g.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

const googleRollupPath = "/v4/users/me/dataTypes/steps/dataPoints:dailyRollUp"

func googleRollupBody(start, end string) string {
	d := func(s string) string {
		t, _ := time.Parse("2006-01-02", s)
		return `{"date":{"year":` + strconv.Itoa(t.Year()) + `,"month":` + strconv.Itoa(int(t.Month())) + `,"day":` + strconv.Itoa(t.Day()) + `}}`
	}
	return `{"range":{"start":` + d(start) + `,"end":` + d(end) + `},"windowSizeDays":1}`
}

// wantGoogleError checks {"error":{"code":status,"status":name,"message":...}}.
func wantGoogleError(t *testing.T, r result, status int, name string) map[string]any {
	t.Helper()
	e, _ := r.body["error"].(map[string]any)
	if r.status != status || e == nil || e["status"] != name || e["code"] != float64(status) {
		t.Fatalf("got %d %s, want %d with error.status %s", r.status, r.raw, status, name)
	}
	if m, _ := e["message"].(string); m == "" {
		t.Errorf("error without message: %s", r.raw)
	}
	return e
}

func googleReason(e map[string]any) string {
	ds, _ := e["details"].([]any)
	for _, d := range ds {
		if m, _ := d.(map[string]any); m["@type"] == "type.googleapis.com/google.rpc.ErrorInfo" {
			s, _ := m["reason"].(string)
			return s
		}
	}
	return ""
}

func wantOAuthError(t *testing.T, r result, status int, code string) {
	t.Helper()
	if r.status != status || r.body["error"] != code {
		t.Fatalf("got %d %s, want %d error %q", r.status, r.raw, status, code)
	}
	if d, _ := r.body["error_description"].(string); d == "" {
		t.Errorf("OAuth error without error_description: %s", r.raw)
	}
}

func jsonValue(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// ---- OAuth ----

func TestGoogleOAuthWithPKCE(t *testing.T) {
	g, _ := startGoogle(t, GoogleHealthOptions{})
	q := googleAuthorize(t, g, bothGoogleScopes, "state-1", url.Values{"sandbox_user": {"ADA1"}})
	code := q.Get("code")
	if q.Get("state") != "state-1" || code == "" {
		t.Fatalf("redirect query %v: want code and state", q)
	}
	if q.Get("scope") != bothGoogleScopes {
		t.Errorf("redirect scope %q, want the granted %q", q.Get("scope"), bothGoogleScopes)
	}
	// A wrong verifier fails, and spends the code.
	wantOAuthError(t, googleExchange(t, g, code, testVerifier+"x"), 400, "invalid_grant")
	wantOAuthError(t, googleExchange(t, g, code, testVerifier), 400, "invalid_grant")

	q = googleAuthorize(t, g, bothGoogleScopes, "state-2", url.Values{"sandbox_user": {"ADA1"}})
	wantOAuthError(t, googleTokenPost(t, g, url.Values{
		"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {g.RedirectURI()},
	}, g.ClientID(), g.ClientSecret(), false), 400, "invalid_grant") // no verifier

	q = googleAuthorize(t, g, bothGoogleScopes, "state-3", url.Values{"sandbox_user": {"ADA1"}})
	res := googleExchange(t, g, q.Get("code"), testVerifier)
	tk := googleTokensOf(t, res)
	if res.body["expires_in"] != float64(3599) || res.body["token_type"] != "Bearer" || tk.scope != bothGoogleScopes || tk.refresh == "" {
		t.Errorf("token response %s", res.raw)
	}
	if _, ok := res.body["user_id"]; ok {
		t.Errorf("Google's token response has no user_id: %s", res.raw)
	}
	if cc := res.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	// Code reuse.
	wantOAuthError(t, googleExchange(t, g, q.Get("code"), testVerifier), 400, "invalid_grant")
	// Unknown code.
	wantOAuthError(t, googleExchange(t, g, "4/0Anope", testVerifier), 400, "invalid_grant")
	if r := googleAPI(t, g, "GET", tk.access, "/v4/users/me/identity", ""); r.status != 200 {
		t.Fatalf("identity with the new token: %d %s", r.status, r.raw)
	}
	if st := g.Stats(); st.Authorizations != 3 || st.CodeExchanges != 1 || st.FailedExchanges != 5 {
		t.Errorf("stats %+v", st)
	}
	if got := g.Connected(); !reflect.DeepEqual(got, []string{"ADA1"}) {
		t.Errorf("Connected() = %v", got)
	}
}

func TestGoogleCodeExpires(t *testing.T) {
	g, c := startGoogle(t, GoogleHealthOptions{})
	q := googleAuthorize(t, g, bothGoogleScopes, "s", nil)
	c.Add(10 * time.Minute)
	wantOAuthError(t, googleExchange(t, g, q.Get("code"), testVerifier), 400, "invalid_grant")
}

func TestGoogleTokenRedirectURIMustMatch(t *testing.T) {
	other := "http://127.0.0.1:8080/other/callback"
	g, _ := startGoogle(t, GoogleHealthOptions{RedirectURIs: []string{DefaultGoogleRedirectURI, other}})
	q := googleAuthorize(t, g, bothGoogleScopes, "s", nil)
	wantOAuthError(t, googleTokenPost(t, g, url.Values{
		"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {other}, "code_verifier": {testVerifier},
	}, g.ClientID(), g.ClientSecret(), false), 400, "redirect_uri_mismatch")

	q = googleAuthorize(t, g, bothGoogleScopes, "s", nil)
	wantOAuthError(t, googleTokenPost(t, g, url.Values{
		"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "code_verifier": {testVerifier},
	}, g.ClientID(), g.ClientSecret(), false), 400, "invalid_request")
}

func TestGoogleTokenClientAuthentication(t *testing.T) {
	g, _ := startGoogle(t, GoogleHealthOptions{})
	form := func() url.Values {
		q := googleAuthorize(t, g, bothGoogleScopes, "s", nil)
		return url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
			"redirect_uri": {g.RedirectURI()}, "code_verifier": {testVerifier}}
	}
	wantOAuthError(t, googleTokenPost(t, g, form(), g.ClientID(), "wrong-secret", false), 401, "invalid_client")
	wantOAuthError(t, googleTokenPost(t, g, form(), g.ClientID(), "wrong-secret", true), 401, "invalid_client")
	wantOAuthError(t, googleTokenPost(t, g, form(), "other.apps.googleusercontent.com", g.ClientSecret(), false), 401, "invalid_client")
	wantOAuthError(t, googleTokenPost(t, g, form(), "", "", false), 400, "invalid_request")
	wantOAuthError(t, googleTokenPost(t, g, form(), g.ClientID(), "", false), 400, "invalid_request")
	// Both ways of sending the credentials work.
	googleTokensOf(t, googleTokenPost(t, g, form(), g.ClientID(), g.ClientSecret(), false))
	googleTokensOf(t, googleTokenPost(t, g, form(), g.ClientID(), g.ClientSecret(), true))
	// A JSON body, which Google also accepts.
	q := googleAuthorize(t, g, bothGoogleScopes, "s", nil)
	body, _ := json.Marshal(map[string]string{"grant_type": "authorization_code", "code": q.Get("code"),
		"redirect_uri": g.RedirectURI(), "code_verifier": testVerifier, "client_id": g.ClientID(), "client_secret": g.ClientSecret()})
	req, _ := http.NewRequest(http.MethodPost, g.TokenURL(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	googleTokensOf(t, do(t, req))
	wantOAuthError(t, googleTokenPost(t, g, url.Values{"grant_type": {"password"}}, g.ClientID(), g.ClientSecret(), false), 400, "unsupported_grant_type")
}

func TestGoogleAuthorizeDenyAndBadRequests(t *testing.T) {
	g, _ := startGoogle(t, GoogleHealthOptions{})
	r := get(t, googleAuthorizeURL(g, bothGoogleScopes, "st-deny", url.Values{"sandbox_deny": {"1"}}))
	if r.status != http.StatusFound {
		t.Fatalf("deny: %d %s", r.status, r.raw)
	}
	loc, _ := url.Parse(r.header.Get("Location"))
	if loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "st-deny" || loc.Query().Has("code") {
		t.Errorf("deny redirect %s", loc)
	}
	if g.Stats().Denials != 1 {
		t.Errorf("denials %d", g.Stats().Denials)
	}
	// Malformed requests get Google's error page, never a redirect.
	for name, extra := range map[string]url.Values{
		"unregistered redirect_uri": {"redirect_uri": {"http://127.0.0.1:9/evil"}},
		"unknown client":            {"client_id": {"nope.apps.googleusercontent.com"}},
		"unknown scope":             {"scope": {"https://www.googleapis.com/auth/fitness.activity.read"}},
		"short scope name":          {"scope": {"activity"}},
		"no scope":                  {"scope": {""}},
		"no code_challenge":         {"code_challenge": {""}},
		"plain PKCE":                {"code_challenge_method": {"plain"}},
		"bad challenge":             {"code_challenge": {"short"}},
		"no response_type":          {"response_type": {""}},
		"token response_type":       {"response_type": {"token"}},
		"bad access_type":           {"access_type": {"forever"}},
		"bad prompt":                {"prompt": {"always"}},
		"bad sandbox_user":          {"sandbox_user": {"ada"}},
	} {
		r := get(t, googleAuthorizeURL(g, bothGoogleScopes, "s", extra))
		if r.status < 400 || r.status > 499 || r.header.Get("Location") != "" {
			t.Errorf("%s: %d Location %q, want a 4xx page without redirect", name, r.status, r.header.Get("Location"))
		}
	}
	if st := g.Stats(); st.Authorizations != 0 {
		t.Errorf("malformed requests issued codes: %+v", st)
	}
}

func TestGoogleScopesAreIntersectedAndEnforced(t *testing.T) {
	g, _ := startGoogle(t, GoogleHealthOptions{})
	// Short names (after "googlehealth.") and full URLs both work in sandbox_scopes.
	act := googleConnect(t, g, "GRACE3", "activity_and_fitness.readonly")
	if act.scope != GoogleScopeActivity {
		t.Fatalf("granted %q, want only the activity scope", act.scope)
	}
	r := googleAPI(t, g, "GET", act.access, "/v4/users/me/identity", "")
	e := wantGoogleError(t, r, 403, "PERMISSION_DENIED")
	if googleReason(e) != "ACCESS_TOKEN_SCOPE_INSUFFICIENT" || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Errorf("403 without the insufficient-scope reason: %s %v", r.raw, r.header)
	}
	if r := googleAPI(t, g, "POST", act.access, googleRollupPath, googleRollupBody("2026-11-22", "2026-11-23")); r.status != 200 {
		t.Errorf("rollup with the activity scope: %d %s", r.status, r.raw)
	}
	prof := googleConnect(t, g, "GRACE3", GoogleScopeProfile)
	wantGoogleError(t, googleAPI(t, g, "POST", prof.access, googleRollupPath, googleRollupBody("2026-11-22", "2026-11-23")), 403, "PERMISSION_DENIED")
	if g.Stats().Forbidden != 2 {
		t.Errorf("forbidden %d, want 2", g.Stats().Forbidden)
	}
}

func TestGoogleQueuedApproval(t *testing.T) {
	g, _ := startGoogle(t, GoogleHealthOptions{})
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/sandbox/approve-next?user=NOVA7&scopes=profile.readonly", nil)
	if r := do(t, req); r.status != 200 {
		t.Fatalf("approve-next: %d %s", r.status, r.raw)
	}
	q := googleAuthorize(t, g, bothGoogleScopes, "s", nil)
	tk := googleTokensOf(t, googleExchange(t, g, q.Get("code"), testVerifier))
	if tk.scope != GoogleScopeProfile {
		t.Errorf("queued approval granted %q", tk.scope)
	}
	r := googleAPI(t, g, "GET", tk.access, "/v4/users/me/identity", "")
	if r.body["healthUserId"] != "hu-nova7" {
		t.Errorf("queued approval was not for NOVA7: %s", r.raw)
	}
}

func TestGoogleRefreshKeepsRefreshToken(t *testing.T) {
	g, _ := startGoogle(t, GoogleHealthOptions{})
	tk := googleConnect(t, g, "ALAN2", bothGoogleScopes)
	seen := map[string]bool{tk.access: true}
	for i := 1; i <= 2; i++ {
		res := googleRefresh(t, g, tk.refresh)
		next := googleTokensOf(t, res)
		if _, ok := res.body["refresh_token"]; ok {
			t.Fatalf("refresh answer has refresh_token (Google does not rotate): %s", res.raw)
		}
		if seen[next.access] || next.scope != bothGoogleScopes || res.body["expires_in"] != float64(3599) || res.body["token_type"] != "Bearer" {
			t.Fatalf("refresh %d: %s", i, res.raw)
		}
		seen[next.access] = true
		if r := googleAPI(t, g, "GET", next.access, "/v4/users/me/identity", ""); r.status != 200 {
			t.Fatalf("new access token: %d %s", r.status, r.raw)
		}
	}
	if g.RefreshCount("ALAN2") != 2 || g.RefreshCount("ADA1") != 0 {
		t.Errorf("RefreshCount = %d, want 2", g.RefreshCount("ALAN2"))
	}
	// The first access token is still good until it expires.
	if r := googleAPI(t, g, "GET", tk.access, "/v4/users/me/identity", ""); r.status != 200 {
		t.Errorf("first access token after refresh: %d", r.status)
	}
	wantOAuthError(t, googleRefresh(t, g, "1//0unknown"), 400, "invalid_grant")
	wantOAuthError(t, googleTokenPost(t, g, url.Values{"grant_type": {"refresh_token"}}, g.ClientID(), g.ClientSecret(), false), 400, "invalid_request")
}

func TestGoogleRefreshTokenNeedsOfflineAndConsent(t *testing.T) {
	g, _ := startGoogle(t, GoogleHealthOptions{})
	exchangeWith := func(extra url.Values) googleTokens {
		q := googleAuthorize(t, g, bothGoogleScopes, "s", extra)
		return googleTokensOf(t, googleExchange(t, g, q.Get("code"), testVerifier))
	}
	if tk := exchangeWith(url.Values{"sandbox_user": {"KATH4"}, "access_type": {"online"}}); tk.refresh != "" {
		t.Errorf("online access got a refresh token")
	}
	// The user has consented now: without prompt=consent, no refresh token.
	if tk := exchangeWith(url.Values{"sandbox_user": {"KATH4"}, "prompt": {""}}); tk.refresh != "" {
		t.Errorf("repeat authorization without prompt=consent got a refresh token")
	}
	if tk := exchangeWith(url.Values{"sandbox_user": {"KATH4"}}); tk.refresh == "" {
		t.Errorf("access_type=offline&prompt=consent got no refresh token")
	}
	// A first authorization shows the consent screen anyway.
	if tk := exchangeWith(url.Values{"sandbox_user": {"LINUS5"}, "prompt": {""}}); tk.refresh == "" {
		t.Errorf("first offline authorization got no refresh token")
	}
	// prompt=none with no earlier consent cannot show one.
	r := get(t, googleAuthorizeURL(g, bothGoogleScopes, "s", url.Values{"sandbox_user": {"EMMY6"}, "prompt": {"none"}}))
	if loc, _ := url.Parse(r.header.Get("Location")); r.status != 302 || loc.Query().Get("error") != "consent_required" {
		t.Errorf("prompt=none without consent: %d %s", r.status, r.header.Get("Location"))
	}
}

func TestGoogleRevoke(t *testing.T) {
	g, _ := startGoogle(t, GoogleHealthOptions{})
	tk := googleConnect(t, g, "ADA1", bothGoogleScopes)
	other := googleConnect(t, g, "ALAN2", bothGoogleScopes)
	revoke := func(token string) result {
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/revoke?token="+url.QueryEscape(token), nil)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return do(t, req)
	}
	if r := revoke(tk.refresh); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	wantOAuthError(t, googleRefresh(t, g, tk.refresh), 400, "invalid_grant")
	wantGoogleError(t, googleAPI(t, g, "GET", tk.access, "/v4/users/me/identity", ""), 401, "UNAUTHENTICATED")
	wantOAuthError(t, revoke(tk.refresh), 400, "invalid_token")
	// Other users keep their access.
	if r := googleAPI(t, g, "GET", other.access, "/v4/users/me/identity", ""); r.status != 200 {
		t.Errorf("another user's token after revoke: %d", r.status)
	}
	// Revoking by access token, in a form body, ends the grant too.
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/revoke", strings.NewReader(url.Values{"token": {other.access}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := do(t, req); r.status != 200 {
		t.Fatalf("revoke by access token: %d %s", r.status, r.raw)
	}
	wantOAuthError(t, googleRefresh(t, g, other.refresh), 400, "invalid_grant")
	if got := g.Connected(); len(got) != 0 || g.Stats().Revocations != 2 {
		t.Errorf("Connected() = %v, stats %+v", got, g.Stats())
	}
}

// ---- API ----

func TestGoogleIdentity(t *testing.T) {
	g, _ := startGoogle(t, GoogleHealthOptions{Users: []GoogleUser{{ID: "FRESH9", HealthUserID: "113562081234567890123", GoogleOnly: true}}})
	for _, c := range []struct {
		user, health, legacy string
	}{
		{"ADA1", "hu-ada1", "ADA1"},
		{"EMMY6", "hu-emmy6", "EMMY6"},
		{"ZED42", "hu-zed42", "ZED42"}, // unknown ids are migrated users
		{"NOVA7", "hu-nova7", ""},      // a default Google-only user
		{"FRESH9", "113562081234567890123", ""},
	} {
		tk := googleConnect(t, g, c.user, GoogleScopeProfile)
		r := googleAPI(t, g, "GET", tk.access, "/v4/users/me/identity", "")
		want := map[string]any{"name": "users/me/identity", "healthUserId": c.health}
		if c.legacy != "" {
			want["legacyUserId"] = c.legacy
		}
		if r.status != 200 || !reflect.DeepEqual(r.body, want) {
			t.Errorf("%s: %d %s, want %v", c.user, r.status, r.raw, want)
		}
		if g.HealthUserID(c.user) != c.health || g.LegacyUserID(c.user) != c.legacy {
			t.Errorf("%s: HealthUserID %q LegacyUserID %q", c.user, g.HealthUserID(c.user), g.LegacyUserID(c.user))
		}
		if c.legacy == "" && strings.Contains(string(r.raw), "legacyUserId") {
			t.Errorf("%s: Google-only identity mentions legacyUserId: %s", c.user, r.raw)
		}
	}
	// The user's own healthUserId works in place of "me"; another's does not.
	tk := googleConnect(t, g, "ADA1", bothGoogleScopes)
	if r := googleAPI(t, g, "GET", tk.access, "/v4/users/hu-ada1/identity", ""); r.status != 200 {
		t.Errorf("own healthUserId: %d %s", r.status, r.raw)
	}
	wantGoogleError(t, googleAPI(t, g, "GET", tk.access, "/v4/users/hu-alan2/identity", ""), 403, "PERMISSION_DENIED")
	// Unknown paths and methods.
	wantGoogleError(t, googleAPI(t, g, "GET", tk.access, "/v4/users/me/profile", ""), 404, "NOT_FOUND")
	wantGoogleError(t, googleAPI(t, g, "GET", "", "/v3/users/me/identity", ""), 404, "NOT_FOUND")
	wantGoogleError(t, googleAPI(t, g, "POST", tk.access, "/v4/users/me/identity", "{}"), 404, "NOT_FOUND")
	wantGoogleError(t, googleAPI(t, g, "POST", tk.access, "/v4/users/me/dataTypes/sleep/dataPoints:dailyRollUp", "{}"), 404, "NOT_FOUND")
}

func TestGoogleUnauthenticated(t *testing.T) {
	g, c := startGoogle(t, GoogleHealthOptions{})
	tk := googleConnect(t, g, "ADA1", bothGoogleScopes)
	sample := jsonValue(t, googleSampleUnauthenticated)

	r := googleAPI(t, g, "GET", "", "/v4/users/me/identity", "")
	e := wantGoogleError(t, r, 401, "UNAUTHENTICATED")
	if !reflect.DeepEqual(map[string]any(r.body), sample) {
		t.Errorf("missing token: body %s, want the sample %s", r.raw, googleSampleUnauthenticated)
	}
	if googleReason(e) != "CREDENTIALS_MISSING" {
		t.Errorf("reason %q", googleReason(e))
	}

	if n := g.ExpireAccessToken("ADA1"); n != 1 {
		t.Fatalf("ExpireAccessToken expired %d tokens", n)
	}
	r = googleAPI(t, g, "GET", tk.access, "/v4/users/me/identity", "")
	e = wantGoogleError(t, r, 401, "UNAUTHENTICATED")
	if missing := missingKeys(sample, r.body, "$"); len(missing) > 0 {
		t.Errorf("expired: body lacks the sample's keys %v: %s", missing, r.raw)
	}
	if msg, _ := e["message"].(string); !strings.HasPrefix(msg, "Request had invalid authentication credentials.") {
		t.Errorf("expired: message %q", msg)
	}
	if googleReason(e) != "ACCESS_TOKEN_EXPIRED" || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("expired: reason %q, WWW-Authenticate %q", googleReason(e), r.header.Get("WWW-Authenticate"))
	}
	wantGoogleError(t, googleAPI(t, g, "GET", "ya29.unknown", "/v4/users/me/identity", ""), 401, "UNAUTHENTICATED")

	// A refreshed token works; it expires by itself after expires_in.
	next := googleTokensOf(t, googleRefresh(t, g, tk.refresh))
	if r := googleAPI(t, g, "GET", next.access, "/v4/users/me/identity", ""); r.status != 200 {
		t.Fatalf("refreshed token: %d", r.status)
	}
	c.Add(3599 * time.Second)
	wantGoogleError(t, googleAPI(t, g, "GET", next.access, "/v4/users/me/identity", ""), 401, "UNAUTHENTICATED")
	if st := g.State("ADA1"); st.Unauthorized != 2 || st.APICalls != 1 || st.LiveAccessTokens != 0 || st.RefreshTokens != 1 {
		t.Errorf("state %+v", st)
	}
}

func TestGoogleDailyRollUp(t *testing.T) {
	g, _ := startGoogle(t, GoogleHealthOptions{})
	tk := googleConnect(t, g, "ADA1", bothGoogleScopes)
	r := googleAPI(t, g, "POST", tk.access, googleRollupPath, googleRollupBody("2026-11-20", "2026-11-23"))
	if r.status != 200 {
		t.Fatalf("rollup: %d %s", r.status, r.raw)
	}
	var out struct {
		Points []struct {
			Steps struct {
				CountSum json.RawMessage `json:"countSum"`
			} `json:"steps"`
			Distance struct {
				MillimetersSum json.RawMessage `json:"millimetersSum"`
			} `json:"distance"`
			Calories struct {
				KcalSum json.RawMessage `json:"kcalSum"`
			} `json:"totalCalories"`
			CivilStart struct{ Date map[string]int } `json:"civilStartTime"`
			CivilEnd   struct{ Date map[string]int } `json:"civilEndTime"`
		} `json:"rollupDataPoints"`
	}
	if err := json.Unmarshal(r.raw, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Points) != 3 {
		t.Fatalf("%d data points for [2026-11-20, 2026-11-23), want 3: %s", len(out.Points), r.raw)
	}
	for i, p := range out.Points {
		day := time.Date(2026, 11, 20+i, 0, 0, 0, 0, time.UTC)
		date := day.Format("2006-01-02")
		next := day.AddDate(0, 0, 1)
		if want := map[string]int{"year": 2026, "month": 11, "day": day.Day()}; !reflect.DeepEqual(p.CivilStart.Date, want) {
			t.Errorf("point %d civilStartTime %v, want %v", i, p.CivilStart.Date, want)
		}
		if want := map[string]int{"year": next.Year(), "month": int(next.Month()), "day": next.Day()}; !reflect.DeepEqual(p.CivilEnd.Date, want) {
			t.Errorf("point %d civilEndTime %v, want %v", i, p.CivilEnd.Date, want)
		}
		// int64 values are JSON strings.
		steps := Steps("ADA1", date)
		if got, want := string(p.Steps.CountSum), strconv.Quote(strconv.Itoa(steps)); got != want {
			t.Errorf("%s: countSum %s, want %s (Steps(ADA1, %s))", date, got, want, date)
		}
		if got, want := string(p.Distance.MillimetersSum), strconv.Quote(strconv.Itoa(steps*762)); got != want {
			t.Errorf("%s: millimetersSum %s, want %s", date, got, want)
		}
		// kcalSum is a double, a JSON number: the Fitbit fake's caloriesOut.
		fitbit := activityJSON("ADA1", date)["summary"].(map[string]any)["caloriesOut"]
		if got, want := string(p.Calories.KcalSum), strconv.Itoa(fitbit.(int)); got != want {
			t.Errorf("%s: kcalSum %s, want %s (Fitbit caloriesOut)", date, got, want)
		}
		if g.StepsFor("ADA1", date) != steps || g.DayReads("ADA1", date) != 1 {
			t.Errorf("%s: StepsFor %d DayReads %d", date, g.StepsFor("ADA1", date), g.DayReads("ADA1", date))
		}
	}
	// The answer has every key of the mapper's contract sample.
	if b, err := os.ReadFile("../engine/mapping/testdata/google-health-daily-rollup.json"); err == nil {
		if missing := missingKeys(jsonValue(t, string(b)), r.body, "$"); len(missing) > 0 {
			t.Errorf("rollup lacks the contract sample's keys %v", missing)
		}
	} else {
		t.Logf("contract sample not checked: %v", err)
	}

	// Another user gets their own numbers; proto3 JSON also takes int32s as
	// strings and field names in snake_case; a window sums its days.
	tk2 := googleConnect(t, g, "NOVA7", bothGoogleScopes)
	r = googleAPI(t, g, "POST", tk2.access, googleRollupPath,
		`{"range":{"start":{"date":{"year":"2026","month":"11","day":"16"},"time":{"hours":0}},"end":{"date":{"year":2026,"month":11,"day":26}}},"window_size_days":7}`)
	if r.status != 200 {
		t.Fatalf("weekly rollup: %d %s", r.status, r.raw)
	}
	pts := r.body["rollupDataPoints"].([]any)
	if len(pts) != 2 {
		t.Fatalf("%d weekly points over 10 days, want 2: %s", len(pts), r.raw)
	}
	sum := func(from, to int) int {
		n := 0
		for d := from; d < to; d++ {
			n += Steps("NOVA7", time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC).Format("2006-01-02"))
		}
		return n
	}
	for i, want := range []int{sum(16, 23), sum(23, 26)} {
		p := pts[i].(map[string]any)
		if got := p["steps"].(map[string]any)["countSum"]; got != strconv.Itoa(want) {
			t.Errorf("week %d: countSum %v, want %d", i, got, want)
		}
	}
	last := pts[1].(map[string]any)["civilEndTime"].(map[string]any)["date"].(map[string]any)
	if last["day"] != float64(26) {
		t.Errorf("the last window ends at the range end: %v", last)
	}
}

func TestGoogleDailyRollUpRejectsMalformedBodies(t *testing.T) {
	g, _ := startGoogle(t, GoogleHealthOptions{})
	tk := googleConnect(t, g, "ADA1", bothGoogleScopes)
	d := func(y, m, day int) string {
		return `{"date":{"year":` + strconv.Itoa(y) + `,"month":` + strconv.Itoa(m) + `,"day":` + strconv.Itoa(day) + `}}`
	}
	rng := func(start, end string) string {
		return `{"range":{"start":` + start + `,"end":` + end + `},"windowSizeDays":1}`
	}
	for name, body := range map[string]string{
		"not JSON":           `{"range":`,
		"empty":              ``,
		"array":              `[]`,
		"no range":           `{"windowSizeDays":1}`,
		"no end":             `{"range":{"start":` + d(2026, 11, 22) + `}}`,
		"no date":            rng(`{}`, d(2026, 11, 23)),
		"no day":             rng(`{"date":{"year":2026,"month":11}}`, d(2026, 11, 23)),
		"month 13":           rng(d(2026, 13, 1), d(2027, 1, 2)),
		"30 February":        rng(d(2026, 2, 30), d(2026, 3, 2)),
		"year 0":             rng(d(0, 1, 1), d(2026, 1, 2)),
		"end equals start":   rng(d(2026, 11, 22), d(2026, 11, 22)),
		"end before start":   rng(d(2026, 11, 23), d(2026, 11, 22)),
		"fractional day":     rng(`{"date":{"year":2026,"month":11,"day":22.5}}`, d(2026, 11, 23)),
		"day as words":       rng(`{"date":{"year":2026,"month":11,"day":"twenty"}}`, d(2026, 11, 23)),
		"date as string":     rng(`{"date":"2026-11-22"}`, d(2026, 11, 23)),
		"unknown field":      `{"range":{"start":` + d(2026, 11, 22) + `,"end":` + d(2026, 11, 23) + `},"windowSize":1}`,
		"case-folded field":  `{"Range":{"start":` + d(2026, 11, 22) + `,"end":` + d(2026, 11, 23) + `}}`,
		"window 0":           `{"range":{"start":` + d(2026, 11, 22) + `,"end":` + d(2026, 11, 23) + `},"windowSizeDays":0}`,
		"not midnight":       rng(`{"date":{"year":2026,"month":11,"day":22},"time":{"hours":6}}`, d(2026, 11, 23)),
		"range too long":     rng(d(2024, 1, 1), d(2026, 1, 1)),
		"trailing data":      rng(d(2026, 11, 22), d(2026, 11, 23)) + `{}`,
		"range not object":   `{"range":"2026-11-22/2026-11-23"}`,
		"ISO interval range": `{"range":{"startTime":"2026-11-22T00:00:00","endTime":"2026-11-23T00:00:00"}}`,
	} {
		r := googleAPI(t, g, "POST", tk.access, googleRollupPath, body)
		e, _ := r.body["error"].(map[string]any)
		if r.status != 400 || e == nil || e["status"] != "INVALID_ARGUMENT" || e["code"] != float64(400) {
			t.Errorf("%s: got %d %s, want 400 INVALID_ARGUMENT", name, r.status, r.raw)
		}
	}
	for _, date := range []string{"2026-11-22", "2026-11-23"} {
		if n := g.DayReads("ADA1", date); n != 0 {
			t.Errorf("a rejected request served %s %d times", date, n)
		}
	}
	// A field violation names the field.
	r := googleAPI(t, g, "POST", tk.access, googleRollupPath, rng(d(2026, 13, 1), d(2027, 1, 2)))
	if !strings.Contains(string(r.raw), `"field": "range.start.date"`) || !strings.Contains(string(r.raw), "google.rpc.BadRequest") {
		t.Errorf("month 13: no field violation for range.start.date: %s", r.raw)
	}
}

func TestGoogleRateLimit(t *testing.T) {
	g, c := startGoogle(t, GoogleHealthOptions{RateLimit: 3})
	ada := googleConnect(t, g, "ADA1", bothGoogleScopes)
	alan := googleConnect(t, g, "ALAN2", bothGoogleScopes)
	for i := 0; i < 3; i++ {
		if r := googleAPI(t, g, "GET", ada.access, "/v4/users/me/identity", ""); r.status != 200 {
			t.Fatalf("call %d: %d", i+1, r.status)
		}
	}
	r := googleAPI(t, g, "GET", ada.access, "/v4/users/me/identity", "")
	e := wantGoogleError(t, r, 429, "RESOURCE_EXHAUSTED")
	if missing := missingKeys(jsonValue(t, googleSampleExhausted), r.body, "$"); len(missing) > 0 {
		t.Errorf("429 lacks the sample's keys %v: %s", missing, r.raw)
	}
	if googleReason(e) != "RATE_LIMIT_EXCEEDED" {
		t.Errorf("429 reason %q", googleReason(e))
	}
	// The quota is per user: another user still gets through.
	if r := googleAPI(t, g, "GET", alan.access, "/v4/users/me/identity", ""); r.status != 200 {
		t.Errorf("other user: %d", r.status)
	}
	// And per minute: the next minute is fresh.
	c.Add(30 * time.Second)
	if r := googleAPI(t, g, "GET", ada.access, "/v4/users/me/identity", ""); r.status != 200 {
		t.Errorf("next minute: %d %s", r.status, r.raw)
	}
	if st := g.State("ADA1"); st.RateLimited != 1 || st.APICalls != 5 || g.APICalls("ADA1") != 5 {
		t.Errorf("state %+v", st)
	}

	// Forced 429s come first, then the quota applies again.
	g.ForceRateLimit("ALAN2", 2)
	for i := 0; i < 2; i++ {
		wantGoogleError(t, googleAPI(t, g, "POST", alan.access, googleRollupPath, googleRollupBody("2026-11-22", "2026-11-23")), 429, "RESOURCE_EXHAUSTED")
	}
	if r := googleAPI(t, g, "GET", alan.access, "/v4/users/me/identity", ""); r.status != 200 {
		t.Errorf("after forced 429s: %d", r.status)
	}
}

func TestGoogleRateLimitConcurrent(t *testing.T) {
	g, _ := startGoogle(t, GoogleHealthOptions{RateLimit: 10})
	tk := googleConnect(t, g, "ADA1", bothGoogleScopes)
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, g.URL+"/v4/users/me/identity", nil)
			req.Header.Set("Authorization", "Bearer "+tk.access)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			counts[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if counts[200] != 10 || counts[429] != 6 {
		t.Errorf("16 concurrent calls under a limit of 10: %v", counts)
	}
}

func TestGoogleFailNext(t *testing.T) {
	g, _ := startGoogle(t, GoogleHealthOptions{})
	tk := googleConnect(t, g, "ADA1", bothGoogleScopes)
	g.FailNext("/v4/", 503, 1)
	wantGoogleError(t, googleAPI(t, g, "GET", tk.access, "/v4/users/me/identity", ""), 503, "UNAVAILABLE")
	if r := googleAPI(t, g, "GET", tk.access, "/v4/users/me/identity", ""); r.status != 200 {
		t.Errorf("after the injected failure: %d", r.status)
	}
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/sandbox/fail?prefix=/token&status=500", nil)
	if r := do(t, req); r.status != 200 {
		t.Fatalf("control: %d %s", r.status, r.raw)
	}
	wantGoogleError(t, googleRefresh(t, g, tk.refresh), 500, "INTERNAL")
	googleTokensOf(t, googleRefresh(t, g, tk.refresh))
	if st := g.Stats(); st.InjectedFailures != 2 || st.Refreshes != 1 {
		t.Errorf("stats %+v", st)
	}
}

// ---- webhooks ----

type googleRequest struct {
	auth, contentType string
	hasAuth           bool
	body              []byte
}

// googleWebhook records requests and answers with answer(request).
func googleWebhook(t *testing.T, answer func(googleRequest) int) (*httptest.Server, func() []googleRequest) {
	t.Helper()
	var mu sync.Mutex
	var got []googleRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, has := r.Header["Authorization"]
		req := googleRequest{auth: r.Header.Get("Authorization"), hasAuth: has, contentType: r.Header.Get("Content-Type"), body: b}
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		w.WriteHeader(answer(req))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []googleRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]googleRequest(nil), got...)
	}
}

const googleWebhookAuth = "Bearer sandbox-webhook-secret"

// correctSubscriber answers as Google wants: 201 to a verification with
// the configured header, 401 without it, 204 to a notification.
func correctSubscriber(r googleRequest) int {
	if r.auth != googleWebhookAuth {
		return http.StatusUnauthorized
	}
	if string(r.body) == GoogleVerificationBody {
		return http.StatusCreated
	}
	return http.StatusNoContent
}

func TestGoogleVerifySubscriber(t *testing.T) {
	g, _ := startGoogle(t, GoogleHealthOptions{})
	srv, got := googleWebhook(t, correctSubscriber)
	if err := g.VerifySubscriber(srv.URL, googleWebhookAuth); err != nil {
		t.Fatalf("correct subscriber: %v", err)
	}
	reqs := got()
	if len(reqs) != 2 {
		t.Fatalf("%d verification requests, want 2", len(reqs))
	}
	if reqs[0].auth != googleWebhookAuth || reqs[1].hasAuth {
		t.Errorf("verification headers: first %q, second has Authorization %v", reqs[0].auth, reqs[1].hasAuth)
	}
	for _, r := range reqs {
		if !reflect.DeepEqual(jsonValue(t, string(r.body)), map[string]any{"type": "verification"}) || r.contentType != "application/json" {
			t.Errorf("verification body %s (%s)", r.body, r.contentType)
		}
	}
	if b, err := os.ReadFile("../engine/mapping/testdata/google-health-verification.json"); err == nil {
		if !reflect.DeepEqual(jsonValue(t, string(b)), jsonValue(t, GoogleVerificationBody)) {
			t.Errorf("verification body differs from the contract sample %s", b)
		}
	}
	if g.Stats().Verifications != 2 {
		t.Errorf("verifications %d", g.Stats().Verifications)
	}

	for name, c := range map[string]struct {
		answer func(googleRequest) int
		want   []string // substrings of the error
	}{
		"accepts anything": {func(googleRequest) int { return 201 }, []string{"without an Authorization header answered 201"}},
		"200 not 201":      {func(r googleRequest) int { return map[bool]int{true: 200, false: 403}[r.auth == googleWebhookAuth] }, []string{"with the Authorization header answered 200"}},
		"wrong secret":     {func(r googleRequest) int { return 401 }, []string{"with the Authorization header answered 401"}},
		"404 everything":   {func(googleRequest) int { return 404 }, []string{"with the Authorization header answered 404", "without an Authorization header answered 404"}},
	} {
		srv, _ := googleWebhook(t, c.answer)
		err := g.VerifySubscriber(srv.URL, googleWebhookAuth)
		if err == nil {
			t.Errorf("%s: VerifySubscriber passed", name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", name, err, w)
			}
		}
	}
	if err := g.VerifySubscriber(srv.URL, ""); err == nil {
		t.Errorf("VerifySubscriber with no configured Authorization passed")
	}

	// Single verification POST, with and without the header.
	resp, err := g.NotifyVerification(srv.URL, googleWebhookAuth)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Errorf("NotifyVerification: %d", resp.StatusCode)
	}

	// The control endpoint runs the same check.
	body := `{"url":` + strconv.Quote(srv.URL) + `,"authorization":` + strconv.Quote(googleWebhookAuth) + `}`
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/sandbox/verify", strings.NewReader(body))
	if r := do(t, req); r.status != 200 || r.body["ok"] != true {
		t.Errorf("/sandbox/verify: %d %s", r.status, r.raw)
	}
	req, _ = http.NewRequest(http.MethodPost, g.URL+"/sandbox/verify", strings.NewReader(`{"url":"http://example.com/hook","authorization":"x"}`))
	if r := do(t, req); r.status != 400 {
		t.Errorf("/sandbox/verify to a non-loopback URL: %d", r.status)
	}
}

func TestGoogleNotifyBody(t *testing.T) {
	g, _ := startGoogle(t, GoogleHealthOptions{})
	srv, got := googleWebhook(t, correctSubscriber)
	n := g.NotificationFor("ADA1", "2026-11-22", "2026-11-30")
	resp, err := g.Notify(srv.URL, googleWebhookAuth, n)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Errorf("Notify answered %d, want the subscriber's 204", resp.StatusCode)
	}
	reqs := got()
	if len(reqs) != 1 || reqs[0].auth != googleWebhookAuth || reqs[0].contentType != "application/json" {
		t.Fatalf("requests %+v", reqs)
	}
	want := jsonValue(t, `{"data":{"healthUserId":"hu-ada1","operation":"UPSERT","dataType":"steps","intervals":[
		{"civilIso8601TimeInterval":{"startTime":"2026-11-22T00:00:00","endTime":"2026-11-23T00:00:00"}},
		{"civilIso8601TimeInterval":{"startTime":"2026-11-30T00:00:00","endTime":"2026-12-01T00:00:00"}}]}}`)
	if gotBody := jsonValue(t, string(reqs[0].body)); !reflect.DeepEqual(gotBody, want) {
		t.Errorf("notification body %s", reqs[0].body)
	}
	// The same shape as the mapper's contract sample.
	if b, err := os.ReadFile("../engine/mapping/testdata/google-health-notification.json"); err == nil {
		sample := jsonValue(t, string(b))
		sample.(map[string]any)["data"].(map[string]any)["healthUserId"] = "hu-ada1"
		body := jsonValue(t, string(GoogleNotificationBody(g.NotificationFor("ADA1", "2026-11-22"))))
		if !reflect.DeepEqual(body, sample) {
			t.Errorf("notification for one day %v differs from the contract sample %v", body, sample)
		}
	}
	// Defaults for a hand-made notification.
	body := jsonValue(t, string(GoogleNotificationBody(GoogleNotification{HealthUserID: "x"})))
	if d := body.(map[string]any)["data"].(map[string]any); d["operation"] != "UPSERT" || d["dataType"] != "steps" || d["intervals"] == nil {
		t.Errorf("defaults: %v", d)
	}
	// Through the control endpoint, without the header: the subscriber refuses.
	ctl := `{"url":` + strconv.Quote(srv.URL) + `,"user":"NOVA7","dates":["2026-11-22"]}`
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/sandbox/notify", strings.NewReader(ctl))
	if r := do(t, req); r.status != 200 || r.body["status"] != float64(401) {
		t.Errorf("/sandbox/notify without authorization: %d %s", r.status, r.raw)
	}
	if reqs := got(); len(reqs) != 2 || reqs[1].hasAuth || !strings.Contains(string(reqs[1].body), `"healthUserId":"hu-nova7"`) {
		t.Errorf("control notification: %+v", reqs)
	}
	if g.Stats().Notifications != 2 {
		t.Errorf("notifications %d", g.Stats().Notifications)
	}
}

func TestGoogleControlEndpoints(t *testing.T) {
	g, _ := startGoogle(t, GoogleHealthOptions{})
	tk := googleConnect(t, g, "ADA1", bothGoogleScopes)
	post := func(path string) result {
		req, _ := http.NewRequest(http.MethodPost, g.URL+path, nil)
		return do(t, req)
	}
	if r := get(t, g.URL+"/sandbox/steps?user=ADA1&date=2026-11-22"); r.status != 200 ||
		r.body["steps"] != float64(Steps("ADA1", "2026-11-22")) || r.body["healthUserId"] != "hu-ada1" {
		t.Errorf("steps: %d %s", r.status, r.raw)
	}
	if r := post("/sandbox/expire?user=ADA1"); r.status != 200 || r.body["expired"] != float64(1) {
		t.Errorf("expire: %d %s", r.status, r.raw)
	}
	wantGoogleError(t, googleAPI(t, g, "GET", tk.access, "/v4/users/me/identity", ""), 401, "UNAUTHENTICATED")
	tk.access = googleTokensOf(t, googleRefresh(t, g, tk.refresh)).access
	if r := post("/sandbox/rate-limit?user=ADA1&n=1"); r.status != 200 {
		t.Errorf("rate-limit: %d", r.status)
	}
	wantGoogleError(t, googleAPI(t, g, "GET", tk.access, "/v4/users/me/identity", ""), 429, "RESOURCE_EXHAUSTED")
	r := get(t, g.URL+"/sandbox/users")
	users, _ := r.body["users"].([]any)
	var ada map[string]any
	for _, u := range users {
		if m := u.(map[string]any); m["user"].(map[string]any)["id"] == "ADA1" {
			ada = m
		}
	}
	if ada == nil || ada["connected"] != true || ada["refreshes"] != float64(1) || ada["rate_limited"] != float64(1) {
		t.Errorf("users: %s", r.raw)
	}
	if r := post("/sandbox/revoke-user?user=ADA1"); r.status != 200 || r.body["revoked_grants"] != float64(1) {
		t.Errorf("revoke-user: %d %s", r.status, r.raw)
	}
	wantOAuthError(t, googleRefresh(t, g, tk.refresh), 400, "invalid_grant")
	if r := get(t, g.URL+"/sandbox/stats"); r.status != 200 || r.body["refreshes"] != float64(1) {
		t.Errorf("stats: %d %s", r.status, r.raw)
	}
	if r := post("/sandbox/expire?user=ada"); r.status != 400 {
		t.Errorf("bad user id: %d", r.status)
	}
	if r := get(t, g.URL+"/sandbox/nope"); r.status != 404 {
		t.Errorf("unknown control: %d", r.status)
	}
}

func TestGoogleEnv(t *testing.T) {
	g, _ := startGoogle(t, GoogleHealthOptions{})
	env := strings.Join(g.Env(), "\n")
	for _, want := range []string{
		"GOOGLE_HEALTH_API_URL=" + g.URL + "\n",
		"GOOGLE_HEALTH_AUTHORIZE_URL=" + g.URL + "/o/oauth2/v2/auth\n",
		"GOOGLE_HEALTH_TOKEN_URL=" + g.URL + "/token",
	} {
		if !strings.Contains(env+"\n", want) {
			t.Errorf("Env lacks %q:\n%s", want, env)
		}
	}
}
