package flowtest

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stride-engine/stride/internal/schematest"
)

// TestShippedTestFilesMatchTheSchema: every shipped *.test.yaml parses
// and passes the editor schema, and names it on its first line; test
// files the parser refuses for their shape fail the schema too.
func TestShippedTestFilesMatchTheSchema(t *testing.T) {
	schema := compileTestSchema(t)
	var files []string
	err := filepath.WalkDir("../flows", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && IsTestFile(path) {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d shipped test files", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseFile(f); err != nil {
			t.Errorf("%s does not parse: %v", f, err)
		}
		up := strings.Repeat("../", strings.Count(strings.TrimPrefix(filepath.ToSlash(f), "../"), "/")) // from the file's folder to the repository
		if !bytes.HasPrefix(data, []byte("# yaml-language-server: $schema="+up+"schemas/flowtest.schema.json\n")) {
			t.Errorf("%s does not name its schema on its first line", f)
		}
		if err := schema.Validate(asJSON(t, data)); err != nil {
			t.Errorf("%s: the parser accepts it but the schema does not:\n%v", f, err)
		}
	}

	// The README's worked example, and what the reference allows.
	readme, err := os.ReadFile("../flows/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "### A worked example")
	_, example, _ := strings.Cut(section, "```yaml\n")
	example, _, _ = strings.Cut(example, "```")
	valid := map[string]string{
		"readme example": example,
		"every input and matcher": `now: 2026-11-23
env: {PORT: 8080, FLAG: true}
timeout: 5s
cases:
  - name: request
    request:
      method: post
      path: /x
      query: {a: 1}
      body: {a: [1, 2]}
      sign: {header: X-Sig, key: k, algorithm: hmac-sha1, encoding: hex, signed_at: 2026-11-23T01:00:00Z}
    datastore:
      s: {a: text, b: {value: {x: 1}, expires: 10m}, c: {value_file: f.json}}
    mocks:
      - request: {url: 'https://x.test/*', body_contains: a, headers: {X: y}}
        respond: [{status: 500}, {error: broken}]
        expect: {calls: 2, headers: {A: {contains: b}}, jsonpath: {$.a: 1}}
      - request: {url_regex: '^https://y'}
    expect:
      status: 200
      body_contains: x
      headers: {Content-Type: {matches: json}, X-Gone: {absent: true}}
      jsonpath: {'$.a[0]': {equals: 1}, $.b: [1, 2]}
      datastore: {s: {a: absent, b: present, '*': {contains: [x], jsonpath: {$.x: 1}}}, t: empty, u: 2}
  - name: queue
    queue: {flow: f, body: x, headers: {A: b}, properties: {p: 1}}
    expect: {retry: false, message_status: FAILED, error_contains: [x], enqueued: []}
  - name: timer
    timer: {flow: t}
    expect: {enqueued: [{queue: q, count: 1, key: k, body: {a: 1}}], properties: {a: {absent: true}}}
  - name: call
    call: {flow: c, properties: {owner: ADA1, n: 2}}
    now: 2026-11-23T02:00:00Z
`,
	}
	for name, src := range valid {
		if err := schema.Validate(asJSON(t, []byte(src))); err != nil {
			t.Errorf("%s: the schema refuses it:\n%v", name, err)
		}
	}

	invalid := map[string]string{
		"unknown top-level key": "cases: []\nnwo: 2026-11-23\n",
		"no cases":              "env: {A: b}\n",
		"case without name":     "cases:\n  - request: {path: /x}\n",
		"case without input":    "cases:\n  - name: a\n",
		"two inputs":            "cases:\n  - name: a\n    request: {path: /x}\n    timer: {flow: t}\n",
		"unknown case key":      "cases:\n  - name: a\n    request: {path: /x}\n    expcet: {status: 200}\n",
		"unknown expect key":    "cases:\n  - name: a\n    request: {path: /x}\n    expect: {stauts: 200}\n",
		"status as text":        "cases:\n  - name: a\n    request: {path: /x}\n    expect: {status: ok}\n",
		"bad algorithm":         "cases:\n  - name: a\n    request: {path: /x, sign: {header: X, key: k, algorithm: md5}}\n",
		"mock without request":  "cases:\n  - name: a\n    timer: {flow: t}\n    mocks: [{respond: {status: 200}}]\n",
		"bad matcher key":       "cases:\n  - name: a\n    timer: {flow: t}\n    expect: {headers: {A: {equal: b}}}\n",
		"bad store expectation": "cases:\n  - name: a\n    timer: {flow: t}\n    expect: {datastore: {s: full}}\n",
		"bad duration":          "timeout: soon\ncases:\n  - name: a\n    timer: {flow: t}\n",
		"bad time":              "now: tomorrow\ncases:\n  - name: a\n    timer: {flow: t}\n",
	}
	for name, src := range invalid {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.test.yaml")
			if _, err := parse(path, []byte(src)); err == nil {
				t.Errorf("the parser accepts it")
			}
			if schema.Validate(asJSON(t, []byte(src))) == nil {
				t.Errorf("the schema accepts it")
			}
		})
	}
}

func compileTestSchema(t *testing.T) *jsonschema.Schema {
	return schematest.Compile(t, SchemaID, Schema())
}

// asJSON is a YAML document as the JSON value an editor validates.
func asJSON(t *testing.T, data []byte) any {
	t.Helper()
	v, ok := schematest.YAMLAsJSON(t, data)
	if !ok {
		t.Fatal("not YAML")
	}
	return v
}
