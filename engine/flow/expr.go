package flow

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// exprContext says which names an expression may use where it is
// compiled: the flow's declared variables, and the names that only exist
// inside on_error, split or a mapping's for_each.
type exprContext struct {
	env     map[string]bool
	secret  map[string]bool
	onError bool
	split   bool
	item    bool
}

// program is one compiled expression.
type program struct {
	prog     *vm.Program
	src      string
	usesJSON bool
}

func (p *program) run(x *Exchange) (any, error) {
	s, err := x.scopeFor(p.usesJSON)
	if err != nil {
		return nil, err
	}
	if x.vm.Stack == nil {
		// Room for a typical expression (an object of a few fields): the
		// VM's stack grew from 2 by doubling, three allocations per
		// message.
		x.vm.Stack = make([]any, 0, 16)
	}
	out, err := x.vm.Run(p.prog, s)
	if err != nil {
		return nil, &ContentError{Err: fmt.Errorf("evaluating %s: %s", p.src, firstLine(err.Error()))}
	}
	return out, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// nameChecker is an expr AST visitor that checks, at load, the names the
// typed Scope cannot: declared env and secret variables and context-only
// names. It also precompiles literal XPath, JSONPath and date patterns so
// that a typo there is a load error with a position, and never a
// per-message compile. Function calls that need the message get the scope
// injected as their first argument.
type nameChecker struct {
	ctx      exprContext
	errs     []exprIssue
	usesJSON bool
	// splitIdents are the `split` identifiers refused out of a split's
	// steps; one that turns out to be the callee of split(text, sep) (the
	// string function, visited after its callee) is not an error.
	splitIdents map[*ast.IdentifierNode]int
}

// exprIssue is a compile problem at a byte offset in the expression.
type exprIssue struct {
	offset int
	msg    string
}

func (v *nameChecker) fail(n ast.Node, format string, args ...any) {
	v.errs = append(v.errs, exprIssue{n.Location().From, fmt.Sprintf(format, args...)})
}

func (v *nameChecker) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		switch n.Value {
		case "json":
			v.usesJSON = true
		case "error":
			if !v.ctx.onError {
				v.fail(n, "error.* is only in scope inside on_error")
			}
		case "split":
			if !v.ctx.split {
				if v.splitIdents == nil {
					v.splitIdents = map[*ast.IdentifierNode]int{}
				}
				v.splitIdents[n] = len(v.errs)
				v.fail(n, "split.* is only in scope inside the steps of a split")
			}
		case "item":
			if !v.ctx.item {
				v.fail(n, "item is only in scope inside a for_each")
			}
		}
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		if !ok {
			return
		}
		if id.Value == "header" || id.Value == "query" {
			// A map[string]string gives "" for a missing key; a missing
			// header must be nil, so that it is never silently empty.
			// Header names also match in any case.
			*node = &ast.CallNode{
				Callee:    &ast.IdentifierNode{Value: "_" + id.Value},
				Arguments: []ast.Node{&ast.IdentifierNode{Value: "$env"}, n.Property},
			}
			(*node).SetLocation(n.Location())
			return
		}
		prop, ok := n.Property.(*ast.StringNode)
		if !ok {
			return
		}
		var declared map[string]bool
		var section string
		switch id.Value {
		case "env":
			declared, section = v.ctx.env, "env"
		case "secret":
			declared, section = v.ctx.secret, "secrets"
		default:
			return
		}
		if declared != nil && !declared[prop.Value] {
			names := make([]string, 0, len(declared))
			for k := range declared {
				names = append(names, k)
			}
			v.fail(n.Property, "%s.%s is not declared; add it under %q at the top of the flow%s",
				id.Value, prop.Value, section, didYouMean(prop.Value, names))
		}
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return
		}
		if id.Value == "split" {
			// split(text, sep) is the string function, not split.*: the
			// scope's split field shadows expr's builtin, so call it by
			// name, and the callee is no out-of-scope split.
			if i, refused := v.splitIdents[id]; refused {
				v.errs = append(v.errs[:i], v.errs[i+1:]...)
				delete(v.splitIdents, id)
			}
			ast.Patch(node, &ast.BuiltinNode{Name: "split", Arguments: n.Arguments})
			return
		}
		fn, ok := functionsByName[id.Value]
		if !ok {
			return
		}
		if fn.literalArg >= 0 && len(n.Arguments) > fn.literalArg {
			if s, ok := n.Arguments[fn.literalArg].(*ast.StringNode); ok && fn.precompile != nil {
				if err := fn.precompile(s.Value); err != nil {
					v.fail(s, "%s", err)
				}
			}
		}
		if fn.needsScope {
			n.Arguments = append([]ast.Node{&ast.IdentifierNode{Value: "$env"}}, n.Arguments...)
		}
	}
}

// compileExpr compiles one expression. Issues come back with offsets in src.
func compileExpr(src string, ctx exprContext, asBool bool) (*program, []exprIssue) {
	checker := &nameChecker{ctx: ctx}
	opts := make([]expr.Option, 0, len(functionOptions)+4)
	opts = append(opts, expr.Env(&Scope{}), expr.Patch(checker))
	opts = append(opts, functionOptions...)
	prog, err := expr.Compile(src, opts...)
	if len(checker.errs) > 0 {
		return nil, checker.errs
	}
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			return nil, []exprIssue{{fe.From, fe.Message}}
		}
		return nil, []exprIssue{{0, err.Error()}}
	}
	if asBool {
		// Not expr.AsBool: it turns nil into false, and a missing value
		// must never pass silently. A type known at load must be bool;
		// an unknown one (property.x) is checked when it runs.
		if t := prog.Node().Type(); t != nil && t.Kind() != reflect.Interface && t.Kind() != reflect.Bool {
			return nil, []exprIssue{{0, fmt.Sprintf("a condition must be true or false, but this gives %s", t)}}
		}
	}
	return &program{prog: prog, src: src, usesJSON: checker.usesJSON}, nil
}

// Template is a compiled string with ${...} expressions. A template that is
// exactly one ${...} keeps the value's type (a number stays a number); any
// other template renders to a string. $${ writes a literal ${.
//
// A value that evaluates to nil is an error, never an empty string: a
// missing property must be visible. Write ${property.x ?? ""} where empty
// is meant.
type Template struct {
	src    string
	pos    Pos
	lit    any // the value when the template has no expression
	isLit  bool
	single *program
	parts  []tplPart
}

type tplPart struct {
	lit string
	p   *program
}

// IsZero reports whether the template was not given in the flow.
func (t *Template) IsZero() bool { return t == nil || (!t.isLit && t.single == nil && t.parts == nil) }

// Source returns the template as written.
func (t *Template) Source() string { return t.src }

// Pos returns where the template is written.
func (t *Template) Pos() Pos { return t.pos }

// Literal returns the template's value when it contains no expression.
func (t *Template) Literal() (any, bool) { return t.lit, t.isLit }

// Eval evaluates the template, keeping the type of a lone ${...}.
func (t *Template) Eval(x *Exchange) (any, error) {
	switch {
	case t.isLit:
		return t.lit, nil
	case t.single != nil:
		v, err := t.single.run(x)
		if err != nil {
			return nil, err
		}
		if v == nil {
			return nil, notSetError(t.single.src)
		}
		return v, nil
	}
	var b strings.Builder
	for _, part := range t.parts {
		if part.p == nil {
			b.WriteString(part.lit)
			continue
		}
		v, err := part.p.run(x)
		if err != nil {
			return nil, err
		}
		if v == nil {
			return nil, notSetError(part.p.src)
		}
		writeValue(&b, v)
	}
	return b.String(), nil
}

// Render evaluates the template as text, passing each expression's value
// through esc with the text rendered before it, so that a caller can
// escape a value for the place it lands in (a URL's path or query). A
// template that is one expression gives esc("", value); a literal
// template is returned as written.
func (t *Template) Render(x *Exchange, esc func(before string, v any) string) (string, error) {
	switch {
	case t.isLit:
		return Stringify(t.lit), nil
	case t.single != nil:
		v, err := t.Eval(x)
		if err != nil {
			return "", err
		}
		return esc("", v), nil
	}
	var b strings.Builder
	for _, part := range t.parts {
		if part.p == nil {
			b.WriteString(part.lit)
			continue
		}
		v, err := part.p.run(x)
		if err != nil {
			return "", err
		}
		if v == nil {
			return "", notSetError(part.p.src)
		}
		b.WriteString(esc(b.String(), v))
	}
	return b.String(), nil
}

// String evaluates the template and renders the result as text.
func (t *Template) String(x *Exchange) (string, error) {
	v, err := t.Eval(x)
	if err != nil {
		return "", err
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	var b strings.Builder
	writeValue(&b, v)
	return b.String(), nil
}

// Int evaluates the template as an integer (e.g. an HTTP status).
func (t *Template) Int(x *Exchange) (int, error) {
	v, err := t.Eval(x)
	if err != nil {
		return 0, err
	}
	switch n := v.(type) {
	case int:
		return n, nil
	case int64:
		return int(n), nil
	case float64:
		if n == math.Trunc(n) {
			return int(n), nil
		}
	case string:
		if i, err := strconv.Atoi(strings.TrimSpace(n)); err == nil {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%s: want an integer, got %s", t.src, describe(v))
}

// NoValueError is the error of a template whose expression gave nil: a
// missing value. Steps that have their own answer to a missing value (the
// map step's $default) tell it from other failures with errors.As.
type NoValueError struct {
	Expr string // the expression's source, without ${ }
}

func (e *NoValueError) Error() string {
	return fmt.Sprintf("${%s} has no value; write ${%s ?? \"default\"} if it may be missing", e.Expr, e.Expr)
}

func notSetError(src string) error { return &NoValueError{Expr: src} }

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("the text %q", v)
	case int, int64, float64:
		return "the number " + Stringify(v)
	case bool:
		return fmt.Sprintf("the boolean %v", v)
	default:
		return fmt.Sprintf("%T %v", v, v)
	}
}

// writeValue renders a value as text the way a consultant expects: numbers
// without exponent or trailing zeros, times as RFC 3339, structures as JSON.
func writeValue(b *strings.Builder, v any) {
	switch x := v.(type) {
	case string:
		b.WriteString(x)
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(strconv.FormatFloat(x, 'f', -1, 64))
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case time.Time:
		b.WriteString(x.Format(time.RFC3339Nano))
	case []byte:
		b.Write(x)
	case fmt.Stringer:
		b.WriteString(x.String())
	default:
		data, err := json.Marshal(x)
		if err != nil {
			fmt.Fprint(b, x)
			return
		}
		b.Write(data)
	}
}

// Stringify renders any expression value as text (see Template.String).
func Stringify(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	var b strings.Builder
	writeValue(&b, v)
	return b.String()
}

// splitTemplate cuts s into literal text and ${...} expression sources.
// Braces and quotes inside an expression are balanced, so ${ {"a": 1}.a }
// and ${ "}" } work. offsets gives each expression's byte offset in s.
func splitTemplate(s string) (parts []string, isExpr []bool, offsets []int, err error) {
	var lit strings.Builder
	i := 0
	for i < len(s) {
		if strings.HasPrefix(s[i:], "$${") {
			lit.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			lit.WriteByte(s[i])
			i++
			continue
		}
		start := i + 2
		end, ok := matchBrace(s, start)
		if !ok {
			return nil, nil, nil, fmt.Errorf("offset %d: unclosed ${ (a } is missing)", i)
		}
		if lit.Len() > 0 {
			parts, isExpr, offsets = append(parts, lit.String()), append(isExpr, false), append(offsets, 0)
			lit.Reset()
		}
		src := s[start:end]
		if strings.TrimSpace(src) == "" {
			return nil, nil, nil, fmt.Errorf("offset %d: empty ${}", i)
		}
		parts, isExpr, offsets = append(parts, src), append(isExpr, true), append(offsets, start)
		i = end + 1
	}
	if lit.Len() > 0 || len(parts) == 0 {
		parts, isExpr, offsets = append(parts, lit.String()), append(isExpr, false), append(offsets, 0)
	}
	return parts, isExpr, offsets, nil
}

// matchBrace returns the index of the } closing an expression that starts
// at i, skipping string literals and nested braces.
func matchBrace(s string, i int) (int, bool) {
	depth := 0
	for i < len(s) {
		switch c := s[i]; c {
		case '"', '\'', '`':
			i++
			for i < len(s) && s[i] != c {
				if s[i] == '\\' && c != '`' {
					i++
				}
				i++
			}
		case '{':
			depth++
		case '}':
			if depth == 0 {
				return i, true
			}
			depth--
		}
		i++
	}
	return 0, false
}
