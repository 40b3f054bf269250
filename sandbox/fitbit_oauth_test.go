package sandbox

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOAuthDanceWithPKCE(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	r := get(t, authorizeURL(f, "activity profile", "state-123", url.Values{"sandbox_user": {"ADA1"}}))
	if r.status != http.StatusFound {
		t.Fatalf("authorize: %d %s", r.status, r.raw)
	}
	loc := r.header.Get("Location")
	if !strings.HasPrefix(loc, DefaultRedirectURI+"?") || !strings.HasSuffix(loc, "#_=_") {
		t.Errorf("Location %q: want the registered redirect URI with Fitbit's #_=_ fragment", loc)
	}
	u, _ := url.Parse(loc)
	if u.Query().Get("state") != "state-123" || u.Query().Get("code") == "" {
		t.Fatalf("redirect query %v: want code and state", u.Query())
	}
	res := exchange(t, f, u.Query().Get("code"), testVerifier)
	tk := tokensOf(t, res)
	if res.body["expires_in"] != float64(28800) || res.body["token_type"] != "Bearer" ||
		tk.scope != "activity profile" || tk.user != "ADA1" {
		t.Errorf("token response %s", res.raw)
	}
	if missing := missingKeys(sample(t, "token-response.json"), res.body, "$"); len(missing) > 0 {
		t.Errorf("token response lacks sample keys %v", missing)
	}
	if len(strings.Split(tk.access, ".")) != 3 {
		t.Errorf("access token %q is not JWT-shaped like Fitbit's", tk.access)
	}
	p := api(t, f, "GET", tk.access, "/1/user/-/profile.json")
	if p.status != http.StatusOK {
		t.Fatalf("profile: %d %s", p.status, p.raw)
	}
	if st := f.Stats(); st.Authorizations != 1 || st.CodeExchanges != 1 {
		t.Errorf("stats %+v", st)
	}
	if got := f.Connected(); len(got) != 1 || got[0] != "ADA1" {
		t.Errorf("Connected() = %v", got)
	}
}

func TestAuthorizeGrantsIntersectionOfScopes(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	q := authorize(t, f, "profile weight activity sleep", "s", url.Values{"sandbox_user": {"GRACE3"}, "sandbox_scopes": {"activity sleep heartrate"}})
	tk := tokensOf(t, exchange(t, f, q.Get("code"), testVerifier))
	if tk.scope != "activity sleep" || tk.user != "GRACE3" {
		t.Fatalf("granted %q to %q; want \"activity sleep\" to GRACE3", tk.scope, tk.user)
	}
	// Without sandbox_user: the default user, every requested scope.
	q = authorize(t, f, "activity profile", "s", nil)
	tk = tokensOf(t, exchange(t, f, q.Get("code"), testVerifier))
	if tk.scope != "activity profile" || tk.user != "ADA1" {
		t.Fatalf("default approval: %q to %q", tk.scope, tk.user)
	}
	// An unknown user id is created with a generated profile.
	q = authorize(t, f, "activity profile", "s", url.Values{"sandbox_user": {"ZED99"}})
	tk = tokensOf(t, exchange(t, f, q.Get("code"), testVerifier))
	if tk.user != "ZED99" || f.User("ZED99") != GeneratedUser("ZED99") {
		t.Fatalf("generated user: %q", tk.user)
	}
}

func TestQueuedApprovals(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	f.QueueApproval(Approval{User: "LINUS5", Scopes: []string{"activity"}})
	req, _ := http.NewRequest(http.MethodPost, f.URL+"/sandbox/approve-next?user=EMMY6&deny=1", nil)
	if r := do(t, req); r.status != 200 {
		t.Fatalf("approve-next: %d %s", r.status, r.raw)
	}
	q := authorize(t, f, "activity profile", "s", nil)
	if tk := tokensOf(t, exchange(t, f, q.Get("code"), testVerifier)); tk.user != "LINUS5" || tk.scope != "activity" {
		t.Errorf("first queued approval: %+v", tk)
	}
	// Explicit sandbox_* parameters win and leave the queue alone.
	q = authorize(t, f, "activity profile", "s", url.Values{"sandbox_user": {"ADA1"}})
	if tk := tokensOf(t, exchange(t, f, q.Get("code"), testVerifier)); tk.user != "ADA1" {
		t.Errorf("explicit user: %+v", tk)
	}
	if q := authorize(t, f, "activity profile", "s", nil); q.Get("error") != "access_denied" {
		t.Errorf("second queued approval (deny): %v", q)
	}
	q = authorize(t, f, "activity profile", "s", nil)
	if tk := tokensOf(t, exchange(t, f, q.Get("code"), testVerifier)); tk.user != "ADA1" || tk.scope != "activity profile" {
		t.Errorf("empty queue: %+v", tk)
	}
}

func TestAuthorizeDeny(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	q := authorize(t, f, "activity profile", "xyz", url.Values{"sandbox_deny": {"1"}})
	if q.Get("error") != "access_denied" || q.Get("state") != "xyz" || q.Get("code") != "" {
		t.Fatalf("deny redirect query %v", q)
	}
	if f.Stats().Denials != 1 {
		t.Error("denial not counted")
	}
}

func TestAuthorizeRejectsBadRequests(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	// Unknown client and unregistered redirect URI: an error page, never a redirect.
	for name, extra := range map[string]url.Values{
		"unknown client":       {"client_id": {"NOPE"}},
		"redirect mismatch":    {"redirect_uri": {"http://127.0.0.1:8080/evil"}},
		"redirect other host":  {"redirect_uri": {"http://attacker.example/fitbit/callback"}},
		"sandbox_user invalid": {"sandbox_user": {"ada lovelace"}},
	} {
		r := get(t, authorizeURL(f, "activity", "s", extra))
		if r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
			t.Errorf("%s: %d Location=%q, want 400 without redirect", name, r.status, r.header.Get("Location"))
		}
	}
	// Other errors are redirected to the (valid) redirect URI.
	for name, c := range map[string]struct {
		extra url.Values
		err   string
	}{
		"no challenge":     {url.Values{"code_challenge": {""}}, "invalid_request"},
		"plain method":     {url.Values{"code_challenge_method": {"plain"}}, "invalid_request"},
		"short challenge":  {url.Values{"code_challenge": {"abc"}}, "invalid_request"},
		"unknown scope":    {url.Values{"scope": {"activity steps"}}, "invalid_scope"},
		"no scope":         {url.Values{"scope": {""}}, "invalid_request"},
		"implicit grant":   {url.Values{"response_type": {"token"}}, "unsupported_response_type"},
		"no scope granted": {url.Values{"sandbox_scopes": {"heartrate"}}, "access_denied"},
	} {
		r := get(t, authorizeURL(f, "activity profile", "s", c.extra))
		u, _ := url.Parse(r.header.Get("Location"))
		if r.status != http.StatusFound || u == nil || u.Query().Get("error") != c.err || u.Query().Get("code") != "" {
			t.Errorf("%s: %d Location=%q, want 302 with error=%s", name, r.status, r.header.Get("Location"), c.err)
		}
	}
}

func TestTokenPKCE(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	q := authorize(t, f, "activity profile", "s", nil)
	wantFitbitError(t, exchange(t, f, q.Get("code"), strings.Repeat("x", 50)), 400, "invalid_grant")
	// The failed attempt spent the code: the right verifier is too late.
	wantFitbitError(t, exchange(t, f, q.Get("code"), testVerifier), 400, "invalid_grant")

	q = authorize(t, f, "activity profile", "s", nil)
	wantFitbitError(t, tokenRequest(t, f, f.ClientID(), f.ClientSecret(), url.Values{
		"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {f.RedirectURI()},
	}), 400, "invalid_request")

	q = authorize(t, f, "activity profile", "s", nil)
	tokensOf(t, exchange(t, f, q.Get("code"), testVerifier))
	if st := f.Stats(); st.FailedExchanges != 3 || st.CodeExchanges != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestCodeIsSingleUse(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	q := authorize(t, f, "activity profile", "s", nil)
	tokensOf(t, exchange(t, f, q.Get("code"), testVerifier))
	r := exchange(t, f, q.Get("code"), testVerifier)
	wantFitbitError(t, r, 400, "invalid_grant")
	wantFitbitError(t, exchange(t, f, "deadbeef", testVerifier), 400, "invalid_grant")
}

func TestCodeExpiresAfterTenMinutes(t *testing.T) {
	f, c := startFitbit(t, FitbitOptions{})
	q := authorize(t, f, "activity profile", "s", nil)
	c.Add(9*time.Minute + 59*time.Second)
	tokensOf(t, exchange(t, f, q.Get("code"), testVerifier))

	q = authorize(t, f, "activity profile", "s", nil)
	c.Add(10 * time.Minute)
	r := exchange(t, f, q.Get("code"), testVerifier)
	wantFitbitError(t, r, 400, "invalid_grant")
	if !strings.Contains(errorMessage(r), "expired") {
		t.Errorf("message %q does not say expired", errorMessage(r))
	}
}

func TestTokenRedirectURIMustMatch(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{RedirectURIs: []string{"http://127.0.0.1:8080/fitbit/callback", "http://localhost:8080/fitbit/callback"}})
	q := authorize(t, f, "activity profile", "s", nil)
	r := tokenRequest(t, f, f.ClientID(), f.ClientSecret(), url.Values{
		"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {"http://localhost:8080/fitbit/callback"}, "code_verifier": {testVerifier},
	})
	wantFitbitError(t, r, 400, "invalid_grant")

	q = authorize(t, f, "activity profile", "s", nil)
	r = tokenRequest(t, f, f.ClientID(), f.ClientSecret(), url.Values{
		"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "code_verifier": {testVerifier},
	})
	wantFitbitError(t, r, 400, "invalid_request")
}

func TestTokenClientAuthentication(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{ClientID: "ABC123", ClientSecret: "s3cret"})
	q := authorize(t, f, "activity profile", "s", nil)
	form := url.Values{
		"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {f.RedirectURI()}, "code_verifier": {testVerifier},
	}
	wantFitbitError(t, tokenRequest(t, f, "ABC123", "wrong", form), 401, "invalid_client")
	wantFitbitError(t, tokenRequest(t, f, "", "", form), 401, "invalid_client")
	wantFitbitError(t, tokenRequest(t, f, "OTHER", "s3cret", form), 401, "invalid_client")
	// Client authentication failed before the code was looked at: it still works.
	tokensOf(t, tokenRequest(t, f, "ABC123", "s3cret", form))
	wantFitbitError(t, tokenRequest(t, f, "ABC123", "s3cret", url.Values{"grant_type": {"password"}}), 400, "unsupported_grant_type")
}

func TestRefreshRotatesAndSpentTokenIsDead(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	t0 := connect(t, f, "ADA1", "activity profile")

	r1 := refreshReq(t, f, t0.refresh)
	t1 := tokensOf(t, r1)
	if t1.access == t0.access || t1.refresh == t0.refresh {
		t.Fatal("refresh did not rotate both tokens")
	}
	if t1.scope != "activity profile" || t1.user != "ADA1" || r1.body["expires_in"] != float64(28800) {
		t.Errorf("refresh response %s", r1.raw)
	}
	// Fitbit's grace: an identical repeat before the new access token is
	// used gets the same answer, and is not a reuse.
	if r := refreshReq(t, f, t0.refresh); string(r.raw) != string(r1.raw) {
		t.Fatalf("identical repeat: %d %s, want the first answer again", r.status, r.raw)
	}
	if f.SpentRefreshTokenReused() != 0 || f.Stats().GraceReplays != 1 {
		t.Fatalf("grace replay counted as reuse: %+v", f.Stats())
	}
	// Using the new access token ends the grace.
	if r := api(t, f, "GET", t1.access, "/1/user/-/profile.json"); r.status != 200 {
		t.Fatalf("new access token: %d", r.status)
	}
	r := refreshReq(t, f, t0.refresh)
	wantFitbitError(t, r, 400, "invalid_grant")
	if !strings.HasPrefix(errorMessage(r), "Refresh token invalid: "+t0.refresh) {
		t.Errorf("message %q", errorMessage(r))
	}
	if f.SpentRefreshTokenReused() != 1 {
		t.Errorf("SpentRefreshTokenReused = %d, want 1", f.SpentRefreshTokenReused())
	}
	t2 := tokensOf(t, refreshReq(t, f, t1.refresh))
	if f.RefreshCount("ADA1") != 2 {
		t.Errorf("RefreshCount = %d, want 2", f.RefreshCount("ADA1"))
	}
	if st := f.State("ADA1"); st.LiveRefreshTokens != 1 || !st.Connected {
		t.Errorf("state %+v: want exactly one live refresh token", st)
	}
	_ = t2
}

func TestRefreshGraceOnlyForIdenticalRepeat(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	t0 := connect(t, f, "ALAN2", "activity profile")
	tokensOf(t, refreshReq(t, f, t0.refresh))
	// Not identical (another parameter): dead at once.
	r := tokenRequest(t, f, f.ClientID(), f.ClientSecret(), url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {t0.refresh}, "expires_in": {"3600"},
	})
	wantFitbitError(t, r, 400, "invalid_grant")
	if f.SpentRefreshTokenReused() != 1 {
		t.Errorf("SpentRefreshTokenReused = %d", f.SpentRefreshTokenReused())
	}
}

func TestRefreshGraceEndsWhenNewRefreshTokenIsSpent(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	t0 := connect(t, f, "ALAN2", "activity profile")
	t1 := tokensOf(t, refreshReq(t, f, t0.refresh))
	tokensOf(t, refreshReq(t, f, t1.refresh))
	wantFitbitError(t, refreshReq(t, f, t0.refresh), 400, "invalid_grant")
}

func TestConcurrentIdenticalRefreshesGetOneRotation(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	t0 := connect(t, f, "KATH4", "activity profile")
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := refreshReq(t, f, t0.refresh)
			if r.status == 200 {
				got[i] = r.body["refresh_token"].(string)
			}
		}()
	}
	wg.Wait()
	for _, g := range got {
		if g == "" || g != got[0] {
			t.Fatalf("concurrent identical refreshes answered differently: %v", got)
		}
	}
	if f.RefreshCount("KATH4") != 1 || f.SpentRefreshTokenReused() != 0 {
		t.Errorf("RefreshCount %d, reuse %d", f.RefreshCount("KATH4"), f.SpentRefreshTokenReused())
	}
}

func TestAccessTokenExpiry(t *testing.T) {
	f, c := startFitbit(t, FitbitOptions{})
	tk := connect(t, f, "ADA1", "activity profile")
	c.Add(8*time.Hour - time.Second)
	if r := api(t, f, "GET", tk.access, "/1/user/-/profile.json"); r.status != 200 {
		t.Fatalf("just before 8 h: %d", r.status)
	}
	c.Add(time.Second)
	r := api(t, f, "GET", tk.access, "/1/user/-/profile.json")
	wantFitbitError(t, r, 401, "expired_token")
	if missing := missingKeys(sample(t, "error-expired-token.json"), r.body, "$"); len(missing) > 0 {
		t.Errorf("401 body lacks sample keys %v", missing)
	}
	if !strings.HasPrefix(errorMessage(r), "Access token expired: "+tk.access) {
		t.Errorf("message %q", errorMessage(r))
	}
	// The refresh token outlives the access token.
	tk2 := tokensOf(t, refreshReq(t, f, tk.refresh))
	if r := api(t, f, "GET", tk2.access, "/1/user/-/profile.json"); r.status != 200 {
		t.Fatalf("after refresh: %d", r.status)
	}
}

func TestExpireAccessTokenNow(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	ada := connect(t, f, "ADA1", "activity profile")
	alan := connect(t, f, "ALAN2", "activity profile")
	if n := f.ExpireAccessToken("ADA1"); n != 1 {
		t.Errorf("expired %d tokens, want 1", n)
	}
	wantFitbitError(t, api(t, f, "GET", ada.access, "/1/user/-/profile.json"), 401, "expired_token")
	if r := api(t, f, "GET", alan.access, "/1/user/-/profile.json"); r.status != 200 {
		t.Errorf("another user's token: %d", r.status)
	}
	// The control endpoint does the same.
	req, _ := http.NewRequest(http.MethodPost, f.URL+"/sandbox/expire?user=ALAN2", nil)
	if r := do(t, req); r.status != 200 || r.body["expired"] != float64(1) {
		t.Fatalf("POST /sandbox/expire: %d %s", r.status, r.raw)
	}
	wantFitbitError(t, api(t, f, "GET", alan.access, "/1/user/-/profile.json"), 401, "expired_token")
	wantFitbitError(t, api(t, f, "GET", "not-a-token", "/1/user/-/profile.json"), 401, "invalid_token")
	wantFitbitError(t, api(t, f, "GET", "", "/1/user/-/profile.json"), 401, "invalid_client")
	if st := f.State("ALAN2"); st.Unauthorized != 1 || st.LiveAccessTokens != 0 {
		t.Errorf("state %+v", st)
	}
}

func TestRevoke(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	tk := connect(t, f, "ADA1", "activity profile")
	if r := api(t, f, "POST", tk.access, "/1/user/-/activities/apiSubscriptions/ADA1-activities.json"); r.status != 201 {
		t.Fatalf("subscribe: %d %s", r.status, r.raw)
	}
	revoke := func(id, secret, token string) result {
		req, _ := http.NewRequest(http.MethodPost, f.URL+"/oauth2/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		return do(t, req)
	}
	wantFitbitError(t, revoke(f.ClientID(), "wrong", tk.access), 401, "invalid_client")
	if r := revoke(f.ClientID(), f.ClientSecret(), tk.access); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	wantFitbitError(t, api(t, f, "GET", tk.access, "/1/user/-/profile.json"), 401, "invalid_token")
	wantFitbitError(t, refreshReq(t, f, tk.refresh), 400, "invalid_grant")
	if len(f.Subscriptions("ADA1")) != 0 || len(f.Connected()) != 0 {
		t.Errorf("after revoke: subscriptions %v, connected %v", f.Subscriptions("ADA1"), f.Connected())
	}
	if f.SpentRefreshTokenReused() != 0 {
		t.Error("a revoked (unspent) refresh token is not a reuse")
	}
	// Unknown tokens: 200 as RFC 7009 says.
	if r := revoke(f.ClientID(), f.ClientSecret(), "unknown"); r.status != 200 {
		t.Errorf("revoke unknown: %d", r.status)
	}
}

func TestFailNextInjectsBeforeAnything(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	q := authorize(t, f, "activity profile", "s", nil)
	f.FailNext("/oauth2/token", 503, 2)
	for i := 0; i < 2; i++ {
		if r := exchange(t, f, q.Get("code"), testVerifier); r.status != 503 {
			t.Fatalf("try %d: %d, want 503", i, r.status)
		}
	}
	// The injected failures did not spend the code.
	tk := tokensOf(t, exchange(t, f, q.Get("code"), testVerifier))
	f.FailNext("/1/user/", 500, 1)
	if r := api(t, f, "GET", tk.access, "/1/user/-/profile.json"); r.status != 500 {
		t.Fatalf("api: %d, want 500", r.status)
	}
	if r := api(t, f, "GET", tk.access, "/1/user/-/profile.json"); r.status != 200 {
		t.Fatalf("api after: %d", r.status)
	}
	if f.Stats().InjectedFailures != 3 {
		t.Errorf("stats %+v", f.Stats())
	}
}

// A browser's approval shows the consent page; its form, sent back with
// some boxes unticked, grants those scopes; Deny denies.
func TestConsentPageForABrowser(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	input := regexp.MustCompile(`<input type="(hidden|checkbox)" name="([^"]+)" value="([^"]*)"`)
	page := func() url.Values {
		t.Helper()
		f.QueueApproval(Approval{User: "GRACE3", Page: true})
		r := get(t, authorizeURL(f, "activity profile sleep", "st-9", nil))
		if r.status != http.StatusOK || !strings.Contains(string(r.raw), `id="allow"`) || !strings.Contains(string(r.raw), "GRACE3") {
			t.Fatalf("consent page: %d %s", r.status, r.raw)
		}
		form := url.Values{}
		for _, m := range input.FindAllStringSubmatch(string(r.raw), -1) {
			if m[1] == "checkbox" && m[3] == "sleep" {
				continue // the user unticks sleep
			}
			form.Add(html.UnescapeString(m[2]), html.UnescapeString(m[3]))
		}
		return form
	}
	form := page()
	r := get(t, f.URL+"/oauth2/authorize?"+form.Encode())
	if r.status != http.StatusFound {
		t.Fatalf("Allow: %d %s", r.status, r.raw)
	}
	loc, _ := url.Parse(r.header.Get("Location"))
	if loc.Query().Get("state") != "st-9" {
		t.Fatalf("Allow redirected to %s", loc)
	}
	if tk := tokensOf(t, exchange(t, f, loc.Query().Get("code"), testVerifier)); tk.user != "GRACE3" || tk.scope != "activity profile" {
		t.Errorf("granted %q to %q, want activity profile (sleep unticked) to GRACE3", tk.scope, tk.user)
	}
	form = page()
	form.Set("sandbox_deny", "1")
	r = get(t, f.URL+"/oauth2/authorize?"+form.Encode())
	if loc, _ := url.Parse(r.header.Get("Location")); r.status != http.StatusFound || loc.Query().Get("error") != "access_denied" {
		t.Errorf("Deny: %d %s", r.status, r.header.Get("Location"))
	}
}
