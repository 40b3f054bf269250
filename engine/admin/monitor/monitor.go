// Package monitor is the web page on the admin listener (`GET /`): flows
// with their diagrams and live step counts, the message log with search,
// traces and replay, queues and dead letters, data stores and
// connections. It is plain HTML, CSS and JavaScript embedded in the
// binary (no build step, nothing from the network) that reads the JSON
// admin API.
//
// Security: with STRIDE_ADMIN_TOKEN set, the token is entered once on the
// login page and exchanged for a random session id in an HttpOnly,
// SameSite=Strict cookie (Secure over TLS); the token itself is never
// stored in the browser, put in a URL or written into a page. Every
// change the page makes carries the session's CSRF token (an HMAC of the
// session id) in the X-CSRF-Token header, which the admin API checks. A
// strict Content-Security-Policy allows only this origin's scripts and
// styles, no inline code. The JSON API keeps taking the bearer token.
package monitor

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/stride-engine/stride/engine/admin"
)

//go:embed ui
var assets embed.FS

// CookieName is the session cookie's name.
const CookieName = "stride_session"

// CSRFHeader is the header that carries the session's CSRF token on
// every change the page makes.
const CSRFHeader = "X-CSRF-Token"

// SessionTTL is how long a login lasts.
const SessionTTL = 12 * time.Hour

// maxSessions bounds the sessions kept; a login beyond it ends the oldest.
const maxSessions = 1000

// ContentSecurityPolicy is sent with every page and file of the monitor:
// scripts, styles and requests of this origin only, no inline code, no
// framing.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Monitor serves the page and keeps its sessions.
type Monitor struct {
	requireLogin bool
	checkToken   func(string) bool
	csrfKey      []byte // random per process: a restart ends every session
	now          func() time.Time
	login        *template.Template
	static       fs.FS

	mu       sync.Mutex
	sessions map[string]time.Time // session id → expiry
	failed   []time.Time          // wrong tokens within the last loginWindow
}

// Guessing the token: at most maxFailedLogins wrong ones per loginWindow
// (the whole listener: a guesser changes address easily); then every
// login answers 429 until the window has passed.
const (
	maxFailedLogins = 10
	loginWindow     = time.Minute
)

// loginBlocked reports whether too many wrong tokens came lately.
func (m *Monitor) loginBlocked() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	cut := m.now().Add(-loginWindow)
	kept := m.failed[:0]
	for _, t := range m.failed {
		if t.After(cut) {
			kept = append(kept, t)
		}
	}
	m.failed = kept
	return len(m.failed) >= maxFailedLogins
}

func (m *Monitor) loginFailed() {
	m.mu.Lock()
	m.failed = append(m.failed, m.now())
	m.mu.Unlock()
}

// Mount serves the monitor on a's listener: the page at /, its files
// under /ui/, /login and /logout, and tells a to accept the sessions.
func Mount(a *admin.Admin) *Monitor {
	required, check := a.Token()
	static, _ := fs.Sub(assets, "ui")
	m := &Monitor{
		requireLogin: required,
		checkToken:   check,
		csrfKey:      randomBytes(32),
		now:          time.Now,
		login:        template.Must(template.ParseFS(assets, "ui/login.html")),
		static:       static,
		sessions:     map[string]time.Time{},
	}
	a.AcceptSessions(m.check)
	a.HandlePublic("GET /{$}", secure(http.HandlerFunc(m.index)))
	a.HandlePublic("GET /ui/{file}", secure(http.HandlerFunc(m.file)))
	a.HandlePublic("GET /login", secure(http.HandlerFunc(m.loginPage)))
	a.HandlePublic("POST /login", secure(http.HandlerFunc(m.doLogin)))
	a.HandlePublic("POST /logout", secure(http.HandlerFunc(m.logout)))
	a.Handle("GET /admin/session", secure(http.HandlerFunc(m.session)))
	return m
}

// secure adds the monitor's security headers.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", ContentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin") // no-referrer would make browsers send Origin: null
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

func (m *Monitor) index(w http.ResponseWriter, r *http.Request) {
	if m.requireLogin {
		if valid, _ := m.check(r); !valid {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
	}
	http.ServeFileFS(w, r, m.static, "index.html")
}

// file serves one of the page's files (no directory listing; the login
// template is not among them).
func (m *Monitor) file(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if name == "login.html" || name == "index.html" {
		http.NotFound(w, r)
		return
	}
	http.ServeFileFS(w, r, m.static, name)
}

type loginData struct {
	Error string
	Open  bool // no token is set: nothing to log in to
}

func (m *Monitor) loginPage(w http.ResponseWriter, r *http.Request) {
	m.renderLogin(w, http.StatusOK, loginData{Open: !m.requireLogin})
}

func (m *Monitor) renderLogin(w http.ResponseWriter, status int, d loginData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = m.login.Execute(w, d)
}

// doLogin exchanges the admin token for a session. A wrong token is
// answered 401 with the form again; the token is never echoed.
func (m *Monitor) doLogin(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		m.renderLogin(w, http.StatusForbidden, loginData{Error: "The login came from another site."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if !m.requireLogin {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if m.loginBlocked() {
		w.Header().Set("Retry-After", strconv.Itoa(int(loginWindow/time.Second)))
		m.renderLogin(w, http.StatusTooManyRequests, loginData{Error: "Too many wrong tokens in the last minute; try again in a minute."})
		return
	}
	if err := r.ParseForm(); err != nil || !m.checkToken(r.PostForm.Get("token")) {
		m.loginFailed()
		m.renderLogin(w, http.StatusUnauthorized, loginData{Error: "That is not the admin token (STRIDE_ADMIN_TOKEN)."})
		return
	}
	id := hex.EncodeToString(randomBytes(32))
	m.mu.Lock()
	now := m.now()
	for sid, exp := range m.sessions {
		if !exp.After(now) {
			delete(m.sessions, sid)
		}
	}
	if len(m.sessions) >= maxSessions {
		var oldest string
		for sid, exp := range m.sessions {
			if oldest == "" || exp.Before(m.sessions[oldest]) {
				oldest = sid
			}
		}
		delete(m.sessions, oldest)
	}
	m.sessions[id] = now.Add(SessionTTL)
	m.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: id, Path: "/", MaxAge: int(SessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends the session; it needs the session's CSRF token, so another
// site cannot log the operator out.
func (m *Monitor) logout(w http.ResponseWriter, r *http.Request) {
	if valid, csrf := m.check(r); valid && csrf {
		c, _ := r.Cookie(CookieName)
		m.mu.Lock()
		delete(m.sessions, c.Value)
		m.mu.Unlock()
	} else if valid {
		admin.WriteJSON(w, http.StatusForbidden, admin.Error{Message: "logout needs the session's X-CSRF-Token header", Code: admin.CodeForbidden})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	w.WriteHeader(http.StatusNoContent)
}

// SessionInfo is GET /admin/session's answer: what the page needs to make
// changes. The CSRF token is readable only by this origin's scripts (no
// CORS), which is what makes it a proof that a request came from the page.
type SessionInfo struct {
	CSRFToken string `json:"csrf_token,omitempty"`
	// Auth is "session" (logged in on the page), "token" (a bearer
	// token) or "open" (STRIDE_ADMIN_TOKEN is not set).
	Auth string `json:"auth"`
}

func (m *Monitor) session(w http.ResponseWriter, r *http.Request) {
	info := SessionInfo{Auth: "open"}
	switch {
	case r.Header.Get("Authorization") != "":
		info.Auth = "token"
	case m.requireLogin:
		c, _ := r.Cookie(CookieName)
		info.Auth, info.CSRFToken = "session", m.csrfToken(c.Value)
	}
	admin.WriteJSON(w, http.StatusOK, info)
}

// check reports whether r carries a live session's cookie, and whether it
// carries that session's CSRF token in the X-CSRF-Token header.
func (m *Monitor) check(r *http.Request) (valid, csrf bool) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return false, false
	}
	m.mu.Lock()
	exp, ok := m.sessions[c.Value]
	m.mu.Unlock()
	if !ok || !exp.After(m.now()) {
		return false, false
	}
	got := r.Header.Get(CSRFHeader)
	return true, got != "" && hmac.Equal([]byte(got), []byte(m.csrfToken(c.Value)))
}

func (m *Monitor) csrfToken(session string) string {
	h := hmac.New(sha256.New, m.csrfKey)
	h.Write([]byte(session))
	return hex.EncodeToString(h.Sum(nil))
}

// sameOrigin refuses a form posted from another origin when the browser
// says where it came from (Origin), and lets requests without it (curl).
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
