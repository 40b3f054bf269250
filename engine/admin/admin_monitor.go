package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// CodeNotSupported (501): the store cannot do this (purging dead letters
// on NATS).
const CodeNotSupported = "not_supported"

// Search bounds: a page of GET /admin/messages/search reads at most
// searchScanBudget log entries, in reads of searchBatch.
const (
	searchDefaultLimit = 50
	searchMaxLimit     = 500
	searchBatch        = 256
	searchScanBudget   = 20000
)

// AddMonitorRoutes serves the endpoints the monitor page reads beside
// the ones of CONTRACT.md: a flow's diagram and the steps' counts, message
// search with a cursor, queues and their dead letters, and connections.
// queues is the store's own (not the runtime's disk-guarded view), so
// that purging dead letters reaches the store.
func (a *Admin) AddMonitorRoutes(s *flow.Services, queues store.Queues) {
	a.Handle("GET /admin/flows/{id}/diagram", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := a.rt.Set().Flow(r.PathValue("id"))
		if f == nil {
			writeError(w, http.StatusNotFound, CodeNotFound, "no flow "+r.PathValue("id"))
			return
		}
		d, err := Diagram(f)
		if err != nil {
			writeError(w, http.StatusInternalServerError, CodeInternal, err.Error())
			return
		}
		WriteJSON(w, http.StatusOK, d)
	}))
	a.Handle("GET /admin/stepcounts", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := StepCountsResponse{Loaded: a.rt.Published(), Steps: map[string]StepCountJSON{}}
		for at, c := range a.rt.StepCounts() {
			out.Steps[at] = StepCountJSON{Runs: c.Runs, Errors: c.Errors}
		}
		WriteJSON(w, http.StatusOK, out)
	}))
	a.Handle("GET /admin/messages/search", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := ParseMessageSearch(r.URL.Query())
		if err != nil {
			writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
			return
		}
		out, err := SearchMessages(r.Context(), s.Log, q)
		if err != nil {
			writeError(w, http.StatusInternalServerError, CodeInternal, err.Error())
			return
		}
		WriteJSON(w, http.StatusOK, out)
	}))
	a.Handle("GET /admin/queues", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		names, err := queues.Names(r.Context())
		if err != nil {
			writeError(w, http.StatusInternalServerError, CodeInternal, err.Error())
			return
		}
		out := QueuesResponse{Queues: []QueueInfo{}}
		for _, n := range names {
			st, err := queues.Stats(r.Context(), n)
			if err != nil {
				writeError(w, http.StatusInternalServerError, CodeInternal, err.Error())
				return
			}
			out.Queues = append(out.Queues, QueueInfo{Name: n, Ready: st.Ready, InFlight: st.InFlight, Retrying: st.Delayed, Dead: st.Dead, Oldest: st.OldestEnqueued})
		}
		WriteJSON(w, http.StatusOK, out)
	}))
	a.Handle("GET /admin/queues/{queue}/dead", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ms, err := queues.DeadLetters(r.Context(), r.PathValue("queue"))
		if err != nil {
			writeStoreError(w, err)
			return
		}
		out := DeadLettersResponse{DeadLetters: []DeadLetter{}}
		for _, m := range ms {
			body := m.Body
			if len(body) > DeadLetterBodyLimit {
				body = body[:DeadLetterBodyLimit]
			}
			out.DeadLetters = append(out.DeadLetters, DeadLetter{ID: m.ID, Key: m.Key, Attempts: m.Attempts, LastError: m.LastError,
				ContentType: m.ContentType, Meta: m.Meta, Body: strings.ToValidUTF8(string(body), "\uFFFD"), BodyBytes: len(m.Body)})
		}
		WriteJSON(w, http.StatusOK, out)
	}))
	a.Handle("POST /admin/queues/{queue}/dead/{id}/replay", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.Queues.Replay(r.Context(), r.PathValue("queue"), r.PathValue("id")); err != nil {
			writeStoreError(w, err)
			return
		}
		WriteJSON(w, http.StatusAccepted, ReplayResponse{MessageID: r.PathValue("id"), Queue: r.PathValue("queue")})
	}))
	purge := func(w http.ResponseWriter, r *http.Request, ids []string) {
		p, ok := queues.(store.DeadLetterPurger)
		if !ok {
			writeError(w, http.StatusNotImplemented, CodeNotSupported, "this store cannot purge dead letters; replay them or let them expire")
			return
		}
		n := 0
		for _, id := range ids {
			if err := p.PurgeDeadLetter(r.Context(), r.PathValue("queue"), id); err != nil {
				if len(ids) == 1 || !errors.Is(err, store.ErrNotFound) {
					writeStoreError(w, err)
					return
				}
				continue // replayed meanwhile
			}
			n++
		}
		WriteJSON(w, http.StatusOK, PurgeResponse{Purged: n})
	}
	a.Handle("DELETE /admin/queues/{queue}/dead/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		purge(w, r, []string{r.PathValue("id")})
	}))
	a.Handle("DELETE /admin/queues/{queue}/dead", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ms, err := queues.DeadLetters(r.Context(), r.PathValue("queue"))
		if err != nil {
			writeStoreError(w, err)
			return
		}
		ids := make([]string, len(ms))
		for i, m := range ms {
			ids[i] = m.ID
		}
		purge(w, r, ids)
	}))
	a.Handle("GET /admin/connections", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, err := Connections(r, s.KV, connectionsPerStore)
		if err != nil {
			writeError(w, http.StatusInternalServerError, CodeInternal, err.Error())
			return
		}
		WriteJSON(w, http.StatusOK, out)
	}))
}

// connectionsPerStore bounds how many entries of each store
// GET /admin/connections reads.
const connectionsPerStore = 200

func writeStoreError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, CodeNotFound, err.Error())
	case errors.Is(err, store.ErrInvalid):
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, CodeInternal, err.Error())
	}
}

// ParseMessageSearch reads the query of GET /admin/messages/search: flow,
// status, id, q (free text), since, until and before (RFC 3339), limit.
func ParseMessageSearch(v map[string][]string) (MessageSearchQuery, error) {
	get := func(k string) string {
		if len(v[k]) == 0 {
			return ""
		}
		return strings.TrimSpace(v[k][0])
	}
	q := MessageSearchQuery{Flow: get("flow"), Status: get("status"), ID: get("id"), Correlation: get("correlation"), Text: get("q"), Limit: searchDefaultLimit}
	for _, t := range []struct {
		name string
		to   *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}, {"before", &q.Before}} {
		if s := get(t.name); s != "" {
			tm, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return q, errors.New(t.name + "=" + strconv.Quote(s) + ": want a time such as 2026-12-04T22:40:00Z")
			}
			*t.to = tm
		}
	}
	if s := get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return q, errors.New("limit=" + strconv.Quote(s) + ": want a positive number")
		}
		q.Limit = min(n, searchMaxLimit)
	}
	return q, nil
}

// SearchMessages answers a message search from the log: by id, one Get;
// otherwise pages of the log read newest first from the cursor (through
// the flow index when a flow is given), filtered here, until the page is
// full, the range or the log ends, or searchScanBudget entries were read.
// It never holds more than one read batch and the page in memory.
func SearchMessages(ctx context.Context, log store.Log, q MessageSearchQuery) (MessageSearchResponse, error) {
	out := MessageSearchResponse{Messages: []MessageJSON{}}
	if q.ID != "" {
		entries, err := log.Get(ctx, q.ID)
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out.Scanned = len(entries)
		for i := len(entries) - 1; i >= 0; i-- { // newest attempt first
			if e := entries[i]; matches(e, q) {
				e.Payload = nil
				out.Messages = append(out.Messages, ToMessageJSON(e))
			}
		}
		return out, nil
	}
	cursor := q.Before
	if cursor.IsZero() || (!q.Until.IsZero() && q.Until.Before(cursor)) {
		cursor = q.Until
	}
	words := strings.Fields(strings.ToLower(q.Text))
	for out.Scanned < searchScanBudget {
		batch, err := log.List(ctx, store.Filter{Flow: q.Flow, Before: cursor, Limit: searchBatch})
		if err != nil {
			return out, err
		}
		for _, e := range batch {
			if !q.Since.IsZero() && e.Start.Before(q.Since) {
				return out, nil // older than the range: nothing further matches
			}
			out.Scanned++
			cursor = e.Start
			if matches(e, q) && matchesText(e, words) {
				out.Messages = append(out.Messages, ToMessageJSON(e))
				if len(out.Messages) == q.Limit {
					out.Next = cursor.Format(time.RFC3339Nano)
					return out, nil
				}
			}
		}
		if len(batch) < searchBatch {
			return out, nil // the log ends here
		}
	}
	out.Next = cursor.Format(time.RFC3339Nano)
	return out, nil
}

func matches(e store.LogEntry, q MessageSearchQuery) bool {
	return (q.Flow == "" || e.Flow == q.Flow) && (q.Status == "" || strings.EqualFold(e.Status, q.Status)) &&
		(q.Correlation == "" || e.CorrelationID == q.Correlation) &&
		(q.Since.IsZero() || !e.Start.Before(q.Since)) && (q.Until.IsZero() || e.Start.Before(q.Until))
}

// matchesText reports whether every word occurs in the entry's id,
// correlation or trace id, flow, status, queue, error or a step's name,
// kind or error.
func matchesText(e store.LogEntry, words []string) bool {
	if len(words) == 0 {
		return true
	}
	var b strings.Builder
	for _, s := range []string{e.ID, e.CorrelationID, e.TraceID, e.Flow, e.Status, e.Queue, e.Error} {
		b.WriteString(strings.ToLower(s))
		b.WriteByte('\n')
	}
	for _, t := range e.Trace {
		b.WriteString(strings.ToLower(t.Step + " " + t.Kind + " " + t.Error))
		b.WriteByte('\n')
	}
	hay := b.String()
	for _, w := range words {
		if !strings.Contains(hay, w) {
			return false
		}
	}
	return true
}

// Connections lists the entries of every data store that were written
// with sensitive fields — what an OAuth callback stores for a connected
// user — with the sensitive fields left out (their names in Hidden), at
// most perStore of each store.
func Connections(r *http.Request, kv store.KV, perStore int) (ConnectionsResponse, error) {
	out := ConnectionsResponse{Connections: []Connection{}}
	names, err := kv.Stores(r.Context())
	if err != nil {
		return out, err
	}
	for _, name := range names {
		entries, err := kv.Select(r.Context(), name, store.SelectOptions{Limit: perStore + 1})
		if err != nil {
			return out, err
		}
		if len(entries) > perStore {
			entries, out.More = entries[:perStore], true
		}
		for _, listed := range entries {
			e, err := kv.Get(r.Context(), name, listed.ID)
			if err != nil || e.Sensitive.IsZero() {
				continue // gone meanwhile, or no secret in it
			}
			c := Connection{Store: name, ID: e.ID, Updated: e.Created, Expires: e.Expires, Fields: map[string]any{}, Hidden: []string{}}
			fields, ok := storedObject(e.Masked())
			if e.Sensitive.All || !ok {
				c.Hidden = append(c.Hidden, "the whole value")
			}
			for k, v := range fields {
				if v == "***" {
					c.Hidden = append(c.Hidden, k)
					continue
				}
				c.Fields[k] = v
			}
			sort.Strings(c.Hidden)
			out.Connections = append(out.Connections, c)
		}
	}
	return out, nil
}

// storedObject decodes a stored value as a JSON object: the value itself,
// or the text of the envelope datastore_put writes ({"text": ...,
// "content_type": ...}) when that text is a JSON object.
func storedObject(value []byte) (map[string]any, bool) {
	var obj map[string]any
	if json.Unmarshal(value, &obj) != nil {
		return nil, false
	}
	if text, ok := obj["text"].(string); ok {
		var inner map[string]any
		if json.Unmarshal([]byte(text), &inner) == nil {
			return inner, true
		}
	}
	return obj, true
}
