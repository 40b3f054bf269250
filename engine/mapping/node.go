package mapping

// Running a compiled template: each node appends its JSON to a byte
// slice, in template order (no Go maps on the way, so key order is the
// template's).

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/antchfx/xmlquery"

	"github.com/stride-engine/stride/engine/datefmt"
	"github.com/stride-engine/stride/engine/flow"
)

// node is one compiled node of a template.
type node interface {
	// emit appends the node's JSON to r.buf. omitted is true when the
	// node writes nothing (its $if was false); the caller then drops the
	// field or list item.
	emit(r *runState) (omitted bool, err error)
}

// runState is the state of one run of a template on a message.
type runState struct {
	x   *flow.Exchange
	buf []byte
	idx []int // the current index of each enclosing $for_each, outermost first
}

// isMissing reports whether err means "the value is not there": a template
// whose expression gave nil, or a member access on nil (json.user.name
// when the body has no user at all).
func isMissing(err error) bool {
	var nv *flow.NoValueError
	if errors.As(err, &nv) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "cannot fetch ") && strings.Contains(msg, " from <nil>")
}

// missingError words a missing value for the user.
func missingError(t *flow.Template, err error) error {
	var nv *flow.NoValueError
	if errors.As(err, &nv) {
		return fmt.Errorf("${%s} has no value; give $default or guard the field with $if if it may be missing", nv.Expr)
	}
	msg := err.Error()
	if i := strings.Index(msg, "cannot fetch "); i >= 0 {
		msg = msg[i:]
	}
	return fmt.Errorf("%s has no value (%s); give $default or guard the field with $if if it may be missing", t.Source(), msg)
}

// litNode is a constant, encoded once at load.
type litNode struct{ json []byte }

func (n *litNode) emit(r *runState) (bool, error) {
	r.buf = append(r.buf, n.json...)
	return false, nil
}

// exprNode is a scalar with ${...}: its value, keeping the type of a lone
// expression.
type exprNode struct {
	t *flow.Template
	target
}

func (n *exprNode) emit(r *runState) (bool, error) {
	v, err := n.t.Eval(r.x)
	if err != nil {
		if isMissing(err) {
			return false, n.fail(r, missingError(n.t, err))
		}
		return false, n.fail(r, err)
	}
	if r.buf, err = appendValue(r.buf, v); err != nil {
		return false, n.fail(r, err)
	}
	return false, nil
}

type field struct {
	key  []byte // "key": encoded once
	node node
}

// objectNode is an object whose fields are written in template order.
type objectNode struct{ fields []field }

func (n *objectNode) emit(r *runState) (bool, error) {
	r.buf = append(r.buf, '{')
	first := true
	for i := range n.fields {
		f := &n.fields[i]
		mark := len(r.buf)
		if !first {
			r.buf = append(r.buf, ',')
		}
		r.buf = append(r.buf, f.key...)
		omitted, err := f.node.emit(r)
		if err != nil {
			return false, err
		}
		if omitted {
			r.buf = r.buf[:mark]
			continue
		}
		first = false
	}
	r.buf = append(r.buf, '}')
	return false, nil
}

// listNode is a list written in the template; an item whose $if is false
// is left out.
type listNode struct{ items []node }

func (n *listNode) emit(r *runState) (bool, error) {
	r.buf = append(r.buf, '[')
	first := true
	for _, it := range n.items {
		mark := len(r.buf)
		if !first {
			r.buf = append(r.buf, ',')
		}
		omitted, err := it.emit(r)
		if err != nil {
			return false, err
		}
		if omitted {
			r.buf = r.buf[:mark]
			continue
		}
		first = false
	}
	r.buf = append(r.buf, ']')
	return false, nil
}

// ifNode writes then when the condition holds, and nothing otherwise.
type ifNode struct {
	cond    *flow.Template
	constOK int8 // 1 true, -1 false, 0 evaluate cond
	then    node
	target
}

func (n *ifNode) emit(r *runState) (bool, error) {
	ok := n.constOK > 0
	if n.constOK == 0 {
		v, err := n.cond.Eval(r.x)
		if err != nil {
			if isMissing(err) {
				return false, n.failf(r, "$if %s: %v", n.cond.Source(), missingError(n.cond, err))
			}
			return false, n.failf(r, "$if: %v", err)
		}
		b, isBool := v.(bool)
		if !isBool {
			return false, n.failf(r, "$if %s gave %s, not true or false", n.cond.Source(), describe(v))
		}
		ok = b
	}
	if !ok {
		return true, nil
	}
	return n.then.emit(r)
}

// selection kinds of $for_each.
const (
	selJSONPath = iota
	selXPath
	selExpr
)

// forEachNode writes a list: $item once per selected item, with item in
// scope.
type forEachNode struct {
	kind uint8
	path string         // JSONPath or XPath
	t    *flow.Template // ${...}
	item node
	target
}

func (n *forEachNode) items(r *runState) ([]any, error) {
	switch n.kind {
	case selJSONPath:
		data, err := r.x.Msg.JSON()
		if err != nil {
			return nil, n.failf(r, "$for_each %s: %v", n.path, err)
		}
		v, err := flow.JSONPathValue(data, n.path)
		if err != nil {
			return nil, n.failf(r, "$for_each %s: %v", n.path, err)
		}
		if v == nil {
			return nil, n.failf(r, "$for_each %s selects nothing (the key is missing); guard the field with $if if it may be missing", n.path)
		}
		if list, ok := v.([]any); ok {
			return list, nil
		}
		return []any{v}, nil
	case selXPath:
		doc, err := r.x.Msg.XML()
		if err != nil {
			return nil, n.failf(r, "$for_each %s: %v", n.path, err)
		}
		nodes, err := flow.XPathNodes(doc, n.path)
		if err != nil {
			return nil, n.failf(r, "$for_each %s: %v", n.path, err)
		}
		out := make([]any, len(nodes))
		for i, nd := range nodes {
			out[i] = xpathItem(nd)
		}
		return out, nil
	}
	v, err := n.t.Eval(r.x)
	if err != nil {
		if isMissing(err) {
			return nil, n.failf(r, "$for_each: %v", missingError(n.t, err))
		}
		return nil, n.failf(r, "$for_each: %v", err)
	}
	switch l := v.(type) {
	case []any:
		return l, nil
	case string, map[string]any:
	default:
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
			out := make([]any, rv.Len())
			for i := range out {
				out[i] = rv.Index(i).Interface()
			}
			return out, nil
		}
	}
	return nil, n.failf(r, "$for_each %s gave %s, not a list", n.t.Source(), describe(v))
}

// xpathItem is the item of an XPath $for_each: an element as its XML text
// (so xpath("/update/ownerId", item) works on it), an attribute or text
// node as its text.
func xpathItem(n *xmlquery.Node) any {
	switch n.Type {
	case xmlquery.ElementNode:
		return n.OutputXML(true)
	case xmlquery.DocumentNode:
		return n.OutputXML(false)
	}
	return n.InnerText()
}

func (n *forEachNode) emit(r *runState) (bool, error) {
	items, err := n.items(r)
	if err != nil {
		return false, err
	}
	r.buf = append(r.buf, '[')
	r.idx = append(r.idx, 0)
	depth := len(r.idx) - 1
	var omitted bool
	run := func() error {
		var err error
		omitted, err = n.item.emit(r)
		return err
	}
	first := true
	for i, it := range items {
		r.idx[depth] = i
		mark := len(r.buf)
		if !first {
			r.buf = append(r.buf, ',')
		}
		if err := r.x.WithItem(it, run); err != nil {
			return false, err
		}
		if omitted {
			r.buf = r.buf[:mark]
			continue
		}
		first = false
	}
	r.idx = r.idx[:depth]
	r.buf = append(r.buf, ']')
	return false, nil
}

// tableEntry is one value of a $map table: a template, or null.
type tableEntry struct {
	t    *flow.Template
	null bool
}

func (e *tableEntry) value(x *flow.Exchange) (any, error) {
	if e.null {
		return nil, nil
	}
	return e.t.Eval(x)
}

// valueNode is $value with its $convert, $map and $default.
type valueNode struct {
	value      *flow.Template
	table      map[string]*tableEntry
	tableKeys  []string // for the error message, sorted
	tableDef   *tableEntry
	conv       string
	layout     *datefmt.Layout
	def        node
	hasDefault bool
	target
}

func (n *valueNode) emit(r *runState) (bool, error) {
	v, err := n.value.Eval(r.x)
	if err != nil {
		if isMissing(err) {
			if n.hasDefault {
				return n.def.emit(r)
			}
			return false, n.fail(r, missingError(n.value, err))
		}
		return false, n.fail(r, err)
	}
	if n.table != nil {
		key := flow.Stringify(v)
		e := n.table[key]
		if e == nil {
			e = n.tableDef
		}
		if e == nil {
			return false, n.failf(r, "$map has no entry for %q and no $map_default (entries: %s)", key, strings.Join(n.tableKeys, ", "))
		}
		if v, err = e.value(r.x); err != nil {
			return false, n.failf(r, "$map %q: %v", key, err)
		}
	}
	if n.conv != "" {
		if v, err = convertValue(v, n.conv, n.layout); err != nil {
			return false, n.failf(r, "$convert %s: %v", n.conv, err)
		}
	}
	if r.buf, err = appendValue(r.buf, v); err != nil {
		return false, n.fail(r, err)
	}
	return false, nil
}
