package flow

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The strict, positioned YAML decoder of every YAML file Stride reads:
// flows (the loader layers templates, conditions, steps and triggers on
// it, see decode.go), flow tests (package flowtest) and the files they
// name. A value is decoded into a Go value by its type; a struct by its
// fields' tags (see spec.go: yaml, doc, required, default, enum). An
// unknown key (with a "did you mean"), a missing required key and a value
// of the wrong kind are errors at file:line:col, and decoding goes on
// after an error, so a user sees every error of a file at once.
//
// Decoding rules, the same for every file:
//
//   - an alias (*name) is decoded as the node it names;
//   - a struct takes a mapping; a key is given once; a Pos field receives
//     the mapping's position, a KeyPos field the position of each key;
//     an absent key gets its default, and an absent nested struct its
//     fields' defaults; nothing (null) is a mapping with no keys;
//   - a pointer is allocated and its element decoded, also from nothing
//     (which is then decoded as its element's type decodes it);
//   - text takes a scalar, not nothing; a text field with enum takes one
//     of the listed values;
//   - a bool takes true/false (yes/no, on/off); an int a whole number; a
//     float a number; a time.Duration Go's form (500ms, 2s, 1h30m, not
//     negative);
//   - a list takes a list, and a list of text also a single text;
//   - a map takes a mapping with text keys, each given once;
//   - an any takes any value, as JSON would have it (see PlainValue);
//   - yaml.Node keeps the node as written;
//   - a type with its own YAML form implements YAMLValue.

// Decoder decodes YAML nodes of one file into Go values and collects the
// errors, each at file:line:col. Its zero value is not usable; call
// NewDecoder.
type Decoder struct {
	file string
	errs ErrorList
	// fl is the flow loader's layer during a flow load: positions then
	// name its builder's file, errors go to the load's list, a field's
	// scope is applied, and flow's own field types (configValue) decode
	// with it. Nil for any other file.
	fl *decoder
	// depth is how deep decodeValue is; past maxDepth an alias must refer
	// to a node that holds it, and decoding stops (tooDeep).
	depth   int
	tooDeep bool
}

// maxDepth bounds the nesting of values: far deeper than any file a
// person writes, and shallow enough to stop an alias (*name) that refers
// to a mapping or list holding it before the stack runs out.
const maxDepth = 500

// NewDecoder returns a decoder for the YAML nodes of file.
func NewDecoder(file string) *Decoder { return &Decoder{file: file} }

// YAMLValue is implemented by a type with its own YAML form (one value or
// a list of them, a text or a mapping, ...). DecodeYAML decodes n, a node
// with aliases resolved, reporting errors through d; what names the value
// for messages, as in "what: expected text, found a list (- item)".
type YAMLValue interface {
	DecodeYAML(d *Decoder, n *yaml.Node, what string)
}

// KeyPos is a struct field that receives the position of each key of the
// mapping the struct is decoded from, for checks made after decoding (two
// keys that exclude each other).
type KeyPos map[string]Pos

// File returns the name of the file positions name.
func (d *Decoder) File() string {
	if d.fl != nil {
		return d.fl.b.file
	}
	return d.file
}

func (d *Decoder) list() *ErrorList {
	if d.fl != nil {
		return &d.fl.b.l.errs
	}
	return &d.errs
}

// Pos returns the position of n in the file.
func (d *Decoder) Pos(n *yaml.Node) Pos { return posOf(d.File(), n) }

// Errorf records an error at n.
func (d *Decoder) Errorf(n *yaml.Node, format string, args ...any) {
	d.list().add(d.Pos(n), format, args...)
}

// ErrorAt records an error at p.
func (d *Decoder) ErrorAt(p Pos, format string, args ...any) {
	d.list().add(p, format, args...)
}

// Errors returns the errors recorded so far, in the order found.
func (d *Decoder) Errors() ErrorList { return *d.list() }

// Err returns the errors recorded so far as an ErrorList sorted by
// position, or nil when there is none.
func (d *Decoder) Err() error {
	l := d.list()
	l.Sort()
	return l.Err()
}

// UnknownKey reports the key k of the mapping what as unknown, with the
// valid key nearest to it or, when none is near, the valid keys: the
// words of every "unknown key" error of a file.
func (d *Decoder) UnknownKey(k *yaml.Node, what string, valid []string) {
	d.Errorf(k, "%sunknown key %q%s", prefix(what), k.Value, hintKey(k.Value, valid))
}

// Decode decodes n into v, a non-nil pointer, by v's type; what names
// the value in errors ("" for a file's top level, which needs no name).
func (d *Decoder) Decode(n *yaml.Node, v any, what string) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic(fmt.Sprintf("flow: Decode into %T, not a non-nil pointer", v))
	}
	if n = Resolve(n); n == nil {
		n = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	d.decodeValue(n, rv.Elem(), what, nil)
}

// prefix is what, as the start of a message about it.
func prefix(what string) string {
	if what == "" {
		return ""
	}
	return what + ": "
}

// KindOf names what a YAML node is the way a user thinks of it, for
// "found ..." in errors: a mapping (key: value), a list (- item),
// nothing, or the value "as written".
func KindOf(n *yaml.Node) string {
	n = Resolve(n)
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping (key: value)"
	case yaml.SequenceNode:
		return "a list (- item)"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("the value %q", n.Value)
	}
	return "something else"
}

// IsNull reports whether n is nothing: no node, null, ~ or an empty value.
func IsNull(n *yaml.Node) bool {
	n = Resolve(n)
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// Resolve follows aliases (*name) to the node they name. A document node
// resolves to its content.
func Resolve(n *yaml.Node) *yaml.Node {
	for depth := 0; n != nil && depth < 100; depth++ {
		switch {
		case n.Kind == yaml.AliasNode:
			n = n.Alias
		case n.Kind == yaml.DocumentNode && len(n.Content) == 1:
			n = n.Content[0]
		default:
			return n
		}
	}
	return n
}

// PlainValue converts a node to the value a JSON decoder would give:
// string, float64, bool, nil, []any or map[string]any. Timestamps stay
// the text they are written as (2026-11-22 is a date string to a flow).
// An alias (*name) to a mapping or list that holds it is nil.
func PlainValue(n *yaml.Node) any {
	v, _ := plainValue(n, map[*yaml.Node]bool{})
	return v
}

// plainValue is PlainValue; onPath holds the mappings and lists n is in,
// and cyclic reports an alias to one of them.
func plainValue(n *yaml.Node, onPath map[*yaml.Node]bool) (v any, cyclic bool) {
	n = Resolve(n)
	if n == nil {
		return nil, false
	}
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		if onPath[n] {
			return nil, true
		}
		onPath[n] = true
		defer delete(onPath, n)
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, c := plainValue(n.Content[i+1], onPath)
			m[Resolve(n.Content[i]).Value], cyclic = v, cyclic || c
		}
		return m, cyclic
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			v, c := plainValue(item, onPath)
			s, cyclic = append(s, v), cyclic || c
		}
		return s, cyclic
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil, false
		case "!!bool":
			var b bool
			if n.Decode(&b) == nil {
				return b, false
			}
		case "!!int", "!!float":
			var f float64
			if n.Decode(&f) == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				return f, false
			}
		}
		return n.Value, false
	}
	return nil, false
}

// ParseYAML parses data, the content of file, keeping positions. It
// returns the root node of the first document, or nil when data holds
// none (an empty file, or only comments). A syntax error is an ErrorList
// of one error at its line, with advice. A second document (---) is an
// error at its start; the first is returned all the same.
func ParseYAML(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, ErrorList{yamlSyntaxError(file, data, err)}
	}
	root := doc.Content[0]
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return root, ErrorList{{Pos: posOf(file, &extra), Msg: "a second YAML document (---): the file holds one; start another file for the second"}}
	case !errors.Is(err, io.EOF):
		return nil, ErrorList{yamlSyntaxError(file, data, err)}
	}
	return root, nil
}

// Unmarshal decodes data, the content of file, into v (a non-nil
// pointer) with the rules of Decoder. An empty file is decoded as
// nothing, so a struct reports its missing required keys. The error is
// an ErrorList of every error, sorted by position.
func Unmarshal(file string, data []byte, v any) error {
	root, err := ParseYAML(file, data)
	if root == nil {
		if err != nil {
			return err
		}
		root = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: 1, Column: 1}
	}
	d := NewDecoder(file)
	var second ErrorList // a second document, reported with the first's errors
	if errors.As(err, &second) {
		d.errs = append(d.errs, second...)
	}
	d.Decode(root, v, "")
	return d.Err()
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlSyntaxError turns a YAML syntax error in data, the content of
// file, into a positioned error with advice a consultant can act on.
func yamlSyntaxError(file string, data []byte, err error) *Error {
	msg := err.Error()
	pos := Pos{File: file, Line: 1, Col: 1}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	switch {
	case strings.Contains(msg, "found character that cannot start any token"):
		msg += " (is there a tab? indent with spaces only)"
	case strings.Contains(msg, "did not find expected key"), strings.Contains(msg, "did not find expected '-' indicator"):
		// The parser names the line where the enclosing block starts,
		// not the line that breaks it: find that one.
		if line, col := misindentedLine(data, pos.Line, msg); line > 0 {
			msg += fmt.Sprintf(" (this line's indentation does not fit the block that starts at line %d)", pos.Line)
			pos.Line, pos.Col = line, col
		} else {
			msg += " (check the indentation of this line and the lines below it)"
		}
	case strings.Contains(msg, "mapping values are not allowed"):
		msg += " (a value contains \": \"? put it in quotes; or the indentation is off)"
	}
	return &Error{Pos: pos, Msg: "invalid YAML: " + msg}
}

// misindentScan bounds misindentedLine's search.
const misindentScan = 400

// misindentedLine finds the line that breaks the block starting at line
// from with the parser error msg: the first line whose prefix of the
// file (it and the lines above) already fails with msg. It returns 0
// when none does. Only the error path pays for it: a parse per line,
// for at most misindentScan lines (a flow file is far shorter; a huge
// file gets the parser's line).
func misindentedLine(data []byte, from int, msg string) (line, col int) {
	lines := bytes.SplitAfter(data, []byte("\n"))
	for k := from + 1; k <= len(lines) && k <= from+misindentScan; k++ {
		var n yaml.Node
		err := yaml.Unmarshal(bytes.Join(lines[:k], nil), &n)
		if err == nil {
			continue
		}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil && m[2] == msg {
			text := lines[k-1]
			return k, len(text) - len(bytes.TrimLeft(text, " ")) + 1
		}
	}
	return 0, 0
}
