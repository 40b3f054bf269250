package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Scopes are the OAuth scopes the Fitbit authorization page accepts.
var Scopes = []string{
	"activity", "cardio_fitness", "electrocardiogram", "heartrate", "irregular_rhythm_notifications",
	"location", "nutrition", "oxygen_saturation", "profile", "respiratory_rate", "settings", "sleep",
	"social", "temperature", "weight",
}

// PKCE shapes (RFC 7636), shared by the Fitbit and Google fakes.
var (
	challengePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	verifierPattern  = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)
)

// S256 is the PKCE code challenge of a verifier:
// base64url(SHA-256(verifier)) without padding.
func S256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func htmlPage(w http.ResponseWriter, status int, title, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><html><head><title>%s</title></head><body><h1>%s</h1><p>%s</p></body></html>\n",
		html.EscapeString(title), html.EscapeString(title), html.EscapeString(text))
}

// handleAuthorize is the authorization page. Without a human it approves
// for sandbox_user (default FitbitOptions.DefaultUser) the requested scopes
// that are also in sandbox_scopes (default: all requested), or denies with
// sandbox_deny=1.
func (f *Fitbit) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		htmlPage(w, http.StatusMethodNotAllowed, "Method not allowed", "Use GET.")
		return
	}
	q := r.URL.Query()
	// Errors about the client or the redirect URI must not redirect (RFC
	// 6749 4.1.2.1): the page says so itself.
	if q.Get("client_id") != f.opts.ClientID {
		htmlPage(w, http.StatusBadRequest, "Invalid client_id", "The app "+q.Get("client_id")+" is not registered.")
		return
	}
	redirectURI := q.Get("redirect_uri")
	target := redirectURI
	if redirectURI == "" {
		if len(f.opts.RedirectURIs) != 1 {
			htmlPage(w, http.StatusBadRequest, "Missing redirect_uri", "The app registers several callback URLs: redirect_uri is required.")
			return
		}
		target = f.opts.RedirectURIs[0]
	} else if !slices.Contains(f.opts.RedirectURIs, redirectURI) {
		htmlPage(w, http.StatusBadRequest, "Invalid redirect_uri", "redirect_uri "+redirectURI+" does not match a callback URL registered for the app.")
		return
	}
	state := q.Get("state")
	fail := func(code, desc string) {
		redirectTo(w, r, target, url.Values{"error": {code}, "error_description": {desc}}, state)
	}
	if q.Get("response_type") != "code" {
		if q.Get("response_type") == "" {
			fail("invalid_request", "Missing parameters: response_type")
		} else {
			fail("unsupported_response_type", "The response type "+q.Get("response_type")+" is not supported by this sandbox.")
		}
		return
	}
	requested := strings.Fields(q.Get("scope"))
	if len(requested) == 0 {
		fail("invalid_request", "Missing parameters: scope")
		return
	}
	for _, s := range requested {
		if !slices.Contains(Scopes, s) {
			fail("invalid_scope", "The scope "+s+" is not valid.")
			return
		}
	}
	challenge := q.Get("code_challenge")
	if challenge == "" {
		fail("invalid_request", "Missing parameters: code_challenge")
		return
	}
	if m := q.Get("code_challenge_method"); m != "S256" {
		fail("invalid_request", "code_challenge_method must be S256, got "+strconv.Quote(m))
		return
	}
	if !challengePattern.MatchString(challenge) {
		fail("invalid_request", "code_challenge must be the 43-character base64url SHA-256 of the code verifier.")
		return
	}
	user, allow, deny := q.Get("sandbox_user"), formScopes(q["sandbox_scopes"]), q.Get("sandbox_deny") == "1"
	page := false // a queued approval for a browser: show the consent page
	if !q.Has("sandbox_user") && !q.Has("sandbox_scopes") && !q.Has("sandbox_deny") {
		f.mu.Lock()
		if len(f.approvals) > 0 {
			a := f.approvals[0]
			f.approvals = f.approvals[1:]
			user, allow, deny, page = a.User, a.Scopes, a.Deny, a.Page
		}
		f.mu.Unlock()
	}
	if user == "" {
		user = f.opts.DefaultUser
	}
	if !ValidUserID(user) {
		htmlPage(w, http.StatusBadRequest, "Invalid sandbox_user", "A sandbox user id is 1 to 16 of 0-9 and A-Z.")
		return
	}
	granted := dedupSorted(requested)
	if page {
		consentPage(w, r, "Fitbit", user, granted)
		return
	}
	if len(allow) > 0 {
		granted = slices.DeleteFunc(granted, func(s string) bool { return !slices.Contains(allow, s) })
	}
	f.mu.Lock()
	f.userLocked(user)
	if deny || len(granted) == 0 {
		f.stats.Denials++
		f.mu.Unlock()
		fail("access_denied", "The user denied the request.")
		return
	}
	code := randomHex(20)
	f.codes[code] = &authCode{
		code: code, redirectURI: redirectURI, user: user, challenge: challenge,
		scopes: granted, expires: f.now().Add(f.opts.CodeTTL),
	}
	f.stats.Authorizations++
	f.mu.Unlock()
	redirectTo(w, r, target, url.Values{"code": {code}}, state)
}

// redirectTo answers 302 to target with params (and state) added to its
// query, and Fitbit's "#_=_" fragment.
func redirectTo(w http.ResponseWriter, r *http.Request, target string, params url.Values, state string) {
	u, err := url.Parse(target)
	if err != nil {
		htmlPage(w, http.StatusBadRequest, "Invalid redirect_uri", err.Error())
		return
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	if state != "" {
		q.Set("state", state)
	}
	u.RawQuery = q.Encode()
	u.Fragment = "_=_"
	w.Header().Set("Location", u.String())
	w.WriteHeader(http.StatusFound)
}

func dedupSorted(in []string) []string {
	out := slices.Clone(in)
	sort.Strings(out)
	return slices.Compact(out)
}

// clientAuth checks HTTP Basic client_id:client_secret. It answers 401
// invalid_client itself and returns false when they are wrong.
func (f *Fitbit) clientAuth(w http.ResponseWriter, r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if !ok {
		fitbitError(w, http.StatusUnauthorized, "invalid_client", "Authorization header required."+oauthHelp)
		return false
	}
	if subtle.ConstantTimeCompare([]byte(id), []byte(f.opts.ClientID)) != 1 ||
		subtle.ConstantTimeCompare([]byte(secret), []byte(f.opts.ClientSecret)) != 1 {
		fitbitError(w, http.StatusUnauthorized, "invalid_client", "Invalid authorization header. Client id invalid or secret mismatch: "+id+"."+oauthHelp)
		return false
	}
	if cid := r.PostForm.Get("client_id"); cid != "" && cid != id {
		fitbitError(w, http.StatusUnauthorized, "invalid_client", "client_id "+cid+" does not match the authorization header."+oauthHelp)
		return false
	}
	return true
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	TokenType    string `json:"token_type"`
	UserID       string `json:"user_id"`
}

func (f *Fitbit) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		fitbitError(w, http.StatusMethodNotAllowed, "request", "Use POST.")
		return
	}
	if err := parseForm(w, r); err != nil {
		fitbitError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if !f.clientAuth(w, r) {
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "authorization_code":
		f.exchangeCode(w, r)
	case "refresh_token":
		f.refreshGrant(w, r)
	case "":
		fitbitError(w, http.StatusBadRequest, "invalid_request", "Missing parameters: grant_type."+oauthHelp)
	default:
		fitbitError(w, http.StatusBadRequest, "unsupported_grant_type", "The grant type "+gt+" is not supported."+oauthHelp)
	}
}

// parseForm reads an application/x-www-form-urlencoded body (only the
// body: the token endpoint takes no query parameters).
func parseForm(w http.ResponseWriter, r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(strings.ToLower(ct), "application/x-www-form-urlencoded") {
		return fmt.Errorf("Content-Type must be application/x-www-form-urlencoded, got %q", ct)
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	return r.ParseForm()
}

// expiresIn reads the optional expires_in parameter (1..28800 s).
func (f *Fitbit) expiresIn(form url.Values) (time.Duration, error) {
	ttl := f.opts.AccessTokenTTL
	if s := form.Get("expires_in"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > 28800 {
			return 0, fmt.Errorf("expires_in must be an integer from 1 to 28800, got %q", s)
		}
		ttl = time.Duration(n) * time.Second
	}
	return ttl, nil
}

func (f *Fitbit) exchangeCode(w http.ResponseWriter, r *http.Request) {
	form := r.PostForm
	f.mu.Lock()
	defer f.mu.Unlock()
	bad := func(status int, typ, msg string) {
		f.stats.FailedExchanges++
		fitbitError(w, status, typ, msg+oauthHelp)
	}
	code := form.Get("code")
	if code == "" {
		bad(http.StatusBadRequest, "invalid_request", "Missing parameters: code.")
		return
	}
	c := f.codes[code]
	if c == nil {
		bad(http.StatusBadRequest, "invalid_grant", "Authorization code invalid: "+code+".")
		return
	}
	if c.used {
		bad(http.StatusBadRequest, "invalid_grant", "Authorization code invalid: "+code+" (already used).")
		return
	}
	// A code is single-use: any exchange attempt that names it spends it.
	c.used = true
	if !f.now().Before(c.expires) {
		bad(http.StatusBadRequest, "invalid_grant", "Authorization code expired: "+code+".")
		return
	}
	if c.redirectURI != "" {
		got := form.Get("redirect_uri")
		if got == "" {
			bad(http.StatusBadRequest, "invalid_request", "Missing parameters: redirect_uri.")
			return
		}
		if got != c.redirectURI {
			bad(http.StatusBadRequest, "invalid_grant", "Invalid redirect_uri parameter value: "+got+" does not match the authorization request.")
			return
		}
	}
	verifier := form.Get("code_verifier")
	if verifier == "" {
		bad(http.StatusBadRequest, "invalid_request", "Missing parameters: code_verifier.")
		return
	}
	if !verifierPattern.MatchString(verifier) || subtle.ConstantTimeCompare([]byte(S256(verifier)), []byte(c.challenge)) != 1 {
		bad(http.StatusBadRequest, "invalid_grant", "Code verifier invalid: it does not match the code_challenge of the authorization request.")
		return
	}
	ttl, err := f.expiresIn(form)
	if err != nil {
		bad(http.StatusBadRequest, "invalid_request", err.Error()+".")
		return
	}
	f.nextGrant++
	g := &grant{id: f.nextGrant, user: c.user, scopes: c.scopes}
	f.grants = append(f.grants, g)
	a, rt := f.issueLocked(g, ttl)
	f.stats.CodeExchanges++
	writeJSON(w, http.StatusOK, f.tokenBody(a, rt, ttl))
}

func (f *Fitbit) tokenBody(a *accessToken, rt *refreshToken, ttl time.Duration) tokenResponse {
	return tokenResponse{
		AccessToken: a.token, ExpiresIn: int(ttl / time.Second), RefreshToken: rt.token,
		Scope: strings.Join(a.g.scopes, " "), TokenType: "Bearer", UserID: a.g.user,
	}
}

var scopeCodes = map[string]string{
	"activity": "ract", "heartrate": "rhr", "location": "rloc", "nutrition": "rnut", "profile": "rpro",
	"settings": "rset", "sleep": "rsle", "social": "rsoc", "weight": "rwei", "temperature": "rtem",
	"oxygen_saturation": "rox", "respiratory_rate": "rres", "cardio_fitness": "rcf",
	"electrocardiogram": "recg", "irregular_rhythm_notifications": "rirn",
}

// issueLocked makes a new access token (JWT-shaped, like Fitbit's) and a
// new refresh token for g.
func (f *Fitbit) issueLocked(g *grant, ttl time.Duration) (*accessToken, *refreshToken) {
	now := f.now()
	var codes []string
	for _, s := range g.scopes {
		codes = append(codes, scopeCodes[s])
	}
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"HS256"}`))
	body := enc.EncodeToString(marshal(map[string]any{
		"aud": f.opts.ClientID, "sub": g.user, "iss": "Fitbit", "typ": "access_token",
		"scopes": strings.Join(codes, " "), "exp": now.Add(ttl).Unix(), "iat": now.Unix(), "jti": randomHex(8),
	}))
	mac := hmac.New(sha256.New, f.tokenSecret)
	mac.Write([]byte(head + "." + body))
	token := head + "." + body + "." + enc.EncodeToString(mac.Sum(nil))
	a := &accessToken{token: token, g: g, expires: now.Add(ttl)}
	rt := &refreshToken{token: randomHex(32), g: g}
	f.access[a.token] = a
	f.refresh[rt.token] = rt
	return a, rt
}

// refreshGrant rotates a refresh token. A spent one answers 400
// invalid_grant — except for an identical repeat of the request that
// spent it while the new access token has not been used yet (Fitbit's
// documented grace for a lost answer): that gets the same answer again.
func (f *Fitbit) refreshGrant(w http.ResponseWriter, r *http.Request) {
	form := r.PostForm
	f.mu.Lock()
	defer f.mu.Unlock()
	bad := func(status int, typ, msg string) {
		f.stats.FailedRefreshes++
		fitbitError(w, status, typ, msg+oauthHelp)
	}
	token := form.Get("refresh_token")
	if token == "" {
		bad(http.StatusBadRequest, "invalid_request", "Missing parameters: refresh_token.")
		return
	}
	rt := f.refresh[token]
	if rt == nil || rt.g.revoked {
		bad(http.StatusBadRequest, "invalid_grant", "Refresh token invalid: "+token+".")
		return
	}
	key := form.Encode()
	if rt.spent {
		if key == rt.replayKey && rt.replayAccess.uses == 0 && !rt.replayRefresh.spent {
			f.stats.GraceReplays++
			f.countersLocked(rt.g.user).graceReplays++
			writeJSON(w, http.StatusOK, rt.replayBody)
			return
		}
		f.stats.SpentRefreshReuse++
		bad(http.StatusBadRequest, "invalid_grant", "Refresh token invalid: "+token+".")
		return
	}
	ttl, err := f.expiresIn(form)
	if err != nil {
		bad(http.StatusBadRequest, "invalid_request", err.Error()+".")
		return
	}
	a, next := f.issueLocked(rt.g, ttl)
	rt.spent = true
	rt.replayKey = key
	rt.replayBody = f.tokenBody(a, next, ttl)
	rt.replayAccess = a
	rt.replayRefresh = next
	f.stats.Refreshes++
	f.countersLocked(rt.g.user).refreshes++
	writeJSON(w, http.StatusOK, rt.replayBody)
}

// handleRevoke revokes the grant of an access or refresh token: every
// token of that user for this app dies, and the user's subscriptions go.
// An unknown token is answered 200 too (RFC 7009).
func (f *Fitbit) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		fitbitError(w, http.StatusMethodNotAllowed, "request", "Use POST.")
		return
	}
	if err := parseForm(w, r); err != nil {
		fitbitError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if !f.clientAuth(w, r) {
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		fitbitError(w, http.StatusBadRequest, "invalid_request", "Missing parameters: token."+oauthHelp)
		return
	}
	f.mu.Lock()
	var g *grant
	if a := f.access[token]; a != nil {
		g = a.g
	} else if rt := f.refresh[token]; rt != nil {
		g = rt.g
	}
	if g != nil {
		f.revokeUserLocked(g.user)
		f.stats.Revocations++
	}
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{})
}
