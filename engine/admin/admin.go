// Package admin is Stride's admin API (CONTRACT.md): the HTTP handlers,
// the types of their request and response bodies (api.go), and a Client
// that `stride status`, `reload`, `trigger`, `messages` and `store` use to
// call a running instance. Every error answer carries a code (the Code
// constants) for programs to decide on, beside a text for people.
package admin

import (
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/runtime"
)

// Admin serves the admin API of CONTRACT.md on its own listener. The
// reload, messages and run endpoints are added by later layers through
// Handle.
type Admin struct {
	rt       *runtime.Runtime
	token    string
	mux      *http.ServeMux
	ready    func() bool
	reloader *runtime.Reloader // nil until AddReload
	sessions SessionCheck      // nil until AcceptSessions
}

// SessionCheck authenticates a request that carries no Authorization
// header by the monitor page's session cookie: valid when the cookie
// names a live session, csrf when the request also carries that session's
// CSRF token.
type SessionCheck func(r *http.Request) (valid, csrf bool)

// AcceptSessions lets requests without a bearer token in when check finds
// a valid session: reads always, changes (any method but GET and HEAD)
// only with the session's CSRF token, else 403 CodeForbidden. A request
// with an Authorization header is judged by its token alone, as before.
func (a *Admin) AcceptSessions(check SessionCheck) { a.sessions = check }

// HandlePublic adds an endpoint that needs no token: the monitor's login
// page and its static files.
func (a *Admin) HandlePublic(pattern string, h http.Handler) { a.mux.Handle(pattern, h) }

// Token reports whether the admin API needs a token (STRIDE_ADMIN_TOKEN is
// set) and checks one in constant time.
func (a *Admin) Token() (required bool, check func(string) bool) {
	return a.token != "", func(t string) bool { return a.token != "" && constantTimeEqual(t, a.token) }
}

// NewAdmin returns the admin API of rt. With a token, every call but
// /admin/health needs Authorization: Bearer <token>. ready reports
// whether all flows are loaded and listeners are up.
func NewAdmin(rt *runtime.Runtime, token string, ready func() bool) *Admin {
	a := &Admin{rt: rt, token: token, mux: http.NewServeMux(), ready: ready}
	a.mux.HandleFunc("GET /admin/health", a.health)
	a.mux.HandleFunc("GET /healthz", a.healthz)
	a.mux.HandleFunc("GET /readyz", a.readyz)
	a.Handle("GET /admin/flows", http.HandlerFunc(a.flows))
	a.Handle("POST /admin/flows/{id}/run", http.HandlerFunc(a.runNow))
	return a
}

// healthz answers 200 while the process serves its admin listener: a
// liveness probe (restart me if this fails). It needs no token.
func (a *Admin) healthz(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, Liveness{Status: "alive"})
}

// readyz answers 200 when Stride takes messages — flows loaded, store
// open, runtime started, consumers running, the data disk above its floor
// — and 503 with the reasons otherwise: a readiness probe (send me no
// traffic while this fails). It needs no token.
func (a *Admin) readyz(w http.ResponseWriter, r *http.Request) {
	var why []string
	if a.ready != nil && !a.ready() {
		why = append(why, "starting: flows, store and listeners are not all up yet")
	}
	if ok, reasons := a.rt.Ready(); !ok {
		why = append(why, reasons...)
	}
	if len(why) > 0 {
		WriteJSON(w, http.StatusServiceUnavailable, Readiness{Status: "not ready", Reasons: why, Code: CodeUnavailable})
		return
	}
	WriteJSON(w, http.StatusOK, Readiness{Status: "ready", Reasons: []string{}})
}

// AddReload serves POST /admin/reload with r. The query force=true
// forces the reload: a valid set is swapped in even when it stops running
// flows. Answers: 200 ReloadResponse; 422 ReloadInvalid (CodeInvalid:
// invalid flow files, an unreadable directory or env file); 409
// ReloadRefused (CodeWouldStopFlows); 400 for a force that is not a
// boolean. The running flows keep serving unless the answer is 200.
func (a *Admin) AddReload(r *runtime.Reloader) {
	a.reloader = r
	a.Handle("POST /admin/reload", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		force := false
		if v := req.URL.Query().Get("force"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("force=%q: want true or false", v))
				return
			}
			force = b
		}
		res := r.ReloadWith(runtime.ReloadOptions{Force: force, By: "admin API"})
		switch res.Result {
		case runtime.ResultOK:
			WriteJSON(w, http.StatusOK, ReloadResponse{Status: "reloaded", TookMS: float64(res.Took.Microseconds()) / 1000, Versions: res.Versions,
				Forced: res.Forced, Stopped: stoppedFlows(res.Stopped)})
		case runtime.ResultRefused:
			WriteJSON(w, http.StatusConflict, ReloadRefused{
				Message:   res.Err.Error() + "; the running flows keep serving; " + runtime.ForceHint,
				Code:      CodeWouldStopFlows,
				Status:    "refused; the running flows keep serving",
				WouldStop: stoppedFlows(res.WouldStop),
				Errors:    loadErrors(res.Errors),
			})
		default:
			WriteJSON(w, http.StatusUnprocessableEntity, ReloadInvalid{Errors: loadErrors(res.Errors), Status: "invalid; the running flows keep serving", Code: CodeInvalid})
		}
	}))
}

func loadErrors(el flow.ErrorList) []LoadError {
	out := []LoadError{}
	for _, e := range el {
		out = append(out, LoadError{File: e.Pos.File, Line: e.Pos.Line, Col: e.Pos.Col, Message: e.Msg})
	}
	return out
}

func stoppedFlows(s []runtime.StoppedFlow) []StoppedFlow {
	if len(s) == 0 {
		return nil
	}
	out := make([]StoppedFlow, len(s))
	for i, f := range s {
		out[i] = StoppedFlow{ID: f.ID, File: f.File, Removed: f.Removed, Reason: f.Reason}
	}
	return out
}

// Handle adds an endpoint that needs the bearer token.
func (a *Admin) Handle(pattern string, h http.Handler) {
	a.mux.Handle(pattern, a.auth(h))
}

func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func (a *Admin) auth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.token != "" && r.Header.Get("Authorization") == "" && a.sessions != nil {
			if valid, csrf := a.sessions(r); valid {
				if !csrf && r.Method != http.MethodGet && r.Method != http.MethodHead {
					writeError(w, http.StatusForbidden, CodeForbidden, "a change from the monitor page needs the session's X-CSRF-Token header")
					return
				}
				h.ServeHTTP(w, r)
				return
			}
		}
		if a.token != "" && !constantTimeEqual(r.Header.Get("Authorization"), "Bearer "+a.token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="stride-admin"`)
			writeError(w, http.StatusUnauthorized, CodeUnauthorized, "admin API needs Authorization: Bearer <STRIDE_ADMIN_TOKEN>")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (a *Admin) health(w http.ResponseWriter, r *http.Request) {
	if a.ready != nil && !a.ready() {
		WriteJSON(w, http.StatusServiceUnavailable, HealthStarting{Status: "starting", Code: CodeUnavailable})
		return
	}
	WriteJSON(w, http.StatusOK, Health{Flows: len(a.rt.Set().Flows()), Status: "ok"})
}

func (a *Admin) flows(w http.ResponseWriter, r *http.Request) {
	out := FlowsResponse{Flows: []FlowStatus{}, Errors: []LoadError{}}
	for _, f := range a.rt.Set().Flows() {
		st := FlowStatus{ID: f.ID, File: f.File, Version: f.Version, Trigger: f.Trigger.Kind, Status: "running"}
		if reason := a.rt.NotStarted(f.ID); reason != "" {
			st.Status, st.Reason = "disabled", reason
		}
		out.Flows = append(out.Flows, st)
	}
	if a.reloader != nil {
		for _, e := range a.reloader.LoadErrors() {
			out.Errors = append(out.Errors, LoadError{File: e.Pos.File, Line: e.Pos.Line, Col: e.Pos.Col, Message: e.Msg})
		}
	}
	WriteJSON(w, http.StatusOK, out)
}

// WriteJSON writes v as a JSON response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeError writes an Error answer.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	WriteJSON(w, status, Error{Message: msg, Code: code})
}

func (a *Admin) runNow(w http.ResponseWriter, r *http.Request) {
	id, err := a.rt.RunNow(r.PathValue("id"))
	switch {
	case errors.Is(err, runtime.ErrAlreadyRunning):
		writeError(w, http.StatusConflict, CodeAlreadyRunning, "flow "+r.PathValue("id")+" is still running; a timer flow never overlaps itself")
	case err != nil && a.rt.Set().Flow(r.PathValue("id")) == nil:
		writeError(w, http.StatusNotFound, CodeNotFound, err.Error())
	case errors.Is(err, runtime.ErrStopped):
		writeError(w, http.StatusUnprocessableEntity, CodeUnavailable, err.Error())
	case err != nil:
		// RunNow's other refusals (not a timer flow, a disabled flow)
		// are plain errors; the flow exists, so it is not runnable.
		writeError(w, http.StatusUnprocessableEntity, CodeNotRunnable, err.Error())
	default:
		WriteJSON(w, http.StatusAccepted, RunResponse{MessageID: id})
	}
}

func constantTimeEqual(a, b string) bool {
	return hmac.Equal([]byte(a), []byte(b))
}
