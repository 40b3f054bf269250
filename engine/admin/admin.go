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
	"net/http"

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

// AddReload serves POST /admin/reload with r.
func (a *Admin) AddReload(r *runtime.Reloader) {
	a.reloader = r
	a.Handle("POST /admin/reload", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		res := r.Reload()
		if res.OK {
			WriteJSON(w, http.StatusOK, ReloadResponse{Status: "reloaded", TookMS: float64(res.Took.Microseconds()) / 1000, Versions: res.Versions})
			return
		}
		out := ReloadInvalid{Errors: []LoadError{}, Status: "invalid; the running flows keep serving", Code: CodeInvalid}
		for _, e := range res.Errors {
			out.Errors = append(out.Errors, LoadError{File: e.Pos.File, Line: e.Pos.Line, Col: e.Pos.Col, Message: e.Msg})
		}
		if res.Err != nil {
			out.Errors = append(out.Errors, LoadError{File: r.Dir, Message: res.Err.Error()})
		}
		WriteJSON(w, http.StatusUnprocessableEntity, out)
	}))
}

// Handle adds an endpoint that needs the bearer token.
func (a *Admin) Handle(pattern string, h http.Handler) {
	a.mux.Handle(pattern, a.auth(h))
}

func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func (a *Admin) auth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
