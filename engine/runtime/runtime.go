package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Runtime runs a flow set: it owns the shared HTTP handler of all http
// triggers and swaps flow sets atomically. A request picks the current
// snapshot once and finishes on it, so a swap never changes a message
// in flight and the listener never closes.
type Runtime struct {
	// Log receives the runtime's lines; every line about a message
	// carries its id and flow.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Clock drives timer triggers; nil means the real clock.
	Clock Clock
	// Observer receives measurements for metrics; nil for none.
	Observer Observer

	services  *Services
	recorder  *logRecorder
	current   atomic.Pointer[snapshot]
	mu        sync.Mutex // guards consumers and timers
	consumers []*consumer
	timers    []*timer
	timerRuns running
	timerWG   sync.WaitGroup
}

type snapshot struct {
	set *FlowSet
	mux *http.ServeMux
}

// NewRuntime returns a runtime with no flows.
func NewRuntime(log *slog.Logger) *Runtime {
	if log == nil {
		log = discardLogger
	}
	r := &Runtime{Log: log}
	r.current.Store(&snapshot{set: newFlowSet(nil), mux: http.NewServeMux()})
	return r
}

// SetServices attaches durable state: every exchange gets it, and every
// finished message is recorded in its message log. Call before serving.
func (r *Runtime) SetServices(s *Services) {
	r.services = s
	if s != nil && s.Log != nil {
		r.recorder = newLogRecorder(s.Log, r.Log)
	}
}

// Services returns the durable state attached with SetServices.
func (r *Runtime) Services() *Services { return r.services }

// Close flushes the message log. Call after the listeners and consumers
// have stopped.
func (r *Runtime) Close() {
	if r.recorder != nil {
		r.recorder.close()
	}
}

// Swap makes set the running flow set. It is the only way flows change.
func (r *Runtime) Swap(set *FlowSet) {
	mux := http.NewServeMux()
	for _, f := range set.Flows() {
		h, ok := f.Trigger.Config.(*HTTPTrigger)
		if !ok || f.Disabled != "" {
			continue
		}
		for _, m := range h.Methods {
			mux.Handle(m+" "+h.Path, &httpFlow{r: r, flow: f, cfg: h, set: set, params: paramNames(h.Path)})
		}
	}
	r.current.Store(&snapshot{set: set, mux: mux})

	// Rebind queue consumers to the new set. The old ones stop leasing and
	// finish their messages on the version they started with; the store's
	// leases keep a message from running twice meanwhile.
	r.mu.Lock()
	old, oldTimers := r.consumers, r.timers
	r.consumers = r.startConsumers(set)
	r.timers = r.startTimers(set)
	r.mu.Unlock()
	for _, c := range old {
		go c.halt(context.Background())
	}
	for _, t := range oldTimers {
		close(t.stop) // a run in progress finishes on its version
	}
}

// StopTimers stops every timer and waits for runs in progress until ctx
// ends.
func (r *Runtime) StopTimers(ctx context.Context) {
	r.mu.Lock()
	old := r.timers
	r.timers = nil
	r.mu.Unlock()
	for _, t := range old {
		close(t.stop)
		<-t.done
	}
	r.WaitTimers(ctx)
}

// StopConsumers stops every queue consumer and waits for messages in
// flight until ctx ends; what has not finished then stays safely queued.
func (r *Runtime) StopConsumers(ctx context.Context) {
	r.mu.Lock()
	old := r.consumers
	r.consumers = nil
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range old {
		wg.Add(1)
		go func() { defer wg.Done(); c.halt(ctx) }()
	}
	wg.Wait()
}

// Set returns the running flow set.
func (r *Runtime) Set() *FlowSet { return r.current.Load().set }

// ServeHTTP routes a request to the http-triggered flow of the current set.
func (r *Runtime) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.current.Load().mux.ServeHTTP(w, req)
}

// NewMessageID returns a random message id.
func NewMessageID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewExchange returns an exchange in the running set, with the runtime's
// clock and logger.
func (r *Runtime) NewExchange(set *FlowSet, msg *Message) *Exchange {
	x := NewExchange(NewMessageID(), msg, set, r.Now)
	x.Log = r.Log
	x.services = r.services
	x.observer = r.Observer
	return x
}

type httpFlow struct {
	r      *Runtime
	flow   *Flow
	cfg    *HTTPTrigger
	set    *FlowSet
	params []string // names of the path's {parameters}, read once at swap
}

func (h *httpFlow) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, int64(h.cfg.MaxBody)))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSONError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", h.cfg.MaxBody), "")
			return
		}
		writeJSONError(w, http.StatusBadRequest, "could not read the request body", "")
		return
	}
	msg := NewMessage(body, req.Header.Get("Content-Type"))
	for k, v := range req.Header {
		msg.Header[k] = strings.Join(v, ", ")
	}
	x := h.r.NewExchange(h.set, msg)
	x.RawBody = body
	x.Query = map[string]string{}
	for k, v := range req.URL.Query() {
		x.Query[k] = v[0]
	}
	x.Request = &RequestInfo{Method: req.Method, Path: req.URL.Path, RemoteAddress: req.RemoteAddr, Params: pathParams(req, h.params)}
	ctx, cancel := context.WithTimeout(req.Context(), h.cfg.Timeout)
	defer cancel()
	start := time.Now()
	err = h.flow.RunWithPolicies(ctx, x, h.cfg.Policies)
	h.r.Finish(ctx, x, h.flow, "http", 1, start, err)
	if err != nil && x.Response == nil {
		status, msg := http.StatusInternalServerError, "the flow failed"
		var se *StatusError
		switch {
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
			status, msg = http.StatusGatewayTimeout, fmt.Sprintf("the flow did not finish within %v", h.cfg.Timeout)
		case errors.As(err, &se) && se.Status >= 400 && se.Status <= 599:
			status = se.Status
		}
		writeJSONError(w, status, msg, x.ID)
		if h.r.Observer != nil {
			h.r.Observer.InboundHTTP(h.flow.ID, status)
		}
		return
	}
	resp := x.Response
	if resp == nil {
		resp = &Response{Status: http.StatusOK, Body: x.Msg.Body(), ContentType: x.Msg.ContentType()}
		if len(h.cfg.ResponseHeaders) > 0 {
			resp.Header = map[string]string{}
			for _, name := range h.cfg.ResponseHeaders {
				if v, ok := x.Msg.Header[http.CanonicalHeaderKey(name)]; ok {
					resp.Header[name] = v
				}
			}
		}
	}
	hdr := w.Header()
	for k, v := range resp.Header {
		hdr.Set(k, v)
	}
	if resp.ContentType != "" && len(resp.Body) > 0 {
		hdr.Set("Content-Type", resp.ContentType)
	}
	hdr.Set("X-Stride-Message-Id", x.ID)
	writeBody(w, req, resp.Status, resp.Body)
	if h.r.Observer != nil {
		h.r.Observer.InboundHTTP(h.flow.ID, resp.Status)
	}
}

// paramNames lists the {name} parameters of a route pattern.
func paramNames(pattern string) []string {
	var names []string
	for _, seg := range strings.Split(pattern, "/") {
		if strings.HasPrefix(seg, "{") {
			names = append(names, strings.TrimSuffix(strings.Trim(seg, "{}"), "..."))
		}
	}
	return names
}

func pathParams(req *http.Request, names []string) map[string]string {
	if len(names) == 0 {
		return nil
	}
	params := make(map[string]string, len(names))
	for _, name := range names {
		params[name] = req.PathValue(name)
	}
	return params
}

// Finish ends a message's attempt: on success it runs the exchange's
// completion hooks, then it logs the outcome and records it in the
// message log. It returns the final status.
func (r *Runtime) Finish(ctx context.Context, x *Exchange, f *Flow, trigger string, attempt int, start time.Time, err error) string {
	if err == nil {
		if herr := x.Complete(context.WithoutCancel(ctx)); herr != nil {
			r.Log.Warn("completion step failed", "message_id", x.ID, "flow", f.ID, "error", x.Redact(herr.Error()))
		}
	}
	status := FinalStatus(x, err)
	attrs := []any{"message_id", x.ID, "flow", f.ID, "version", f.Version, "status", status, "duration", time.Since(start)}
	if err != nil {
		r.Log.Error("message failed", append(attrs, "error", x.Redact(err.Error()))...)
	} else {
		r.Log.Debug("message done", attrs...)
	}
	r.RecordStatus(x, f, trigger, attempt, status, start, err)
	if r.Observer != nil {
		r.Observer.MessageDone(f.ID, trigger, status, time.Since(start), x.Trace)
	}
	return status
}

// RecordStatus writes a message log entry (nothing without a store).
func (r *Runtime) RecordStatus(x *Exchange, f *Flow, trigger string, attempt int, status string, start time.Time, err error) {
	if r.recorder != nil {
		r.recorder.record(logEntry(x, f, trigger, attempt, status, start, err))
	}
}

func writeJSONError(w http.ResponseWriter, status int, msg, id string) {
	w.Header().Set("Content-Type", "application/json")
	if id != "" {
		w.Header().Set("X-Stride-Message-Id", id)
	}
	w.WriteHeader(status)
	body := map[string]string{"error": msg}
	if id != "" {
		body["message_id"] = id
	}
	_ = json.NewEncoder(w).Encode(body)
}
