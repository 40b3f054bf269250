package admin

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// ToMessageJSON converts a log entry.
func ToMessageJSON(e store.LogEntry) MessageJSON {
	m := MessageJSON{ID: e.ID, CorrelationID: e.CorrelationID, TraceID: e.TraceID, Flow: e.Flow, FlowVersion: e.FlowVersion, Trigger: e.Trigger, Queue: e.Queue, Attempt: e.Attempt,
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
		q := MessagesQuery{Flow: r.URL.Query().Get("flow"), Status: r.URL.Query().Get("status"), Limit: limit}
		entries, err := s.Log.List(r.Context(), store.Filter{Flow: q.Flow, Status: q.Status, Limit: q.Limit})
		if err != nil {
			writeError(w, http.StatusInternalServerError, CodeInternal, err.Error())
			return
		}
		out := MessagesResponse{Messages: make([]MessageJSON, len(entries))}
		for i, e := range entries {
			out.Messages[i] = ToMessageJSON(e)
		}
		WriteJSON(w, http.StatusOK, out)
	}))
	a.Handle("GET /admin/messages/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entries, err := s.Log.Get(r.Context(), r.PathValue("id"))
		if err != nil || len(entries) == 0 {
			writeError(w, http.StatusNotFound, CodeNotFound, "no message "+r.PathValue("id"))
			return
		}
		out := MessageResponse{Attempts: make([]MessageJSON, len(entries))}
		for i, e := range entries {
			out.Attempts[i] = ToMessageJSON(e)
		}
		WriteJSON(w, http.StatusOK, out)
	}))
	a.Handle("POST /admin/messages/{id}/replay", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := ReplayDeadLetter(r, s.Queues, r.PathValue("id"))
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				writeError(w, http.StatusNotFound, CodeNotFound, err.Error())
			} else {
				writeError(w, http.StatusInternalServerError, CodeInternal, err.Error())
			}
			return
		}
		WriteJSON(w, http.StatusAccepted, ReplayResponse{MessageID: r.PathValue("id"), Queue: q})
	}))
	a.Handle("GET /admin/stores", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		names, err := s.KV.Stores(r.Context())
		if err != nil {
			writeError(w, http.StatusInternalServerError, CodeInternal, err.Error())
			return
		}
		out := StoresResponse{Stores: []StoreInfo{}}
		for _, n := range names {
			c, _ := s.KV.Count(r.Context(), n)
			out.Stores = append(out.Stores, StoreInfo{Name: n, Count: c})
		}
		WriteJSON(w, http.StatusOK, out)
	}))
	a.Handle("GET /admin/stores/{store}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		q := StoreEntriesQuery{Prefix: r.URL.Query().Get("prefix"), After: r.URL.Query().Get("after"), Limit: max(limit, 0)}
		entries, err := s.KV.Select(r.Context(), r.PathValue("store"), store.SelectOptions{Prefix: q.Prefix, After: q.After, Limit: q.Limit})
		if err != nil {
			writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
			return
		}
		out := StoreEntriesResponse{Entries: []StoreEntry{}}
		for _, e := range entries {
			out.Entries = append(out.Entries, StoreEntry{ID: e.ID, Created: e.Created, Expires: e.Expires})
		}
		WriteJSON(w, http.StatusOK, out)
	}))
	// The value is answered as stored (the JSON a flow wrote), not
	// wrapped, with what the write declared sensitive masked as "***"
	// (store.Mask): the admin API never reveals a sensitive value. A get
	// or delete that fails for any reason has always answered 404, so its
	// code is not_found: a store name the store refuses cannot name an
	// entry either.
	a.Handle("GET /admin/stores/{store}/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := s.KV.Get(r.Context(), r.PathValue("store"), r.PathValue("id"))
		if err != nil {
			writeError(w, http.StatusNotFound, CodeNotFound, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(e.Masked())
	}))
	a.Handle("DELETE /admin/stores/{store}/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.KV.Delete(r.Context(), r.PathValue("store"), r.PathValue("id")); err != nil {
			writeError(w, http.StatusNotFound, CodeNotFound, err.Error())
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
