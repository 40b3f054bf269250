package flow

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder turns YAML nodes into config structs, strictly: an unknown key,
// a missing required key and a wrong shape are errors with positions, and
// decoding goes on after an error so that every error of a file is found.
type decoder struct {
	b *Builder
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.b.l.errs.add(posOf(d.b.file, n), format, args...)
}

func (d *decoder) pos(n *yaml.Node) Pos { return posOf(d.b.file, n) }

// configValue is implemented by field types that decode themselves.
type configValue interface {
	decode(d *decoder, n *yaml.Node)
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// decodeStruct decodes a mapping into a struct described by spec. keyPos,
// when not nil, receives the position of every key.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, spec *configSpec, what string, keyPos map[string]Pos) {
	n = resolveAlias(n)
	if spec.posIndex >= 0 {
		v.Field(spec.posIndex).Set(reflect.ValueOf(d.pos(n)))
	}
	if n.Kind != yaml.MappingNode {
		if spec.shorthand != nil && !isNull(n) {
			if keyPos != nil {
				keyPos[spec.shorthand.name] = d.pos(n)
			}
			d.decodeField(n, v.Field(spec.shorthand.index), spec.shorthand)
			d.applyDefaults(v, spec, map[string]bool{spec.shorthand.name: true}, n, what)
			return
		}
		if isNull(n) {
			d.applyDefaults(v, spec, nil, n, what)
			return
		}
		d.errorf(n, "%s: expected a mapping (key: value), found %s", what, kindOfNode(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		f := spec.byName[k.Value]
		if f == nil {
			d.errorf(k, "%s: unknown key %q%s", what, k.Value, hintKey(k.Value, spec.names()))
			continue
		}
		if seen[k.Value] {
			d.errorf(k, "%s: key %q is given twice", what, k.Value)
			continue
		}
		seen[k.Value] = true
		if keyPos != nil {
			keyPos[k.Value] = d.pos(k)
		}
		d.decodeField(val, v.Field(f.index), f)
	}
	d.applyDefaults(v, spec, seen, n, what)
}

func hintKey(key string, valid []string) string {
	if s := didYouMean(key, valid); s != "" {
		return s
	}
	if len(valid) == 0 {
		return " (this takes no options)"
	}
	return fmt.Sprintf(" (valid keys: %s)", strings.Join(valid, ", "))
}

func (d *decoder) applyDefaults(v reflect.Value, spec *configSpec, seen map[string]bool, n *yaml.Node, what string) {
	for _, f := range spec.fields {
		if seen[f.name] {
			continue
		}
		if f.required {
			d.errorf(n, "%s: missing required key %q (%s)", what, f.name, f.doc)
			continue
		}
		if f.typ.Kind() == reflect.Struct && f.typ != stepsType && f.typ != triggerType && f.typ != nodeType {
			// An absent nested object still gets its fields' defaults.
			null := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
			d.decodeStruct(null, v.Field(f.index), specOf(f.typ, ""), what+"."+f.name, nil)
			continue
		}
		if f.hasDef {
			dn := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.def, Line: n.Line, Column: n.Column}
			if _, err := strconv.ParseFloat(f.def, 64); err == nil {
				dn.Tag = "!!int"
			}
			d.decodeField(dn, v.Field(f.index), f)
		}
	}
}

func (d *decoder) decodeField(n *yaml.Node, v reflect.Value, f *fieldSpec) {
	n = resolveAlias(n)
	saved := d.b.ctx
	switch f.scope {
	case "split":
		d.b.ctx.split = true
	case "error":
		d.b.ctx.onError = true
	case "item":
		d.b.ctx.item = true
	}
	defer func() { d.b.ctx = saved }()
	d.decodeValue(n, v, f.name, f.enum)
}

// decodeValue decodes n into v by v's type.
func (d *decoder) decodeValue(n *yaml.Node, v reflect.Value, name string, enum []string) {
	if cv, ok := v.Addr().Interface().(configValue); ok {
		cv.decode(d, n)
		return
	}
	if v.Kind() == reflect.Pointer {
		nv := reflect.New(v.Type().Elem())
		if c, ok := nv.Interface().(configValue); ok {
			c.decode(d, n)
		} else {
			d.decodeValue(n, nv.Elem(), name, enum)
		}
		v.Set(nv)
		return
	}
	switch {
	case v.Type() == nodeType:
		v.Set(reflect.ValueOf(*n))
		return
	case v.Type() == durationType:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, "%s: expected a duration such as 500ms, 2s or 10m, found %s", name, kindOfNode(n))
			return
		}
		dur, err := time.ParseDuration(n.Value)
		if err != nil || dur < 0 {
			d.errorf(n, "%s: %q is not a duration (write e.g. 500ms, 2s, 10m, 1h)", name, n.Value)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch v.Kind() {
	case reflect.String:
		if n.Kind != yaml.ScalarNode || isNull(n) {
			d.errorf(n, "%s: expected text, found %s", name, kindOfNode(n))
			return
		}
		if len(enum) > 0 && !contains(enum, n.Value) {
			d.errorf(n, "%s: %q is not one of %s%s", name, n.Value, strings.Join(enum, ", "), didYouMean(n.Value, enum))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, ok := scalarBool(n)
		if !ok {
			d.errorf(n, "%s: expected true or false, found %s", name, kindOfNode(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errorf(n, "%s: expected a whole number, found %s", name, kindOfNode(n))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		fl, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errorf(n, "%s: expected a number, found %s", name, kindOfNode(n))
			return
		}
		v.SetFloat(fl)
	case reflect.Slice:
		items := []*yaml.Node{n}
		if n.Kind == yaml.SequenceNode {
			items = n.Content
		} else if v.Type().Elem().Kind() != reflect.String || n.Kind != yaml.ScalarNode {
			d.errorf(n, "%s: expected a list (- item), found %s", name, kindOfNode(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(items), len(items))
		for i, item := range items {
			d.decodeValue(resolveAlias(item), s.Index(i), fmt.Sprintf("%s[%d]", name, i), enum)
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.errorf(n, "%s: expected a mapping (key: value), found %s", name, kindOfNode(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			ev := reflect.New(v.Type().Elem()).Elem()
			d.decodeValue(resolveAlias(n.Content[i+1]), ev, name+"."+n.Content[i].Value, nil)
			m.SetMapIndex(reflect.ValueOf(n.Content[i].Value), ev)
		}
		v.Set(m)
	case reflect.Struct:
		d.decodeStruct(n, v, specOf(v.Type(), ""), name, nil)
	default:
		d.errorf(n, "%s: unsupported config type %v", name, v.Type())
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func scalarBool(n *yaml.Node) (bool, bool) {
	if n.Kind != yaml.ScalarNode {
		return false, false
	}
	switch n.Value {
	case "true", "True", "TRUE", "yes", "on":
		return true, true
	case "false", "False", "FALSE", "no", "off":
		return false, true
	}
	return false, false
}

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
