package mapping

// Compiling a template: the YAML tree and its directives become a tree
// of nodes, once, when the flow loads. Errors are reported through the
// builder with the template file's line and column.

import (
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stride-engine/stride/engine/datefmt"
	"github.com/stride-engine/stride/engine/flow"
)

// The directives of the template language, in documentation order.
var directiveNames = []string{"$for_each", "$item", "$if", "$then", "$value", "$convert", "$format", "$map", "$map_default", "$default"}

// The conversions of $convert.
var conversions = []string{"number", "int", "bool", "string", "odata_date", "iso_date", "date"}

// compiler compiles a template tree. Errors are reported through the
// builder (positioned in the template's file) and remembered in failed.
type compiler struct {
	file   string           // the file the template is written in
	exprs  []*flow.Template // every template compiled, for Template.Vars
	failed bool
	// inAlias holds the nodes named by the aliases being compiled: an
	// alias to a node that contains it (template: &t {a: *t}) would
	// otherwise be compiled forever.
	inAlias map[*yaml.Node]bool
}

// template compiles a scalar as a flow template (a value or ${...}); a
// zero template means it failed and the builder has the error.
func (c *compiler) template(b *flow.Builder, n *yaml.Node) *flow.Template {
	t := b.CompileTemplate(n)
	if t.IsZero() {
		c.failed = true
		return t
	}
	c.exprs = append(c.exprs, t)
	return t
}

// pos is where n is written in the template's file.
func (c *compiler) pos(n *yaml.Node) flow.Pos {
	return flow.Pos{File: c.file, Line: n.Line, Col: n.Column}
}

// errorf reports a load error at n and marks the compile failed.
func (c *compiler) errorf(b *flow.Builder, n *yaml.Node, format string, args ...any) {
	c.failed = true
	b.Errorf(c.pos(n), format, args...)
}

// targetOf is the target of a node written at n whose result goes to
// path, with the template's file:line for run-time errors.
func (c *compiler) targetOf(n *yaml.Node, path []pathSeg) target {
	return target{path: path, at: filepath.Base(c.file) + ":" + strconv.Itoa(n.Line)}
}

// resolve follows YAML aliases (*name) to the node they name; the depth
// bound guards against a cycle.
func resolve(n *yaml.Node) *yaml.Node {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode && depth < 100; depth++ {
		n = n.Alias
	}
	return n
}

// nodeKind words what a YAML node is, for errors, as the flow language's
// decoder does.
func nodeKind(n *yaml.Node) string { return flow.KindOf(n) }

// compile compiles one template value written at n, whose result goes to
// path in the output.
func (c *compiler) compile(b *flow.Builder, n *yaml.Node, path []pathSeg) node {
	if n != nil && n.Kind == yaml.AliasNode {
		target := resolve(n)
		if c.inAlias[target] {
			c.errorf(b, n, "map: the alias *%s names a value that contains it: it would never end", n.Value)
			return &litNode{json: []byte("null")}
		}
		if c.inAlias == nil {
			c.inAlias = map[*yaml.Node]bool{}
		}
		c.inAlias[target] = true
		defer delete(c.inAlias, target)
	}
	n = resolve(n)
	if n == nil {
		return &litNode{json: []byte("null")}
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return c.scalar(b, n, path)
	case yaml.SequenceNode:
		l := &listNode{}
		for i, item := range n.Content {
			l.items = append(l.items, c.compile(b, item, withSeg(path, pathSeg{index: i, kind: segIndex})))
		}
		return l
	case yaml.MappingNode:
		return c.mappingNode(b, n, path)
	}
	c.errorf(b, n, "map: unsupported YAML here (%s)", nodeKind(n))
	return &litNode{json: []byte("null")}
}

// scalar compiles a value: a constant is encoded as JSON once, here; a
// value with ${...} is evaluated per message.
func (c *compiler) scalar(b *flow.Builder, n *yaml.Node, path []pathSeg) node {
	if n.Tag == "!!null" {
		return &litNode{json: []byte("null")}
	}
	if n.Tag == "!!timestamp" || n.Tag == "!!binary" {
		// 2025-01-01 is a date in YAML; in a mapping it is the text as written.
		cp := *n
		cp.Tag = "!!str"
		n = &cp
	}
	t := c.template(b, n)
	if t.IsZero() {
		return &litNode{json: []byte("null")}
	}
	if v, ok := t.Literal(); ok {
		data, err := appendValue(nil, v)
		if err != nil {
			c.errorf(b, n, "map: %v", err)
		}
		return &litNode{json: data}
	}
	return &exprNode{t: t, target: c.targetOf(n, path)}
}

// condition compiles $if: a YAML boolean, a ${...} template, or a bare
// expression (json.x != nil), like the when: of route and filter.
func (c *compiler) condition(b *flow.Builder, n *yaml.Node, path []pathSeg, then node) node {
	n = resolve(n)
	in := &ifNode{then: then, target: c.targetOf(n, path)}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		c.errorf(b, n, "map: $if takes a condition such as ${json.user.city != nil}, found %s", nodeKind(n))
		return in
	}
	if n.Tag == "!!bool" {
		var v bool
		_ = n.Decode(&v)
		in.constOK = -1
		if v {
			in.constOK = 1
		}
		return in
	}
	src := n
	if !strings.Contains(n.Value, "${") {
		cp := *n
		cp.Tag, cp.Value = "!!str", "${"+n.Value+"}"
		cp.Column -= 2 // expression columns still point into the original text
		src = &cp
	}
	if in.cond = c.template(b, src); in.cond.IsZero() {
		return in
	}
	if v, ok := in.cond.Literal(); ok {
		c.errorf(b, n, "map: $if %q is constant text, not a condition; write ${...}", flow.Stringify(v))
	}
	return in
}

// mappingNode compiles a YAML mapping: an object when it has no
// directives, else what its directives say ($if, $for_each, $value).
func (c *compiler) mappingNode(b *flow.Builder, n *yaml.Node, path []pathSeg) node {
	directives := map[string]*yaml.Node{} // directive → value
	dirKeys := map[string]*yaml.Node{}    // directive → key node
	var fields []*yaml.Node               // key, value, key, value...
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			c.errorf(b, k, "map: a key must be text, found %s", nodeKind(k))
			continue
		}
		if k.Tag == "!!merge" {
			c.errorf(b, k, "map: merge keys (<<) are not supported in a mapping template; write the fields")
			continue
		}
		if seen[k.Value] {
			c.errorf(b, k, "map: key %q is given twice", k.Value)
			continue
		}
		seen[k.Value] = true
		if strings.HasPrefix(k.Value, "$") && !strings.HasPrefix(k.Value, "$$") {
			if !isDirective(k.Value) {
				c.errorf(b, k, "map: unknown directive %s%s (directives: %s; write $%s for an output key that starts with $)",
					k.Value, flow.DidYouMean(k.Value, directiveNames), strings.Join(directiveNames, ", "), k.Value)
				continue
			}
			directives[k.Value], dirKeys[k.Value] = v, k
			continue
		}
		fields = append(fields, k, v)
	}
	if len(directives) == 0 {
		return c.object(b, fields, path)
	}

	// $if wraps whatever the rest of the mapping is: $then, or the other
	// fields and directives.
	if cond, ok := directives["$if"]; ok {
		var then node
		if tv, ok := directives["$then"]; ok {
			if len(directives) > 2 || len(fields) > 0 {
				c.errorf(b, dirKeys["$then"], "map: with $then, a mapping has only $if and $then (found %s)", strings.Join(otherKeys(n, "$if", "$then"), ", "))
				return &litNode{json: []byte("null")}
			}
			then = c.compile(b, tv, path)
		} else {
			rest := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column, Tag: "!!map"}
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value != "$if" {
					rest.Content = append(rest.Content, n.Content[i], n.Content[i+1])
				}
			}
			if len(rest.Content) == 0 {
				c.errorf(b, dirKeys["$if"], "map: $if needs $then or the fields to write when it holds")
				return &litNode{json: []byte("null")}
			}
			then = c.mappingNode(b, rest, path)
		}
		return c.condition(b, cond, path, then)
	}
	if _, ok := directives["$then"]; ok {
		c.errorf(b, dirKeys["$then"], "map: $then without $if")
		return &litNode{json: []byte("null")}
	}
	if sel, ok := directives["$for_each"]; ok {
		if len(fields) > 0 || len(directives) > 2 {
			c.errorf(b, dirKeys["$for_each"], "map: a $for_each mapping has only $for_each, $item and $if (found %s); put the fields under $item",
				strings.Join(otherKeys(n, "$for_each", "$item"), ", "))
			return &litNode{json: []byte("null")}
		}
		item, ok := directives["$item"]
		if !ok {
			c.errorf(b, dirKeys["$for_each"], "map: $for_each needs $item: the template of each item of the list")
			return &litNode{json: []byte("null")}
		}
		return c.forEach(b, sel, item, path)
	}
	if _, ok := directives["$item"]; ok {
		c.errorf(b, dirKeys["$item"], "map: $item without $for_each (write $for_each: <selection> beside it)")
		return &litNode{json: []byte("null")}
	}
	if len(fields) > 0 {
		var some string // the first directive, in the order written
		for i := 0; i+1 < len(n.Content) && some == ""; i += 2 {
			if k := n.Content[i].Value; dirKeys[k] != nil {
				some = k
			}
		}
		c.errorf(b, fields[0], "map: %q is a field, but this mapping is a %s value; a value mapping has only $value, $convert, $format, $map, $map_default, $default and $if", fields[0].Value, some)
		return &litNode{json: []byte("null")}
	}
	return c.value(b, n, directives, dirKeys, path)
}

// otherKeys lists the keys of the mapping n but except, for errors.
func otherKeys(n *yaml.Node, except ...string) []string {
	var out []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; !slices.Contains(except, k) {
			out = append(out, k)
		}
	}
	return out
}

// isDirective reports whether k is a directive of the language.
func isDirective(k string) bool { return slices.Contains(directiveNames, k) }

// object compiles the fields of a mapping without directives; $$key
// writes the key $key.
func (c *compiler) object(b *flow.Builder, fields []*yaml.Node, path []pathSeg) node {
	o := &objectNode{}
	for i := 0; i+1 < len(fields); i += 2 {
		key := fields[i].Value
		if strings.HasPrefix(key, "$$") {
			key = key[1:]
		}
		enc := appendString(nil, key)
		enc = append(enc, ':')
		o.fields = append(o.fields, field{key: enc, node: c.compile(b, fields[i+1], withSeg(path, pathSeg{key: key}))})
	}
	return o
}

// forEach compiles $for_each (a JSONPath, an XPath or ${expr}) and its
// $item, in which item is in scope.
func (c *compiler) forEach(b *flow.Builder, sel, item *yaml.Node, path []pathSeg) node {
	sel = resolve(sel)
	fe := &forEachNode{target: c.targetOf(sel, path)}
	fe.item = c.compile(b.WithItem(), item, withSeg(path, pathSeg{kind: segLoop}))
	if sel.Kind != yaml.ScalarNode || sel.Tag == "!!null" {
		c.errorf(b, sel, "map: $for_each takes a JSONPath ($.items[*]), an XPath (/a/b) or ${expr} giving a list, found %s", nodeKind(sel))
		return fe
	}
	s := strings.TrimSpace(sel.Value)
	switch {
	case strings.HasPrefix(s, "${"):
		fe.kind = selExpr
		fe.t = c.template(b, sel)
	case strings.HasPrefix(s, "$"):
		fe.kind, fe.path = selJSONPath, s
		if err := flow.CompileJSONPath(s); err != nil {
			c.errorf(b, sel, "map: $for_each: %v", err)
		}
	case strings.HasPrefix(s, "/"):
		fe.kind, fe.path = selXPath, s
		if err := flow.CompileXPath(s); err != nil {
			c.errorf(b, sel, "map: $for_each: %v", err)
		}
	default:
		c.errorf(b, sel, "map: $for_each %q: write a JSONPath ($.items[*]) over the JSON body, an XPath (/a/b) over the XML body, or ${expr} giving a list", s)
	}
	return fe
}

// value compiles $value with $convert, $format, $map, $map_default and
// $default; d and keys hold the directives' values and key nodes.
func (c *compiler) value(b *flow.Builder, n *yaml.Node, d, keys map[string]*yaml.Node, path []pathSeg) node {
	vn := &valueNode{target: c.targetOf(n, path)}
	vnode, ok := d["$value"]
	if !ok {
		var some string
		for _, k := range []string{"$convert", "$format", "$map", "$map_default", "$default"} {
			if keys[k] != nil {
				some = k
				break
			}
		}
		c.errorf(b, keys[some], "map: %s needs $value: the template of the value", some)
		return vn
	}
	vnode = resolve(vnode)
	vn.target = c.targetOf(vnode, path)
	if vnode.Kind != yaml.ScalarNode || vnode.Tag == "!!null" {
		c.errorf(b, vnode, "map: $value takes a value or a ${...} template, found %s (write structures directly, without $value)", nodeKind(vnode))
		return vn
	}
	if vnode.Tag == "!!timestamp" {
		cp := *vnode
		cp.Tag = "!!str"
		vnode = &cp
	}
	vn.value = c.template(b, vnode)
	if cv, ok := d["$convert"]; ok {
		cv = resolve(cv)
		if cv.Kind != yaml.ScalarNode || !slices.Contains(conversions, cv.Value) {
			what := nodeKind(cv)
			if cv.Kind == yaml.ScalarNode {
				what = strconv.Quote(cv.Value)
			}
			c.errorf(b, cv, "map: $convert %s: want one of %s%s", what, strings.Join(conversions, ", "), flow.DidYouMean(cv.Value, conversions))
		} else {
			vn.conv = cv.Value
		}
	}
	if f, ok := d["$format"]; ok {
		f = resolve(f)
		switch {
		case vn.conv != "date":
			c.errorf(b, keys["$format"], "map: $format is the pattern of $convert: date (e.g. $format: yyyy-MM-dd'T'HH:mm:ss)")
		case f.Kind != yaml.ScalarNode || f.Tag == "!!null" || strings.Contains(f.Value, "${"):
			c.errorf(b, f, "map: $format takes a date pattern such as yyyy-MM-dd, found %s", nodeKind(f))
		default:
			l, err := datefmt.Compile(f.Value)
			if err != nil {
				c.errorf(b, f, "map: $format: %v", err)
			}
			vn.layout = l
		}
	} else if vn.conv == "date" {
		c.errorf(b, keys["$convert"], "map: $convert: date needs $format: the date pattern (e.g. dd.MM.yyyy)")
	}
	if m, ok := d["$map"]; ok {
		m = resolve(m)
		if m.Kind != yaml.MappingNode {
			c.errorf(b, m, "map: $map takes a table of values (from: to), found %s", nodeKind(m))
		} else {
			vn.table = map[string]*tableEntry{}
			for i := 0; i+1 < len(m.Content); i += 2 {
				k := resolve(m.Content[i])
				if k.Kind != yaml.ScalarNode {
					c.errorf(b, k, "map: a $map key must be a value, found %s", nodeKind(k))
					continue
				}
				if vn.table[k.Value] != nil {
					c.errorf(b, k, "map: $map key %q is given twice", k.Value)
					continue
				}
				vn.table[k.Value] = c.entry(b, m.Content[i+1])
				vn.tableKeys = append(vn.tableKeys, k.Value)
			}
			sort.Strings(vn.tableKeys)
		}
	}
	if md, ok := d["$map_default"]; ok {
		if vn.table == nil && d["$map"] == nil {
			c.errorf(b, keys["$map_default"], "map: $map_default goes with $map: the value for a source value the table does not list")
		}
		vn.tableDef = c.entry(b, md)
	}
	if def, ok := d["$default"]; ok {
		vn.hasDefault = true
		vn.def = c.compile(b, def, path)
	}
	return vn
}

// entry compiles one value of a $map table (or $map_default).
func (c *compiler) entry(b *flow.Builder, n *yaml.Node) *tableEntry {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode {
		c.errorf(b, n, "map: a $map value must be a value or a ${...} template, found %s", nodeKind(n))
		return &tableEntry{null: true}
	}
	if n.Tag == "!!null" {
		return &tableEntry{null: true}
	}
	if n.Tag == "!!timestamp" {
		cp := *n
		cp.Tag = "!!str"
		n = &cp
	}
	return &tableEntry{t: c.template(b, n)}
}
