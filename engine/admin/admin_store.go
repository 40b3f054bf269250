package admin

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// MessageJSON is a message log entry as the admin API and `stride
// messages` show it.
type MessageJSON struct {
	ID          string      `json:"id"`
	Flow        string      `json:"flow"`
	FlowVersion string      `json:"flow_version"`
	Trigger     string      `json:"trigger"`
	Queue       string      `json:"queue,omitempty"`
	Attempt     int         `json:"attempt"`
	Status      string      `json:"status"`
	Start       time.Time   `json:"start"`
	End         time.Time   `json:"end"`
	Error       string      `json:"error,omitempty"`
	Trace       []TraceJSON `json:"trace"`
	Payload     string      `json:"payload,omitempty"`
}

// TraceJSON is one step of a message's trace.
type TraceJSON struct {
	Step       string  `json:"step"`
	Kind       string  `json:"kind"`
	At         string  `json:"at"`
	DurationMS float64 `json:"duration_ms"`
	Outcome    string  `json:"outcome"`
	Error      string  `json:"error,omitempty"`
}

// ToMessageJSON converts a log entry.
func ToMessageJSON(e store.LogEntry) MessageJSON {
	m := MessageJSON{ID: e.ID, Flow: e.Flow, FlowVersion: e.FlowVersion, Trigger: e.Trigger, Queue: e.Queue, Attempt: e.Attempt,
		Status: e.Status, Start: e.Start, End: e.End, Error: e.Error, Trace: make([]TraceJSON, len(e.Trace)), Payload: string(e.Payload)}
	for i, t := range e.Trace {
		m.Trace[i] = TraceJSON{Step: t.Step, Kind: t.Kind, At: t.At, DurationMS: float64(t.DurationNS) / 1e6, Outcome: t.Outcome, Error: t.Error}
	}
	return m
}

// AddStoreRoutes serves the message log, dead-letter replay and the data
// stores on the admin API.
func (a *Admin) AddStoreRoutes(s *flow.Services) {
	a.Handle("GET /admin/messages", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		entries, err := s.Log.List(r.Context(), store.Filter{Flow: r.URL.Query().Get("flow"), Status: r.URL.Query().Get("status"), Limit: limit})
		if err != nil {
			WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		out := make([]MessageJSON, len(entries))
		for i, e := range entries {
			out[i] = ToMessageJSON(e)
		}
		WriteJSON(w, http.StatusOK, map[string]any{"messages": out})
	}))
	a.Handle("GET /admin/messages/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entries, err := s.Log.Get(r.Context(), r.PathValue("id"))
		if err != nil || len(entries) == 0 {
			WriteJSON(w, http.StatusNotFound, map[string]string{"error": "no message " + r.PathValue("id")})
			return
		}
		out := make([]MessageJSON, len(entries))
		for i, e := range entries {
			out[i] = ToMessageJSON(e)
		}
		WriteJSON(w, http.StatusOK, map[string]any{"attempts": out})
	}))
	a.Handle("POST /admin/messages/{id}/replay", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := ReplayDeadLetter(r, s.Queues, r.PathValue("id"))
		if err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, store.ErrNotFound) {
				status = http.StatusNotFound
			}
			WriteJSON(w, status, map[string]string{"error": err.Error()})
			return
		}
		WriteJSON(w, http.StatusAccepted, map[string]string{"message_id": r.PathValue("id"), "queue": q})
	}))
	a.Handle("GET /admin/stores", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		names, err := s.KV.Stores(r.Context())
		if err != nil {
			WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		type info struct {
			Name  string `json:"name"`
			Count int    `json:"count"`
		}
		out := []info{}
		for _, n := range names {
			c, _ := s.KV.Count(r.Context(), n)
			out = append(out, info{n, c})
		}
		WriteJSON(w, http.StatusOK, map[string]any{"stores": out})
	}))
	a.Handle("GET /admin/stores/{store}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		entries, err := s.KV.Select(r.Context(), r.PathValue("store"), store.SelectOptions{Prefix: r.URL.Query().Get("prefix"), Limit: max(limit, 0)})
		if err != nil {
			WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		type info struct {
			ID      string    `json:"id"`
			Created time.Time `json:"created"`
			Expires time.Time `json:"expires,omitzero"`
		}
		out := []info{}
		for _, e := range entries {
			out = append(out, info{e.ID, e.Created, e.Expires})
		}
		WriteJSON(w, http.StatusOK, map[string]any{"entries": out})
	}))
	a.Handle("GET /admin/stores/{store}/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := s.KV.Get(r.Context(), r.PathValue("store"), r.PathValue("id"))
		if err != nil {
			WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(e.Value)
	}))
	a.Handle("DELETE /admin/stores/{store}/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.KV.Delete(r.Context(), r.PathValue("store"), r.PathValue("id")); err != nil {
			WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
}

// ReplayDeadLetter moves the dead letter with the given id back to its
// queue and returns the queue's name.
func ReplayDeadLetter(r *http.Request, qs store.Queues, id string) (string, error) {
	q, _, err := qs.FindDeadLetter(r.Context(), id)
	if err != nil {
		return "", err
	}
	return q, qs.Replay(r.Context(), q, id)
}
