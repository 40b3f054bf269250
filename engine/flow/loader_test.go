package flow_test

import (
	"strings"
	"testing"
)

const okFlow = `
flow: ok
trigger: {http: {path: /ok, methods: [GET]}}
steps:
  - set: {properties: {a: 1}}
`

// TestLoadErrors feeds the mistakes a new user makes and checks that each
// gives one clear, positioned message.
func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string // each must appear, in order, as whole error lines' prefixes or substrings
	}{
		{"misspelled step kind", `
flow: f
trigger: {call: {}}
steps:
  - rout:
      - when: "true"
        steps: []
`, []string{`f.yaml:4:5: unknown step kind "rout"; did you mean "route"?`}},
		{"misspelled key", `
flow: f
trigger: {call: {}}
steps:
  - set:
      propertys: {a: 1}
`, []string{`f.yaml:5:7: set: unknown key "propertys"; did you mean "properties"?`}},
		{"wrong indentation of an option", `
flow: f
trigger: {call: {}}
steps:
  - set:
    properties: {a: 1}
`, []string{`f.yaml:5:5: "properties" is an option of set: indent it under ` + "`set:`"}},
		{"two kinds in one item", `
flow: f
trigger: {call: {}}
steps:
  - log: a
    fail: b
`, []string{`f.yaml:5:5: a step has exactly one kind, but this one has "log" and "fail"`}},
		{"list where a mapping belongs", `
flow: f
trigger: {call: {}}
steps:
  - set:
      properties: [a, b]
`, []string{`f.yaml:5:19: expected a mapping (name: value), found a list (- item)`}},
		{"mapping where steps belong", `
flow: f
trigger: {call: {}}
steps:
  set: {properties: {a: 1}}
`, []string{`f.yaml:4:3: expected a list of steps (each item starts with -), found a mapping`}},
		{"unknown top-level key and missing trigger", `
flow: f
step:
  - log: x
`, []string{`f.yaml:1:1: flow: missing required key "trigger"`, `f.yaml:1:1: flow: missing required key "steps"`, `f.yaml:2:1: flow: unknown key "step"; did you mean "steps"?`}},
		{"bad expression", `
flow: f
trigger: {call: {}}
steps:
  - set: {properties: {a: '${1 +}'}}
`, []string{`f.yaml:4:`, `in ${1 +}: unexpected token EOF`}},
		{"unknown name in expression", `
flow: f
trigger: {call: {}}
steps:
  - set: {properties: {a: '${propertie.x}'}}
`, []string{`in ${propertie.x}: unknown name propertie`}},
		{"misspelled error field", `
flow: f
trigger: {call: {}}
steps:
  - log: x
on_error:
  - log: '${error.mesage}'
`, []string{`f.yaml:6:`, `has no field mesage`}},
		{"error outside on_error", `
flow: f
trigger: {call: {}}
steps:
  - log: '${error.message}'
`, []string{`error.* is only in scope inside on_error`}},
		{"undeclared env", `
flow: f
env: {API_URL: "http://x"}
trigger: {call: {}}
steps:
  - log: '${env.API_ULR}'
`, []string{`env.API_ULR is not declared; add it under "env" at the top of the flow; did you mean "API_URL"?`}},
		{"unclosed template", `
flow: f
trigger: {call: {}}
steps:
  - log: 'a ${property.x'
`, []string{`unclosed ${`}},
		{"bad date pattern", `
flow: f
trigger: {call: {}}
steps:
  - log: '${format_date(now(), "yyyy-MM-ddTHH")}'
`, []string{`date pattern`, `'T'`}},
		{"bad xpath", `
flow: f
trigger: {call: {}}
steps:
  - log: '${xpath("//a[")}'
`, []string{`XPath "//a["`}},
		{"bad jsonpath", `
flow: f
trigger: {call: {}}
steps:
  - log: '${jsonpath("$.a[")}'
`, []string{`JSONPath "$.a["`}},
		{"retry outside on_error", `
flow: f
trigger: {call: {}}
steps:
  - retry: {max: 1}
`, []string{`f.yaml:4:5: retry: retry only works inside on_error`}},
		{"bad trigger", `
flow: f
trigger: {htp: {path: /x}}
steps: [{log: x}]
`, []string{`f.yaml:2:11: unknown trigger "htp"; did you mean "http"?`}},
		{"bad method and duration", `
flow: f
trigger: {http: {path: /x, methods: [GTE], timeout: 5 seconds}}
steps: [{log: x}]
`, []string{`"GTE" is not one of GET, POST`, `"5 seconds" is not a duration`}},
		{"tab indentation", "flow: f\ntrigger: {call: {}}\nsteps:\n\t- log: x\n", []string{`f.yaml:4:1: invalid YAML:`, `indent with spaces only`}},
		{"bad YAML indentation", "flow: f\ntrigger: {call: {}}\nsteps:\n  - log: x\n - log: y\n", []string{`f.yaml:`, `invalid YAML`}},
		{"empty file", "", []string{`f.yaml:1:1: the file is empty`}},
		{"not a mapping", "- a\n- b\n", []string{`f.yaml:1:1: a flow file is a mapping that starts with ` + "`flow: <id>`"}},
		{"two documents", "flow: f\ntrigger: {call: {}}\nsteps: [{log: x}]\n---\nflow: g\n", []string{`a flow file holds one flow`}},
		{"bad flow id", "flow: 'my flow'\ntrigger: {call: {}}\nsteps: [{log: x}]\n", []string{`flow id "my flow"`}},
		{"respond with impossible status", `
flow: f
trigger: {call: {}}
steps:
  - respond: {status: 99}
`, []string{`status 99 is not an HTTP status`}},
		{"route branch without condition", `
flow: f
trigger: {call: {}}
steps:
  - route:
      - steps: [{log: x}]
`, []string{`f.yaml:5:9: route branch 1: give exactly one of when and xpath`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadErr("f.yaml", tc.yaml)
			if err == nil {
				t.Fatalf("loaded without error; want %q", tc.want)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q:\n%s", w, msg)
				}
			}
			if strings.Contains(msg, "goroutine") || strings.Contains(msg, "panic") {
				t.Errorf("error leaks Go internals:\n%s", msg)
			}
		})
	}
}

func TestLoadReportsEveryErrorOfAFile(t *testing.T) {
	_, err := loadErr("f.yaml", `
flow: f
trigger: {call: {}}
steps:
  - sett: {a: 1}
  - log: '${nope}'
  - respond: {status: 1000}
`)
	if err == nil {
		t.Fatal("want errors")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 errors, got %d:\n%s", len(lines), err)
	}
	for i, want := range []string{"f.yaml:4:", "f.yaml:5:", "f.yaml:6:"} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("error %d = %q, want prefix %q (sorted by position)", i, lines[i], want)
		}
	}
}

func TestExpressionErrorColumn(t *testing.T) {
	// The column points into the expression, not just at the scalar.
	_, err := loadErr("f.yaml", "flow: f\ntrigger: {call: {}}\nsteps:\n  - log: '${property.a + nope}'\n")
	if err == nil || !strings.Contains(err.Error(), "f.yaml:4:26:") {
		t.Fatalf("want the position of nope (4:26), got %v", err)
	}
}

func TestSetLevelChecks(t *testing.T) {
	callee := "flow: callee\ntrigger: {call: {}}\nsteps: [{log: x}]\n"
	cases := []struct {
		name  string
		files []string
		want  string
	}{
		{"duplicate flow id", []string{"a.yaml", okFlow, "b.yaml", okFlow}, `b.yaml:1:7: flow id "ok" is already used by a.yaml:1:7`},
		{"same http route twice", []string{"a.yaml", okFlow, "b.yaml", strings.Replace(okFlow, "flow: ok", "flow: other", 1)}, `GET /ok is already served by flow ok`},
		{"same route with other parameter names", []string{
			"a.yaml", "flow: a\ntrigger: {http: {path: '/u/{id}'}}\nsteps: [{log: x}]\n",
			"b.yaml", "flow: b\ntrigger: {http: {path: '/u/{user}'}}\nsteps: [{log: x}]\n"}, `POST /u/{user} is already served by flow a`},
		{"call to unknown flow", []string{"a.yaml", "flow: a\ntrigger: {call: {}}\nsteps: [{call: calee}]\n", "c.yaml", callee}, `a.yaml:3:16: call: no flow "calee"; did you mean "callee"?`},
		{"call to a flow that is not callable", []string{"a.yaml", "flow: a\ntrigger: {call: {}}\nsteps: [{call: ok}]\n", "b.yaml", okFlow}, `flow "ok" has a http trigger`},
		{"call cycle", []string{
			"a.yaml", "flow: a\ntrigger: {call: {}}\nsteps: [{call: b}]\n",
			"b.yaml", "flow: b\ntrigger: {call: {}}\nsteps: [{call: c}]\n",
			"c.yaml", "flow: c\ntrigger: {call: {}}\nsteps: [{call: a}]\n"}, `flows call each other in a cycle: a → b → c → a`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadErr(tc.files...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %q", err, tc.want)
			}
		})
	}
}

func TestBindDisablesFlowsWithMissingVariablesAndTheirCallers(t *testing.T) {
	set, err := loadErr(
		"a.yaml", "flow: a\ntrigger: {http: {path: /a}}\nsteps: [{call: b}]\n",
		"b.yaml", "flow: b\nsecrets: [NEEDED]\nenv: {OPTIONAL: dflt}\ntrigger: {call: {}}\nsteps: [{log: '${secret.NEEDED}'}]\n",
		"c.yaml", "flow: c\ntrigger: {call: {}}\nsteps: [{log: x}]\n")
	if err != nil {
		t.Fatal(err)
	}
	disabled := set.Bind(func(string) (string, bool) { return "", false })
	if strings.Join(disabled, ",") != "a,b" {
		t.Fatalf("disabled = %v, want a and b", disabled)
	}
	if r := set.Flow("b").Disabled; r != "missing variables: NEEDED" {
		t.Errorf("b: %q", r)
	}
	if r := set.Flow("a").Disabled; !strings.Contains(r, "calls b") {
		t.Errorf("a: %q", r)
	}
	if len(set.Bind(func(n string) (string, bool) { return "v", n == "NEEDED" })) != 0 {
		t.Error("with NEEDED set, every flow should run")
	}
}
