package flow_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stride-engine/stride/engine/flow"
)

// upper is a type with its own YAML form: text, kept in upper case.
type upper string

func (u *upper) DecodeYAML(d *flow.Decoder, n *yaml.Node, what string) {
	if n.Kind != yaml.ScalarNode || flow.IsNull(n) {
		d.Errorf(n, "%s: expected a name, found %s", what, flow.KindOf(n))
		return
	}
	*u = upper(strings.ToUpper(n.Value))
}

type unmarshalInner struct {
	Level string `yaml:"level" default:"info" enum:"debug,info"`
}

type unmarshalDoc struct {
	At      flow.Pos
	Keys    flow.KeyPos
	Name    string         `yaml:"name" required:"true" doc:"The name."`
	Every   time.Duration  `yaml:"every" default:"2s"`
	Tags    []string       `yaml:"tags"`
	Count   *int           `yaml:"count"`
	Extra   map[string]any `yaml:"extra"`
	Owner   upper          `yaml:"owner"`
	Inner   unmarshalInner `yaml:"inner"`
	Enabled bool           `yaml:"enabled"`
}

func TestUnmarshalDecodesByTags(t *testing.T) {
	var v unmarshalDoc
	src := "name: &n x\ntags: one\ncount: 3\nextra: {a: 1, b: [true, ~]}\nowner: ada\nenabled: yes\nalias: *n\n"
	err := flow.Unmarshal("d.yaml", []byte(src), &v)
	var el flow.ErrorList
	if !errors.As(err, &el) || len(el) != 1 || el[0].Error() != `d.yaml:7:1: unknown key "alias" (valid keys: name, every, tags, count, extra, owner, inner, enabled)` {
		t.Fatalf("errors: %v", err)
	}
	if v.Name != "x" || v.Every != 2*time.Second || len(v.Tags) != 1 || v.Tags[0] != "one" || v.Count == nil || *v.Count != 3 ||
		v.Owner != "ADA" || v.Inner.Level != "info" || !v.Enabled {
		t.Errorf("decoded %+v", v)
	}
	if b, ok := v.Extra["b"].([]any); v.Extra["a"] != 1.0 || !ok || len(b) != 2 || b[0] != true || b[1] != nil {
		t.Errorf("extra = %#v", v.Extra)
	}
	if v.At != (flow.Pos{File: "d.yaml", Line: 1, Col: 1}) || v.Keys["owner"] != (flow.Pos{File: "d.yaml", Line: 5, Col: 1}) {
		t.Errorf("positions: %v %v", v.At, v.Keys)
	}
}

func TestUnmarshalReportsEveryError(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"empty file", "", `e.yaml:1:1: missing required key "name" (The name.)`},
		{"wrong kinds", "name: [a]\ncount: x\nowner: {a: 1}\nenabled: 2\n", "e.yaml:1:7: name: expected text, found a list (- item)\n" +
			"e.yaml:2:8: count: expected a whole number, found the value \"x\"\n" +
			"e.yaml:3:8: owner: expected a name, found a mapping (key: value)\n" +
			"e.yaml:4:10: enabled: expected true or false, found the value \"2\""},
		{"nested enum and duration", "name: x\nevery: -1s\ninner: {level: inf}\n", "e.yaml:2:8: every: \"-1s\" is not a duration (write e.g. 500ms, 2s, 10m, 1h)\n" +
			"e.yaml:3:16: level: \"inf\" is not one of debug, info; did you mean \"info\"?"},
		{"key given twice", "name: x\nname: y\nextra: {a: 1, a: 2}\n", "e.yaml:2:1: key \"name\" is given twice\ne.yaml:3:15: extra: key \"a\" is given twice"},
		{"second document", "name: x\n---\nname: y\n", "e.yaml:2:1: a second YAML document (---): the file holds one; start another file for the second"},
		{"syntax error", "name: x\ntags:\n\t- a\n", "e.yaml:3:1: invalid YAML: found character that cannot start any token (is there a tab? indent with spaces only)"},
		{"an alias to a list that holds it", "name: x\nextra: {a: &l [1, *l]}\n", "e.yaml:2:12: extra.a: an alias (*name) in it refers to a mapping or list that holds it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v unmarshalDoc
			err := flow.Unmarshal("e.yaml", []byte(tc.src), &v)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error:\n%v\nwant:\n%s", err, tc.want)
			}
		})
	}
}

// TestACyclicAliasInAFlowIsAnError: steps that hold themselves through an
// alias stop the loader with an error instead of exhausting the stack.
func TestACyclicAliasInAFlowIsAnError(t *testing.T) {
	_, err := loadErr("f.yaml", "flow: f\ntrigger: {call: {}}\nsteps: &s\n  - route:\n      - when: 'true'\n        steps: *s\n")
	if err == nil || !strings.Contains(err.Error(), "does an alias (*name) refer to a mapping or list that holds it?") {
		t.Errorf("error %v", err)
	}
}

// TestFlowTypesDecodeOnlyInAFlow: a template needs a flow's scope.
func TestFlowTypesDecodeOnlyInAFlow(t *testing.T) {
	var v struct {
		T *flow.Template `yaml:"t"`
	}
	err := flow.Unmarshal("t.yaml", []byte("t: x\n"), &v)
	if err == nil || !strings.Contains(err.Error(), "t.yaml:1:4: t: a flow.Template is part of the flow language; it decodes only in a flow file") {
		t.Errorf("error %v", err)
	}
}

// A mis-indented line is named, not the line where its block starts
// (which is all the YAML parser says), in flows and other YAML files.
func TestMisindentedLineIsTheOneReported(t *testing.T) {
	for _, c := range []struct {
		name, src string
		line, col int
	}{
		{"a key one space short", "flow: x\ntrigger: {http: {path: /x}}\nsteps:\n  - set:\n      body: hi\n     properties: {a: b}\n  - respond: {status: 200}\n", 6, 6},
		{"a step two spaces deep", "flow: y\ntrigger: {http: {path: /y}}\nsteps:\n  - set:\n      body: hi\n    - respond: {status: 200}\n", 6, 5},
		{"a trigger option one space off", "flow: w\ntrigger:\n  http: {path: /w}\n   methods: [GET]\nsteps:\n  - respond: {status: 200}\n", 4, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := flow.Load([]flow.Source{{Name: "f.yaml", Data: []byte(c.src)}})
			var el flow.ErrorList
			if !errors.As(err, &el) || len(el) != 1 {
				t.Fatalf("errors %v", err)
			}
			if el[0].Pos.Line != c.line || el[0].Pos.Col != c.col || !strings.Contains(el[0].Msg, "indentation does not fit the block that starts at line") {
				t.Errorf("%v, want line %d col %d", el[0], c.line, c.col)
			}
			// The same through the one decoder (flow tests, mappings).
			var v map[string]any
			if err := flow.Unmarshal("f.yaml", []byte(c.src), &v); !errors.As(err, &el) || el[0].Pos.Line != c.line {
				t.Errorf("Unmarshal: %v, want line %d", err, c.line)
			}
		})
	}
}
