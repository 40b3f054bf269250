package flow_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/flowtest"
)

// decodeRow is one YAML construct written wrong in the three kinds of
// YAML file Stride reads: a flow (flow.Load), a flow test (flowtest's
// loader) and a mapping template file (read by a flow's map step). Each
// file holds the construct at the same line:col, and each must report
// one error there whose message matches core: one decoder, one wording.
type decodeRow struct {
	name string
	at   string // line:col of the construct in each file
	core string // a regular expression the message matches

	flow, test, mapping string // the files' content

	// A mapping file's errors are prefixed "map: ", as the map step's
	// are; the rest must match core. Where the construct can only occur
	// inside the template language, mappingMsg is the whole message
	// expected instead. mapping "" means the construct cannot occur in a
	// mapping file.
	mappingMsg string
}

var decodeRows = []decodeRow{
	{
		name:    "unknown key, with a did-you-mean",
		at:      "4:1",
		core:    `^(flow: )?unknown key "(secrts|schemx)"; did you mean "(secrets|schema)"\?$`,
		flow:    "flow: f\ntrigger: {call: {}}\nsteps: [{log: x}]\nsecrts: {A: b}\n",
		test:    "cases:\n  - name: x\n    call: {flow: f}\nsecrts: {A: b}\n",
		mapping: "template: {a: 1}\noutput: json\nroot: r\nschemx: s.json\n",
	},
	{
		name: "wrong kind: a list where a mapping is expected",
		at:   "7:7",
		core: `^(retry|expect): expected a mapping \(key: value\), found a list \(- item\)$`,
		flow: "flow: f\nsteps: [{log: x}]\ntrigger:\n  queue:\n    name: q\n    retry:\n      - a\n",
		test: "now: 2026-11-23\ntimeout: 1s\ncases:\n  - name: x\n    call: {flow: f}\n    expect:\n      - a\n",
		// In a template, a mapping is expected only by $map, which says
		// what the mapping is for.
		mapping:    "output: json\ntemplate:\n  a:\n    $value: ${json.a}\n    $map_default: x\n    $map:\n      - a\n",
		mappingMsg: `map: $map takes a table of values (from: to), found a list (- item)`,
	},
	{
		name:    "missing required key",
		at:      "1:1",
		core:    `^(flow: )?missing required key "(steps|cases|template)" \(.+\)$`,
		flow:    "flow: f\ntrigger: {call: {}}\n",
		test:    "timeout: 1s\n",
		mapping: "output: json\n",
	},
	{
		name: "bad duration",
		at:   "4:18",
		core: `^(every|timeout): "5 seconds" is not a duration \(write e\.g\. 500ms, 2s, 10m, 1h\)$`,
		flow: "flow: f\nsteps: [{log: x}]\ntrigger:\n  timer: {every: 5 seconds}\n",
		test: "cases:\n  - name: x\n    call: {flow: f}\n    timeout:     5 seconds\n",
		// A mapping file has no duration.
	},
	{
		name:    "bad enum value, with a did-you-mean",
		at:      "4:42",
		core:    `^(level|encoding|output): "\w+" is not one of [a-z0-9, -]+; did you mean "(info|hex|json)"\?$`,
		flow:    "flow: f\ntrigger: {call: {}}\nsteps:\n  - log: {message: x,             level: inf}\n",
		test:    "cases:\n  - name: x\n    timeout: 1s\n    request: {path: /x, sign: {encoding: hexx, header: H, key: k}}\n",
		mapping: "template: {a: 1}\nroot: r\nschema: s.json\noutput:" + strings.Repeat(" ", 34) + "jsn\n",
	},
	{
		name:    "an alias is decoded as the node it names",
		at:      "3:37",
		core:    `^(description|message_status|root): expected text, found a list \(- item\)$`,
		flow:    "flow: f\nsteps: [{log: x}]\ntrigger: {http: {path: /x, methods: &m [GET]}}\ndescription: *m\n",
		test:    "cases:\n  - name: x\n    call: {flow: f,           body: &m [a]}\n    expect: {message_status: *m}\n",
		mapping: "output: json\nschema: s.json\ntemplate:" + strings.Repeat(" ", 27) + "&m [a]\nroot: *m\n",
	},
	{
		name:    "nothing (null) where text is expected",
		at:      "4:8",
		core:    `(path|name|schema): expected text, found nothing$`,
		flow:    "flow: f\ntrigger:\n http:\n  path:\nsteps: [{log: x}]\n",
		test:    "timeout: 1s\ncases:\n- call: {flow: f}\n  name:\n",
		mapping: "template: {a: 1}\nroot: r\noutput: json\nschema:\n",
	},
	{
		name:    "YAML syntax error",
		at:      "4:1",
		core:    `^invalid YAML: found character that cannot start any token \(is there a tab\? indent with spaces only\)$`,
		flow:    "flow: f\ntrigger: {call: {}}\nsteps:\n\t- log: x\n",
		test:    "timeout: 1s\nnow: 2026-11-23\ncases:\n\t- name: x\n",
		mapping: "output: json\nroot: r\ntemplate:\n\t- a: 1\n",
	},
}

func TestOneDecoderForFlowsTestsAndMappings(t *testing.T) {
	for _, row := range decodeRows {
		t.Run(row.name, func(t *testing.T) {
			dir := t.TempDir()
			core := regexp.MustCompile(row.core)
			check := func(kind, file string, err error, at string, match func(string) bool, want string) {
				t.Helper()
				var el flow.ErrorList
				if !errors.As(err, &el) || len(el) != 1 {
					t.Errorf("%s: want one error at %s, got %v", kind, at, err)
					return
				}
				e := el[0]
				if got := fmt.Sprintf("%d:%d", e.Pos.Line, e.Pos.Col); e.Pos.File != file || got != at {
					t.Errorf("%s: error at %s, want %s:%s: %v", kind, e.Pos, file, at, e)
				}
				if !match(e.Msg) {
					t.Errorf("%s: message %q, want %s", kind, e.Msg, want)
				}
			}

			flowFile := filepath.Join(dir, "f.yaml")
			_, err := flow.Load([]flow.Source{{Name: flowFile, Data: []byte(row.flow)}})
			check("flow", flowFile, err, row.at, core.MatchString, row.core)

			testFile := filepath.Join(dir, "x.test.yaml")
			write(t, testFile, row.test)
			_, err = flowtest.ParseFile(testFile)
			check("flow test", testFile, err, row.at, core.MatchString, row.core)

			if row.mapping == "" {
				return
			}
			mapFile := filepath.Join(dir, "m.map.yaml")
			write(t, mapFile, row.mapping)
			mapper := "flow: mapper\ntrigger: {call: {}}\nsteps:\n  - map: {file: m.map.yaml}\n"
			_, err = flow.Load([]flow.Source{{Name: filepath.Join(dir, "mapper.yaml"), Data: []byte(mapper)}})
			match, want := func(m string) bool { return core.MatchString(strings.TrimPrefix(m, "map: ")) }, `"map: " + `+row.core
			if row.mappingMsg != "" {
				match, want = func(m string) bool { return m == row.mappingMsg }, fmt.Sprintf("%q", row.mappingMsg)
			}
			check("mapping file", mapFile, err, row.at, match, want)
		})
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
