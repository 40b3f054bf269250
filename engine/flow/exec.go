package flow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"
	"go.opentelemetry.io/otel/trace"
	"gopkg.in/yaml.v3"
)

var (
	bgContext     = context.Background()
	discardLogger = slog.New(slog.DiscardHandler)
)

// Steps is a compiled list of steps: a flow's steps, on_error, or the
// children of a route branch or a split. Config structs hold nested
// steps as a Steps field; the loader compiles them with the same rules as
// top-level steps.
type Steps struct {
	list []*stepNode
}

type stepNode struct {
	name string // name: of the step, or its kind
	kind string
	pos  Pos
	at   string // pos as file:line, formatted once at load for traces
	step Step
}

// Len returns the number of steps.
func (s Steps) Len() int { return len(s.list) }

// Kinds returns the kind of each step, in order.
func (s Steps) Kinds() []string {
	out := make([]string, len(s.list))
	for i, n := range s.list {
		out[i] = n.kind
	}
	return out
}

// index returns the position of the step named name, or -1.
func (s Steps) index(name string) int {
	for i, n := range s.list {
		if n.name == name {
			return i
		}
	}
	return -1
}

func (s *Steps) decode(d *decoder, n *yaml.Node) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "expected a list of steps (each item starts with -), found %s", kindOfNode(n))
		return
	}
	for _, item := range n.Content {
		if sn := d.decodeStep(resolveAlias(item)); sn != nil {
			s.list = append(s.list, sn)
		}
	}
}

// decodeStep decodes one item of a step list: a mapping with exactly one
// step kind key and an optional name.
func (d *decoder) decodeStep(n *yaml.Node) *stepNode {
	if n.Kind == yaml.ScalarNode && !isNull(n) { // `- complete`: a kind without options
		n = &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column, Content: []*yaml.Node{n, {Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}}}
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "a step must be a mapping such as `- set: {...}`, found %s", kindOfNode(n))
		return nil
	}
	var kindKey, kindVal, nameVal *yaml.Node
	var unknown []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Value == "name":
			nameVal = v
		case stepKinds[k.Value] != nil:
			if kindKey != nil {
				d.errorf(k, "a step has exactly one kind, but this one has %q and %q; start a new list item (-) for the second step", kindKey.Value, k.Value)
				continue
			}
			kindKey, kindVal = k, resolveAlias(v)
		default:
			unknown = append(unknown, k)
		}
	}
	if kindKey == nil {
		if len(unknown) > 0 {
			k := unknown[0]
			d.errorf(k, "unknown step kind %q%s", k.Value, hintKey(k.Value, names(stepKinds)))
		} else {
			d.errorf(n, "a step needs a kind, one of: %s", strings.Join(names(stepKinds), ", "))
		}
		return nil
	}
	kind := stepKinds[kindKey.Value]
	misplaced := len(unknown) > 0
	for _, k := range unknown {
		if kind.spec.byName[k.Value] != nil {
			d.errorf(k, "%q is an option of %s: indent it under `%s:`", k.Value, kind.Name, kind.Name)
		} else {
			d.errorf(k, "unknown key %q in a %s step%s", k.Value, kind.Name, hintKey(k.Value, append([]string{"name"}, names(stepKinds)...)))
		}
	}
	sn := &stepNode{name: kind.Name, kind: kind.Name, pos: d.pos(kindKey)}
	if nameVal != nil {
		if nameVal.Kind != yaml.ScalarNode || nameVal.Value == "" {
			d.errorf(nameVal, "name: expected a step name, found %s", kindOfNode(nameVal))
		} else {
			sn.name = nameVal.Value
		}
	}
	b := d.b
	saved := *b
	b.stepPos, b.name, b.keyPos = sn.pos, sn.name, map[string]Pos{}
	defer func() { *b = saved }()
	cfg := reflect.New(kind.spec.typ).Elem()
	before := len(b.l.errs)
	d.decodeStruct(kindVal, cfg, kind.spec, kind.Name, b.keyPos)
	if len(b.l.errs) > before || misplaced {
		return nil // building on a broken config would only repeat its errors
	}
	st, err := kind.build(b, cfg)
	if err != nil {
		b.errorAt(err)
		return nil
	}
	sn.step = st.(Step)
	sn.at = sn.pos.FileLine()
	return sn
}

// Run runs the steps in order. It stops early when a step ended the
// message (respond, complete, filter). On a step's failure the flow's
// on_error subprocess runs where the failure happened, so that `retry`
// can run the failed step again.
func (s Steps) Run(ctx context.Context, x *Exchange) error {
	for i := 0; i < len(s.list); i++ {
		if x.stopped || x.retryReq != nil {
			return nil // ended, or on_error asked for a retry
		}
		n := s.list[i]
		if err := ctx.Err(); err != nil {
			return x.fail(ctx, n, fmt.Errorf("not started: %w", context.Cause(ctx)), s, &i)
		}
		start := time.Now()
		var err error
		if x.tracer == nil || !trace.SpanFromContext(ctx).IsRecording() {
			// Tracing is off, or this run was not sampled: a step's span
			// would be dropped too, so it is not made.
			err = n.step.Run(ctx, x)
		} else {
			sctx, span := x.startStepSpan(ctx, n)
			err = n.step.Run(sctx, x)
			x.EndSpan(span, err)
		}
		x.record(n, start, err)
		if err != nil {
			if ferr := x.fail(ctx, n, err, s, &i); ferr != nil || x.stopped {
				return ferr
			}
		}
	}
	return nil
}

// fail handles a step's error: it runs on_error once per error and
// flow, and either retries (moving *i), completes the message, or
// returns the error to fail it.
func (x *Exchange) fail(ctx context.Context, n *stepNode, err error, s Steps, i *int) error {
	var se *StepError
	if !errors.As(err, &se) {
		se = &StepError{Flow: x.flow.ID, Step: n.name, Pos: n.pos, Err: err}
		var st *StatusError
		if errors.As(err, &st) {
			se.Status, se.Body = st.Status, st.Body
		}
	}
	if x.handled[se] == x.flow || x.inOnError || x.flow.OnError.Len() == 0 || ctx.Err() != nil && !errors.Is(err, context.DeadlineExceeded) {
		return se
	}
	x.markHandled(se)
	x.inOnError = true
	prevErr := x.errInfo
	used := x.retries[retryKey{n, x.flow}]
	x.errInfo = &ErrorInfo{Message: se.Err.Error(), Step: se.Step, Body: se.Body, File: se.Pos.FileLine(),
		Attempt: used + 1, RetriesLeft: max(0, x.flow.retryBudget-used)}
	if se.Status != 0 {
		x.errInfo.Status = se.Status
	}
	x.retryReq = nil
	herr := x.flow.OnError.Run(ctx, x)
	x.inOnError = false
	x.errInfo = prevErr
	if herr != nil {
		// Marked handled: a step around this one (a route, a split) must
		// not run on_error again for the same failure.
		ne := &StepError{Flow: x.flow.ID, Step: se.Step, Pos: se.Pos, Status: se.Status, Body: se.Body,
			Err: fmt.Errorf("%v; then on_error failed: %w", se.Err, herr)}
		x.markHandled(ne)
		return ne
	}
	if r := x.retryReq; r != nil {
		x.retryReq = nil
		target := *i
		if r.From != "" {
			if target = s.index(r.From); target < 0 {
				return &StepError{Flow: x.flow.ID, Step: se.Step, Pos: se.Pos, Err: fmt.Errorf("%v; retry from %q: no such step beside the failed one", se.Err, r.From)}
			}
		}
		key := retryKey{n, x.flow}
		if x.retries[key] < r.Max {
			if x.retries == nil {
				x.retries = map[retryKey]int{}
			}
			x.retries[key]++
			delete(x.handled, se)
			*i = target - 1
			return nil
		}
		return se // retries spent: the original error fails the message
	}
	if x.stopped {
		return nil // on_error answered (respond) or completed the message
	}
	return se
}

type retryKey struct {
	n *stepNode
	f *Flow
}

// RetryRequest is set by the retry step inside on_error.
type RetryRequest struct {
	Max  int
	From string
}

// RequestRetry asks the executor to run the failed step (or the named
// step before it) again once on_error is done.
func (x *Exchange) RequestRetry(r RetryRequest) { x.retryReq = &r }

func (x *Exchange) markHandled(se *StepError) {
	if x.handled == nil {
		x.handled = map[*StepError]*Flow{}
	}
	x.handled[se] = x.flow
}

// TraceEntry is one step's run in a message's trace.
type TraceEntry struct {
	Step     string        `json:"step"`
	Kind     string        `json:"kind"`
	At       string        `json:"at"` // file:line
	Duration time.Duration `json:"duration_ns"`
	Outcome  string        `json:"outcome"` // ok, error, stopped
	Error    string        `json:"error,omitempty"`
}

// maxTrace bounds a message's trace: a split over 100k items must not
// make a trace of 100k entries.
const maxTrace = 256

func (x *Exchange) record(n *stepNode, start time.Time, err error) {
	if len(x.Trace) >= maxTrace {
		x.TraceDropped++
		return
	}
	e := TraceEntry{Step: n.name, Kind: n.kind, At: n.at, Duration: time.Since(start), Outcome: "ok"}
	switch {
	case err != nil:
		e.Outcome, e.Error = "error", x.Redact(firstLine(err.Error()))
	case x.stopped:
		e.Outcome = "stopped"
	}
	x.Trace = append(x.Trace, e)
}

// Response is what an http-triggered flow answers, set by respond.
type Response struct {
	Status      int
	Header      map[string]string
	Body        []byte
	ContentType string
}

// Exchange is one message's run through a flow: the message, the scope
// the trigger gave it, the trace, and how it ended.
type Exchange struct {
	ID string
	// CorrelationID ties the messages of one inbound request together
	// (see MessageInfo); the trigger sets it, enqueue carries it.
	CorrelationID string
	// TraceID is the run's trace id (32 hex digits) when it has one: its
	// span's, or a caller's traceparent's when tracing is off.
	TraceID string
	Msg     *Message
	Query   map[string]string
	Request *RequestInfo
	// RawBody is the body as the trigger received it, for checks that
	// must see the exact bytes (signatures) even after steps changed the
	// body.
	RawBody []byte
	// Response is set by respond; nil means "answer with the message".
	Response *Response
	Trace    []TraceEntry
	// TraceDropped counts trace entries beyond the bound.
	TraceDropped int
	// Status is the final status a step asked for (e.g. DISCARDED by
	// filter, a custom one by complete); empty means COMPLETED.
	Status string
	// Log receives the log step's lines and the runtime's lines about
	// this message; never nil.
	Log *slog.Logger

	flow      *Flow
	set       *FlowSet
	now       func() time.Time // the clock; Now reads it in UTC
	services  *Services
	observer  Observer
	tracer    trace.Tracer // nil: no step spans
	resources *Resources
	onSuccess *hooks // shared with child exchanges

	errInfo   *ErrorInfo
	split     *SplitInfo
	item      any
	stopped   bool
	inOnError bool
	retryReq  *RetryRequest
	retries   map[retryKey]int
	handled   map[*StepError]*Flow
	vm        vm.VM
	scope     Scope
}

// NewExchange returns an exchange for msg in the flow set. now is the
// clock (nil for time.Now).
func NewExchange(id string, msg *Message, set *FlowSet, now func() time.Time) *Exchange {
	if now == nil {
		now = time.Now
	}
	// The trace gets room for the flow's steps when the first flow runs
	// (see reserveTrace): growing it step by step was one of the larger
	// allocations of the hot path, and room for 8 was more than most
	// flows take.
	return &Exchange{ID: id, Msg: msg, set: set, now: now, Log: discardLogger}
}

// reserveTrace gives an exchange that has no trace yet room for n
// entries (at least 2, at most 16; a longer trace grows as before).
func (x *Exchange) reserveTrace(n int) {
	if x.Trace == nil {
		x.Trace = make([]TraceEntry, 0, min(max(n, 2), 16))
	}
}

// Now returns the exchange's clock reading, in UTC.
func (x *Exchange) Now() time.Time { return x.now().UTC() }

// Flow returns the flow currently running (the callee inside a call).
func (x *Exchange) Flow() *Flow { return x.flow }

// Set returns the flow set the exchange runs in.
func (x *Exchange) Set() *FlowSet { return x.set }

// Stop ends the message successfully after the current step; status is
// its final status ("" for COMPLETED).
func (x *Exchange) Stop(status string) {
	x.stopped = true
	if status != "" {
		x.Status = status
	}
}

// Stopped reports whether a step ended the message.
func (x *Exchange) Stopped() bool { return x.stopped }

// Secret returns a secret of the running flow.
func (x *Exchange) Secret(name string) string { return x.flow.secret[name] }

// Env returns an env variable of the running flow.
func (x *Exchange) Env(name string) string { return x.flow.env[name] }

// Redact replaces every secret value of the flow set in s, so that
// secrets never reach logs, traces or error messages.
func (x *Exchange) Redact(s string) string {
	if x.set == nil {
		return s
	}
	return x.set.Redact(s)
}

// Child returns an exchange for one item of a split: its own message and
// trace, sharing the flow, scope and clock.
func (x *Exchange) Child(msg *Message, split *SplitInfo) *Exchange {
	if x.onSuccess == nil {
		x.onSuccess = &hooks{}
	}
	return &Exchange{onSuccess: x.onSuccess, observer: x.observer, tracer: x.tracer, ID: x.ID, CorrelationID: x.CorrelationID, TraceID: x.TraceID, Msg: msg, Query: x.Query, Request: x.Request, RawBody: x.RawBody, flow: x.flow, set: x.set, Log: x.Log,
		now: x.now, services: x.services, resources: x.resources, errInfo: x.errInfo, split: split, item: x.item, inOnError: x.inOnError}
}

// Adopt takes into x what a finished child exchange (a split item) leaves
// its parent: the child's trace entries, within the message's trace bound
// (the rest are counted in TraceDropped), and, when err (the error the
// child's steps returned) was already handled by the flow's on_error in
// the child, that mark, so that the parent does not run on_error a second
// time for the same failure. Calls must not overlap each other or a step
// running on x.
func (x *Exchange) Adopt(c *Exchange, err error) {
	n := max(0, min(maxTrace-len(x.Trace), len(c.Trace)))
	x.Trace = append(x.Trace, c.Trace[:n]...)
	x.TraceDropped += len(c.Trace) - n + c.TraceDropped
	var se *StepError
	if errors.As(err, &se) && c.handled[se] != nil {
		if x.handled == nil {
			x.handled = map[*StepError]*Flow{}
		}
		x.handled[se] = c.handled[se]
	}
}

// WithItem runs fn with `item` bound, for mappings' for_each.
func (x *Exchange) WithItem(item any, fn func() error) error {
	saved := x.item
	x.item = item
	defer func() { x.item = saved }()
	return fn()
}

// Services returns the runtime's durable state attached to the exchange
// (nil when running without a data directory).
func (x *Exchange) Services() *Services { return x.services }

// SetServices attaches the runtime's durable state.
func (x *Exchange) SetServices(s *Services) { x.services = s }

// scopeFor fills the expression scope from the exchange's current state.
func (x *Exchange) scopeFor(needJSON bool) (*Scope, error) {
	s := &x.scope
	s.x = x
	s.Body = x.Msg.BodyString()
	s.Header = x.Msg.Header
	s.Property = x.Msg.Property
	s.Query = x.Query
	s.Request = x.Request
	s.Error = x.errInfo
	s.Split = x.split
	s.Item = x.item
	s.Message = MessageInfo{ID: x.ID, CorrelationID: x.CorrelationID}
	if x.flow != nil {
		s.Env, s.Secret = x.flow.env, x.flow.secret
	}
	s.JSON = nil
	if needJSON {
		v, err := x.Msg.JSON()
		if err != nil {
			return nil, fmt.Errorf("json: %w", err)
		}
		s.JSON = v
	}
	return s, nil
}
