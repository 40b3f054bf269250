package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// HTTPTrigger starts a flow for each request to a method and path on the
// shared listener (--addr).
type HTTPTrigger struct {
	Path    string        `yaml:"path" required:"true" doc:"The path, with {name} parameters (e.g. /users/{id}), read as request.params.name."`
	Methods []string      `yaml:"methods" default:"POST" enum:"GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS" doc:"The HTTP methods the path takes; another method gets 405 with Allow."`
	MaxBody flow.ByteSize `yaml:"max_body" default:"1MiB" doc:"The largest request body accepted; a larger one gets 413."`
	Timeout time.Duration `yaml:"timeout" default:"30s" doc:"How long the flow may run for one request before it fails."`
	// Policies run before the flow; one that fails answers (401, 403,
	// 404, 429...) and the flow does not run.
	Policies        flow.Steps `yaml:"policies" doc:"Inbound policies run before the flow (basic_auth, api_key, verify_signature, allow_ips, quota); one that fails answers with its status and the flow does not run."`
	ResponseHeaders []string   `yaml:"response_headers" doc:"Message headers copied into the reply when the flow ends without respond."`
}

// Claims claims each method's route; /users/{id} and /users/{user} are
// the same route.
func (c *HTTPTrigger) Claims() []flow.Claim {
	out := make([]flow.Claim, 0, len(c.Methods))
	for _, m := range c.Methods {
		out = append(out, flow.Claim{
			Key:      "route " + m + " " + normalizeRoute(c.Path),
			Conflict: m + " " + strings.ReplaceAll(c.Path, "%", "%%") + " is already served by flow %s (%s)",
		})
	}
	return out
}

// normalizeRoute makes /users/{id} and /users/{user} the same route.
func normalizeRoute(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") {
			segs[i] = "{}"
		}
	}
	return strings.Join(segs, "/")
}

func init() {
	RegisterTrigger(TriggerKind[HTTPTrigger]{
		TriggerKind: flow.TriggerKind[HTTPTrigger]{
			Name:     "http",
			Summary:  "Runs the flow for each HTTP request to a path on the shared listener.",
			Doc:      "The reply is what respond set, else the message at the end (200, its body and content type). A body over max_body gets 413, another method 405, an unknown path 404, a failed flow 500 with the message id.",
			Example:  "trigger:\n  http: {path: /fitbit/webhook, methods: [GET, POST]}",
			Validate: validateHTTP,
		},
		New: func(h *Host, f *flow.Flow, c *HTTPTrigger) (Trigger, error) {
			hf := &httpFlow{r: h.rt, flow: f, cfg: c, set: h.Set(), params: paramNames(c.Path)}
			for _, m := range c.Methods {
				h.Handle(m+" "+c.Path, hf)
			}
			return nil, nil // the listener is the runtime's; nothing to start
		},
	})
}

func validateHTTP(b *flow.Builder, c *HTTPTrigger) error {
	if !strings.HasPrefix(c.Path, "/") {
		return fmt.Errorf("path %q must start with /", c.Path)
	}
	for _, seg := range strings.Split(c.Path, "/") {
		if strings.ContainsAny(seg, "{}") && !(strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && len(seg) > 2 && !strings.ContainsAny(seg[1:len(seg)-1], "{}")) {
			return fmt.Errorf("path %q: a parameter is a whole segment like {id}", c.Path)
		}
	}
	seen := map[string]bool{}
	for _, m := range c.Methods {
		if seen[m] {
			return fmt.Errorf("method %s is listed twice", m)
		}
		seen[m] = true
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout must be positive")
	}
	for _, k := range c.Policies.Kinds() {
		if info := flow.LookupStep(k); info == nil || !info.Policy {
			return fmt.Errorf("policies: %s is not a policy (policies are %s)", k, strings.Join(policyNames(), ", "))
		}
	}
	return nil
}

func policyNames() []string {
	var out []string
	for _, k := range flow.StepKinds() {
		if k.Policy {
			out = append(out, k.Name)
		}
	}
	return out
}

// httpFlow serves the routes of one http-triggered flow.
type httpFlow struct {
	r      *Runtime
	flow   *flow.Flow
	cfg    *HTTPTrigger
	set    *flow.FlowSet
	params []string // names of the path's {parameters}, read once at build
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
	msg := flow.NewMessage(body, req.Header.Get("Content-Type"))
	for k, v := range req.Header {
		msg.Header[k] = strings.Join(v, ", ")
	}
	x := h.r.NewExchange(NewMessageID(), h.set, msg)
	x.RawBody = body
	x.Query = map[string]string{}
	for k, v := range req.URL.Query() {
		x.Query[k] = v[0]
	}
	x.Request = &flow.RequestInfo{Method: req.Method, Path: req.URL.Path, URI: req.RequestURI, Host: req.Host, RemoteAddress: req.RemoteAddr, Params: pathParams(req, h.params)}
	x.CorrelationID = inboundCorrelationID(req.Header)
	if x.CorrelationID == "" {
		x.CorrelationID = x.ID
	}
	ctx, cancel := h.r.requestContext(extractHTTP(req.Context(), req.Header), h.cfg.Timeout)
	defer cancel()
	ctx, span := h.r.startRun(ctx, x, h.flow, "http "+h.flow.ID, trace.SpanKindServer, "http")
	start := time.Now()
	err = h.flow.RunWithPolicies(ctx, x, h.cfg.Policies)
	status := h.r.Finish(ctx, x, h.flow, "http", 1, start, err)
	endRun(x, span, status, err)
	w.Header().Set(CorrelationHeader, x.CorrelationID)
	if err != nil && x.Response == nil {
		status, msg := http.StatusInternalServerError, "the flow failed"
		var se *flow.StatusError
		var low *DiskLowError
		switch {
		case errors.As(err, &low):
			status, msg = http.StatusServiceUnavailable, "stride cannot store the message now: its data disk is nearly full; retry later"
			w.Header().Set("Retry-After", retryAfter)
		case errors.Is(err, store.ErrFull):
			status, msg = http.StatusServiceUnavailable, "stride cannot store the message now: its store is full; retry later"
			w.Header().Set("Retry-After", retryAfter)
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
			status, msg = http.StatusGatewayTimeout, fmt.Sprintf("the flow did not finish within %v", h.cfg.Timeout)
		case errors.Is(context.Cause(ctx), errDrainDeadline):
			status, msg = http.StatusServiceUnavailable, "stride shut down before the flow finished"
		case errors.As(err, &se) && se.Status >= 400 && se.Status <= 599:
			status = se.Status
		}
		writeJSONError(w, status, msg, x.ID)
		if h.r.observer != nil {
			h.r.observer.InboundHTTP(h.flow.ID, status)
		}
		return
	}
	resp := x.Response
	if resp == nil {
		resp = &flow.Response{Status: http.StatusOK, Body: x.Msg.Body(), ContentType: x.Msg.ContentType()}
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
	if h.r.observer != nil {
		h.r.observer.InboundHTTP(h.flow.ID, resp.Status)
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
