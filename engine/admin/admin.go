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
	a.Handle("GET /admin/flows", http.HandlerFunc(a.flows))
	a.Handle("POST /admin/flows/{id}/run", http.HandlerFunc(a.runNow))
	return a
}

// AddReload serves POST /admin/reload with r.
func (a *Admin) AddReload(r *runtime.Reloader) {
	a.reloader = r
	a.Handle("POST /admin/reload", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		res := r.Reload()
		if res.OK {
			WriteJSON(w, http.StatusOK, map[string]any{"status": "reloaded", "versions": res.Versions, "took_ms": float64(res.Took.Microseconds()) / 1000})
			return
		}
		errs := []LoadError{}
		for _, e := range res.Errors {
			errs = append(errs, LoadError{File: e.Pos.File, Line: e.Pos.Line, Col: e.Pos.Col, Message: e.Msg})
		}
		if res.Err != nil {
			errs = append(errs, LoadError{File: r.Dir, Message: res.Err.Error()})
		}
		WriteJSON(w, http.StatusUnprocessableEntity, map[string]any{"status": "invalid; the running flows keep serving", "errors": errs})
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
			WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "admin API needs Authorization: Bearer <STRIDE_ADMIN_TOKEN>"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (a *Admin) health(w http.ResponseWriter, r *http.Request) {
	if a.ready != nil && !a.ready() {
		WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "starting"})
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"status": "ok", "flows": len(a.rt.Set().Flows())})
}

// FlowStatus is one entry of GET /admin/flows.
type FlowStatus struct {
	ID      string `json:"id"`
	File    string `json:"file"`
	Version string `json:"version"`
	Trigger string `json:"trigger"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
}

// LoadError is one entry of the errors of GET /admin/flows.
type LoadError struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Message string `json:"message"`
}

func (a *Admin) flows(w http.ResponseWriter, r *http.Request) {
	out := struct {
		Flows  []FlowStatus `json:"flows"`
		Errors []LoadError  `json:"errors"`
	}{Flows: []FlowStatus{}, Errors: []LoadError{}}
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

func (a *Admin) runNow(w http.ResponseWriter, r *http.Request) {
	id, err := a.rt.RunNow(r.PathValue("id"))
	switch {
	case errors.Is(err, runtime.ErrAlreadyRunning):
		WriteJSON(w, http.StatusConflict, map[string]string{"error": "flow " + r.PathValue("id") + " is still running; a timer flow never overlaps itself"})
	case err != nil && a.rt.Set().Flow(r.PathValue("id")) == nil:
		WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case err != nil:
		WriteJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
	default:
		WriteJSON(w, http.StatusAccepted, map[string]string{"message_id": id})
	}
}

func constantTimeEqual(a, b string) bool {
	return hmac.Equal([]byte(a), []byte(b))
}
