package sandbox

import (
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Google Health API v4 OAuth scopes the fake knows.
const (
	GoogleScopeActivity = "https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly"
	GoogleScopeProfile  = "https://www.googleapis.com/auth/googlehealth.profile.readonly"
)

// GoogleScopes are the scopes the Google authorization page accepts.
var GoogleScopes = []string{GoogleScopeActivity, GoogleScopeProfile}

// Defaults of a Google Health fake.
const (
	DefaultGoogleClientID     = "000000000000-sandbox.apps.googleusercontent.com"
	DefaultGoogleClientSecret = "GOCSPX-sandbox-client-secret"
	DefaultGoogleRedirectURI  = "http://127.0.0.1:8080/google-health/callback"
	DefaultGoogleRateLimit    = 300 // requests per user per minute on /v4/
)

// GoogleUser is a Google Health test user. ID is the sandbox's name for it
// (sandbox_user, the Go controls, Steps); the API only shows HealthUserID
// and LegacyUserID.
type GoogleUser struct {
	ID string `json:"id"`
	// HealthUserID is the Google Health user id; default "hu-" + lower(ID).
	HealthUserID string `json:"healthUserId"`
	// LegacyUserID is the user's Fitbit encodedId; default ID, and always ""
	// for a GoogleOnly user.
	LegacyUserID string `json:"legacyUserId,omitempty"`
	// GoogleOnly marks a user who never had a Fitbit account: the identity
	// has no legacyUserId.
	GoogleOnly bool `json:"googleOnly"`
}

// DefaultGoogleOnlyUsers are the Google-only test users every Google Health
// fake knows, besides every DefaultUsers entry as a migrated Fitbit user.
var DefaultGoogleOnlyUsers = []GoogleUser{
	{ID: "NOVA7", GoogleOnly: true},
	{ID: "ORION8", GoogleOnly: true},
}

func (u GoogleUser) normalized() GoogleUser {
	if u.HealthUserID == "" {
		u.HealthUserID = "hu-" + strings.ToLower(u.ID)
	}
	switch {
	case u.GoogleOnly:
		u.LegacyUserID = ""
	case u.LegacyUserID == "":
		u.LegacyUserID = u.ID
	}
	return u
}

// GoogleHealthOptions configure NewGoogleHealth. The zero value is usable.
type GoogleHealthOptions struct {
	ClientID     string   // default DefaultGoogleClientID
	ClientSecret string   // default DefaultGoogleClientSecret
	RedirectURIs []string // registered redirect URIs, exact match; default [DefaultGoogleRedirectURI]

	// Users adds test users (or replaces known ones with the same ID). Every
	// DefaultUsers entry is known as a migrated Fitbit user (legacyUserId =
	// its Fitbit id), and DefaultGoogleOnlyUsers as Google-only users. Any
	// other ID matching [0-9A-Z]{1,16} given as sandbox_user is created on
	// first use as a migrated user.
	Users []GoogleUser
	// DefaultUser approves an authorization request without sandbox_user;
	// default "ADA1".
	DefaultUser string

	RateLimit      int           // per user per clock minute; 0 → 300, < 0 → unlimited
	AccessTokenTTL time.Duration // default 3599 s
	CodeTTL        time.Duration // authorization codes; default 10 min

	Now    func() time.Time // default time.Now
	Client *http.Client     // used by Notify and the verification helpers; default 10 s timeout
}

// GoogleHealth is a fake of Google's OAuth 2.0 endpoints and of the Google
// Health API v4 on one base URL, an http.Handler.
type GoogleHealth struct {
	endpoint
	opts GoogleHealthOptions

	mu        sync.Mutex
	users     map[string]GoogleUser // by ID
	codes     map[string]*googleCode
	access    map[string]*googleAccess
	refresh   map[string]*googleGrant // refresh token → grant
	grants    []*googleGrant
	approvals []Approval
	rate      map[string]*googleRate
	fails     []failRule
	perUser   map[string]*googleCounters
	dayReads  map[string]int // user + "/" + date → days served by dailyRollUp
	stats     GoogleHealthStats
	nextGrant int
}

// GoogleHealthStats counts what happened since NewGoogleHealth.
type GoogleHealthStats struct {
	Authorizations   int `json:"authorizations"`   // codes issued
	Denials          int `json:"denials"`          // access_denied redirects
	CodeExchanges    int `json:"code_exchanges"`   // successful authorization_code grants
	FailedExchanges  int `json:"failed_exchanges"` // authorization_code grants answered 4xx
	Refreshes        int `json:"refreshes"`        // successful refresh_token grants
	FailedRefreshes  int `json:"failed_refreshes"` // refresh_token grants answered 4xx
	Revocations      int `json:"revocations"`
	APICalls         int `json:"api_calls"`    // authenticated /v4 calls, incl. 400/403/429
	Unauthorized     int `json:"unauthorized"` // /v4 calls answered 401
	Forbidden        int `json:"forbidden"`    // /v4 calls answered 403
	RateLimited      int `json:"rate_limited"` // 429s, forced or earned
	InjectedFailures int `json:"injected_failures"`
	Notifications    int `json:"notifications"` // notification POSTs sent
	Verifications    int `json:"verifications"` // verification POSTs sent
}

type googleCounters struct {
	refreshes, apiCalls, rateLimited, unauthorized int
}

// googleGrant is one consent: the tokens of one code exchange.
type googleGrant struct {
	id           int
	user         string
	scopes       []string // sorted
	refreshToken string   // "" when none was issued (online access, or no prompt=consent)
	revoked      bool
}

type googleCode struct {
	code, redirectURI, user, challenge string
	scopes                             []string
	offline, consent                   bool
	expires                            time.Time
	used                               bool
}

type googleAccess struct {
	token   string
	g       *googleGrant
	expires time.Time
	uses    int
}

type googleRate struct {
	window time.Time
	count  int
	forced int
}

// NewGoogleHealth returns a Google Health fake configured by opts.
func NewGoogleHealth(opts GoogleHealthOptions) *GoogleHealth {
	if opts.ClientID == "" {
		opts.ClientID = DefaultGoogleClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultGoogleClientSecret
	}
	if len(opts.RedirectURIs) == 0 {
		opts.RedirectURIs = []string{DefaultGoogleRedirectURI}
	}
	if opts.DefaultUser == "" {
		opts.DefaultUser = "ADA1"
	}
	if opts.RateLimit == 0 {
		opts.RateLimit = DefaultGoogleRateLimit
	}
	if opts.AccessTokenTTL <= 0 {
		opts.AccessTokenTTL = 3599 * time.Second
	}
	if opts.CodeTTL <= 0 {
		opts.CodeTTL = 10 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	g := &GoogleHealth{
		opts:     opts,
		users:    map[string]GoogleUser{},
		codes:    map[string]*googleCode{},
		access:   map[string]*googleAccess{},
		refresh:  map[string]*googleGrant{},
		rate:     map[string]*googleRate{},
		perUser:  map[string]*googleCounters{},
		dayReads: map[string]int{},
	}
	for _, u := range DefaultUsers {
		g.users[u.ID] = GoogleUser{ID: u.ID}.normalized()
	}
	for _, u := range DefaultGoogleOnlyUsers {
		g.users[u.ID] = u.normalized()
	}
	for _, u := range opts.Users {
		g.users[u.ID] = u.normalized()
	}
	return g
}

// Start listens on addr (default 127.0.0.1:0; only loopback addresses are
// accepted), serves g and sets g.URL. Close stops it.
func (g *GoogleHealth) Start(addr string) error { return g.start(g, addr) }

// ClientID, ClientSecret and RedirectURI are the registered OAuth client.
func (g *GoogleHealth) ClientID() string     { return g.opts.ClientID }
func (g *GoogleHealth) ClientSecret() string { return g.opts.ClientSecret }
func (g *GoogleHealth) RedirectURI() string  { return g.opts.RedirectURIs[0] }

// AuthorizeURL and TokenURL are the OAuth endpoints under g.URL.
func (g *GoogleHealth) AuthorizeURL() string { return g.URL + "/o/oauth2/v2/auth" }
func (g *GoogleHealth) TokenURL() string     { return g.URL + "/token" }

// Env is the environment a flow needs to use g, as sorted KEY=VALUE lines.
func (g *GoogleHealth) Env() []string {
	return []string{
		"GOOGLE_HEALTH_API_URL=" + g.URL,
		"GOOGLE_HEALTH_AUTHORIZE_URL=" + g.AuthorizeURL(),
		"GOOGLE_HEALTH_CLIENT_ID=" + g.ClientID(),
		"GOOGLE_HEALTH_CLIENT_SECRET=" + g.ClientSecret(),
		"GOOGLE_HEALTH_REDIRECT_URI=" + g.RedirectURI(),
		"GOOGLE_HEALTH_TOKEN_URL=" + g.TokenURL(),
	}
}

func (g *GoogleHealth) now() time.Time { return g.opts.Now() }

// ServeHTTP routes the OAuth endpoints, the API and the /sandbox/ controls.
func (g *GoogleHealth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if !strings.HasPrefix(p, "/sandbox/") {
		g.mu.Lock()
		status := takeFailure(&g.fails, p)
		if status != 0 {
			g.stats.InjectedFailures++
		}
		g.mu.Unlock()
		if status != 0 {
			googleError(w, status, "The service is currently unavailable (sandbox failure injection).")
			return
		}
	}
	switch {
	case p == "/o/oauth2/v2/auth":
		g.handleAuthorize(w, r)
	case p == "/token":
		g.handleToken(w, r)
	case p == "/revoke":
		g.handleRevoke(w, r)
	case strings.HasPrefix(p, "/v4/"):
		g.handleAPI(w, r)
	case strings.HasPrefix(p, "/sandbox/"):
		g.handleControl(w, r)
	default:
		googleError(w, http.StatusNotFound, "Requested entity was not found: "+p)
	}
}

// googleStatusNames are google.rpc.Code names by HTTP status.
var googleStatusNames = map[int]string{
	400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
	409: "ABORTED", 412: "FAILED_PRECONDITION", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED",
	500: "INTERNAL", 501: "UNIMPLEMENTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}

func googleStatus(code int) string {
	if s, ok := googleStatusNames[code]; ok {
		return s
	}
	return "UNKNOWN"
}

// googleError writes Google's API error body:
// {"error":{"code":N,"message":...,"status":"...","details":[...]}}.
func googleError(w http.ResponseWriter, code int, message string, details ...map[string]any) {
	e := map[string]any{"code": code, "message": message, "status": googleStatus(code)}
	if len(details) > 0 {
		e["details"] = details
	}
	writeJSON(w, code, map[string]any{"error": e})
}

// googleErrorInfo is a google.rpc.ErrorInfo detail.
func googleErrorInfo(reason string) map[string]any {
	return map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com"}
}

// userLocked returns the test user id, creating a migrated one on first
// use. Callers hold g.mu.
func (g *GoogleHealth) userLocked(id string) GoogleUser {
	u, ok := g.users[id]
	if !ok {
		u = GoogleUser{ID: id}.normalized()
		g.users[id] = u
	}
	return u
}

func (g *GoogleHealth) countersLocked(user string) *googleCounters {
	c := g.perUser[user]
	if c == nil {
		c = &googleCounters{}
		g.perUser[user] = c
	}
	return c
}

func (g *GoogleHealth) rateLocked(user string) *googleRate {
	rs := g.rate[user]
	if rs == nil {
		rs = &googleRate{}
		g.rate[user] = rs
	}
	return rs
}

// ---- introspection ----

// Users lists every test user the fake knows, by ID.
func (g *GoogleHealth) Users() []GoogleUser {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]GoogleUser, 0, len(g.users))
	for _, u := range g.users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// User returns a test user (created as a migrated user when unknown).
func (g *GoogleHealth) User(id string) GoogleUser {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.userLocked(id)
}

// HealthUserID is the healthUserId of the test user id.
func (g *GoogleHealth) HealthUserID(user string) string { return g.User(user).HealthUserID }

// LegacyUserID is the legacyUserId (Fitbit id) of the test user id, "" for
// a Google-only user.
func (g *GoogleHealth) LegacyUserID(user string) string { return g.User(user).LegacyUserID }

// UserByHealthID finds the test user with that healthUserId.
func (g *GoogleHealth) UserByHealthID(healthUserID string) (GoogleUser, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.userByHealthIDLocked(healthUserID)
}

func (g *GoogleHealth) userByHealthIDLocked(healthUserID string) (GoogleUser, bool) {
	for _, u := range g.users {
		if u.HealthUserID == healthUserID {
			return u, true
		}
	}
	return GoogleUser{}, false
}

// GoogleUserState is what the fake knows of one user's consent and use.
type GoogleUserState struct {
	User             GoogleUser `json:"user"`
	Connected        bool       `json:"connected"` // has a grant that is not revoked
	Scopes           []string   `json:"scopes"`    // union of the live grants' scopes
	LiveAccessTokens int        `json:"live_access_tokens"`
	RefreshTokens    int        `json:"refresh_tokens"` // of live grants
	Refreshes        int        `json:"refreshes"`
	APICalls         int        `json:"api_calls"`
	RateLimited      int        `json:"rate_limited"`
	Unauthorized     int        `json:"unauthorized"`
}

// State reports a user's grants, tokens and counters.
func (g *GoogleHealth) State(user string) GoogleUserState {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stateLocked(user)
}

func (g *GoogleHealth) stateLocked(user string) GoogleUserState {
	st := GoogleUserState{User: g.userLocked(user), Scopes: []string{}}
	set := map[string]bool{}
	for _, gr := range g.grants {
		if gr.user == user && !gr.revoked {
			st.Connected = true
			if gr.refreshToken != "" {
				st.RefreshTokens++
			}
			for _, s := range gr.scopes {
				set[s] = true
			}
		}
	}
	for s := range set {
		st.Scopes = append(st.Scopes, s)
	}
	sort.Strings(st.Scopes)
	now := g.now()
	for _, a := range g.access {
		if a.g.user == user && !a.g.revoked && now.Before(a.expires) {
			st.LiveAccessTokens++
		}
	}
	if c := g.perUser[user]; c != nil {
		st.Refreshes, st.APICalls, st.RateLimited, st.Unauthorized = c.refreshes, c.apiCalls, c.rateLimited, c.unauthorized
	}
	return st
}

// Connected lists the users with a live (not revoked) grant, by ID.
func (g *GoogleHealth) Connected() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	set := map[string]bool{}
	for _, gr := range g.grants {
		if !gr.revoked {
			set[gr.user] = true
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
func (g *GoogleHealth) Stats() GoogleHealthStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stats
}

// RefreshCount is how many successful refresh_token grants the user had.
func (g *GoogleHealth) RefreshCount(user string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c := g.perUser[user]; c != nil {
		return c.refreshes
	}
	return 0
}

// APICalls is how many authenticated /v4 calls the user's tokens made
// (including the ones answered 400, 403 or 429).
func (g *GoogleHealth) APICalls(user string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c := g.perUser[user]; c != nil {
		return c.apiCalls
	}
	return 0
}

// DayReads is how many times dailyRollUp answered a data point covering
// user's date.
func (g *GoogleHealth) DayReads(user, date string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.dayReads[user+"/"+date]
}

// StepsFor is Steps(user, date): the steps.countSum dailyRollUp answers for
// the test user id on date (yyyy-MM-dd), the same as the Fitbit fake's
// summary.steps for that id.
func (g *GoogleHealth) StepsFor(user, date string) int { return Steps(user, date) }

// ---- controls ----

// QueueApproval queues an answer of the authorization page for a request
// that carries no sandbox_* parameters (Approval.Scopes may name scopes by
// full URL or by the part after "googlehealth.").
func (g *GoogleHealth) QueueApproval(a Approval) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.approvals = append(g.approvals, a)
}

// ExpireAccessToken makes every access token of user expired now (their
// next use answers 401 UNAUTHENTICATED); refresh tokens stay valid. It
// returns how many tokens it expired.
func (g *GoogleHealth) ExpireAccessToken(user string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	n := 0
	for _, a := range g.access {
		if a.g.user == user && !a.g.revoked && now.Before(a.expires) {
			a.expires = now
			n++
		}
	}
	return n
}

// ForceRateLimit makes the user's next n API calls answer 429
// RESOURCE_EXHAUSTED.
func (g *GoogleHealth) ForceRateLimit(user string, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rateLocked(user).forced += n
}

// FailNext makes the next n requests whose path starts with prefix (any
// endpoint but /sandbox/) answer status with a Google error body, before
// anything else happens.
func (g *GoogleHealth) FailNext(prefix string, status, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fails = append(g.fails, failRule{prefix: prefix, status: status, n: n})
}

// RevokeUser is the user removing the app's access in their Google
// account: every token of the user dies. It returns how many grants were
// live.
func (g *GoogleHealth) RevokeUser(user string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.revokeUserLocked(user)
}

func (g *GoogleHealth) revokeUserLocked(user string) int {
	n := 0
	for _, gr := range g.grants {
		if gr.user == user && !gr.revoked {
			gr.revoked = true
			n++
		}
	}
	for t, a := range g.access {
		if a.g.user == user {
			delete(g.access, t)
		}
	}
	for t, gr := range g.refresh {
		if gr.user == user {
			delete(g.refresh, t)
		}
	}
	return n
}
