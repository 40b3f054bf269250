package flow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
)

// Flow is one compiled flow file.
type Flow struct {
	ID            string
	Description   string
	File          string
	Version       string // content hash of the file: the message log records it
	Trigger       Trigger
	Steps         Steps
	OnError       Steps
	LogLevel      LogLevel // what the message log keeps of the flow's attempts (log:)
	TracePayloads bool     // LogLevel == LogTrace, kept for older callers
	Env           VarDecls
	Secrets       VarDecls
	Pos           Pos

	// Disabled says why the flow does not run (missing variables), or "".
	Disabled string
	// DisabledBy names the flow whose being disabled disabled this one
	// (a flow it calls, a connection it uses); "" when the cause is the
	// flow's own.
	DisabledBy string

	env         map[string]string
	secret      map[string]string
	calls       []string
	uses        []string // connections its steps use
	retryBudget int      // the largest max of the retry steps in on_error
}

// Calls lists the ids of the flows this flow calls.
func (f *Flow) Calls() []string { return f.calls }

// Run runs the flow's steps on x. The exchange's flow scope is switched
// for the duration (a called flow sees its own env and secrets) and
// restored after, so Run serves both triggers and the call step.
func (f *Flow) Run(ctx context.Context, x *Exchange) error {
	if f.Disabled != "" {
		return fmt.Errorf("flow %s is disabled: %s", f.ID, f.Disabled)
	}
	x.reserveTrace(f.Steps.Len() + 1)
	saved, savedOnErr := x.flow, x.inOnError
	x.flow, x.inOnError = f, false
	defer func() { x.flow, x.inOnError = saved, savedOnErr }()
	return f.Steps.Run(ctx, x)
}

// RunWithPolicies runs inbound policies and then, unless a policy
// answered, the flow. Policies are not steps of the flow: their failure
// does not run on_error.
func (f *Flow) RunWithPolicies(ctx context.Context, x *Exchange, policies Steps) error {
	if policies.Len() > 0 {
		x.reserveTrace(policies.Len() + f.Steps.Len() + 1)
		saved := x.flow
		x.flow = f
		err := policies.Run(ctx, x)
		x.flow = saved
		if err != nil || x.stopped {
			return err
		}
	}
	return f.Run(ctx, x)
}

// FlowSet is an immutable, validated set of flows: the unit that hot
// reload swaps.
type FlowSet struct {
	flows    map[string]*Flow
	order    []*Flow
	claims   map[string]*Flow // Claim.Key → the flow holding it
	redactor *strings.Replacer
}

func newFlowSet(flows []*Flow) *FlowSet {
	s := &FlowSet{flows: map[string]*Flow{}, claims: map[string]*Flow{}}
	for _, f := range flows {
		s.flows[f.ID] = f
		s.order = append(s.order, f)
		if c, ok := f.Trigger.Config.(Claimer); ok {
			for _, cl := range c.Claims() {
				s.claims[cl.Key] = f
			}
		}
	}
	sort.Slice(s.order, func(i, j int) bool { return s.order[i].ID < s.order[j].ID })
	return s
}

// Flow returns the flow with the given id, or nil.
func (s *FlowSet) Flow(id string) *Flow { return s.flows[id] }

// Flows returns the flows ordered by id.
func (s *FlowSet) Flows() []*Flow { return s.order }

// Redact replaces secret values in text with "***".
func (s *FlowSet) Redact(text string) string {
	if s == nil || s.redactor == nil {
		return text
	}
	return s.redactor.Replace(text)
}

// Lookup finds a variable's value in the environment; ok is false when it
// is unset. The engine never reads the process environment itself.
type Lookup func(name string) (value string, ok bool)

// LogNotStarted logs why each of the flows ids of s is not started: a
// warning for a flow with a cause of its own, an info line for one that
// only depends on such a flow (its cause is warned about already).
func (s *FlowSet) LogNotStarted(log *slog.Logger, ids []string) {
	for _, id := range ids {
		f := s.Flow(id)
		if f == nil {
			continue
		}
		if f.DisabledBy != "" {
			log.Info("flow not started", "flow", id, "reason", f.Disabled)
			continue
		}
		log.Warn("flow not started", "flow", id, "reason", f.Disabled)
	}
}

// Bind resolves every flow's env and secret variables through lookup.
// A flow with a required variable unset is disabled with the reason, and
// so is every flow that calls it (transitively). It returns the names of
// the flows it disabled. Secret values feed the redactor.
func (s *FlowSet) Bind(lookup Lookup) []string {
	var secretValues []string
	for _, f := range s.order {
		f.Disabled, f.DisabledBy = "", ""
		var missing []string
		f.env = resolve(f.Env, lookup, &missing, nil)
		f.secret = resolve(f.Secrets, lookup, &missing, &secretValues)
		if len(missing) > 0 {
			f.Disabled = "missing variables: " + strings.Join(missing, ", ")
			continue
		}
		if b, ok := f.Trigger.Config.(Binder); ok {
			if err := b.Bind(f); err != nil {
				f.Disabled = err.Error()
			}
		}
	}
	for changed := true; changed; { // a caller of a disabled flow cannot run either
		changed = false
		for _, f := range s.order {
			if f.Disabled != "" {
				continue
			}
			for _, c := range f.calls {
				if t := s.flows[c]; t != nil && t.Disabled != "" {
					f.Disabled = fmt.Sprintf("calls %s, which is disabled (%s)", c, t.Disabled)
					f.DisabledBy = c
					changed = true
					break
				}
			}
			for _, c := range f.uses {
				if t := s.flows[c]; f.Disabled == "" && t != nil && t.Disabled != "" {
					f.Disabled = fmt.Sprintf("uses connection %s, which is disabled (%s)", c, t.Disabled)
					f.DisabledBy = c
					changed = true
				}
			}
		}
	}
	var disabled []string
	for _, f := range s.order {
		if f.Disabled != "" {
			disabled = append(disabled, f.ID)
		}
	}
	sort.Slice(secretValues, func(i, j int) bool { return len(secretValues[i]) > len(secretValues[j]) })
	var pairs []string
	for _, v := range secretValues {
		if len(v) >= 4 { // shorter values would redact ordinary words
			pairs = append(pairs, v, "***")
		}
	}
	if len(pairs) > 0 {
		s.redactor = strings.NewReplacer(pairs...)
	}
	return disabled
}

func resolve(decls VarDecls, lookup Lookup, missing *[]string, values *[]string) map[string]string {
	m := make(map[string]string, len(decls))
	for _, d := range decls {
		v, ok := lookup(d.Name)
		if !ok {
			if !d.HasDefault {
				*missing = append(*missing, d.Name)
				continue
			}
			v = d.Default
		}
		m[d.Name] = v
		if values != nil && v != "" {
			*values = append(*values, v)
		}
	}
	return m
}

// Run runs the flow with the given id on x.
func (s *FlowSet) Run(ctx context.Context, id string, x *Exchange) error {
	f := s.flows[id]
	if f == nil {
		return errors.New("no flow " + id)
	}
	return f.Run(ctx, x)
}
