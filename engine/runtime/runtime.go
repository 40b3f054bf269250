// Package runtime runs flow sets: it owns their triggers, the durable
// services they use, the message log writer and the per-runtime resources
// of steps, from Start to Stop.
//
// Lifecycle:
//
//	rt := runtime.New(runtime.Options{...})
//	rt.Swap(set)       // publish a flow set (at any time; reload is a Swap)
//	rt.Start(ctx)      // start the published set's triggers and the log writer
//	...
//	rt.Stop(ctx)       // stop triggers, drain runs until ctx ends, cancel the rest
//
// Every run (an HTTP request, a queue message, a timer tick) gets a context
// derived from the runtime's own, cancelled when Stop's drain deadline
// passes; Stop returns only when every goroutine the runtime started has
// returned.
package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/stride-engine/stride/engine/flow"
)

// Options configure a Runtime. Every field may be left zero.
type Options struct {
	// Log receives the runtime's lines; every line about a message
	// carries its id and flow. Nil discards them.
	Log *slog.Logger
	// Services is the durable state (datastore, queues, message log)
	// given to every exchange. Nil runs without a store: steps that need
	// one fail with flow.ErrNoStore and queue triggers do not start.
	Services *flow.Services
	// Observer receives measurements for metrics; nil for none.
	Observer flow.Observer
	// Clock drives timer triggers; nil means the real clock.
	Clock Clock
	// Now is the exchanges' clock; nil means time.Now.
	Now func() time.Time
	// DiskGuard, when set, refuses durable writes while the data file
	// system is nearly full (see DiskGuard). The caller runs it.
	DiskGuard *DiskGuard
	// Triggers lists the trigger kinds to run; nil runs every kind. Flow
	// tests run only http, so that a queue or timer flow runs exactly
	// when a test case says.
	Triggers []string
	// Tracer, when set, opens an OpenTelemetry span per message run and
	// per step; nil opens none (a caller's traceparent is still kept).
	Tracer trace.Tracer
	// KeepStepTraces keeps every attempt's step trace in the message log,
	// whatever the flow's level (at info only a failed attempt's is
	// kept). Flow tests set it: a case's report shows where the run
	// ended.
	KeepStepTraces bool
}

// Runtime runs one flow set at a time and swaps it atomically. A request
// picks the current generation once and finishes on it, so a swap never
// changes a message in flight and the listener never closes.
type Runtime struct {
	log       *slog.Logger
	services  *flow.Services
	observer  flow.Observer
	clock     Clock
	now       func() time.Time
	resources *flow.Resources
	timerRuns running
	triggers  []string
	guard     *DiskGuard
	tracer    trace.Tracer
	keepSteps bool
	steps     stepCounts // runs and errors per step, for the monitor

	// ctx is the parent of every run; cancel ends the runs that outlive
	// Stop's drain deadline.
	ctx    context.Context
	cancel context.CancelCauseFunc
	runs   tracker        // every run in progress, whatever its trigger
	drains sync.WaitGroup // generations being drained after a swap

	mu       sync.Mutex   // serialises Swap, Start and Stop
	state    atomic.Int32 // a state; written under mu, read by requests
	current  atomic.Pointer[generation]
	recorder *logRecorder
}

type state int32

const (
	created state = iota
	started
	stopped
)

// ErrStopped is returned by Start and RunNow after Stop.
var ErrStopped = errors.New("the runtime is stopped")

// errDrainDeadline is the cause of the runs' cancellation when Stop's
// drain deadline passes.
var errDrainDeadline = errors.New("stride is shutting down: the drain deadline passed")

// New returns a runtime with no flows, not yet started.
func New(o Options) *Runtime {
	r := &Runtime{log: o.Log, services: o.Services, observer: o.Observer, clock: o.Clock, now: o.Now, resources: flow.NewResources(), triggers: o.Triggers, guard: o.DiskGuard, tracer: o.Tracer, keepSteps: o.KeepStepTraces}
	if g := o.DiskGuard; g != nil && o.Services != nil {
		s := *o.Services
		if s.KV != nil {
			s.KV = guardedKV{s.KV, g}
		}
		if s.Queues != nil {
			s.Queues = guardedQueues{s.Queues, g}
		}
		r.services = &s
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.clock == nil {
		r.clock = realClock{}
	}
	base, cancel := context.WithCancelCause(context.Background())
	// The runtime marks its context so that a request context derived
	// from it (BaseContext) is known to end with it.
	r.ctx, r.cancel = context.WithValue(base, runtimeKey{}, r), cancel
	empty, _ := flow.Load(nil)
	r.current.Store(&generation{set: empty, mux: http.NewServeMux()})
	return r
}

// Log returns the runtime's logger.
func (r *Runtime) Log() *slog.Logger { return r.log }

// Services returns the durable state the runtime was given, or nil.
func (r *Runtime) Services() *flow.Services { return r.services }

// Published returns when the running flow set was swapped in: the start
// or the last reload that changed something (zero before the first).
func (r *Runtime) Published() time.Time { return r.current.Load().published }

// Set returns the published flow set.
func (r *Runtime) Set() *flow.FlowSet { return r.current.Load().set }

// NotStarted says why a flow of the published set has no running
// trigger: its Disabled reason, or why its trigger could not start.
// It returns "" for a running flow.
func (r *Runtime) NotStarted(id string) string {
	g := r.current.Load()
	if f := g.set.Flow(id); f != nil && f.Disabled != "" {
		return f.Disabled
	}
	return g.notStarted[id]
}

// Start starts the message log writer and the triggers of the published
// flow set. ctx bounds the start only; runs live until Stop.
func (r *Runtime) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch state(r.state.Load()) {
	case started:
		return nil
	case stopped:
		return ErrStopped
	}
	if r.services != nil && r.services.Log != nil {
		r.recorder = newLogRecorder(r.services.Log, r.log, r.guard)
	}
	r.state.Store(int32(started))
	g := r.current.Load()
	return g.start(ctx, r)
}

// Swap publishes set as the running flow set. It is the only way flows
// change. The new set's triggers are built and (once the runtime is
// started) started beside the running ones, then the new set is
// published, then the old set's triggers are stopped: they take no new
// work and their runs finish on the version they started with.
//
// set must be bound (FlowSet.Bind) and is not changed afterwards.
func (r *Runtime) Swap(set *flow.FlowSet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := state(r.state.Load())
	if st == stopped {
		r.log.Warn("flow set not published: the runtime is stopped")
		return
	}
	g := r.build(set)
	if st == started {
		if err := g.start(r.ctx, r); err != nil {
			r.log.Error("starting triggers failed", "error", err)
		}
	}
	g.published = time.Now()
	old := r.current.Swap(g)
	if st == started {
		r.drains.Add(1)
		go func() {
			defer r.drains.Done()
			old.stop(r.ctx)
		}()
	}
}

// Stop stops every trigger (HTTP requests then get 503), waits for the
// runs in progress until ctx ends, then cancels those still going and
// waits for them to return. Messages a queue consumer had not finished
// stay queued. Then it flushes the message log and closes the runtime's
// resources. It returns ctx's error when runs had to be cancelled.
func (r *Runtime) Stop(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if state(r.state.Load()) == stopped {
		return nil
	}
	wasStarted := state(r.state.Load()) == started
	r.state.Store(int32(stopped))
	r.runs.close()

	g := r.current.Load()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		g.stop(ctx)
		r.drains.Wait()
		_ = r.runs.wait(ctx)
	}()
	var err error
	select {
	case <-stopped:
	case <-ctx.Done():
		err = ctx.Err()
		r.log.Warn("runs still going at the drain deadline are cancelled", "runs", r.runs.count())
	}
	// Cancel what is left and wait for it: nothing the runtime started
	// outlives Stop.
	r.cancel(errDrainDeadline)
	<-stopped
	r.runs.wait(context.Background())
	if wasStarted && r.recorder != nil {
		r.recorder.close()
	}
	if cerr := r.resources.Close(); cerr != nil {
		r.log.Warn("closing resources failed", "error", cerr)
	}
	return err
}

// Ready reports whether the runtime runs flows and can take messages,
// and if not, why.
func (r *Runtime) Ready() (bool, []string) {
	var why []string
	switch state(r.state.Load()) {
	case created:
		why = append(why, "the runtime is not started")
	case stopped:
		why = append(why, "the runtime is stopped")
	}
	if err := r.guard.Err(); err != nil {
		why = append(why, err.Error())
	}
	return len(why) == 0, why
}

// ServeHTTP routes a request to the http-triggered flow of the current
// generation. Before Start and after Stop it answers 503.
func (r *Runtime) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if state(r.state.Load()) != started || !r.runs.enter() {
		w.Header().Set("Retry-After", "1")
		writeJSONError(w, http.StatusServiceUnavailable, "stride is not running (starting or shutting down)", "")
		return
	}
	defer r.runs.leave()
	r.current.Load().mux.ServeHTTP(w, req)
}

// NewMessageID returns a random message id.
func NewMessageID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewExchange returns an exchange in set, with the runtime's clock,
// logger, services, observer and resources.
func (r *Runtime) NewExchange(id string, set *flow.FlowSet, msg *flow.Message) *flow.Exchange {
	x := flow.NewExchange(id, msg, set, r.now)
	x.Log = r.log
	x.SetServices(r.services)
	x.SetObserver(r.observer)
	x.SetResources(r.resources)
	x.SetTracer(r.tracer)
	return x
}

// runContext returns the context of a run that has no caller (a queue
// message, a timer tick): it ends when the runtime cancels its runs or
// after timeout (0 for none).
func (r *Runtime) runContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	return r.requestContext(r.ctx, timeout)
}

// requestContext returns the context of a run for a caller's request: it
// ends with parent, when the runtime cancels its runs, or after timeout.
func (r *Runtime) requestContext(parent context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := parent, context.CancelFunc(func() {})
	if parent.Value(runtimeKey{}) != r {
		// Tie the run to the runtime's context: one more context and a
		// registration on the runtime's, which every request shares.
		// Servers that derive their requests from BaseContext skip it.
		c, cancelCause := context.WithCancelCause(parent)
		stop := context.AfterFunc(r.ctx, func() { cancelCause(context.Cause(r.ctx)) })
		ctx, cancel = c, func() { stop(); cancelCause(nil) }
	}
	if timeout > 0 {
		var cancelTimeout context.CancelFunc
		ctx, cancelTimeout = context.WithTimeout(ctx, timeout)
		return ctx, func() { cancelTimeout(); cancel() }
	}
	return ctx, cancel
}

// runtimeKey marks the runtime's context (its value is the runtime).
type runtimeKey struct{}

// BaseContext is the context an http.Server serving the runtime should
// give its connections (http.Server.BaseContext): a request's context
// then ends when the runtime cancels its runs at Stop's deadline by
// itself, and the runtime does not tie each request to it again.
func (r *Runtime) BaseContext(net.Listener) context.Context { return r.ctx }

// tracker counts runs in progress and refuses new ones once closed. A
// WaitGroup alone cannot: Add must not race Wait when the count is zero.
type tracker struct {
	mu     sync.Mutex
	closed bool
	n      int
	zero   chan struct{} // closed when n drops to 0; nil while n is 0
}

func (t *tracker) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	if t.n == 0 {
		t.zero = make(chan struct{})
	}
	t.n++
	return true
}

func (t *tracker) leave() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.n == 0 {
		close(t.zero)
	}
}

func (t *tracker) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
}

func (t *tracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// wait returns when no run is in progress, or ctx's error when it ends
// first.
func (t *tracker) wait(ctx context.Context) error {
	t.mu.Lock()
	if t.n == 0 {
		t.mu.Unlock()
		return nil
	}
	zero := t.zero
	t.mu.Unlock()
	select {
	case <-zero:
		return t.wait(ctx) // new runs may have entered meanwhile
	case <-ctx.Done():
		return ctx.Err()
	}
}
