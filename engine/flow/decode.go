package flow

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder is the flow loader's layer on the shared Decoder (yamldecode.go):
// it holds the Builder, whose scope (env, secrets, error.*, item, ...)
// templates and conditions compile against, and through which errors go
// to the load's list. Struct decoding, defaults and messages are the
// shared Decoder's; the flow language's own field types (Template,
// Condition, TemplateMap, VarDecls, Trigger, Steps, ByteSize) implement
// configValue and decode with the builder.
type decoder struct {
	b  *Builder
	sh *Decoder
}

// shared returns the Decoder this layer sits on: positions name the
// builder's file and errors go to the load's list.
func (d *decoder) shared() *Decoder {
	if d.sh == nil {
		d.sh = &Decoder{fl: d}
	}
	return d.sh
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.shared().Errorf(n, format, args...)
}

func (d *decoder) pos(n *yaml.Node) Pos { return d.shared().Pos(n) }

// decodeStruct decodes a mapping into a struct described by spec. keyPos,
// when not nil, receives the position of every key.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, spec *configSpec, what string, keyPos map[string]Pos) {
	d.shared().decodeStruct(n, v, spec, what, keyPos)
}

// configValue is implemented by the flow language's field types, which
// decode themselves with the builder (see decoder).
type configValue interface {
	decode(d *decoder, n *yaml.Node)
}

// The flow loader's names for the shared helpers.
func resolveAlias(n *yaml.Node) *yaml.Node { return Resolve(n) }
func isNull(n *yaml.Node) bool             { return IsNull(n) }
func kindOfNode(n *yaml.Node) string       { return KindOf(n) }

// exprPos maps a location inside an expression to the file: line and
// column of the scalar plus the expression's offset in it.
func (d *decoder) exprPos(n *yaml.Node, offset int, iss exprIssue) Pos {
	p := d.pos(n)
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		p.Col++
	}
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 || strings.Contains(n.Value, "\n") {
		return p // a block scalar: the line is as close as we can say
	}
	p.Col += offset + iss.offset
	return p
}

// decode compiles a scalar as a template.
func (t *Template) decode(d *decoder, n *yaml.Node) {
	t.pos = d.pos(n)
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, "expected a value or a ${...} template, found %s", kindOfNode(n))
		return
	}
	t.src = n.Value
	if n.Tag != "!!str" {
		// A YAML number, bool or null keeps its type: status: 204 is an int.
		var v any
		if err := n.Decode(&v); err == nil {
			t.lit, t.isLit = v, true
			if v == nil {
				d.errorf(n, "expected a value, found nothing (write \"\" for empty text)")
			}
			return
		}
	}
	parts, isExpr, offsets, err := splitTemplate(n.Value)
	if err != nil {
		d.errorf(n, "template %q: %v", n.Value, err)
		return
	}
	if len(parts) == 1 && !isExpr[0] {
		t.lit, t.isLit = parts[0], true
		return
	}
	ok := true
	for i, src := range parts {
		if !isExpr[i] {
			t.parts = append(t.parts, tplPart{lit: src})
			continue
		}
		p, issues := compileExpr(src, d.b.ctx, false)
		for _, iss := range issues {
			d.b.l.errs.add(d.exprPos(n, offsets[i], iss), "in ${%s}: %s", strings.TrimSpace(src), iss.msg)
			ok = false
		}
		t.parts = append(t.parts, tplPart{p: p})
	}
	if !ok {
		t.parts = nil
		return
	}
	if len(t.parts) == 1 {
		t.single, t.parts = t.parts[0].p, nil
	}
}

// Condition is a compiled boolean expression, written bare
// (`request.method == "GET"`) or wrapped in ${...}.
type Condition struct {
	src string
	pos Pos
	p   *program
}

// Source returns the condition as written.
func (c *Condition) Source() string { return c.src }

func (c *Condition) decode(d *decoder, n *yaml.Node) {
	c.pos = d.pos(n)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, "expected a condition such as property.x == \"y\", found %s", kindOfNode(n))
		return
	}
	src, offset := n.Value, 0
	if t := strings.TrimSpace(src); strings.HasPrefix(t, "${") && strings.HasSuffix(t, "}") {
		if end, ok := matchBrace(t, 2); ok && end == len(t)-1 {
			offset = strings.Index(src, "${") + 2
			src = t[2 : len(t)-1]
		}
	}
	c.src = src
	p, issues := compileExpr(src, d.b.ctx, true)
	for _, iss := range issues {
		d.b.l.errs.add(d.exprPos(n, offset, iss), "in condition %q: %s", strings.TrimSpace(src), iss.msg)
	}
	c.p = p
}

// Eval evaluates the condition.
func (c *Condition) Eval(x *Exchange) (bool, error) {
	v, err := c.p.run(x)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("condition %s gave %s, not true or false (write %s == nil to test for a missing value)", c.src, describe(v), c.src)
	}
	return b, nil
}

// TemplateMap is an ordered mapping of names to templates (headers,
// properties). Order is kept: a later entry may use an earlier one.
type TemplateMap []TemplateEntry

// TemplateEntry is one entry of a TemplateMap.
type TemplateEntry struct {
	Key   string
	Value *Template
}

func (m *TemplateMap) decode(d *decoder, n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "expected a mapping (name: value), found %s", kindOfNode(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if seen[k.Value] {
			d.errorf(k, "%q is given twice", k.Value)
		}
		seen[k.Value] = true
		t := &Template{}
		t.decode(d, resolveAlias(n.Content[i+1]))
		*m = append(*m, TemplateEntry{Key: k.Value, Value: t})
	}
}

// VarDecl declares a variable a flow reads from the environment.
type VarDecl struct {
	Name       string
	Default    string
	HasDefault bool
	Doc        string
	Pos        Pos
}

// VarDecls is the env: or secrets: section of a flow. Each entry is
// NAME: default, NAME: (required, no default), or NAME: {default, doc}.
type VarDecls []VarDecl

func (vs *VarDecls) decode(d *decoder, n *yaml.Node) {
	if n.Kind == yaml.SequenceNode { // a list of required names
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				d.errorf(item, "expected a variable name, found %s", kindOfNode(item))
				continue
			}
			*vs = append(*vs, VarDecl{Name: item.Value, Pos: d.pos(item)})
		}
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "expected a mapping of variable names (NAME: default), found %s", kindOfNode(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolveAlias(n.Content[i+1])
		decl := VarDecl{Name: k.Value, Pos: d.pos(k)}
		if !validVarName(k.Value) {
			d.errorf(k, "variable name %q: use letters, digits and _ (e.g. FITBIT_API_URL)", k.Value)
		}
		switch {
		case isNull(v):
		case v.Kind == yaml.ScalarNode:
			decl.Default, decl.HasDefault = v.Value, true
		case v.Kind == yaml.MappingNode:
			for j := 0; j+1 < len(v.Content); j += 2 {
				switch key, val := v.Content[j], v.Content[j+1]; key.Value {
				case "default":
					decl.Default, decl.HasDefault = val.Value, true
				case "doc":
					decl.Doc = val.Value
				default:
					d.errorf(key, "variable %s: unknown key %q%s", k.Value, key.Value, hintKey(key.Value, []string{"default", "doc"}))
				}
			}
		default:
			d.errorf(v, "variable %s: expected a default value or {default, doc}, found %s", k.Value, kindOfNode(v))
		}
		*vs = append(*vs, decl)
	}
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (vs VarDecls) set() map[string]bool {
	m := make(map[string]bool, len(vs))
	for _, v := range vs {
		m[v.Name] = true
	}
	return m
}

// Trigger is a flow's trigger: its kind and decoded config (a pointer to
// the kind's config struct, e.g. *HTTPTrigger).
type Trigger struct {
	Kind   string
	Config any
	Pos    Pos
}

func (t *Trigger) decode(d *decoder, n *yaml.Node) {
	t.Pos = d.pos(n)
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		n = &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column, Content: []*yaml.Node{n, {Kind: yaml.ScalarNode, Tag: "!!null"}}}
	}
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		d.errorf(n, "trigger: expected exactly one of %s, e.g. `trigger: {http: {path: /hook}}`", strings.Join(names(triggerKinds), ", "))
		return
	}
	k, v := n.Content[0], resolveAlias(n.Content[1])
	kind := triggerKinds[k.Value]
	if kind == nil {
		d.errorf(k, "unknown trigger %q%s", k.Value, hintKey(k.Value, names(triggerKinds)))
		return
	}
	t.Kind, t.Pos = k.Value, d.pos(k)
	cfg := reflect.New(kind.spec.typ).Elem()
	b := d.b
	saved := b.keyPos
	b.keyPos = map[string]Pos{}
	before := len(b.l.errs)
	d.decodeStruct(v, cfg, kind.spec, "trigger "+k.Value, b.keyPos)
	if len(b.l.errs) == before {
		b.stepPos, b.name = t.Pos, k.Value
		c, err := kind.build(b, cfg)
		if err != nil {
			b.errorAt(err)
		}
		t.Config = c
	}
	b.keyPos = saved
}
