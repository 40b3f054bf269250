package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// stateStore keeps each consent's state → PKCE verifier until the
// callback takes it (single use) or state_ttl passes.
const stateStore = "oauth-state"

// CookieName is the cookie that binds a consent's state to the browser
// that started it.
func (cn *Conn) CookieName() string {
	return "stride_oauth_" + strings.NewReplacer("-", "_", ".", "_").Replace(cn.Flow.ID)
}

type consentState struct {
	Connection string `json:"connection"`
	Verifier   string `json:"verifier"`
}

// Page is what the consent's end shows the user.
type Page struct {
	Status int
	Body   string // HTML
}

func page(status int, title, text string) *Page {
	return &Page{Status: status, Body: "<h1>" + html.EscapeString(title) + "</h1><p>" + html.EscapeString(text) + "</p>"}
}

// BeginConsent starts a user's consent: a single-use state (kept with
// the PKCE verifier for state_ttl) bound to the browser by a cookie, and
// the consent page's URL.
func (cn *Conn) BeginConsent(ctx context.Context, x *flow.Exchange) (location string, cookie *http.Cookie, err error) {
	state, verifier := randomText(24), randomText(48)
	rec, _ := json.Marshal(consentState{Connection: cn.Flow.ID, Verifier: verifier})
	text := string(rec)
	entry, _ := json.Marshal(storedEntry{Text: &text, ContentType: "application/json"})
	kv, err := x.KV()
	if err != nil {
		return "", nil, err
	}
	if err := kv.Put(ctx, stateStore, state, entry, store.PutOptions{TTL: cn.Cfg.StateTTL, Sensitive: store.Sensitivity{All: true}}); err != nil {
		return "", nil, err
	}
	eval := func(name string, t *flow.Template) string {
		if err == nil {
			var v string
			v, err = cn.Flow.EvalString(t)
			if err != nil {
				err = fmt.Errorf("%s: %w", name, err)
			}
			return v
		}
		return ""
	}
	auth, id, redirect, scopes := eval("authorize_url", cn.Cfg.AuthorizeURL), eval("client_id", cn.Cfg.ClientID), eval("redirect_uri", cn.Cfg.RedirectURI), eval("scopes", cn.Cfg.Scopes)
	if err != nil {
		return "", nil, err
	}
	u, perr := url.Parse(auth)
	if perr != nil || u.Host == "" {
		return "", nil, fmt.Errorf("authorize_url: not a URL")
	}
	sum := sha256.Sum256([]byte(verifier))
	q := u.Query()
	q.Set("response_type", "code")
	q.Set("client_id", id)
	q.Set("redirect_uri", redirect)
	q.Set("scope", scopes)
	q.Set("state", state)
	q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
	q.Set("code_challenge_method", "S256")
	for _, p := range cn.Cfg.AuthorizeParams {
		v, err := cn.Flow.EvalString(p.Value)
		if err != nil {
			return "", nil, fmt.Errorf("authorize_params %s: %w", p.Key, err)
		}
		q.Set(p.Key, v)
	}
	u.RawQuery = q.Encode()
	cookie = &http.Cookie{Name: cn.CookieName(), Value: state, Path: cn.Cfg.Callback, MaxAge: int(cn.Cfg.StateTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: strings.HasPrefix(redirect, "https:")}
	return u.String(), cookie, nil
}

// Consent is a finished consent: the user's id, the scopes granted and
// the identity answer (nil without identity).
type Consent struct {
	UserID   string
	Scope    string
	Identity any
}

// FinishConsent ends a consent at the callback: it checks the state
// against the cookie (cookieState, "" when absent) and takes it (single
// use), exchanges the code with the PKCE verifier, refuses a grant
// without the required scopes (revoking it), finds the user's id and
// stores the tokens. A refusal is a page (4xx) and no error; an error is
// a failure to answer with 502.
func (cn *Conn) FinishConsent(ctx context.Context, x *flow.Exchange, cookieState string) (*Consent, *Page, error) {
	title := cn.Cfg.Title
	notConnected := "Not connected"
	q := x.Query
	if e := q["error"]; e != "" {
		return nil, page(http.StatusForbidden, notConnected, title+" access was not granted ("+e+"). Nothing was stored; you can start again at any time."), nil
	}
	state, code := q["state"], q["code"]
	if state == "" || code == "" {
		return nil, page(http.StatusBadRequest, notConnected, "The link is incomplete: the code or state is missing."), nil
	}
	expired := page(http.StatusBadRequest, notConnected, "This link has expired, was already used or was opened in another browser. Please start again.")
	if cookieState != state {
		return nil, expired, nil
	}
	kv, err := x.KV()
	if err != nil {
		return nil, nil, err
	}
	e, err := kv.Get(ctx, stateStore, state)
	if errors.Is(err, store.ErrNotFound) {
		return nil, expired, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if err := kv.Delete(ctx, stateStore, state); errors.Is(err, store.ErrNotFound) {
		return nil, expired, nil // another request took it first
	} else if err != nil {
		return nil, nil, err
	}
	var se storedEntry
	var cs consentState
	if json.Unmarshal(e.Value, &se) != nil || se.Text == nil || json.Unmarshal([]byte(*se.Text), &cs) != nil || cs.Connection != cn.Flow.ID {
		return nil, expired, nil
	}
	redirect, err := cn.Flow.EvalString(cn.Cfg.RedirectURI)
	if err != nil {
		return nil, nil, fmt.Errorf("redirect_uri: %w", err)
	}
	ans, err := cn.tokenRequest(ctx, x, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {cs.Verifier}})
	var refused *flow.StatusError
	if errors.As(err, &refused) && refused.Status < 500 {
		return nil, page(http.StatusBadRequest, notConnected, fmt.Sprintf("%s did not accept the authorization (it answered %d). Nothing was stored; please start again.", title, refused.Status)), nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("token exchange: %w", err)
	}
	scope := ans.Scope
	if scope == "" { // RFC 6749 5.1: omitted when it is what was asked
		if scope, err = cn.Flow.EvalString(cn.Cfg.Scopes); err != nil {
			return nil, nil, err
		}
	}
	granted := strings.Fields(scope)
	var missing []string
	for _, r := range cn.Cfg.Require {
		if !slices.Contains(granted, r) {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		if cn.Cfg.RevokeURL != nil {
			if err := cn.revoke(ctx, x, ans.AccessToken); err != nil {
				return nil, nil, err
			}
		}
		return nil, page(http.StatusForbidden, notConnected, fmt.Sprintf("Stride needs the %s permission(s) %s. Nothing was stored; please connect again and allow them.", title, strings.Join(missing, " and "))), nil
	}
	c := &Consent{Scope: strings.Join(granted, " ")}
	var from any
	if from, err = flow.DecodeJSON(ans.raw); err != nil {
		return nil, nil, err
	}
	if cn.Cfg.Identity != nil {
		raw, err := cn.Flow.EvalString(cn.Cfg.Identity)
		if err != nil {
			return nil, nil, fmt.Errorf("identity: %w", err)
		}
		shown, status, body, err := cn.get(ctx, x, raw, ans.AccessToken)
		if err != nil {
			return nil, nil, fmt.Errorf("identity: %w", err)
		}
		if status/100 != 2 {
			return nil, nil, &flow.StatusError{Status: status, Body: x.Redact(string(body)), Msg: fmt.Sprintf("identity: GET %s answered %d", shown, status)}
		}
		if from, err = flow.DecodeJSON(body); err != nil {
			return nil, nil, fmt.Errorf("identity: GET %s: the answer is not JSON", shown)
		}
		c.Identity = from
	}
	m, _ := from.(map[string]any)
	if v, ok := m[cn.Cfg.UserID]; ok && v != nil && flow.Stringify(v) != "" {
		c.UserID = flow.Stringify(v)
	} else {
		return nil, nil, fmt.Errorf("the %s answer has no %s (user_id)", map[bool]string{true: "identity", false: "token"}[cn.Cfg.Identity != nil], cn.Cfg.UserID)
	}
	t := Token{UserID: c.UserID, AccessToken: ans.AccessToken, RefreshToken: ans.RefreshToken, Scope: c.Scope, ExpiresAt: ans.expiresAt(x.Now())}
	if err := cn.save(ctx, x, t); err != nil {
		return nil, nil, err
	}
	return c, nil, nil
}

// Connected is the page after a consent whose steps did not answer.
func (cn *Conn) Connected(user string) *Page {
	return page(http.StatusOK, "Connected", "Your "+cn.Cfg.Title+" account "+user+" is connected.")
}

// Failed is the page after a consent whose steps failed: the tokens were
// forgotten.
func (cn *Conn) Failed(step string) *Page {
	return page(http.StatusBadGateway, "Not connected", "Connecting failed at step "+step+". Nothing was stored; please try again later.")
}

func randomText(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
