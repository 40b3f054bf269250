package sandbox

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Defaults of a Fitbit fake (and of `stride sandbox`).
const (
	DefaultClientID     = "23SBX9"
	DefaultClientSecret = "sandbox-client-secret"
	DefaultRedirectURI  = "http://127.0.0.1:8080/fitbit/callback"
	DefaultRateLimit    = 150 // requests per hour per user on /1/user/...
)

// FitbitOptions configure NewFitbit. The zero value is usable: every field
// has a default.
type FitbitOptions struct {
	ClientID     string   // default DefaultClientID
	ClientSecret string   // default DefaultClientSecret
	RedirectURIs []string // registered callback URLs, exact match; default [DefaultRedirectURI]

	// Users adds test users (or replaces DefaultUsers entries with the same ID).
	Users []User
	// DefaultUser approves an authorization request without sandbox_user;
	// default "ADA1".
	DefaultUser string

	RateLimit        int           // per user per clock hour; 0 → 150, < 0 → unlimited
	ForcedRetryAfter time.Duration // Retry-After of a ForceRateLimit 429; default 1 s
	AccessTokenTTL   time.Duration // default 8 h (expires_in 28800)
	CodeTTL          time.Duration // authorization codes; default 10 min

	// DefaultSubscriberID is the subscriberId of subscriptions created
	// without X-Fitbit-Subscriber-Id; default "1".
	DefaultSubscriberID string

	Now    func() time.Time // default time.Now
	Client *http.Client     // used by Notify and Verify; default 10 s timeout
}

// Fitbit is a fake of the Fitbit Web API and its OAuth 2.0 server
// (authorization page, token, revoke), an http.Handler.
type Fitbit struct {
	endpoint
	opts FitbitOptions

	mu          sync.Mutex
	users       map[string]User
	codes       map[string]*authCode
	access      map[string]*accessToken
	refresh     map[string]*refreshToken
	grants      []*grant
	subs        map[string]*Subscription // by subscription id
	approvals   []Approval
	rate        map[string]*rateState
	fails       []failRule
	perUser     map[string]*userCounters
	stats       FitbitStats
	fetches     map[string]int // user + "/" + date → activity reads
	tokenSecret []byte
	nextGrant   int
}

// FitbitStats counts what happened since NewFitbit.
type FitbitStats struct {
	Authorizations    int `json:"authorizations"`      // codes issued
	Denials           int `json:"denials"`             // access_denied redirects
	CodeExchanges     int `json:"code_exchanges"`      // successful authorization_code grants
	FailedExchanges   int `json:"failed_exchanges"`    // authorization_code grants answered 4xx
	Refreshes         int `json:"refreshes"`           // successful rotations
	GraceReplays      int `json:"grace_replays"`       // identical refresh repeats answered from memory
	FailedRefreshes   int `json:"failed_refreshes"`    // refresh_token grants answered 4xx
	SpentRefreshReuse int `json:"spent_refresh_reuse"` // a dead (already rotated) refresh token presented
	Revocations       int `json:"revocations"`
	APICalls          int `json:"api_calls"`    // authenticated /1/user calls, incl. 403/404/429
	Unauthorized      int `json:"unauthorized"` // /1/user calls answered 401
	RateLimited       int `json:"rate_limited"` // 429s, forced or earned
	InjectedFailures  int `json:"injected_failures"`
	Notifications     int `json:"notifications"` // Notify calls (bodies sent)
}

type userCounters struct {
	refreshes, graceReplays, apiCalls, rateLimited, unauthorized int
}

type grant struct {
	id      int
	user    string
	scopes  []string // sorted
	revoked bool
}

type authCode struct {
	code, redirectURI, user, challenge string
	scopes                             []string
	expires                            time.Time
	used                               bool
}

type accessToken struct {
	token   string
	g       *grant
	expires time.Time
	uses    int
}

type refreshToken struct {
	token string
	g     *grant
	spent bool
	// What spending it answered, replayed for an identical repeat until the
	// new access token is used (or the new refresh token is spent).
	replayKey     string
	replayBody    tokenResponse
	replayAccess  *accessToken
	replayRefresh *refreshToken
}

type rateState struct {
	window time.Time
	count  int
	forced int
}

// NewFitbit returns a Fitbit fake configured by opts.
func NewFitbit(opts FitbitOptions) *Fitbit {
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if len(opts.RedirectURIs) == 0 {
		opts.RedirectURIs = []string{DefaultRedirectURI}
	}
	if opts.DefaultUser == "" {
		opts.DefaultUser = "ADA1"
	}
	if opts.RateLimit == 0 {
		opts.RateLimit = DefaultRateLimit
	}
	if opts.ForcedRetryAfter <= 0 {
		opts.ForcedRetryAfter = time.Second
	}
	if opts.AccessTokenTTL <= 0 {
		opts.AccessTokenTTL = 8 * time.Hour
	}
	if opts.CodeTTL <= 0 {
		opts.CodeTTL = 10 * time.Minute
	}
	if opts.DefaultSubscriberID == "" {
		opts.DefaultSubscriberID = "1"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	f := &Fitbit{
		opts:        opts,
		users:       map[string]User{},
		codes:       map[string]*authCode{},
		access:      map[string]*accessToken{},
		refresh:     map[string]*refreshToken{},
		subs:        map[string]*Subscription{},
		rate:        map[string]*rateState{},
		perUser:     map[string]*userCounters{},
		fetches:     map[string]int{},
		tokenSecret: []byte(randomHex(32)),
	}
	for _, u := range DefaultUsers {
		f.users[u.ID] = u
	}
	for _, u := range opts.Users {
		f.users[u.ID] = u
	}
	return f
}

// Start listens on addr (default 127.0.0.1:0; only loopback addresses are
// accepted), serves f and sets f.URL. Close stops it.
func (f *Fitbit) Start(addr string) error { return f.start(f, addr) }

// ClientID, ClientSecret and RedirectURI are the registered app.
func (f *Fitbit) ClientID() string     { return f.opts.ClientID }
func (f *Fitbit) ClientSecret() string { return f.opts.ClientSecret }
func (f *Fitbit) RedirectURI() string  { return f.opts.RedirectURIs[0] }

func (f *Fitbit) now() time.Time { return f.opts.Now() }

// ServeHTTP routes the OAuth endpoints, the API and the /sandbox/ controls.
func (f *Fitbit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if !strings.HasPrefix(p, "/sandbox/") {
		f.mu.Lock()
		status := takeFailure(&f.fails, p)
		if status != 0 {
			f.stats.InjectedFailures++
		}
		f.mu.Unlock()
		if status != 0 {
			fitbitError(w, status, "system", "The service is temporarily unavailable (sandbox failure injection).")
			return
		}
	}
	switch {
	case p == "/oauth2/authorize":
		f.handleAuthorize(w, r)
	case p == "/oauth2/token":
		f.handleToken(w, r)
	case p == "/oauth2/revoke":
		f.handleRevoke(w, r)
	case strings.HasPrefix(p, "/1/user/"):
		f.handleAPI(w, r)
	case strings.HasPrefix(p, "/sandbox/"):
		f.handleControl(w, r)
	default:
		fitbitError(w, http.StatusNotFound, "not_found", "The API you are requesting could not be found.")
	}
}

type fitbitErr struct {
	ErrorType string `json:"errorType"`
	FieldName string `json:"fieldName,omitempty"`
	Message   string `json:"message"`
}

// fitbitError writes Fitbit's error body:
// {"errors":[{"errorType":...,"message":...}],"success":false}.
func fitbitError(w http.ResponseWriter, status int, errorType, message string) {
	writeJSON(w, status, map[string]any{
		"errors":  []fitbitErr{{ErrorType: errorType, Message: message}},
		"success": false,
	})
}

const oauthHelp = " Visit https://dev.fitbit.com/docs/oauth2 for more information on the Fitbit Web API authorization process."

// user returns the test user id, creating a generated one on first use.
// Callers hold f.mu.
func (f *Fitbit) userLocked(id string) User {
	u, ok := f.users[id]
	if !ok {
		u = GeneratedUser(id)
		f.users[id] = u
	}
	return u
}

func (f *Fitbit) countersLocked(user string) *userCounters {
	c := f.perUser[user]
	if c == nil {
		c = &userCounters{}
		f.perUser[user] = c
	}
	return c
}

// ---- introspection ----

// Users lists every test user the fake knows (defaults, options, and the
// ones created by an authorization), by ID.
func (f *Fitbit) Users() []User {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]User, 0, len(f.users))
	for _, u := range f.users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// User returns the profile of a test user (generated when unknown).
func (f *Fitbit) User(id string) User {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.userLocked(id)
}

// UserState is what the fake knows of one user's authorization and use.
type UserState struct {
	User              User           `json:"user"`
	Connected         bool           `json:"connected"` // has a grant that is not revoked
	Scopes            []string       `json:"scopes"`    // union of the live grants' scopes
	LiveAccessTokens  int            `json:"live_access_tokens"`
	LiveRefreshTokens int            `json:"live_refresh_tokens"` // unspent refresh tokens of live grants
	Refreshes         int            `json:"refreshes"`
	GraceReplays      int            `json:"grace_replays"`
	APICalls          int            `json:"api_calls"`
	RateLimited       int            `json:"rate_limited"`
	Unauthorized      int            `json:"unauthorized"`
	Subscriptions     []Subscription `json:"subscriptions"`
}

// State reports a user's grants, tokens, counters and subscriptions.
func (f *Fitbit) State(user string) UserState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stateLocked(user)
}

func (f *Fitbit) stateLocked(user string) UserState {
	st := UserState{User: f.userLocked(user), Scopes: []string{}, Subscriptions: f.subscriptionsLocked(user)}
	set := map[string]bool{}
	for _, g := range f.grants {
		if g.user == user && !g.revoked {
			st.Connected = true
			for _, s := range g.scopes {
				set[s] = true
			}
		}
	}
	for s := range set {
		st.Scopes = append(st.Scopes, s)
	}
	sort.Strings(st.Scopes)
	now := f.now()
	for _, a := range f.access {
		if a.g.user == user && !a.g.revoked && now.Before(a.expires) {
			st.LiveAccessTokens++
		}
	}
	for _, rt := range f.refresh {
		if rt.g.user == user && !rt.g.revoked && !rt.spent {
			st.LiveRefreshTokens++
		}
	}
	if c := f.perUser[user]; c != nil {
		st.Refreshes, st.GraceReplays, st.APICalls = c.refreshes, c.graceReplays, c.apiCalls
		st.RateLimited, st.Unauthorized = c.rateLimited, c.unauthorized
	}
	return st
}

// Connected lists the users with a live (not revoked) grant, by ID.
func (f *Fitbit) Connected() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	set := map[string]bool{}
	for _, g := range f.grants {
		if !g.revoked {
			set[g.user] = true
		}
	}
	out := make([]string, 0, len(set))
	for u := range set {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// Stats returns the counters.
func (f *Fitbit) Stats() FitbitStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// RefreshCount is how many times the user's refresh tokens were rotated
// (grace replays of an identical repeat not counted).
func (f *Fitbit) RefreshCount(user string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.perUser[user]; c != nil {
		return c.refreshes
	}
	return 0
}

// APICalls is how many authenticated /1/user calls the user's tokens made.
func (f *Fitbit) APICalls(user string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.perUser[user]; c != nil {
		return c.apiCalls
	}
	return 0
}

// AccessTokenUses is how many authenticated calls were made with token.
func (f *Fitbit) AccessTokenUses(token string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a := f.access[token]; a != nil {
		return a.uses
	}
	return 0
}

// SpentRefreshTokenReused is how often a dead refresh token (one already
// rotated, outside the identical-repeat grace) was presented. A correct
// client keeps it at 0.
func (f *Fitbit) SpentRefreshTokenReused() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats.SpentRefreshReuse
}

// ActivityReads is how many times the user's summary of date was read
// successfully.
func (f *Fitbit) ActivityReads(user, date string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fetches[user+"/"+date]
}

// StepsFor is Steps(user, date): the summary.steps the fake answers.
func (f *Fitbit) StepsFor(user, date string) int { return Steps(user, date) }

// ---- controls ----

// Approval is how the authorization page answers the next request that
// carries no sandbox_* parameters (see QueueApproval).
type Approval struct {
	User   string   `json:"user"`   // default FitbitOptions.DefaultUser
	Scopes []string `json:"scopes"` // granted = requested ∩ Scopes; empty: all requested
	Deny   bool     `json:"deny"`
	// Page shows the consent page instead of answering at once: a browser
	// (a person, or a browser test) clicks Allow or Deny there.
	Page bool `json:"page"`
}

// QueueApproval queues an answer of the authorization page, for clients
// that follow a redirect chain and cannot add sandbox_user, sandbox_scopes
// or sandbox_deny to the authorization URL. Requests without those
// parameters take the queued approvals in order; with the queue empty they
// approve every requested scope for FitbitOptions.DefaultUser.
func (f *Fitbit) QueueApproval(a Approval) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.approvals = append(f.approvals, a)
}

// ExpireAccessToken makes every access token of user expired now (their
// next use answers 401 expired_token); refresh tokens stay valid. It
// returns how many tokens it expired.
func (f *Fitbit) ExpireAccessToken(user string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	n := 0
	for _, a := range f.access {
		if a.g.user == user && !a.g.revoked && now.Before(a.expires) {
			a.expires = now
			n++
		}
	}
	return n
}

// ForceRateLimit makes the user's next n API calls answer 429.
func (f *Fitbit) ForceRateLimit(user string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rateLocked(user).forced += n
}

// FailNext makes the next n requests whose path starts with prefix (any
// endpoint but /sandbox/) answer status with a Fitbit error body, before
// anything else happens.
func (f *Fitbit) FailNext(prefix string, status, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails = append(f.fails, failRule{prefix: prefix, status: status, n: n})
}

// RevokeUser is the user revoking the app's access on fitbit.com: every
// token of the user dies and the subscriptions go. It returns the
// userRevokedAccess notification Fitbit sends for it (send it with
// Notify): as documented, only a subscription to the userRevokedAccess
// collection (or to all collections) gets one, so without such a
// subscription the result is empty.
func (f *Fitbit) RevokeUser(user string) []Update {
	f.mu.Lock()
	defer f.mu.Unlock()
	subs := f.subscriptionsLocked(user)
	f.revokeUserLocked(user)
	date := f.now().UTC().Format("2006-01-02")
	var out []Update
	for _, s := range subs {
		if s.CollectionType != "userRevokedAccess" && s.CollectionType != "user" {
			continue
		}
		out = append(out, Update{CollectionType: "userRevokedAccess", Date: date, OwnerID: user, OwnerType: "user", SubscriptionID: s.SubscriptionID})
	}
	return out
}

func (f *Fitbit) revokeUserLocked(user string) {
	for _, g := range f.grants {
		if g.user == user {
			g.revoked = true
		}
	}
	// The dead grants' tokens can go (lookups of them answer invalid_token
	// and invalid_grant just the same).
	for t, a := range f.access {
		if a.g.user == user {
			delete(f.access, t)
		}
	}
	for t, rt := range f.refresh {
		if rt.g.user == user {
			delete(f.refresh, t)
		}
	}
	for id, s := range f.subs {
		if s.OwnerID == user {
			delete(f.subs, id)
		}
	}
}

// marshal is json.Marshal for values that cannot fail.
func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
