package flowtest

// Matchers: how an expectation checks a text (a header, a datastore
// entry) or a structured value (a JSONPath or XPath result, a property).

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stride-engine/stride/engine/flow"
)

// textMatcher checks a text: equal to a value, containing texts,
// matching a regular expression, or absent.
type textMatcher struct {
	At       Pos
	Equals   *string
	Contains []string
	Matches  *regexp.Regexp
	Absent   bool
}

var textMatcherKeys = []string{"equals", "contains", "matches", "absent"}

// DecodeYAML implements flow.YAMLValue: a text, or {equals | contains |
// matches | absent}.
func (m *textMatcher) DecodeYAML(d *flow.Decoder, n *yaml.Node, what string) {
	m.At = d.Pos(n)
	switch n.Kind {
	case yaml.ScalarNode:
		v := n.Value
		if flow.IsNull(n) {
			v = ""
		}
		m.Equals = &v
	case yaml.MappingNode:
		m.decodeKeys(d, n, what, nil)
	default:
		d.Errorf(n, "%s: expected text or {equals | contains | matches | absent}, found %s", what, flow.KindOf(n))
	}
}

// decodeKeys reads the matcher keys of n; other keys are passed to extra,
// which reports whether it took the key, or are unknown (the valid keys
// are the matcher's and extraKeys).
func (m *textMatcher) decodeKeys(d *flow.Decoder, n *yaml.Node, what string, extra func(k, v *yaml.Node) bool, extraKeys ...string) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := flow.Resolve(n.Content[i]), flow.Resolve(n.Content[i+1])
		if seen[k.Value] {
			d.Errorf(k, "%s: key %q is given twice", what, k.Value)
			continue
		}
		seen[k.Value] = true
		switch k.Value {
		case "equals":
			var s string
			d.Decode(v, &s, "equals")
			m.Equals = &s
		case "contains":
			var l []string
			d.Decode(v, &l, "contains")
			m.Contains = append(m.Contains, l...)
		case "matches":
			var s string
			before := len(d.Errors())
			if d.Decode(v, &s, "matches"); len(d.Errors()) > before {
				continue
			}
			re, err := regexp.Compile(s)
			if err != nil {
				d.Errorf(v, "matches: not a regular expression: %v", err)
				continue
			}
			m.Matches = re
		case "absent":
			d.Decode(v, &m.Absent, "absent")
		default:
			if extra != nil && extra(k, v) {
				continue
			}
			d.UnknownKey(k, what, append(textMatcherKeys[:len(textMatcherKeys):len(textMatcherKeys)], extraKeys...))
		}
	}
	if m.Absent && (m.Equals != nil || len(m.Contains) > 0 || m.Matches != nil) {
		d.Errorf(n, "%s: absent: true excludes equals, contains and matches", what)
	}
}

// check returns a description of what was wanted when text (present or
// not) does not satisfy the matcher, or "".
func (m *textMatcher) check(text string, present bool) (want string) {
	switch {
	case m.Absent:
		if present {
			return "absent"
		}
		return ""
	case !present:
		return m.describe()
	}
	if m.Equals != nil && text != *m.Equals {
		return *m.Equals
	}
	for _, c := range m.Contains {
		if !strings.Contains(text, c) {
			return "containing " + strconv.Quote(c)
		}
	}
	if m.Matches != nil && !m.Matches.MatchString(text) {
		return "matching /" + m.Matches.String() + "/"
	}
	return ""
}

func (m *textMatcher) describe() string {
	var parts []string
	if m.Equals != nil {
		parts = append(parts, *m.Equals)
	}
	for _, c := range m.Contains {
		parts = append(parts, "containing "+strconv.Quote(c))
	}
	if m.Matches != nil {
		parts = append(parts, "matching /"+m.Matches.String()+"/")
	}
	if len(parts) == 0 {
		return "present"
	}
	return strings.Join(parts, ", ")
}

// namedMatcher is a name with its text matcher, in file order.
type namedMatcher struct {
	Name string
	At   Pos
	M    textMatcher
}

type textMatchers []namedMatcher

// DecodeYAML implements flow.YAMLValue: {name: text matcher}.
func (s *textMatchers) DecodeYAML(d *flow.Decoder, n *yaml.Node, what string) {
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, "%s: expected a mapping (name: expected value), found %s", what, flow.KindOf(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := flow.Resolve(n.Content[i]), flow.Resolve(n.Content[i+1])
		nm := namedMatcher{Name: k.Value, At: d.Pos(k)}
		nm.M.DecodeYAML(d, v, what+"."+k.Value)
		*s = append(*s, nm)
	}
}

// valueMatcher checks a structured value: equal to a YAML value (compared
// as JSON: 15720 is a number, '15720' text), or a matcher mapping whose
// keys are only equals, contains, matches, absent.
type valueMatcher struct {
	At    Pos
	Value any  // expected value when not a matcher
	Plain bool // compare with Value
	Text  textMatcher
}

// DecodeYAML implements flow.YAMLValue.
func (m *valueMatcher) DecodeYAML(d *flow.Decoder, n *yaml.Node, what string) {
	m.At = d.Pos(n)
	if n.Kind == yaml.MappingNode && len(n.Content) > 0 {
		matcher := true
		for i := 0; i+1 < len(n.Content); i += 2 {
			if !contains(textMatcherKeys, flow.Resolve(n.Content[i]).Value) {
				matcher = false
			}
		}
		if matcher {
			var eq *yaml.Node
			m.Text.decodeKeys(d, n, what, nil)
			for i := 0; i+1 < len(n.Content); i += 2 {
				if flow.Resolve(n.Content[i]).Value == "equals" {
					eq = flow.Resolve(n.Content[i+1])
				}
			}
			if eq != nil { // equals keeps the value's type
				m.Plain, m.Value, m.Text.Equals = true, flow.PlainValue(eq), nil
			}
			return
		}
	}
	m.Plain, m.Value = true, flow.PlainValue(n)
}

// check compares a value (present or not); it returns the wanted and the
// actual value as text when they differ.
func (m *valueMatcher) check(v any, present bool) (want, got string, ok bool) {
	got = "(no value)"
	if present {
		got = canonical(v)
	}
	if m.Text.Absent {
		if present {
			return "(no value)", got, false
		}
		return "", got, true
	}
	if !present {
		return m.describe(), got, false
	}
	if m.Plain && canonical(m.Value) != got {
		return canonical(m.Value), got, false
	}
	text := got
	if s, isText := v.(string); isText {
		text = s
	}
	for _, c := range m.Text.Contains {
		if !strings.Contains(text, c) {
			return "containing " + strconv.Quote(c), got, false
		}
	}
	if re := m.Text.Matches; re != nil && !re.MatchString(text) {
		return "matching /" + re.String() + "/", got, false
	}
	return "", got, true
}

func (m *valueMatcher) describe() string {
	if m.Plain {
		return canonical(m.Value)
	}
	return m.Text.describe()
}

type namedValue struct {
	Name string
	At   Pos
	M    valueMatcher
}

type valueMatchers []namedValue

// DecodeYAML implements flow.YAMLValue: {path: expected value}.
func (s *valueMatchers) DecodeYAML(d *flow.Decoder, n *yaml.Node, what string) {
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, "%s: expected a mapping (path: expected value), found %s", what, flow.KindOf(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := flow.Resolve(n.Content[i]), flow.Resolve(n.Content[i+1])
		nv := namedValue{Name: k.Value, At: d.Pos(k)}
		nv.M.DecodeYAML(d, v, what+"."+k.Value)
		*s = append(*s, nv)
	}
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

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
