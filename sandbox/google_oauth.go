package sandbox

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// googleScopeMatches reports whether a sandbox_scopes entry names scope:
// the full URL, or its part after "googlehealth." (activity_and_fitness.readonly).
func googleScopeMatches(entry, scope string) bool {
	return entry == scope || "https://www.googleapis.com/auth/googlehealth."+entry == scope
}

// googlePage answers an error page of the consent screen, which Google
// shows instead of redirecting for a malformed request.
func googlePage(w http.ResponseWriter, status int, code, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	title := fmt.Sprintf("Error %d: %s", status, code)
	fmt.Fprintf(w, "<!doctype html><html><head><title>%s</title></head><body><h1>Access blocked: authorization error</h1><p>%s</p><p>%s</p></body></html>\n",
		html.EscapeString(title), html.EscapeString(title), html.EscapeString(text))
}

// oauthError writes the OAuth endpoints' error body:
// {"error":"invalid_grant","error_description":"..."}.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// handleAuthorize is the consent screen, approving without a human:
// sandbox_user (default GoogleHealthOptions.DefaultUser) grants the
// requested scopes that are also in sandbox_scopes (default: all
// requested); sandbox_deny=1 denies. Without sandbox_* parameters the next
// queued Approval answers.
func (g *GoogleHealth) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		googlePage(w, http.StatusMethodNotAllowed, "invalid_request", "Use GET.")
		return
	}
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err == nil {
			q = r.Form
		}
	}
	if cid := q.Get("client_id"); cid != g.opts.ClientID {
		if cid == "" {
			googlePage(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: client_id")
		} else {
			googlePage(w, http.StatusUnauthorized, "invalid_client", "The OAuth client was not found.")
		}
		return
	}
	redirectURI := q.Get("redirect_uri")
	if redirectURI == "" {
		googlePage(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: redirect_uri")
		return
	}
	if !slices.Contains(g.opts.RedirectURIs, redirectURI) {
		googlePage(w, http.StatusBadRequest, "redirect_uri_mismatch",
			"You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy. redirect_uri="+redirectURI+" is not registered for the client.")
		return
	}
	switch rt := q.Get("response_type"); rt {
	case "code":
	case "":
		googlePage(w, http.StatusBadRequest, "invalid_request", "Required parameter is missing: response_type")
		return
	default:
		googlePage(w, http.StatusBadRequest, "unsupported_response_type", "Invalid response_type: "+rt+" (the sandbox supports code)")
		return
	}
	requested := strings.Fields(q.Get("scope"))
	if len(requested) == 0 {
		googlePage(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: scope")
		return
	}
	for _, s := range requested {
		if !slices.Contains(GoogleScopes, s) {
			googlePage(w, http.StatusBadRequest, "invalid_scope", "Some requested scopes were invalid. {invalid=["+s+"]}")
			return
		}
	}
	challenge := q.Get("code_challenge")
	if challenge == "" {
		googlePage(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: code_challenge (the sandbox requires PKCE)")
		return
	}
	if m := q.Get("code_challenge_method"); m != "S256" {
		googlePage(w, http.StatusBadRequest, "invalid_request", "code_challenge_method must be S256 in the sandbox, got "+strconv.Quote(m))
		return
	}
	if !challengePattern.MatchString(challenge) {
		googlePage(w, http.StatusBadRequest, "invalid_request", "Invalid code_challenge: it must be the 43-character base64url SHA-256 of the code verifier.")
		return
	}
	accessType := q.Get("access_type")
	if accessType != "" && accessType != "online" && accessType != "offline" {
		googlePage(w, http.StatusBadRequest, "invalid_request", "Invalid access_type: "+accessType)
		return
	}
	prompt := strings.Fields(q.Get("prompt"))
	for _, p := range prompt {
		if p != "none" && p != "consent" && p != "select_account" {
			googlePage(w, http.StatusBadRequest, "invalid_request", "Invalid prompt: "+q.Get("prompt"))
			return
		}
	}
	if slices.Contains(prompt, "none") && len(prompt) > 1 {
		googlePage(w, http.StatusBadRequest, "invalid_request", "prompt=none cannot be combined with other values")
		return
	}
	state := q.Get("state")
	redirect := func(params url.Values) {
		u, _ := url.Parse(redirectURI) // registered, so it parses
		rq := u.Query()
		for k, vs := range params {
			rq[k] = vs
		}
		if state != "" {
			rq.Set("state", state)
		}
		u.RawQuery = rq.Encode()
		w.Header().Set("Location", u.String())
		w.WriteHeader(http.StatusFound)
	}

	user, allow, deny := q.Get("sandbox_user"), formScopes(q["sandbox_scopes"]), q.Get("sandbox_deny") == "1"
	page := false // a queued approval for a browser: show the consent page
	if !q.Has("sandbox_user") && !q.Has("sandbox_scopes") && !q.Has("sandbox_deny") {
		g.mu.Lock()
		if len(g.approvals) > 0 {
			a := g.approvals[0]
			g.approvals = g.approvals[1:]
			user, allow, deny, page = a.User, a.Scopes, a.Deny, a.Page
		}
		g.mu.Unlock()
	}
	if user == "" {
		user = g.opts.DefaultUser
	}
	if !ValidUserID(user) {
		googlePage(w, http.StatusBadRequest, "invalid_request", "sandbox_user must be 1 to 16 of 0-9 and A-Z.")
		return
	}
	granted := slices.Compact(slices.Sorted(slices.Values(requested)))
	if page {
		consentPage(w, r, "Google", user, granted)
		return
	}
	if len(allow) > 0 {
		granted = slices.DeleteFunc(granted, func(s string) bool {
			return !slices.ContainsFunc(allow, func(a string) bool { return googleScopeMatches(a, s) })
		})
	}

	g.mu.Lock()
	g.userLocked(user)
	if deny || len(granted) == 0 {
		g.stats.Denials++
		g.mu.Unlock()
		redirect(url.Values{"error": {"access_denied"}})
		return
	}
	// The consent screen shows when asked for, and on a first
	// authorization; prompt=none cannot show it.
	hadConsent := false
	for _, gr := range g.grants {
		if gr.user == user && !gr.revoked && !slices.ContainsFunc(granted, func(s string) bool { return !slices.Contains(gr.scopes, s) }) {
			hadConsent = true
		}
	}
	if slices.Contains(prompt, "none") && !hadConsent {
		g.mu.Unlock()
		redirect(url.Values{"error": {"consent_required"}})
		return
	}
	code := "4/0A" + randomHex(24)
	g.codes[code] = &googleCode{
		code: code, redirectURI: redirectURI, user: user, challenge: challenge, scopes: granted,
		offline: accessType == "offline", consent: slices.Contains(prompt, "consent") || !hadConsent,
		expires: g.now().Add(g.opts.CodeTTL),
	}
	g.stats.Authorizations++
	g.mu.Unlock()
	redirect(url.Values{"code": {code}, "scope": {strings.Join(granted, " ")}})
}

// googleForm reads the token/revoke request parameters: a form body (or,
// as Google also accepts, a JSON object), plus the query string.
func googleForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	form := url.Values{}
	for k, vs := range r.URL.Query() {
		form[k] = vs
	}
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if len(body) == 0 {
		return form, nil
	}
	switch {
	case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
		vs, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		for k, v := range vs {
			form[k] = v
		}
	case strings.HasPrefix(ct, "application/json"):
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, fmt.Errorf("invalid JSON body: %v", err)
		}
		for k, v := range m {
			switch v := v.(type) {
			case string:
				form.Set(k, v)
			case float64:
				form.Set(k, strconv.FormatFloat(v, 'f', -1, 64))
			default:
				return nil, fmt.Errorf("parameter %s must be a string", k)
			}
		}
	default:
		return nil, fmt.Errorf("Content-Type must be application/x-www-form-urlencoded, got %q", r.Header.Get("Content-Type"))
	}
	return form, nil
}

// clientAuth checks the client credentials: client_id and client_secret in
// the body, or HTTP Basic. It answers the error itself and returns false
// when they are missing or wrong.
func (g *GoogleHealth) clientAuth(w http.ResponseWriter, r *http.Request, form url.Values) bool {
	id, secret, basic := r.BasicAuth()
	if basic {
		if fid := form.Get("client_id"); fid != "" && fid != id {
			oauthError(w, http.StatusBadRequest, "invalid_request", "client_id in the body does not match the Authorization header.")
			return false
		}
		if fs := form.Get("client_secret"); fs != "" && fs != secret {
			oauthError(w, http.StatusBadRequest, "invalid_request", "client_secret is passed in multiple places with different values.")
			return false
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	switch {
	case id == "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "Could not determine client ID from request.")
	case subtle.ConstantTimeCompare([]byte(id), []byte(g.opts.ClientID)) != 1:
		oauthError(w, http.StatusUnauthorized, "invalid_client", "The OAuth client was not found.")
	case secret == "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "client_secret is missing.")
	case subtle.ConstantTimeCompare([]byte(secret), []byte(g.opts.ClientSecret)) != 1:
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Unauthorized")
	default:
		return true
	}
	return false
}

type googleTokenResponse struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
	TokenType    string `json:"token_type"`
}

func (g *GoogleHealth) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "Use POST.")
		return
	}
	form, err := googleForm(w, r)
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if !g.clientAuth(w, r, form) {
		return
	}
	switch gt := form.Get("grant_type"); gt {
	case "authorization_code":
		g.exchangeCode(w, form)
	case "refresh_token":
		g.refreshGrant(w, form)
	case "":
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: ")
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+gt)
	}
}

func (g *GoogleHealth) exchangeCode(w http.ResponseWriter, form url.Values) {
	g.mu.Lock()
	defer g.mu.Unlock()
	bad := func(status int, code, desc string) {
		g.stats.FailedExchanges++
		oauthError(w, status, code, desc)
	}
	code := form.Get("code")
	if code == "" {
		bad(http.StatusBadRequest, "invalid_request", "Missing required parameter: code")
		return
	}
	c := g.codes[code]
	if c == nil {
		bad(http.StatusBadRequest, "invalid_grant", "Malformed auth code.")
		return
	}
	if c.used {
		bad(http.StatusBadRequest, "invalid_grant", "Bad Request")
		return
	}
	// A code is single-use: any exchange attempt that names it spends it.
	c.used = true
	if !g.now().Before(c.expires) {
		bad(http.StatusBadRequest, "invalid_grant", "Bad Request")
		return
	}
	switch got := form.Get("redirect_uri"); {
	case got == "":
		bad(http.StatusBadRequest, "invalid_request", "Missing required parameter: redirect_uri")
		return
	case got != c.redirectURI:
		bad(http.StatusBadRequest, "redirect_uri_mismatch", "Bad Request")
		return
	}
	verifier := form.Get("code_verifier")
	if verifier == "" {
		bad(http.StatusBadRequest, "invalid_grant", "Missing code verifier.")
		return
	}
	if !verifierPattern.MatchString(verifier) || subtle.ConstantTimeCompare([]byte(S256(verifier)), []byte(c.challenge)) != 1 {
		bad(http.StatusBadRequest, "invalid_grant", "Invalid code verifier.")
		return
	}
	g.nextGrant++
	gr := &googleGrant{id: g.nextGrant, user: c.user, scopes: c.scopes}
	if c.offline && c.consent {
		gr.refreshToken = "1//0" + randomHex(32)
		g.refresh[gr.refreshToken] = gr
	}
	g.grants = append(g.grants, gr)
	a := g.issueLocked(gr)
	g.stats.CodeExchanges++
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, googleTokenResponse{
		AccessToken: a.token, ExpiresIn: g.ttlSeconds(), RefreshToken: gr.refreshToken,
		Scope: strings.Join(gr.scopes, " "), TokenType: "Bearer",
	})
}

func (g *GoogleHealth) ttlSeconds() int { return int(g.opts.AccessTokenTTL / time.Second) }

func (g *GoogleHealth) issueLocked(gr *googleGrant) *googleAccess {
	a := &googleAccess{token: "ya29.a0" + randomHex(40), g: gr, expires: g.now().Add(g.opts.AccessTokenTTL)}
	g.access[a.token] = a
	return a
}

// refreshGrant issues a new access token for a refresh token, which stays
// the same (Google does not rotate them), so the answer has no
// refresh_token.
func (g *GoogleHealth) refreshGrant(w http.ResponseWriter, form url.Values) {
	g.mu.Lock()
	defer g.mu.Unlock()
	bad := func(status int, code, desc string) {
		g.stats.FailedRefreshes++
		oauthError(w, status, code, desc)
	}
	token := form.Get("refresh_token")
	if token == "" {
		bad(http.StatusBadRequest, "invalid_request", "Missing required parameter: refresh_token")
		return
	}
	gr := g.refresh[token]
	if gr == nil || gr.revoked {
		bad(http.StatusBadRequest, "invalid_grant", "Token has been expired or revoked.")
		return
	}
	a := g.issueLocked(gr)
	g.stats.Refreshes++
	g.countersLocked(gr.user).refreshes++
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, googleTokenResponse{
		AccessToken: a.token, ExpiresIn: g.ttlSeconds(), Scope: strings.Join(gr.scopes, " "), TokenType: "Bearer",
	})
}

// handleRevoke revokes an access or refresh token (?token= or form token):
// the user's access for the app ends, every token of theirs dies. An
// unknown token answers 400 invalid_token.
func (g *GoogleHealth) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "Use POST.")
		return
	}
	form, err := googleForm(w, r)
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	token := form.Get("token")
	if token == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: token")
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var gr *googleGrant
	if a := g.access[token]; a != nil {
		gr = a.g
	} else if rg := g.refresh[token]; rg != nil {
		gr = rg
	}
	if gr == nil || gr.revoked {
		oauthError(w, http.StatusBadRequest, "invalid_token", "Token expired or revoked")
		return
	}
	g.revokeUserLocked(gr.user)
	g.stats.Revocations++
	writeJSON(w, http.StatusOK, map[string]any{})
}
