package runtime

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/stride-engine/stride/engine/flow"
)

// A Trigger delivers the messages of one flow of one flow-set generation.
// It is built when the generation is built, started before the
// generation is published, and stopped after the next one replaces it or
// when the runtime stops.
type Trigger interface {
	// Start begins delivering. Goroutines it starts run until Stop.
	Start(ctx context.Context) error
	// Stop stops taking new work and waits for the runs it started until
	// ctx ends. Runs still going then are cancelled by the runtime, which
	// waits for them.
	Stop(ctx context.Context)
}

// TriggerKind declares a kind of trigger: its config (decoded, validated
// and documented by engine/flow from the struct C, as for steps) and how
// to build the trigger of one flow. A trigger kind is one file that calls
// RegisterTrigger from init.
type TriggerKind[C any] struct {
	flow.TriggerKind[C]
	// New builds the trigger of flow f, whose config is c. It may return
	// nil when the flow needs nothing started (a call flow, or a flow
	// whose routes New registered with h.Handle); an error leaves the
	// flow not started, with the error as the reason.
	New func(h *Host, f *flow.Flow, c *C) (Trigger, error)
}

// newTrigger builds the trigger of a flow from its untyped config.
type newTrigger func(h *Host, f *flow.Flow, cfg any) (Trigger, error)

// triggerKinds maps a trigger kind's name to its constructor. It is
// written only by RegisterTrigger, from init functions.
var triggerKinds = map[string]newTrigger{}

// RegisterTrigger registers a trigger kind with the flow language and the
// runtime. It panics on a duplicate name.
func RegisterTrigger[C any](k TriggerKind[C]) {
	flow.RegisterTrigger(k.TriggerKind)
	triggerKinds[k.Name] = func(h *Host, f *flow.Flow, cfg any) (Trigger, error) {
		c, ok := cfg.(*C)
		if !ok {
			return nil, fmt.Errorf("trigger %s: config is %T", k.Name, cfg)
		}
		return k.New(h, f, c)
	}
}

// Host is what a trigger gets from the runtime while it is built: the
// generation's HTTP routes, the durable services, the clock, and the
// runtime's way of running and recording a message.
type Host struct {
	rt  *Runtime
	gen *generation
}

// Handle routes an HTTP pattern ("POST /path") of the generation to h.
func (h *Host) Handle(pattern string, handler http.Handler) { h.gen.mux.Handle(pattern, handler) }

// Services returns the runtime's durable state, or nil.
func (h *Host) Services() *flow.Services { return h.rt.services }

// Set returns the flow set of the generation being built.
func (h *Host) Set() *flow.FlowSet { return h.gen.set }

// Runtime returns the runtime the trigger runs in.
func (h *Host) Runtime() *Runtime { return h.rt }

// generation is one published flow set with its routes and triggers.
type generation struct {
	set        *flow.FlowSet
	mux        *http.ServeMux
	triggers   []Trigger
	notStarted map[string]string // flow id → why its trigger did not build
	published  time.Time         // when Swap published it
}

// build makes the generation of set: a trigger per enabled flow.
func (r *Runtime) build(set *flow.FlowSet) *generation {
	g := &generation{set: set, mux: http.NewServeMux(), notStarted: map[string]string{}}
	h := &Host{rt: r, gen: g}
	for _, f := range set.Flows() {
		if f.Disabled != "" || r.triggers != nil && !slices.Contains(r.triggers, f.Trigger.Kind) {
			continue
		}
		newT := triggerKinds[f.Trigger.Kind]
		if newT == nil {
			g.notStarted[f.ID] = "no runtime for trigger kind " + f.Trigger.Kind
			continue
		}
		t, err := newT(h, f, f.Trigger.Config)
		if err != nil {
			g.notStarted[f.ID] = err.Error()
			r.log.Error("flow not started", "flow", f.ID, "error", err)
			continue
		}
		if t != nil {
			g.triggers = append(g.triggers, t)
		}
	}
	return g
}

// start starts the generation's triggers.
func (g *generation) start(ctx context.Context, r *Runtime) error {
	for _, t := range g.triggers {
		if err := t.Start(ctx); err != nil {
			return err
		}
	}
	return nil
}

// stop stops the generation's triggers in parallel and waits for them.
func (g *generation) stop(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range g.triggers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Stop(ctx)
		}()
	}
	wg.Wait()
}
