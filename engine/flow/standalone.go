package flow

import (
	"sort"
	"time"

	"github.com/expr-lang/expr/ast"
)

// What a tool needs to compile and run a piece of the flow language
// outside any flow file (stride map runs a mapping template on a
// payload): a builder that is not part of a flow load, the variables a
// template reads, and an exchange that sees them.

// NewBuilder returns a builder for templates compiled outside a flow load.
// Positions name file. No flow declares variables here, so expressions
// may read any env.NAME and secret.NAME: Template.Vars lists those a
// template reads, for the caller to bind with NewStandaloneExchange. Err
// returns the errors reported.
func NewBuilder(file string) *Builder {
	return &Builder{l: &loader{}, file: file, stepPos: Pos{File: file, Line: 1, Col: 1}, keyPos: map[string]Pos{}}
}

// Err returns the errors reported through b and the builders derived
// from it (InFile, WithItem), sorted by position, or nil. During a flow
// load that is every error of the load so far.
func (b *Builder) Err() error {
	b.l.errs.Sort()
	return b.l.errs.Err()
}

// Vars returns the names of the env and secret variables t reads
// (env.NAME or env["NAME"]), each list sorted.
func (t *Template) Vars() (env, secrets []string) {
	if t == nil {
		return nil, nil
	}
	v := &varFinder{seen: map[string]bool{}}
	for _, p := range append([]tplPart{{p: t.single}}, t.parts...) {
		if p.p != nil {
			root := p.p.prog.Node()
			ast.Walk(&root, v)
		}
	}
	sort.Strings(v.env)
	sort.Strings(v.secrets)
	return v.env, v.secrets
}

type varFinder struct {
	env, secrets []string
	seen         map[string]bool
}

func (v *varFinder) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok {
		return
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	prop, isName := m.Property.(*ast.StringNode)
	if !ok || !isName || id.Value != "env" && id.Value != "secret" || v.seen[id.Value+"."+prop.Value] {
		return
	}
	v.seen[id.Value+"."+prop.Value] = true
	if id.Value == "env" {
		v.env = append(v.env, prop.Value)
	} else {
		v.secrets = append(v.secrets, prop.Value)
	}
}

// NewStandaloneExchange returns an exchange for msg outside any flow
// file, as if a flow declared the variables env and secrets name, every
// one required: its expressions read their values through lookup, and
// Redact hides the secret values. missing lists the names lookup does
// not find, env before secrets, each in the order given. now is the clock
// (nil for time.Now).
func NewStandaloneExchange(id string, msg *Message, env, secrets []string, lookup Lookup, now func() time.Time) (x *Exchange, missing []string) {
	f := &Flow{ID: id}
	for _, name := range env {
		f.Env = append(f.Env, VarDecl{Name: name})
	}
	for _, name := range secrets {
		f.Secrets = append(f.Secrets, VarDecl{Name: name})
	}
	for _, d := range append(append(VarDecls{}, f.Env...), f.Secrets...) {
		if _, ok := lookup(d.Name); !ok {
			missing = append(missing, d.Name)
		}
	}
	set := newFlowSet([]*Flow{f})
	set.Bind(lookup)
	x = NewExchange(id, msg, set, now)
	x.flow = f
	return x, missing
}
