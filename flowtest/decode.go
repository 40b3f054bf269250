package flowtest

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stride-engine/stride/engine/flow"
)

// Pos is a place in a test file: the engine's positions, so test files and
// flow files report places alike.
type Pos = flow.Pos

// PosError is a positioned error in a test file.
type PosError struct {
	Pos Pos
	Msg string
}

func (e *PosError) Error() string { return e.Pos.String() + ": " + e.Msg }

// ErrorList is every error of a test file, in file order.
type ErrorList []*PosError

func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// decoder walks yaml.v3 nodes into the structs of format.go strictly:
// an unknown key, a wrong kind of value or a bad scalar is an error with
// file:line:col, and every error of the file is collected.
type decoder struct {
	file string
	errs ErrorList
}

func (d *decoder) pos(n *yaml.Node) Pos { return Pos{File: d.file, Line: n.Line, Col: n.Column} }

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, &PosError{Pos: d.pos(n), Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) errorAt(p Pos, format string, args ...any) {
	d.errs = append(d.errs, &PosError{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

// nodeDecoder is implemented by types with their own YAML forms.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, what string)
}

var (
	posType          = reflect.TypeOf(Pos{})
	keysType         = reflect.TypeOf(keyPos{})
	nodeDecoderType  = reflect.TypeOf((*nodeDecoder)(nil)).Elem()
	durationType     = reflect.TypeOf(time.Duration(0))
	interfaceAnyType = reflect.TypeOf((*any)(nil)).Elem()
)

// keyPos records where each key of a mapping was written, for errors
// found after decoding (a field that contradicts another).
type keyPos map[string]Pos

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindOf(n *yaml.Node) string {
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
	return "an unexpected node"
}

// decode decodes n into v (addressable).
func (d *decoder) decode(n *yaml.Node, v reflect.Value, what string) {
	n = resolve(n)
	if v.CanAddr() && v.Addr().Type().Implements(nodeDecoderType) {
		v.Addr().Interface().(nodeDecoder).decodeNode(d, n, what)
		return
	}
	switch {
	case v.Type() == durationType:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, "%s: expected a duration such as 30s, found %s", what, kindOf(n))
			return
		}
		dur, err := time.ParseDuration(n.Value)
		if err != nil || dur <= 0 {
			d.errorf(n, "%s: %q is not a duration (write e.g. 500ms, 30s, 2m)", what, n.Value)
			return
		}
		v.SetInt(int64(dur))
		return
	case v.Type() == interfaceAnyType:
		v.Set(reflect.ValueOf(plainValue(n)))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			return
		}
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), what)
		v.Set(p)
	case reflect.Struct:
		d.decodeStruct(n, v, what)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, "%s: expected text, found %s", what, kindOf(n))
			return
		}
		if isNull(n) {
			return
		}
		v.SetString(n.Value)
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			d.errorf(n, "%s: expected a whole number, found %s", what, kindOf(n))
			return
		}
		i, err := strconv.Atoi(n.Value)
		if err != nil {
			d.errorf(n, "%s: %q is not a whole number", what, n.Value)
			return
		}
		v.SetInt(int64(i))
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			d.errorf(n, "%s: expected true or false, found %s", what, kindOf(n))
			return
		}
		v.SetBool(n.Value == "true" || n.Value == "True" || n.Value == "TRUE")
	case reflect.Slice:
		if isNull(n) {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, "%s: expected a list (items start with -), found %s", what, kindOf(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", what, i))
		}
		v.Set(s)
	case reflect.Map:
		if isNull(n) {
			return
		}
		if n.Kind != yaml.MappingNode {
			d.errorf(n, "%s: expected a mapping (name: value), found %s", what, kindOf(n))
			return
		}
		m := reflect.MakeMap(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := resolve(n.Content[i]), n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				d.errorf(k, "%s: a key must be text, found %s", what, kindOf(k))
				continue
			}
			if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
				d.errorf(k, "%s: %q is given twice", what, k.Value)
				continue
			}
			e := reflect.New(v.Type().Elem()).Elem()
			if v.Type().Elem().Kind() == reflect.String {
				d.scalarText(val, e, what+"."+k.Value)
			} else {
				d.decode(val, e, what+"."+k.Value)
			}
			m.SetMapIndex(reflect.ValueOf(k.Value), e)
		}
		v.Set(m)
	default:
		panic("flowtest: cannot decode into " + v.Type().String())
	}
}

// scalarText decodes a scalar as text: numbers and booleans are kept as
// written, nothing is empty text.
func (d *decoder) scalarText(n *yaml.Node, v reflect.Value, what string) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, "%s: expected text, found %s", what, kindOf(n))
		return
	}
	if !isNull(n) {
		v.SetString(n.Value)
	}
}

type fieldInfo struct {
	index int
	name  string
}

// decodeStruct decodes a mapping into a struct by its yaml tags. A field
// of type Pos receives the mapping's position, a keyPos field the key
// positions; `required` in a field's flowtest tag makes it mandatory.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, what string) {
	t := v.Type()
	if n.Kind != yaml.MappingNode {
		if what == "" {
			what = "the test file"
		}
		d.errorf(n, "%s: expected a mapping (name: value), found %s", what, kindOf(n))
		return
	}
	fields := map[string]fieldInfo{}
	var known []string
	var required []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		switch f.Type {
		case posType:
			v.Field(i).Set(reflect.ValueOf(d.pos(n)))
			continue
		case keysType:
			continue
		}
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		fields[tag] = fieldInfo{i, tag}
		known = append(known, tag)
		if strings.Contains(f.Tag.Get("flowtest"), "required") {
			required = append(required, tag)
		}
	}
	keys := keyPos{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "%s: a key must be text, found %s", what, kindOf(k))
			continue
		}
		if _, dup := keys[k.Value]; dup {
			d.errorf(k, "%s: %q is given twice", what, k.Value)
			continue
		}
		keys[k.Value] = d.pos(k)
		fi, ok := fields[k.Value]
		if !ok {
			in := " in " + what
			if what == "" {
				in = " at the top of the test file"
			}
			d.errorf(k, "unknown key %q%s%s (known: %s)", k.Value, in, hint(k.Value, known), strings.Join(known, ", "))
			continue
		}
		d.decode(val, v.Field(fi.index), joinWhat(what, fi.name))
	}
	for _, r := range required {
		if _, ok := keys[r]; !ok {
			d.errorf(n, "%s is required", joinWhat(what, r))
		}
	}
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Type == keysType {
			v.Field(i).Set(reflect.ValueOf(keys))
		}
	}
}

// hint suggests the known key closest to a misspelt one, as the flow
// loader does.
func hint(key string, known []string) string { return flow.DidYouMean(key, known) }

// plainValue converts a node to the values a JSON decoder would give:
// string, float64, bool, nil, []any, map[string]any. Timestamps stay the
// text they were written as (2026-11-22 is a date string to a flow).
func plainValue(n *yaml.Node) any {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[resolve(n.Content[i]).Value] = plainValue(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			s = append(s, plainValue(item))
		}
		return s
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil
		case "!!bool":
			var b bool
			if n.Decode(&b) == nil {
				return b
			}
		case "!!int", "!!float":
			var f float64
			if n.Decode(&f) == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				return f
			}
		}
		return n.Value
	}
	return nil
}

// canonical renders a value as canonical JSON (sorted keys, numbers as
// float64), the form expected and actual values are compared in.
func canonical(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	var back any
	if json.Unmarshal(data, &back) != nil {
		return string(data)
	}
	data, _ = json.Marshal(back)
	return string(data)
}

// orderedKeys returns a mapping node's keys in file order.
func orderedKeys(n *yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, resolve(n.Content[i]))
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// reflectValue returns the struct a pointer points to, for decodeStruct.
func reflectValue(p any) reflect.Value { return reflect.ValueOf(p).Elem() }

func joinWhat(what, name string) string {
	if what == "" {
		return name
	}
	return what + "." + name
}
