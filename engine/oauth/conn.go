package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// Conn is a connection of a bound flow set: its flow (env, secrets) and
// config.
type Conn struct {
	Flow *flow.Flow
	Cfg  *Config
}

// Find returns the connection name of the exchange's flow set.
func Find(x *flow.Exchange, name string) (*Conn, error) {
	if x.Set() == nil {
		return nil, fmt.Errorf("connection %s: no flow set", name)
	}
	f, c := x.Set().Connection(name)
	cfg, ok := c.(*Config)
	if f == nil || !ok {
		return nil, fmt.Errorf("no connection %s", name)
	}
	if f.Disabled != "" {
		return nil, fmt.Errorf("connection %s is disabled: %s", name, f.Disabled)
	}
	return &Conn{Flow: f, Cfg: cfg}, nil
}

// Token is what the store keeps of one user.
type Token struct {
	UserID       string `json:"user_id"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	// ExpiresAt is when the access token dies (RFC 3339), "" when the
	// provider did not say.
	ExpiresAt string `json:"expires_at,omitempty"`
}

// sensitive masks the tokens wherever the entry is shown, as
// datastore_put's sensitive: [access_token, refresh_token] does.
func sensitive() store.Sensitivity {
	return store.Sensitivity{Paths: []string{"data", "text.access_token", "text.refresh_token"}}
}

// storedEntry is datastore_put's encoding, so that datastore_get and
// split over the store read the entry like any other.
type storedEntry struct {
	Text        *string `json:"text,omitempty"`
	ContentType string  `json:"content_type,omitempty"`
}

// ErrNotConnected is the error for a user without stored tokens.
var ErrNotConnected = errors.New("not connected")

// Load reads a user's stored token.
func (cn *Conn) Load(ctx context.Context, x *flow.Exchange, user string) (Token, error) {
	kv, err := x.KV()
	if err != nil {
		return Token{}, err
	}
	e, err := kv.Get(ctx, cn.Cfg.Store, user)
	if errors.Is(err, store.ErrNotFound) {
		// Trying again cannot help until the user connects: no retries.
		return Token{}, &flow.PermanentError{Err: fmt.Errorf("connection %s: user %s is %w (no tokens in store %s): the user connects at %s", cn.Flow.ID, user, ErrNotConnected, cn.Cfg.Store, cn.Cfg.Connect)}
	}
	if err != nil {
		return Token{}, err
	}
	var se storedEntry
	var t Token
	if err := json.Unmarshal(e.Value, &se); err != nil || se.Text == nil {
		return Token{}, fmt.Errorf("connection %s: the entry of %s in %s is not a stored token", cn.Flow.ID, user, cn.Cfg.Store)
	}
	if err := json.Unmarshal([]byte(*se.Text), &t); err != nil || t.AccessToken == "" {
		return Token{}, fmt.Errorf("connection %s: the entry of %s in %s holds no access_token", cn.Flow.ID, user, cn.Cfg.Store)
	}
	if t.UserID == "" {
		t.UserID = user
	}
	return t, nil
}

// save stores a user's token (synced before it returns, as every
// datastore write).
func (cn *Conn) save(ctx context.Context, x *flow.Exchange, t Token) error {
	kv, err := x.KV()
	if err != nil {
		return err
	}
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	text := string(data)
	rec, err := json.Marshal(storedEntry{Text: &text, ContentType: "application/json"})
	if err != nil {
		return err
	}
	return kv.Put(ctx, cn.Cfg.Store, t.UserID, rec, store.PutOptions{Overwrite: true, Sensitive: sensitive()})
}

// Forget deletes a user's stored token; a user without one is no error.
func (cn *Conn) Forget(ctx context.Context, x *flow.Exchange, user string) error {
	kv, err := x.KV()
	if err != nil {
		return err
	}
	if err := kv.Delete(ctx, cn.Cfg.Store, user); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// AccessToken returns a user's access token, refreshed first when it
// expires within the skew.
func (cn *Conn) AccessToken(ctx context.Context, x *flow.Exchange, user string) (string, error) {
	t, err := cn.Load(ctx, x, user)
	if err != nil {
		return "", err
	}
	if cn.fresh(x, t) {
		return t.AccessToken, nil
	}
	return cn.Refresh(ctx, x, user, t.AccessToken)
}

// fresh says whether t may be sent: its expiry is unknown (a 401 will
// tell) or further away than the skew.
func (cn *Conn) fresh(x *flow.Exchange, t Token) bool {
	if t.ExpiresAt == "" {
		return true
	}
	exp, err := time.Parse(time.RFC3339, t.ExpiresAt)
	return err == nil && x.Now().Add(cn.Cfg.Refresh.Skew).Before(exp)
}

// A refresh's lease across instances: how long a crashed instance's
// refresh blocks the others, and how long one waits for another's.
const (
	refreshLeaseTTL  = 30 * time.Second
	refreshLeaseWait = 45 * time.Second
)

// Refresh gets a new access token for user in place of stale, the one
// that expired or was refused. Refreshes of one user run one at a time
// in a runtime, and across the instances that share a store (a lease); one that waited for another finds a stored access token
// other than stale and takes it instead of spending the refresh token
// again. A rotated refresh token is stored before the new access token is
// returned, so that it is never lost to a crash between the two.
func (cn *Conn) Refresh(ctx context.Context, x *flow.Exchange, user, stale string) (string, error) {
	unlock, err := userLocks.Get(x.Resources()).lock(ctx, cn.Flow.ID+"\x00"+user)
	if err != nil {
		return "", fmt.Errorf("connection %s: waiting for %s's refresh: %w", cn.Flow.ID, user, err)
	}
	defer unlock()
	if leases, instance := x.SharedLeases(); leases != nil {
		// Instances share the store: the lease makes the refresh single
		// across them too, so that a rotating refresh token is never
		// spent by two instances at once.
		release, err := leases.Hold(ctx, "oauth/"+cn.Flow.ID+"/"+user, instance, refreshLeaseTTL, refreshLeaseWait)
		if err != nil {
			return "", fmt.Errorf("connection %s: waiting for %s's refresh on another instance: %w", cn.Flow.ID, user, err)
		}
		defer release()
	}
	t, err := cn.Load(ctx, x, user)
	if err != nil {
		return "", err
	}
	if t.AccessToken != stale {
		return t.AccessToken, nil // another message refreshed it
	}
	if t.RefreshToken == "" {
		return "", &flow.StatusError{Status: http.StatusUnauthorized, Msg: fmt.Sprintf("connection %s: %s's access token expired and there is no refresh token: the user connects again at %s", cn.Flow.ID, user, cn.Cfg.Connect)}
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {t.RefreshToken}}
	// A refresh token that rotates is spent by the first request that
	// reaches the provider: one whose answer was lost is sent again only
	// within the provider's grace for an identical repeat.
	attempts, until := 3, time.Time{}
	if cn.Cfg.Refresh.Rotates {
		attempts = 1
		if g := cn.Cfg.Refresh.Grace; g > 0 {
			attempts, until = 3, time.Now().Add(g)
		}
	}
	var ans *tokenAnswer
	for i := 1; ; i++ {
		ans, err = cn.tokenRequest(ctx, x, form)
		var se *flow.StatusError
		lost := err != nil && (!errors.As(err, &se) || se.Status >= 500) && ctx.Err() == nil
		if !lost || i >= attempts || (!until.IsZero() && time.Now().After(until)) {
			break
		}
		x.Log.Warn("oauth: refresh answer lost; asking again (the provider's grace)", "connection", cn.Flow.ID, "user", user, "attempt", i)
	}
	if err != nil {
		return "", fmt.Errorf("connection %s: refreshing %s's token: %w", cn.Flow.ID, user, err)
	}
	next := Token{UserID: user, AccessToken: ans.AccessToken, RefreshToken: t.RefreshToken, Scope: t.Scope, ExpiresAt: ans.expiresAt(x.Now())}
	if ans.RefreshToken != "" {
		next.RefreshToken = ans.RefreshToken
	}
	if ans.Scope != "" {
		next.Scope = ans.Scope
	}
	if err := cn.save(ctx, x, next); err != nil {
		return "", fmt.Errorf("connection %s: storing %s's refreshed token: %w", cn.Flow.ID, user, err)
	}
	return next.AccessToken, nil
}

// Disconnect forgets a user's token and, with revoke and a revoke_url,
// revokes it at the provider first (a provider that no longer knows it,
// 400 or 401, is no error).
func (cn *Conn) Disconnect(ctx context.Context, x *flow.Exchange, user string, revoke bool) error {
	if revoke && cn.Cfg.RevokeURL != nil {
		t, err := cn.Load(ctx, x, user)
		if err != nil && !errors.Is(err, ErrNotConnected) {
			return err
		}
		if err == nil {
			tok := t.RefreshToken
			if tok == "" {
				tok = t.AccessToken
			}
			if err := cn.revoke(ctx, x, tok); err != nil {
				return err
			}
		}
	}
	return cn.Forget(ctx, x, user)
}

func (cn *Conn) revoke(ctx context.Context, x *flow.Exchange, token string) error {
	raw, err := cn.Flow.EvalString(cn.Cfg.RevokeURL)
	if err != nil {
		return fmt.Errorf("connection %s: revoke_url: %w", cn.Flow.ID, err)
	}
	_, status, body, err := cn.post(ctx, x, raw, url.Values{"token": {token}})
	if err != nil {
		return fmt.Errorf("connection %s: revoking: %w", cn.Flow.ID, err)
	}
	if status/100 != 2 && status != http.StatusBadRequest && status != http.StatusUnauthorized {
		return &flow.StatusError{Status: status, Body: x.Redact(string(body)), Msg: fmt.Sprintf("connection %s: the revoke endpoint answered %d", cn.Flow.ID, status)}
	}
	return nil
}

// tokenAnswer is a token endpoint's answer (RFC 6749 5.1).
type tokenAnswer struct {
	AccessToken  string          `json:"access_token"`
	RefreshToken string          `json:"refresh_token"`
	ExpiresIn    json.Number     `json:"expires_in"`
	Scope        string          `json:"scope"`
	raw          json.RawMessage // the whole answer
}

func (a *tokenAnswer) expiresAt(now time.Time) string {
	n, err := a.ExpiresIn.Int64()
	if err != nil || n <= 0 {
		return ""
	}
	return now.Add(time.Duration(n) * time.Second).UTC().Format(time.RFC3339)
}

// errorCode is " (code)" of an OAuth error answer: RFC 6749's error, or
// Fitbit's errors[0].errorType; "" when there is none.
func errorCode(body []byte) string {
	var e struct {
		Error  any `json:"error"`
		Errors []struct {
			ErrorType string `json:"errorType"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	code, _ := e.Error.(string)
	if code == "" && len(e.Errors) > 0 {
		code = e.Errors[0].ErrorType
	}
	if code == "" || len(code) > 64 {
		return ""
	}
	return " (" + code + ")"
}

// tokenRequest posts a grant to the token endpoint.
func (cn *Conn) tokenRequest(ctx context.Context, x *flow.Exchange, form url.Values) (*tokenAnswer, error) {
	raw, err := cn.Flow.EvalString(cn.Cfg.TokenURL)
	if err != nil {
		return nil, fmt.Errorf("token_url: %w", err)
	}
	shown, status, body, err := cn.post(ctx, x, raw, form)
	if err != nil {
		return nil, err
	}
	if status/100 != 2 {
		// The body may quote the token it refuses: only its error code
		// goes into the message.
		return nil, &flow.StatusError{Status: status, Msg: fmt.Sprintf("POST %s answered %d%s", shown, status, errorCode(body))}
	}
	var a tokenAnswer
	if err := json.Unmarshal(body, &a); err != nil || a.AccessToken == "" {
		return nil, fmt.Errorf("POST %s: the answer has no access_token", shown)
	}
	a.raw = body
	return &a, nil
}

// post sends a form with the client's credentials. Errors never show the
// form or the query.
func (cn *Conn) post(ctx context.Context, x *flow.Exchange, rawURL string, form url.Values) (shown string, status int, body []byte, err error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", 0, nil, fmt.Errorf("connection %s: not an http(s) URL", cn.Flow.ID)
	}
	shown = u.Scheme + "://" + u.Host + u.EscapedPath()
	id, err := cn.Flow.EvalString(cn.Cfg.ClientID)
	if err != nil {
		return shown, 0, nil, fmt.Errorf("client_id: %w", err)
	}
	secret, err := cn.Flow.EvalString(cn.Cfg.ClientSecret)
	if err != nil {
		return shown, 0, nil, fmt.Errorf("client_secret: %w", err)
	}
	if cn.Cfg.ClientAuth == "form" {
		form = cloneValues(form)
		form.Set("client_id", id)
		form.Set("client_secret", secret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return shown, 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "Stride")
	if cn.Cfg.ClientAuth != "form" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+secret)))
	}
	return cn.do(x, req, shown)
}

// get reads a URL with a bearer token (the identity).
func (cn *Conn) get(ctx context.Context, x *flow.Exchange, rawURL, token string) (shown string, status int, body []byte, err error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", 0, nil, fmt.Errorf("connection %s: identity: not an http(s) URL", cn.Flow.ID)
	}
	shown = u.Scheme + "://" + u.Host + u.EscapedPath()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return shown, 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "Stride")
	return cn.do(x, req, shown)
}

func (cn *Conn) do(x *flow.Exchange, req *http.Request, shown string) (string, int, []byte, error) {
	resp, err := client(x).Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry a query
		}
		return shown, 0, nil, fmt.Errorf("%s %s: %v", req.Method, shown, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return shown, 0, nil, fmt.Errorf("%s %s: reading the answer: %v", req.Method, shown, err)
	}
	return shown, resp.StatusCode, body, nil
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v)+2)
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// client is the test's transport (stride test's mocks) or the runtime's
// pooled client.
func client(x *flow.Exchange) *http.Client {
	if svc := x.Services(); svc != nil && svc.Transport != nil {
		return &http.Client{Transport: svc.Transport, Timeout: 30 * time.Second}
	}
	return clients.Get(x.Resources())
}

var clients = flow.NewResourceKey("oauth-http-client", func() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
})

// userLocks is the runtime's table of per-user refresh locks.
var userLocks = flow.NewResourceKey("oauth-user-locks", newLockTable)

// lockTable holds a lock per key while someone holds or waits for it.
type lockTable struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	ch    chan struct{} // a token: held while it is taken
	users int
}

func newLockTable() *lockTable { return &lockTable{locks: map[string]*keyLock{}} }

// lock takes key's lock, waiting until ctx ends; the returned function
// gives it back.
func (t *lockTable) lock(ctx context.Context, key string) (func(), error) {
	t.mu.Lock()
	l := t.locks[key]
	if l == nil {
		l = &keyLock{ch: make(chan struct{}, 1)}
		t.locks[key] = l
	}
	l.users++
	t.mu.Unlock()
	release := func() {
		t.mu.Lock()
		l.users--
		if l.users == 0 {
			delete(t.locks, key)
		}
		t.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
