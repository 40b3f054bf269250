package flow

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"sort"

	"gopkg.in/yaml.v3"
)

// Step is one compiled step of a flow. Run is called once per message;
// all parsing and compiling happened when the flow loaded.
type Step interface {
	Run(ctx context.Context, x *Exchange) error
}

// StepFunc adapts a function to Step.
type StepFunc func(ctx context.Context, x *Exchange) error

// Run calls f.
func (f StepFunc) Run(ctx context.Context, x *Exchange) error { return f(ctx, x) }

// StepKind declares a kind of step. Each kind lives in one file of
// package steps and registers itself from init. The loader, `stride
// validate`, `stride steps` and the flow JSON Schema all come from this
// one declaration.
type StepKind[C any] struct {
	Name    string // the key in a flow file, e.g. "set"
	Summary string // one line
	Doc     string // a paragraph: what it does and why you would use it
	Example string // a YAML snippet of a step list using this kind
	// Shorthand names the config field filled when the step is written
	// with a value that is not a mapping, e.g. `filter: 'x > 1'`.
	Shorthand string
	// Policy marks an inbound policy (basic_auth, verify_signature, ...):
	// it may also be listed under an http trigger's policies, where it
	// runs before the flow. A policy that fails sets the reply and stops.
	Policy bool
	// Build validates the decoded config and returns the compiled step.
	// Errors are reported at the step's position unless they are
	// positioned already (see Builder.Errorf).
	Build func(b *Builder, c *C) (Step, error)
}

// KindInfo is the registration of a step or trigger kind, independent of
// its config type: what `stride steps` prints and the schema describes.
type KindInfo struct {
	Name    string
	Summary string
	Doc     string
	Example string
	Fields  []FieldDoc
	Policy  bool

	spec  *configSpec
	build func(b *Builder, cfg reflect.Value) (any, error)
}

var (
	stepKinds    = map[string]*KindInfo{}
	triggerKinds = map[string]*KindInfo{}
)

// RegisterStep registers a step kind. It panics on a duplicate name, a
// programming error found by the first test run.
func RegisterStep[C any](k StepKind[C]) {
	register(stepKinds, k.Name, k.Summary, k.Doc, k.Example, reflect.TypeFor[C](), k.Shorthand,
		func(b *Builder, v reflect.Value) (any, error) { return k.Build(b, v.Addr().Interface().(*C)) })
	stepKinds[k.Name].Policy = k.Policy
}

// TriggerKind declares a kind of trigger. Triggers are part of the
// engine's runtime; their configs are declared like steps' so that the
// loader and the schema treat them alike.
type TriggerKind[C any] struct {
	Name      string
	Summary   string
	Doc       string
	Example   string
	Shorthand string
	// Validate checks the decoded config at load.
	Validate func(b *Builder, c *C) error
}

// RegisterTrigger registers a trigger kind.
func RegisterTrigger[C any](k TriggerKind[C]) {
	register(triggerKinds, k.Name, k.Summary, k.Doc, k.Example, reflect.TypeFor[C](), k.Shorthand,
		func(b *Builder, v reflect.Value) (any, error) {
			c := v.Addr().Interface().(*C)
			if k.Validate != nil {
				if err := k.Validate(b, c); err != nil {
					return nil, err
				}
			}
			return c, nil
		})
}

func register(into map[string]*KindInfo, name, summary, doc, example string, t reflect.Type, shorthand string, build func(*Builder, reflect.Value) (any, error)) {
	if _, dup := into[name]; dup {
		panic("stride: kind registered twice: " + name)
	}
	spec := specOf(t, shorthand)
	into[name] = &KindInfo{Name: name, Summary: summary, Doc: doc, Example: example, Fields: spec.docs(), spec: spec, build: build}
}

func sortedKinds(m map[string]*KindInfo) []*KindInfo {
	out := make([]*KindInfo, 0, len(m))
	for _, k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// StepKinds lists the registered step kinds by name.
func StepKinds() []*KindInfo { return sortedKinds(stepKinds) }

// TriggerKinds lists the registered trigger kinds by name.
func TriggerKinds() []*KindInfo { return sortedKinds(triggerKinds) }

func names(m map[string]*KindInfo) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Builder is what a kind's Build sees at load: where the step is, what
// names are in scope, and a way to report positioned errors.
type Builder struct {
	l       *loader
	file    string
	flowID  string
	ctx     exprContext
	stepPos Pos
	keyPos  map[string]Pos
	name    string
}

// Errorf records a load error at pos. Build may report several errors
// this way and then return ErrReported.
func (b *Builder) Errorf(pos Pos, format string, args ...any) {
	b.l.errs.add(pos, format, args...)
}

// ErrReported tells the loader that Build has reported its errors itself.
var ErrReported = errors.New("errors reported")

// Pos returns the position of the step being built.
func (b *Builder) Pos() Pos { return b.stepPos }

// FieldPos returns the position of a key of the step's config, or of the
// step when the key is absent.
func (b *Builder) FieldPos(key string) Pos {
	if p, ok := b.keyPos[key]; ok {
		return p
	}
	return b.stepPos
}

// FlowID returns the id of the flow being loaded.
func (b *Builder) FlowID() string { return b.flowID }

// StepName returns the step's name: its `name:` or, when unnamed, its kind.
func (b *Builder) StepName() string { return b.name }

// InOnError reports whether the step is part of an on_error subprocess.
func (b *Builder) InOnError() bool { return b.ctx.onError }

// Dir returns the directory of the flow file, for files a step reads
// beside the flow (mapping templates, payloads).
func (b *Builder) Dir() string { return filepath.Dir(b.file) }

// CallFlow records that this step calls flow id; the loader checks, after
// every file is read, that the flow exists, has a call trigger, and that
// calls form no cycle.
func (b *Builder) CallFlow(id string, pos Pos) {
	b.l.calls = append(b.l.calls, callRef{from: b.flowID, to: id, pos: pos})
}

// UseConnection records that this step uses the connection name (a flow
// whose trigger config is a Connector); the loader checks, after every
// file is read, that it exists, and Bind disables this flow while the
// connection is disabled.
func (b *Builder) UseConnection(name string, pos Pos) {
	b.l.uses = append(b.l.uses, callRef{from: b.flowID, to: name, pos: pos})
}

// RetryBudget records that on_error may run the failed step again up to
// n times (the retry step), so that error.retries_left can say how many
// are left before the repair before it runs.
func (b *Builder) RetryBudget(n int) {
	if b.l.retryMax == nil {
		b.l.retryMax = map[string]int{}
	}
	b.l.retryMax[b.flowID] = max(b.l.retryMax[b.flowID], n)
}

// EnqueueTo records that this step writes to queue; the loader checks,
// after every file is read, that a flow consumes it.
func (b *Builder) EnqueueTo(queue string, pos Pos) {
	b.l.enqueues = append(b.l.enqueues, callRef{from: b.flowID, to: queue, pos: pos})
}

// CompileTemplate compiles text written at pos as a template, for steps
// that read templates from their own structures (yaml.Node fields).
func (b *Builder) CompileTemplate(n *yaml.Node) *Template {
	d := &decoder{b: b}
	t := &Template{}
	t.decode(d, n)
	return t
}

// InFile returns a builder whose positions name path instead of the flow
// file, for steps that compile templates they read from a file of their
// own (a mapping template beside the flow): CompileTemplate and the
// positions it reports then point into that file. Expressions still see
// the flow's declared env and secrets.
func (b *Builder) InFile(path string) *Builder {
	c := *b
	c.file = path
	return &c
}

// WithItem returns a builder whose expressions may use `item`.
func (b *Builder) WithItem() *Builder {
	c := *b
	c.ctx.item = true
	return &c
}

func (b *Builder) errorAt(err error) {
	var el ErrorList
	var e *Error
	switch {
	case errors.Is(err, ErrReported):
	case errors.As(err, &el):
		b.l.errs = append(b.l.errs, el...)
	case errors.As(err, &e):
		b.l.errs = append(b.l.errs, e)
	default:
		b.l.errs.add(b.stepPos, "%s: %v", b.name, err)
	}
}

// LookupStep returns the registered step kind name, or nil.
func LookupStep(name string) *KindInfo { return stepKinds[name] }
