package sandbox

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ServicePath is the path of the import OData service.
const ServicePath = "/sap/opu/odata/sap/CUAN_IMPORT_SRV/"

// Defaults of a MarketingCloud fake (and of `stride sandbox`).
const (
	DefaultMKCUser       = "STRIDE_COMM"
	DefaultMKCPassword   = "sandbox-password"
	DefaultSessionCookie = "SAP_SESSIONID_CUA_100"
)

// MarketingCloudOptions configure NewMarketingCloud. The zero value is
// usable: every field has a default.
type MarketingCloudOptions struct {
	User, Password string // the communication user; defaults DefaultMKCUser, DefaultMKCPassword

	SessionCookie  string        // default DefaultSessionCookie
	SessionTimeout time.Duration // idle timeout of a session (and its CSRF token); 0 → 30 min, < 0 → never

	// CommunicationMedia and InteractionTypes are the values the system is
	// configured for; an interaction with another one is rejected. nil →
	// DefaultCommunicationMedia, DefaultInteractionTypes.
	CommunicationMedia []string
	InteractionTypes   []string

	Now func() time.Time // default time.Now
}

// DefaultCommunicationMedia and DefaultInteractionTypes are the codes a
// fresh sandbox Marketing Cloud accepts.
var (
	DefaultCommunicationMedia = []string{"WEB", "EMAIL", "PHONE", "SMS", "MOBILE_APP", "SOCIAL_NETWORK", "ONLINE_SHOP", "ERP", "COM"}
	DefaultInteractionTypes   = []string{"WEBSITE_VISIT", "WEBSITE_SEARCH", "WEBSITE_REGISTRATION", "EMAIL_OPENED", "CLICK_THROUGH", "SALES_ORDER", "MOBILE_APP_OPENED", "FITNESS_ACTIVITY"}
)

// MarketingCloud is a fake of SAP Marketing Cloud's CUAN_IMPORT_SRV, an
// http.Handler.
type MarketingCloud struct {
	endpoint
	opts MarketingCloudOptions

	mu           sync.Mutex
	sessions     map[string]*mkcSession
	contacts     map[string]*Contact     // by IdOrigin + "\x00" + Id
	interactions map[string]*Interaction // by Key
	failN        int
	failStatus   int
	unavailable  bool
	stats        MKCStats
	seq          int
}

// MKCStats counts what happened since NewMarketingCloud.
type MKCStats struct {
	Imports          int `json:"imports"`           // ImportHeaders answered 201
	Rejected         int `json:"rejected"`          // ImportHeaders answered 400 (validation)
	CSRFFetches      int `json:"csrf_fetches"`      // GETs with X-CSRF-Token: Fetch
	CSRFRejected     int `json:"csrf_rejected"`     // 403 X-CSRF-Token: Required
	Unauthorized     int `json:"unauthorized"`      // 401
	InjectedFailures int `json:"injected_failures"` // FailNext / SetUnavailable answers
	ContactsCreated  int `json:"contacts_created"`
	ContactsUpdated  int `json:"contacts_updated"`
	InteractionsNew  int `json:"interactions_created"`
	InteractionsUpd  int `json:"interactions_updated"` // same Key imported again
}

type mkcSession struct {
	user     string
	token    string
	lastUsed time.Time
}

// Contact is a contact in the fake Marketing Cloud, keyed by (IdOrigin, Id).
type Contact struct {
	ID          string         `json:"Id"`
	IDOrigin    string         `json:"IdOrigin"`
	Timestamp   string         `json:"Timestamp,omitempty"` // "/Date(ms)/"
	FirstName   string         `json:"FirstName,omitempty"`
	LastName    string         `json:"LastName,omitempty"`
	FullName    string         `json:"FullName,omitempty"`
	Country     string         `json:"Country,omitempty"`
	City        string         `json:"City,omitempty"`
	DateOfBirth string         `json:"DateOfBirth,omitempty"` // "/Date(ms)/"
	EMail       string         `json:"EMailAddress,omitempty"`
	Other       map[string]any `json:"Other,omitempty"` // further properties as imported
	// Implicit: created by an interaction for an unknown contact (as
	// Marketing Cloud does); no contact import has named it yet.
	Implicit      bool      `json:"Implicit,omitempty"`
	Imports       int       `json:"Imports"` // contact imports that named it
	FirstImported time.Time `json:"FirstImported"`
	LastImported  time.Time `json:"LastImported"`
}

// Interaction is an interaction in the fake Marketing Cloud, keyed by Key.
type Interaction struct {
	Key                 string         `json:"Key"`
	ContactID           string         `json:"ContactId"`
	ContactIDOrigin     string         `json:"ContactIdOrigin"`
	CommunicationMedium string         `json:"CommunicationMedium"`
	InteractionType     string         `json:"InteractionType"`
	Timestamp           string         `json:"Timestamp"` // "/Date(ms)/" as imported
	Time                time.Time      `json:"Time"`      // Timestamp decoded, UTC
	SourceObjectType    string         `json:"SourceObjectType,omitempty"`
	SourceObjectID      string         `json:"SourceObjectId,omitempty"`
	SourceSystemType    string         `json:"SourceSystemType,omitempty"` // from the interaction, else its header
	SourceSystemID      string         `json:"SourceSystemId,omitempty"`
	Quantifier          *float64       `json:"Quantifier,omitempty"`
	Other               map[string]any `json:"Other,omitempty"`
	Imports             int            `json:"Imports"` // how often this Key was imported (1 = once)
	FirstImported       time.Time      `json:"FirstImported"`
	LastImported        time.Time      `json:"LastImported"`
}

// NewMarketingCloud returns a Marketing Cloud fake configured by opts.
func NewMarketingCloud(opts MarketingCloudOptions) *MarketingCloud {
	if opts.User == "" {
		opts.User = DefaultMKCUser
	}
	if opts.Password == "" {
		opts.Password = DefaultMKCPassword
	}
	if opts.SessionCookie == "" {
		opts.SessionCookie = DefaultSessionCookie
	}
	if opts.SessionTimeout == 0 {
		opts.SessionTimeout = 30 * time.Minute
	}
	if opts.CommunicationMedia == nil {
		opts.CommunicationMedia = DefaultCommunicationMedia
	}
	if opts.InteractionTypes == nil {
		opts.InteractionTypes = DefaultInteractionTypes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &MarketingCloud{
		opts:         opts,
		sessions:     map[string]*mkcSession{},
		contacts:     map[string]*Contact{},
		interactions: map[string]*Interaction{},
	}
}

// Start listens on addr (default 127.0.0.1:0; only loopback addresses are
// accepted), serves m and sets m.URL. Close stops it.
func (m *MarketingCloud) Start(addr string) error { return m.start(m, addr) }

// User and Password are the communication user's credentials.
func (m *MarketingCloud) User() string     { return m.opts.User }
func (m *MarketingCloud) Password() string { return m.opts.Password }

// ---- controls and introspection ----

// FailNext makes the next n requests to the service answer status (before
// authentication, like a gateway in front of it).
func (m *MarketingCloud) FailNext(n, status int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failN, m.failStatus = n, status
}

// SetUnavailable makes every service request answer 503 until called with false.
func (m *MarketingCloud) SetUnavailable(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unavailable = on
}

// ExpireCSRF ends every session: their CSRF tokens are no longer valid,
// and a client must fetch a new token (and cookie).
func (m *MarketingCloud) ExpireCSRF() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions = map[string]*mkcSession{}
}

// Contacts returns copies of the contacts, by IdOrigin and Id.
func (m *MarketingCloud) Contacts() []Contact {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Contact, 0, len(m.contacts))
	for _, c := range m.contacts {
		cc := *c
		cc.Other = cloneMap(c.Other)
		out = append(out, cc)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].IDOrigin != out[j].IDOrigin {
			return out[i].IDOrigin < out[j].IDOrigin
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Interactions returns copies of the interactions, by contact, time and Key.
func (m *MarketingCloud) Interactions() []Interaction {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Interaction, 0, len(m.interactions))
	for _, it := range m.interactions {
		c := *it
		if it.Quantifier != nil {
			q := *it.Quantifier
			c.Quantifier = &q
		}
		c.Other = cloneMap(it.Other)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.ContactIDOrigin != b.ContactIDOrigin:
			return a.ContactIDOrigin < b.ContactIDOrigin
		case a.ContactID != b.ContactID:
			return a.ContactID < b.ContactID
		case !a.Time.Equal(b.Time):
			return a.Time.Before(b.Time)
		}
		return a.Key < b.Key
	})
	return out
}

// ImportCount is how many ImportHeaders posts were accepted (201).
func (m *MarketingCloud) ImportCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats.Imports
}

// Stats returns the counters.
func (m *MarketingCloud) Stats() MKCStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

func cloneMap(in map[string]any) map[string]any {
	if in == nil {
		return nil
	}
	out := make(map[string]any, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

// ---- HTTP ----

func (m *MarketingCloud) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == strings.TrimSuffix(ServicePath, "/") || strings.HasPrefix(p, ServicePath):
		m.serveService(w, r)
	case strings.HasPrefix(p, "/sandbox/"):
		m.handleControl(w, r)
	default:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("<html><body><h1>404 Not Found</h1></body></html>\n"))
	}
}

func (m *MarketingCloud) serveService(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	status := 0
	switch {
	case m.unavailable:
		status = http.StatusServiceUnavailable
	case m.failN > 0:
		m.failN--
		status = m.failStatus
	}
	if status != 0 {
		m.stats.InjectedFailures++
	}
	m.mu.Unlock()
	if status != 0 {
		if status >= 500 {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			w.Write([]byte("<html><head><title>Service Unavailable</title></head><body><h1>" + http.StatusText(status) +
				"</h1><p>The service is temporarily unavailable (sandbox failure injection).</p></body></html>\n"))
		} else {
			odataError(w, status, "SANDBOX/INJECTED", "Injected failure ("+http.StatusText(status)+")", nil)
		}
		return
	}

	user, pass, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(m.opts.User)) != 1 ||
		subtle.ConstantTimeCompare([]byte(pass), []byte(m.opts.Password)) != 1 {
		m.mu.Lock()
		m.stats.Unauthorized++
		m.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="SAP NetWeaver Application Server [CUA/100]"`)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte("<html><head><title>Logon Error Message</title></head><body><h1>Logon failed</h1></body></html>\n"))
		return
	}

	entity := strings.Trim(strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(ServicePath, "/")), "/")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if strings.EqualFold(r.Header.Get("X-CSRF-Token"), "fetch") {
			m.fetchToken(w, r, user)
		}
		switch entity {
		case "":
			writeJSON(w, http.StatusOK, map[string]any{"d": map[string]any{"EntitySets": []string{"ImportHeaders", "Contacts", "Interactions"}}})
		case "$metadata":
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusOK)
			w.Write([]byte(metadataXML))
		case "ImportHeaders", "Contacts", "Interactions":
			odataError(w, http.StatusMethodNotAllowed, "/IWBEP/CM_MGW_RT/021", "Method 'GET' is not supported for "+entity+" in the sandbox", nil)
		default:
			odataError(w, http.StatusNotFound, "/IWBEP/CM_MGW_RT/020", "Resource not found for segment '"+entity+"'", nil)
		}
		return
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, "MERGE":
	default:
		odataError(w, http.StatusMethodNotAllowed, "/IWBEP/CM_MGW_RT/021", "Method '"+r.Method+"' is not supported", nil)
		return
	}
	if !m.checkToken(r, user) {
		m.mu.Lock()
		m.stats.CSRFRejected++
		m.mu.Unlock()
		w.Header().Set("X-CSRF-Token", "Required")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte("CSRF token validation failed"))
		return
	}
	if entity != "ImportHeaders" || r.Method != http.MethodPost {
		if entity == "ImportHeaders" || entity == "Contacts" || entity == "Interactions" {
			odataError(w, http.StatusMethodNotAllowed, "/IWBEP/CM_MGW_RT/021", "Method '"+r.Method+"' is not supported for "+entity+" in the sandbox; POST ImportHeaders", nil)
		} else {
			odataError(w, http.StatusNotFound, "/IWBEP/CM_MGW_RT/020", "Resource not found for segment '"+entity+"'", nil)
		}
		return
	}
	m.importHeaders(w, r)
}

func newCSRFToken() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// sessionLocked returns the live session named by the request's cookie.
func (m *MarketingCloud) sessionLocked(r *http.Request) (string, *mkcSession) {
	ck, err := r.Cookie(m.opts.SessionCookie)
	if err != nil {
		return "", nil
	}
	s := m.sessions[ck.Value]
	if s == nil {
		return "", nil
	}
	if m.opts.SessionTimeout > 0 && m.opts.Now().Sub(s.lastUsed) > m.opts.SessionTimeout {
		delete(m.sessions, ck.Value)
		return "", nil
	}
	return ck.Value, s
}

// fetchToken answers X-CSRF-Token with the session's token, opening a
// session (Set-Cookie) when the request has none.
func (m *MarketingCloud) fetchToken(w http.ResponseWriter, r *http.Request, user string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats.CSRFFetches++
	_, s := m.sessionLocked(r)
	if s == nil || s.user != user {
		id := randomHex(20)
		s = &mkcSession{user: user, token: newCSRFToken()}
		m.sessions[id] = s
		http.SetCookie(w, &http.Cookie{Name: m.opts.SessionCookie, Value: id, Path: "/", HttpOnly: true})
		http.SetCookie(w, &http.Cookie{Name: "sap-usercontext", Value: "sap-client=100", Path: "/"})
	}
	s.lastUsed = m.opts.Now()
	w.Header().Set("X-CSRF-Token", s.token)
}

// checkToken: the X-CSRF-Token header must be the token of the session
// named by the cookie, opened by the same user.
func (m *MarketingCloud) checkToken(r *http.Request, user string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, s := m.sessionLocked(r)
	tok := r.Header.Get("X-CSRF-Token")
	if s == nil || s.user != user || tok == "" ||
		subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) != 1 {
		return false
	}
	s.lastUsed = m.opts.Now()
	return true
}

// handleControl serves the sandbox-only endpoints (no auth):
//
//	GET  /sandbox/contacts              Contacts()
//	GET  /sandbox/interactions          Interactions()
//	GET  /sandbox/stats                 MKCStats
//	POST /sandbox/expire-csrf           ExpireCSRF()
//	POST /sandbox/fail?n=&status=       FailNext(n, status) (defaults 1, 503)
//	POST /sandbox/unavailable?on=1|0    SetUnavailable
func (m *MarketingCloud) handleControl(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch r.Method + " " + r.URL.Path {
	case "GET /sandbox/contacts":
		writeJSON(w, http.StatusOK, map[string]any{"contacts": m.Contacts()})
	case "GET /sandbox/interactions":
		writeJSON(w, http.StatusOK, map[string]any{"interactions": m.Interactions()})
	case "GET /sandbox/stats":
		writeJSON(w, http.StatusOK, m.Stats())
	case "POST /sandbox/expire-csrf":
		m.ExpireCSRF()
		writeJSON(w, http.StatusOK, map[string]any{"expired": true})
	case "POST /sandbox/fail":
		n, status := 1, http.StatusServiceUnavailable
		var err error
		if s := q.Get("n"); s != "" {
			if n, err = strconv.Atoi(s); err != nil || n < 0 {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "n must be a non-negative integer"})
				return
			}
		}
		if s := q.Get("status"); s != "" {
			if status, err = strconv.Atoi(s); err != nil || status < 400 || status > 599 {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "status must be 400..599"})
				return
			}
		}
		m.FailNext(n, status)
		writeJSON(w, http.StatusOK, map[string]any{"n": n, "status": status})
	case "POST /sandbox/unavailable":
		on := q.Get("on") != "0" && q.Get("on") != "false"
		m.SetUnavailable(on)
		writeJSON(w, http.StatusOK, map[string]any{"unavailable": on})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no sandbox control " + r.Method + " " + r.URL.Path})
	}
}

const metadataXML = `<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx">
 <edmx:DataServices m:DataServiceVersion="2.0" xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">
  <Schema Namespace="CUAN_IMPORT_SRV" xmlns="http://schemas.microsoft.com/ado/2008/09/edm">
   <EntityContainer Name="CUAN_IMPORT_SRV_Entities" m:IsDefaultEntityContainer="true">
    <EntitySet Name="ImportHeaders" EntityType="CUAN_IMPORT_SRV.ImportHeader"/>
    <EntitySet Name="Contacts" EntityType="CUAN_IMPORT_SRV.Contact"/>
    <EntitySet Name="Interactions" EntityType="CUAN_IMPORT_SRV.Interaction"/>
   </EntityContainer>
  </Schema>
 </edmx:DataServices>
</edmx:Edmx>
`
