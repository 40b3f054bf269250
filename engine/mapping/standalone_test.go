package mapping_test

// Compiling and running a template file outside any flow, as stride map
// does: CompileFile, Template.Vars and flow.NewStandaloneExchange.

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/mapping"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCompileFileRunsOutsideAFlow(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"t.map.yaml": `# env.IN_A_COMMENT is no variable
output: xml
root: Out
template:
  user: ${json.user}
  origin: ${env.ORIGIN}
  both: '${env["ORIGIN"] + env.SITE}'
  token: ${secret.TOKEN}
  owner: ${property.owner}
  day: {$value: '${now()}', $convert: date, $format: yyyy-MM-dd}
  literal: env.NOT_AN_EXPRESSION
`,
	})
	path := filepath.Join(dir, "t.map.yaml")
	m, err := mapping.CompileFile(path, nil, mapping.Options{})
	if err != nil {
		t.Fatal(err)
	}
	env, secrets := m.Template.Vars()
	if strings.Join(env, ",") != "ORIGIN,SITE" || strings.Join(secrets, ",") != "TOKEN" {
		t.Fatalf("Vars: env %v, secrets %v", env, secrets)
	}

	vars := map[string]string{"ORIGIN": "FITBIT", "SITE": "-web", "TOKEN": "s3cr3t-token"}
	lookup := func(name string) (string, bool) { v, ok := vars[name]; return v, ok }
	msg := flow.NewMessage([]byte(`{"user": "ada"}`), "application/json")
	msg.Property["owner"] = "26FWFL"
	x, missing := flow.NewStandaloneExchange("tool", msg, env, secrets, lookup, testClock)
	if len(missing) > 0 {
		t.Fatalf("missing %v", missing)
	}
	out, ct, err := m.Run(x)
	noError(t, err)
	want := "<Out><user>ada</user><origin>FITBIT</origin><both>FITBIT-web</both><token>s3cr3t-token</token><owner>26FWFL</owner>" +
		"<day>2025-11-23</day><literal>env.NOT_AN_EXPRESSION</literal></Out>"
	if ct != "application/xml" || string(out) != want {
		t.Errorf("%s\n got: %s\nwant: %s", ct, out, want)
	}
	// Secret values are redacted from what the exchange reports.
	if got := x.Redact("token s3cr3t-token"); got != "token ***" {
		t.Errorf("Redact: %q", got)
	}

	// The tool's options win over the file's.
	_, err = mapping.CompileFile(path, nil, mapping.Options{Output: "json"})
	if err == nil || !strings.Contains(err.Error(), `t.map.yaml:3:7: map: root "Out" is the root element of output: xml; this mapping writes JSON`) {
		t.Errorf("root with json output: %v", err)
	}
	m, err = mapping.CompileFile(path, nil, mapping.Options{Root: "Other"})
	noError(t, err)
	x, _ = flow.NewStandaloneExchange("tool", flow.NewMessage([]byte(`{"user": "ada"}`), "application/json"), env, secrets, lookup, testClock)
	x.Msg.Property["owner"] = "x"
	out, _, err = m.Run(x)
	noError(t, err)
	if !strings.HasPrefix(string(out), "<Other><user>ada</user>") {
		t.Errorf("root not overridden: %s", out)
	}
}

// Unset variables are named, env before secrets, in the order given.
func TestStandaloneExchangeNamesMissingVariables(t *testing.T) {
	m := compile(t, "template: {a: '${env.B_SET}', b: '${env.A_UNSET}', c: '${secret.C_UNSET}', d: '${env.Z_UNSET}'}\n")
	env, secrets := m.Template.Vars()
	lookup := func(name string) (string, bool) { return "v", name == "B_SET" }
	_, missing := flow.NewStandaloneExchange("tool", flow.NewMessage(nil, "text/plain"), env, secrets, lookup, nil)
	if got := strings.Join(missing, ", "); got != "A_UNSET, Z_UNSET, C_UNSET" {
		t.Errorf("missing %q", got)
	}
}

// The content given is compiled, not the file's; the errors are a
// flow.ErrorList with positions in the template file and its schema.
func TestCompileFileErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{"not-a-schema.json": `{"type": 12}`})
	path := filepath.Join(dir, "t.map.yaml") // never written: src is given
	cases := []struct{ src, want string }{
		{"outptu: xml\ntemplate: {a: 1}\n", `t.map.yaml:1:1: map: unknown key "outptu"; did you mean "output"?`},
		{"schema: nope.json\ntemplate: {a: 1}\n", "t.map.yaml:1:9: map: schema: file " + filepath.Join(dir, "nope.json") + " not found"},
		{"schema: not-a-schema.json\ntemplate: {a: 1}\n", "t.map.yaml:1:9: map: schema: " + filepath.Join(dir, "not-a-schema.json") + " is not a valid JSON Schema"},
		{"template: {a: {$fro_each: x}, b: '${json.x +}'}\n", "t.map.yaml:1:16: map: unknown directive $fro_each"},
		{"template: {a: 1}\n\tb: 2\n", "t.map.yaml:2:1: map: invalid YAML: found character that cannot start any token (is there a tab? indent with spaces only)"},
		{"", "t.map.yaml:1:1: map: the template file is empty"},
		{"- a\n", "t.map.yaml:1:1: map: expected a mapping (key: value), found a list (- item)"},
		{"output: xml\n", `t.map.yaml:1:1: map: missing required key "template" (The shape of the result, with ${...} values and $-directives.)`},
		// An alias to a value that holds it used to compile forever.
		{"template: &t {a: *t}\n", "t.map.yaml:1:18: map: the alias *t names a value that contains it: it would never end"},
		{"template: {a: &l [1, *l]}\n", "t.map.yaml:1:22: map: the alias *l names a value that contains it"},
		{"output: json\noutput: xml\ntemplate: {a: 1}\n", `t.map.yaml:2:1: map: key "output" is given twice`},
	}
	for _, c := range cases {
		_, err := mapping.CompileFile(path, []byte(c.src), mapping.Options{})
		var el flow.ErrorList
		if !errors.As(err, &el) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got: %v\nwant: %s", c.src, err, c.want)
		}
	}
	// Every error of the template, in one list.
	_, err := mapping.CompileFile(path, []byte("template: {a: {$fro_each: x}, b: '${json.x +}'}\n"), mapping.Options{})
	var el flow.ErrorList
	if !errors.As(err, &el) || len(el) != 2 {
		t.Errorf("want 2 errors, got %v", err)
	}
	// With no content, the file is read.
	if _, err := mapping.CompileFile(path, nil, mapping.Options{}); err == nil || !strings.Contains(err.Error(), "map: template file "+path+" not found") {
		t.Errorf("no file: %v", err)
	}
}
