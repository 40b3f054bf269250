package steps

// The template language of the map step: compiled once at load into a
// tree of mapNodes, run per message by appending JSON to a byte slice in
// template order (no Go maps on the way, so key order is the template's).

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/antchfx/xmlquery"
	"gopkg.in/yaml.v3"

	"github.com/stride-engine/stride/engine/convert"
	"github.com/stride-engine/stride/engine/datefmt"
	"github.com/stride-engine/stride/engine/flow"
)

// The directives of the template language, in documentation order.
var mapDirectives = []string{"$for_each", "$item", "$if", "$then", "$value", "$convert", "$format", "$map", "$map_default", "$default"}

// The conversions of $convert.
var mapConversions = []string{"number", "int", "bool", "string", "odata_date", "iso_date", "date"}

// mapNode is one compiled node of a template.
type mapNode interface {
	// emit appends the node's JSON to r.buf. omitted is true when the
	// node writes nothing (its $if was false); the caller then drops the
	// field or list item.
	emit(r *mapRun) (omitted bool, err error)
}

// mapRun is the state of one run of a template on a message.
type mapRun struct {
	x   *flow.Exchange
	buf []byte
	idx []int // the current index of each enclosing $for_each, outermost first
}

// mapPathSeg is one step of a target path: a key, a literal list index, or
// the index of a $for_each (known only at run time).
type mapPathSeg struct {
	key   string
	index int
	kind  uint8 // mapSegKey, mapSegIndex, mapSegLoop
}

const (
	mapSegKey = iota
	mapSegIndex
	mapSegLoop
)

// mapTarget says where a node writes in the result and where it is written
// in the template, for run-time errors.
type mapTarget struct {
	path []mapPathSeg
	at   string // template file:line
}

// mapError is a run-time failure of a template: the target path, the
// template's file:line, and what went wrong.
type mapError struct {
	path string
	at   string
	err  error
}

func (e *mapError) Error() string { return "map: " + e.path + " (" + e.at + "): " + e.err.Error() }
func (e *mapError) Unwrap() error { return e.err }

func (t *mapTarget) fail(r *mapRun, err error) error {
	return &mapError{path: mapFormatPath(t.path, r.idx), at: t.at, err: err}
}

func (t *mapTarget) failf(r *mapRun, format string, args ...any) error {
	return t.fail(r, fmt.Errorf(format, args...))
}

// mapFormatPath renders a target path as Contacts[0].DateOfBirth.
func mapFormatPath(path []mapPathSeg, loops []int) string {
	if len(path) == 0 {
		return "(root)"
	}
	var b strings.Builder
	loop := 0
	for _, s := range path {
		switch s.kind {
		case mapSegKey:
			if mapPlainKey(s.key) {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(s.key)
			} else {
				b.WriteString("[")
				b.WriteString(strconv.Quote(s.key))
				b.WriteString("]")
			}
		case mapSegIndex:
			fmt.Fprintf(&b, "[%d]", s.index)
		case mapSegLoop:
			if loop < len(loops) {
				fmt.Fprintf(&b, "[%d]", loops[loop])
			} else {
				b.WriteString("[]")
			}
			loop++
		}
	}
	return b.String()
}

func mapPlainKey(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if c == '.' || c == '[' || c == ']' || c == '"' || c == ' ' || c < ' ' {
			return false
		}
	}
	return true
}

// mapMissing reports whether err means "the value is not there": a template
// whose expression gave nil, or a member access on nil (json.user.name
// when the body has no user at all).
func mapMissing(err error) bool {
	var nv *flow.NoValueError
	if errors.As(err, &nv) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "cannot fetch ") && strings.Contains(msg, " from <nil>")
}

// mapMissingError words a missing value for the user.
func mapMissingError(t *flow.Template, err error) error {
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

// ---- nodes

// mapLit is a constant, encoded once at load.
type mapLit struct{ json []byte }

func (n *mapLit) emit(r *mapRun) (bool, error) {
	r.buf = append(r.buf, n.json...)
	return false, nil
}

// mapExpr is a scalar with ${...}: its value, keeping the type of a lone
// expression.
type mapExpr struct {
	t *flow.Template
	mapTarget
}

func (n *mapExpr) emit(r *mapRun) (bool, error) {
	v, err := n.t.Eval(r.x)
	if err != nil {
		if mapMissing(err) {
			return false, n.fail(r, mapMissingError(n.t, err))
		}
		return false, n.fail(r, err)
	}
	if r.buf, err = mapAppendValue(r.buf, v); err != nil {
		return false, n.fail(r, err)
	}
	return false, nil
}

type mapField struct {
	key  []byte // "key": encoded once
	node mapNode
}

// mapObject is an object whose fields are written in template order.
type mapObject struct{ fields []mapField }

func (n *mapObject) emit(r *mapRun) (bool, error) {
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

// mapList is a list written in the template; an item whose $if is false
// is left out.
type mapList struct{ items []mapNode }

func (n *mapList) emit(r *mapRun) (bool, error) {
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

// mapIf writes then when the condition holds, and nothing otherwise.
type mapIf struct {
	cond    *flow.Template
	constOK int8 // 1 true, -1 false, 0 evaluate cond
	then    mapNode
	mapTarget
}

func (n *mapIf) emit(r *mapRun) (bool, error) {
	ok := n.constOK > 0
	if n.constOK == 0 {
		v, err := n.cond.Eval(r.x)
		if err != nil {
			if mapMissing(err) {
				return false, n.failf(r, "$if %s: %v", n.cond.Source(), mapMissingError(n.cond, err))
			}
			return false, n.failf(r, "$if: %v", err)
		}
		b, isBool := v.(bool)
		if !isBool {
			return false, n.failf(r, "$if %s gave %s, not true or false", n.cond.Source(), mapDescribe(v))
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
	mapSelJSONPath = iota
	mapSelXPath
	mapSelExpr
)

// mapForEach writes a list: $item once per selected item, with item in
// scope.
type mapForEach struct {
	kind uint8
	path string         // JSONPath or XPath
	t    *flow.Template // ${...}
	item mapNode
	mapTarget
}

func (n *mapForEach) items(r *mapRun) ([]any, error) {
	switch n.kind {
	case mapSelJSONPath:
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
	case mapSelXPath:
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
			out[i] = mapXPathItem(nd)
		}
		return out, nil
	}
	v, err := n.t.Eval(r.x)
	if err != nil {
		if mapMissing(err) {
			return nil, n.failf(r, "$for_each: %v", mapMissingError(n.t, err))
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
	return nil, n.failf(r, "$for_each %s gave %s, not a list", n.t.Source(), mapDescribe(v))
}

// mapXPathItem is the item of an XPath $for_each: an element as its XML text
// (so xpath("/update/ownerId", item) works on it), an attribute or text
// node as its text.
func mapXPathItem(n *xmlquery.Node) any {
	switch n.Type {
	case xmlquery.ElementNode:
		return n.OutputXML(true)
	case xmlquery.DocumentNode:
		return n.OutputXML(false)
	}
	return n.InnerText()
}

func (n *mapForEach) emit(r *mapRun) (bool, error) {
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

// mapTableEntry is one value of a $map table: a template, or null.
type mapTableEntry struct {
	t    *flow.Template
	null bool
}

func (e *mapTableEntry) value(x *flow.Exchange) (any, error) {
	if e.null {
		return nil, nil
	}
	return e.t.Eval(x)
}

// mapValue is $value with its $convert, $map and $default.
type mapValue struct {
	value      *flow.Template
	table      map[string]*mapTableEntry
	tableKeys  []string // for the error message, sorted
	tableDef   *mapTableEntry
	convert    string
	layout     *datefmt.Layout
	def        mapNode
	hasDefault bool
	mapTarget
}

func (n *mapValue) emit(r *mapRun) (bool, error) {
	v, err := n.value.Eval(r.x)
	if err != nil {
		if mapMissing(err) {
			if n.hasDefault {
				return n.def.emit(r)
			}
			return false, n.fail(r, mapMissingError(n.value, err))
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
	if n.convert != "" {
		if v, err = mapConvert(v, n.convert, n.layout); err != nil {
			return false, n.failf(r, "$convert %s: %v", n.convert, err)
		}
	}
	if r.buf, err = mapAppendValue(r.buf, v); err != nil {
		return false, n.fail(r, err)
	}
	return false, nil
}

// ---- conversions

func mapConvert(v any, conv string, layout *datefmt.Layout) (any, error) {
	switch conv {
	case "number":
		return mapToNumber(v)
	case "int":
		return mapToInt(v)
	case "bool":
		return mapToBool(v)
	case "string":
		return flow.Stringify(v), nil
	case "odata_date", "iso_date", "date":
		t, err := mapToTime(v)
		if err != nil {
			return nil, err
		}
		switch conv {
		case "odata_date":
			return datefmt.FormatODataDate(t), nil
		case "iso_date":
			return t.UTC().Format(time.RFC3339Nano), nil
		}
		return layout.Format(t.UTC()), nil
	}
	return nil, fmt.Errorf("unknown conversion %q", conv)
}

func mapToNumber(v any) (any, error) {
	switch n := v.(type) {
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, fmt.Errorf("%v is not a JSON number", n)
		}
		return n, nil
	case int, int64, int32, uint, uint64, uint32, float32:
		return n, nil
	case json.Number:
		return mapToNumber(string(n))
	case string:
		s := strings.TrimSpace(n)
		if !mapIsJSONNumber(s) {
			return nil, fmt.Errorf("%s is not a number", mapDescribe(v))
		}
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%s is out of range", mapDescribe(v))
		}
		return f, nil
	}
	return nil, fmt.Errorf("%s is not a number", mapDescribe(v))
}

func mapToInt(v any) (any, error) {
	n, err := mapToNumber(v)
	if err != nil {
		return nil, err
	}
	switch x := n.(type) {
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case float64:
		t := math.Trunc(x)
		if t < -9.223372036854775e18 || t >= 9.223372036854775e18 {
			return nil, fmt.Errorf("%v is out of the range of an integer", x)
		}
		return int64(t), nil
	}
	return mapToInt(flow.Stringify(n))
}

func mapToBool(v any) (any, error) {
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(b)) {
		case "true", "1", "yes", "y", "on":
			return true, nil
		case "false", "0", "no", "n", "off":
			return false, nil
		}
	case float64:
		if b == 0 || b == 1 {
			return b == 1, nil
		}
	case int:
		if b == 0 || b == 1 {
			return b == 1, nil
		}
	case int64:
		if b == 0 || b == 1 {
			return b == 1, nil
		}
	}
	return nil, fmt.Errorf("%s is not true or false (accepted: true/false, 1/0, yes/no)", mapDescribe(v))
}

// mapToTime accepts a time, an RFC 3339 text, a yyyy-MM-dd date, a
// yyyy-MM-ddTHH:mm:ss[.SSS] local time (read as UTC), an OData
// /Date(ms)/, or a number of milliseconds since 1970.
func mapToTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t, nil
	case string:
		s := strings.TrimSpace(t)
		for _, layout := range []string{time.RFC3339Nano, time.DateOnly, "2006-01-02T15:04:05.999999999"} {
			if tt, err := time.Parse(layout, s); err == nil {
				return tt, nil
			}
		}
		if strings.HasPrefix(s, "/Date(") {
			return datefmt.ParseODataDate(s)
		}
		return time.Time{}, fmt.Errorf("%s is not a date (want yyyy-MM-dd, RFC 3339 or /Date(ms)/)", mapDescribe(v))
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1e17 {
			return time.UnixMilli(int64(t)).UTC(), nil
		}
	case int:
		return time.UnixMilli(int64(t)).UTC(), nil
	case int64:
		return time.UnixMilli(t).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%s is not a date", mapDescribe(v))
}

// mapIsJSONNumber reports whether s is a number in JSON syntax.
func mapIsJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	return i == len(s)
}

func mapDescribe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		if len(x) > 60 {
			x = x[:60] + "…"
		}
		return fmt.Sprintf("the text %q", x)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T %v", v, v)
}

// ---- JSON writing

// mapAppendValue appends v as compact JSON: numbers without a needless
// fraction (15720, not 15720.0), text without HTML escaping, a time as
// RFC 3339, and objects from expressions with sorted keys.
func mapAppendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return mapAppendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case float64:
		return mapAppendFloat(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case uint:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case float32:
		return mapAppendFloat(b, float64(x))
	case json.Number:
		if !mapIsJSONNumber(string(x)) {
			return b, fmt.Errorf("%q is not a JSON number", string(x))
		}
		return append(b, x...), nil
	case time.Time:
		return mapAppendString(b, x.Format(time.RFC3339Nano)), nil
	case []any:
		b = append(b, '[')
		for i, item := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = mapAppendValue(b, item); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = mapAppendString(b, k)
			b = append(b, ':')
			var err error
			if b, err = mapAppendValue(b, x[k]); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return b, fmt.Errorf("cannot write %T as JSON: %v", v, err)
	}
	return append(b, data...), nil
}

// mapAppendFloat writes a float as encoding/json does.
func mapAppendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, fmt.Errorf("%v is not a JSON number", f)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b) - start
		if n >= 4 && b[len(b)-4] == 'e' && b[len(b)-3] == '-' && b[len(b)-2] == '0' {
			b[len(b)-2] = b[len(b)-1]
			b = b[:len(b)-1]
		}
	}
	return b, nil
}

// mapAppendString appends s as a JSON string (engine/convert's writer).
func mapAppendString(b []byte, s string) []byte { return convert.AppendJSONString(b, s) }

// ---- compiler

// mapCompiler compiles a template tree. Errors are reported through the
// builder (positioned in the template's file) and remembered in failed.
type mapCompiler struct {
	file   string // the file the template is written in
	failed bool
}

func (c *mapCompiler) pos(n *yaml.Node) flow.Pos {
	return flow.Pos{File: c.file, Line: n.Line, Col: n.Column}
}

func (c *mapCompiler) errorf(b *flow.Builder, n *yaml.Node, format string, args ...any) {
	c.failed = true
	b.Errorf(c.pos(n), format, args...)
}

func (c *mapCompiler) target(n *yaml.Node, path []mapPathSeg) mapTarget {
	return mapTarget{path: path, at: filepath.Base(c.file) + ":" + strconv.Itoa(n.Line)}
}

func mapWithSeg(path []mapPathSeg, s mapPathSeg) []mapPathSeg {
	out := make([]mapPathSeg, len(path)+1)
	copy(out, path)
	out[len(path)] = s
	return out
}

func mapResolve(n *yaml.Node) *yaml.Node {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode && depth < 100; depth++ {
		n = n.Alias
	}
	return n
}

func mapNodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// compile compiles one template value written at n, whose result goes to
// path in the output.
func (c *mapCompiler) compile(b *flow.Builder, n *yaml.Node, path []mapPathSeg) mapNode {
	n = mapResolve(n)
	if n == nil {
		return &mapLit{json: []byte("null")}
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return c.scalar(b, n, path)
	case yaml.SequenceNode:
		l := &mapList{}
		for i, item := range n.Content {
			l.items = append(l.items, c.compile(b, item, mapWithSeg(path, mapPathSeg{index: i, kind: mapSegIndex})))
		}
		return l
	case yaml.MappingNode:
		return c.mapping(b, n, path)
	}
	c.errorf(b, n, "map: unsupported YAML here (%s)", mapNodeKind(n))
	return &mapLit{json: []byte("null")}
}

func (c *mapCompiler) scalar(b *flow.Builder, n *yaml.Node, path []mapPathSeg) mapNode {
	if n.Tag == "!!null" {
		return &mapLit{json: []byte("null")}
	}
	if n.Tag == "!!timestamp" || n.Tag == "!!binary" {
		// 2025-01-01 is a date in YAML; in a mapping it is the text as written.
		cp := *n
		cp.Tag = "!!str"
		n = &cp
	}
	t := b.CompileTemplate(n)
	if t.IsZero() {
		c.failed = true
		return &mapLit{json: []byte("null")}
	}
	if v, ok := t.Literal(); ok {
		data, err := mapAppendValue(nil, v)
		if err != nil {
			c.errorf(b, n, "map: %v", err)
		}
		return &mapLit{json: data}
	}
	return &mapExpr{t: t, mapTarget: c.target(n, path)}
}

// condition compiles $if: a YAML boolean, a ${...} template, or a bare
// expression (json.x != nil), like the when: of route and filter.
func (c *mapCompiler) condition(b *flow.Builder, n *yaml.Node, path []mapPathSeg, then mapNode) mapNode {
	n = mapResolve(n)
	in := &mapIf{then: then, mapTarget: c.target(n, path)}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		c.errorf(b, n, "map: $if takes a condition such as ${json.user.city != nil}, found %s", mapNodeKind(n))
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
	in.cond = b.CompileTemplate(src)
	if in.cond.IsZero() {
		c.failed = true
		return in
	}
	if v, ok := in.cond.Literal(); ok {
		c.errorf(b, n, "map: $if %q is constant text, not a condition; write ${...}", flow.Stringify(v))
	}
	return in
}

func (c *mapCompiler) mapping(b *flow.Builder, n *yaml.Node, path []mapPathSeg) mapNode {
	directives := map[string]*yaml.Node{} // directive → value
	dirKeys := map[string]*yaml.Node{}    // directive → key node
	var fields []*yaml.Node               // key, value, key, value...
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := mapResolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			c.errorf(b, k, "map: a key must be text, found %s", mapNodeKind(k))
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
			if !mapIsDirective(k.Value) {
				c.errorf(b, k, "map: unknown directive %s%s (directives: %s; write $%s for an output key that starts with $)",
					k.Value, mapDidYouMean(k.Value, mapDirectives), strings.Join(mapDirectives, ", "), k.Value)
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
		var then mapNode
		if tv, ok := directives["$then"]; ok {
			if len(directives) > 2 || len(fields) > 0 {
				c.errorf(b, dirKeys["$then"], "map: with $then, a mapping has only $if and $then (found %s)", strings.Join(mapOtherKeys(n, "$if", "$then"), ", "))
				return &mapLit{json: []byte("null")}
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
				return &mapLit{json: []byte("null")}
			}
			then = c.mapping(b, rest, path)
		}
		return c.condition(b, cond, path, then)
	}
	if _, ok := directives["$then"]; ok {
		c.errorf(b, dirKeys["$then"], "map: $then without $if")
		return &mapLit{json: []byte("null")}
	}
	if sel, ok := directives["$for_each"]; ok {
		if len(fields) > 0 || len(directives) > 2 {
			c.errorf(b, dirKeys["$for_each"], "map: a $for_each mapping has only $for_each, $item and $if (found %s); put the fields under $item",
				strings.Join(mapOtherKeys(n, "$for_each", "$item"), ", "))
			return &mapLit{json: []byte("null")}
		}
		item, ok := directives["$item"]
		if !ok {
			c.errorf(b, dirKeys["$for_each"], "map: $for_each needs $item: the template of each item of the list")
			return &mapLit{json: []byte("null")}
		}
		return c.forEach(b, sel, item, path)
	}
	if _, ok := directives["$item"]; ok {
		c.errorf(b, dirKeys["$item"], "map: $item without $for_each (write $for_each: <selection> beside it)")
		return &mapLit{json: []byte("null")}
	}
	if len(fields) > 0 {
		var some string
		for d := range dirKeys {
			some = d
			break
		}
		c.errorf(b, fields[0], "map: %q is a field, but this mapping is a %s value; a value mapping has only $value, $convert, $format, $map, $map_default, $default and $if", fields[0].Value, some)
		return &mapLit{json: []byte("null")}
	}
	return c.value(b, n, directives, dirKeys, path)
}

func mapOtherKeys(n *yaml.Node, except ...string) []string {
	var out []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; !mapContains(except, k) {
			out = append(out, k)
		}
	}
	return out
}

func mapContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func mapIsDirective(k string) bool { return mapContains(mapDirectives, k) }

func (c *mapCompiler) object(b *flow.Builder, fields []*yaml.Node, path []mapPathSeg) mapNode {
	o := &mapObject{}
	for i := 0; i+1 < len(fields); i += 2 {
		key := fields[i].Value
		if strings.HasPrefix(key, "$$") {
			key = key[1:]
		}
		enc := mapAppendString(nil, key)
		enc = append(enc, ':')
		o.fields = append(o.fields, mapField{key: enc, node: c.compile(b, fields[i+1], mapWithSeg(path, mapPathSeg{key: key}))})
	}
	return o
}

func (c *mapCompiler) forEach(b *flow.Builder, sel, item *yaml.Node, path []mapPathSeg) mapNode {
	sel = mapResolve(sel)
	fe := &mapForEach{mapTarget: c.target(sel, path)}
	fe.item = c.compile(b.WithItem(), item, mapWithSeg(path, mapPathSeg{kind: mapSegLoop}))
	if sel.Kind != yaml.ScalarNode || sel.Tag == "!!null" {
		c.errorf(b, sel, "map: $for_each takes a JSONPath ($.items[*]), an XPath (/a/b) or ${expr} giving a list, found %s", mapNodeKind(sel))
		return fe
	}
	s := strings.TrimSpace(sel.Value)
	switch {
	case strings.HasPrefix(s, "${"):
		fe.kind = mapSelExpr
		fe.t = b.CompileTemplate(sel)
		if fe.t.IsZero() {
			c.failed = true
		}
	case strings.HasPrefix(s, "$"):
		fe.kind, fe.path = mapSelJSONPath, s
		if err := flow.CompileJSONPath(s); err != nil {
			c.errorf(b, sel, "map: $for_each: %v", err)
		}
	case strings.HasPrefix(s, "/"):
		fe.kind, fe.path = mapSelXPath, s
		if err := flow.CompileXPath(s); err != nil {
			c.errorf(b, sel, "map: $for_each: %v", err)
		}
	default:
		c.errorf(b, sel, "map: $for_each %q: write a JSONPath ($.items[*]) over the JSON body, an XPath (/a/b) over the XML body, or ${expr} giving a list", s)
	}
	return fe
}

func (c *mapCompiler) value(b *flow.Builder, n *yaml.Node, d, keys map[string]*yaml.Node, path []mapPathSeg) mapNode {
	vn := &mapValue{mapTarget: c.target(n, path)}
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
	vnode = mapResolve(vnode)
	vn.mapTarget = c.target(vnode, path)
	if vnode.Kind != yaml.ScalarNode || vnode.Tag == "!!null" {
		c.errorf(b, vnode, "map: $value takes a value or a ${...} template, found %s (write structures directly, without $value)", mapNodeKind(vnode))
		return vn
	}
	if vnode.Tag == "!!timestamp" {
		cp := *vnode
		cp.Tag = "!!str"
		vnode = &cp
	}
	vn.value = b.CompileTemplate(vnode)
	if vn.value.IsZero() {
		c.failed = true
	}
	if cv, ok := d["$convert"]; ok {
		cv = mapResolve(cv)
		if cv.Kind != yaml.ScalarNode || !mapContains(mapConversions, cv.Value) {
			c.errorf(b, cv, "map: $convert %s: want one of %s%s", mapNodeKind(cv), strings.Join(mapConversions, ", "), mapDidYouMean(cv.Value, mapConversions))
		} else {
			vn.convert = cv.Value
		}
	}
	if f, ok := d["$format"]; ok {
		f = mapResolve(f)
		switch {
		case vn.convert != "date":
			c.errorf(b, keys["$format"], "map: $format is the pattern of $convert: date (e.g. $format: yyyy-MM-dd'T'HH:mm:ss)")
		case f.Kind != yaml.ScalarNode || f.Tag == "!!null" || strings.Contains(f.Value, "${"):
			c.errorf(b, f, "map: $format takes a date pattern such as yyyy-MM-dd, found %s", mapNodeKind(f))
		default:
			l, err := datefmt.Compile(f.Value)
			if err != nil {
				c.errorf(b, f, "map: $format: %v", err)
			}
			vn.layout = l
		}
	} else if vn.convert == "date" {
		c.errorf(b, keys["$convert"], "map: $convert: date needs $format: the date pattern (e.g. dd.MM.yyyy)")
	}
	if m, ok := d["$map"]; ok {
		m = mapResolve(m)
		if m.Kind != yaml.MappingNode {
			c.errorf(b, m, "map: $map takes a table of values (from: to), found %s", mapNodeKind(m))
		} else {
			vn.table = map[string]*mapTableEntry{}
			for i := 0; i+1 < len(m.Content); i += 2 {
				k := mapResolve(m.Content[i])
				if k.Kind != yaml.ScalarNode {
					c.errorf(b, k, "map: a $map key must be a value, found %s", mapNodeKind(k))
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

func (c *mapCompiler) entry(b *flow.Builder, n *yaml.Node) *mapTableEntry {
	n = mapResolve(n)
	if n.Kind != yaml.ScalarNode {
		c.errorf(b, n, "map: a $map value must be a value or a ${...} template, found %s", mapNodeKind(n))
		return &mapTableEntry{null: true}
	}
	if n.Tag == "!!null" {
		return &mapTableEntry{null: true}
	}
	if n.Tag == "!!timestamp" {
		cp := *n
		cp.Tag = "!!str"
		n = &cp
	}
	t := b.CompileTemplate(n)
	if t.IsZero() {
		c.failed = true
	}
	return &mapTableEntry{t: t}
}

// mapDidYouMean suggests the nearest candidate to word, as the loader does
// for step options.
func mapDidYouMean(word string, candidates []string) string {
	return flow.DidYouMean(word, candidates)
}
