package flowtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	_ "github.com/stride-engine/stride/steps" // registers the step kinds
)

// writeFiles writes name → content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runDir runs the tests under dir and returns the summary and output.
func runDir(t *testing.T, dir string, opts Options) (Summary, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	opts.Out, opts.Err = &out, &errOut
	sum := Run(context.Background(), []string{dir}, opts)
	return sum, out.String(), errOut.String()
}

// lineOf returns the 1-based line of the first occurrence of s in text.
func lineOf(t *testing.T, text, s string) int {
	t.Helper()
	i := strings.Index(text, s)
	if i < 0 {
		t.Fatalf("%q not in the text", s)
	}
	return strings.Count(text[:i], "\n") + 1
}

// greetFlow looks a user up in an API, stores the greeting, and answers
// 201 with it and today's date.
const greetFlow = `flow: greet
env: {API_URL: }
secrets: [API_KEY]
trigger: {http: {path: /greet, methods: [POST]}}
steps:
  - name: lookup
    request: {url: '${env.API_URL}/users/${json.user}', headers: {X-Key: '${secret.API_KEY}'}, into: property.user}
  - datastore_put: {store: greeted, id: '${json.user}', value: '${property.user.name}', overwrite: true}
  - respond:
      status: 201
      body: '${ {"greeting": "hello " + property.user.name, "day": format_date(now(), "yyyy-MM-dd")} }'
`

const greetHeader = `now: 2026-11-23T02:00:00Z
env: {API_URL: https://api.test}
secrets: {API_KEY: k-1}
cases:
`

func TestPassingCasesAndFixedClock(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"greet.yaml": greetFlow,
		"greet.test.yaml": greetHeader + `
  - name: greets a known user
    request: {method: POST, path: /greet, body: {user: ada}}
    mocks:
      - request: {method: GET, url: 'https://api.test/users/*'}
        respond: {body: {name: Ada}}
        expect: {calls: 1, headers: {X-Key: k-1}}
    expect:
      status: 201
      body: {greeting: hello Ada, day: '2026-11-23'}
      jsonpath: {$.greeting: {contains: Ada}}
      message_status: COMPLETED
      datastore: {greeted: {ada: {equals: Ada}}}
      enqueued: []
`,
	})
	sum, out, errOut := runDir(t, dir, Options{Verbose: true})
	if !sum.OK() || sum.Passed != 1 {
		t.Fatalf("summary %+v\n%s\n%s", sum, out, errOut)
	}
	if !strings.Contains(out, "--- PASS: greet/greets a known user (") {
		t.Errorf("-v does not print the passing case:\n%s", out)
	}
}

func TestFailureShowsDiffAndWhereTheRunDiverged(t *testing.T) {
	dir := t.TempDir()
	test := greetHeader + `
  - name: wrong expectations
    request: {method: POST, path: /greet, body: {user: ada}}
    mocks:
      - request: {method: GET, url: https://api.test/users/ada}
        respond: {body: {name: Ada}}
    expect:
      status: 200
      body: {greeting: hello Bob, day: '2026-11-23'}
      datastore: {greeted: {bob: present}}

  - name: the lookup fails
    request: {method: POST, path: /greet, body: {user: ada}}
    mocks:
      - request: {method: GET, url: https://api.test/users/ada}
        respond: {status: 404, body: no such user}
    expect: {status: 201}
`
	writeFiles(t, dir, map[string]string{"greet.yaml": greetFlow, "greet.test.yaml": test})
	sum, out, _ := runDir(t, dir, Options{})
	if sum.Passed != 0 || sum.Failed != 2 {
		t.Fatalf("summary %+v, want 2 failed\n%s", sum, out)
	}
	testFile, flowFile := filepath.Join(dir, "greet.test.yaml"), filepath.Join(dir, "greet.yaml")
	for _, want := range []string{
		fmt.Sprintf("--- FAIL: greet/wrong expectations (%s:%d, ", testFile, lineOf(t, test, "- name: wrong")),
		fmt.Sprintf("    status (line %d):\n        - 200\n        + 201\n", lineOf(t, test, "status: 200")),
		// a JSON body is compared as JSON and shown indented, line by line
		"    body (line ",
		"        -   \"greeting\": \"hello Bob\"\n        +   \"greeting\": \"hello Ada\"\n",
		"            \"day\": \"2026-11-23\",\n",
		"    datastore greeted/bob (line ",
		"        - present\n        + absent (entries: ada)\n",
		"    run: flow greet answered 201; message COMPLETED\n",
		fmt.Sprintf("    ended at %s:%d: step respond ended the message\n", flowFile, lineOf(t, greetFlow, "- respond")),
		fmt.Sprintf("    trace: lookup %s:7 → datastore_put :8 → respond :9 stopped\n", flowFile),
		// the second case: the step that failed, with the error
		"--- FAIL: greet/the lookup fails (",
		// a failed step's 4xx status is the reply's
		"        - 201\n        + 404\n",
		"    run: flow greet answered 404; message FAILED\n",
		"    error: greet / lookup (" + flowFile + ":7): GET https://api.test/users/ada answered 404: no such user\n",
		fmt.Sprintf("    diverged at %s:7: step greet / lookup failed\n", flowFile),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestRunSelectsCases(t *testing.T) {
	dir := t.TempDir()
	var cases strings.Builder
	for _, name := range []string{"greets ada", "greets bob", "refuses nobody"} {
		fmt.Fprintf(&cases, "  - name: %s\n    request: {method: GET, path: /greet}\n    expect: {status: 405}\n", name)
	}
	writeFiles(t, dir, map[string]string{"greet.yaml": greetFlow, "greet.test.yaml": greetHeader + cases.String()})
	for _, tc := range []struct {
		re   string
		want int
	}{{"greets", 2}, {"^greet/refuses", 1}, {"bob$", 1}, {"", 3}, {"nothing-matches", 0}} {
		opts := Options{}
		if tc.re != "" {
			opts.Run = regexp.MustCompile(tc.re)
		}
		sum, out, errOut := runDir(t, dir, opts)
		if sum.Passed != tc.want || sum.Failed != 0 {
			t.Errorf("--run %q: %+v, want %d passed\n%s%s", tc.re, sum, tc.want, out, errOut)
		}
		if tc.want == 0 && !strings.Contains(errOut, `no case matches --run "nothing-matches"`) {
			t.Errorf("no warning when --run selects nothing: %q", errOut)
		}
	}
}

// TestCasesRunInParallelInIsolation runs many cases at once (run it with
// -race): each has its own store, mocks and variables, and sees only its
// own fixtures.
func TestCasesRunInParallelInIsolation(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("cases:\n")
	const n = 24
	for i := range n {
		fmt.Fprintf(&b, `  - name: case %[1]d
    env: {API_URL: https://api-%[1]d.test}
    secrets: {API_KEY: key-%[1]d}
    request: {method: POST, path: /greet, body: '{"user":"u%[1]d"}'}
    datastore:
      greeted: {other%[1]d: earlier}
    mocks:
      - request: {method: GET, url: https://api-%[1]d.test/users/u%[1]d, headers: {X-Key: key-%[1]d}}
        respond: {body: '{"name":"N%[1]d"}'}
        expect: {calls: 1}
    expect:
      status: 201
      jsonpath: {$.greeting: hello N%[1]d}
      datastore: {greeted: 2}
`, i)
	}
	writeFiles(t, dir, map[string]string{"greet.yaml": greetFlow, "many.test.yaml": b.String()})
	sum, out, errOut := runDir(t, dir, Options{Parallel: 8})
	if sum.Passed != n || !sum.OK() {
		t.Fatalf("%+v\n%s%s", sum, out, errOut)
	}
}

func TestUnknownKeyIsAPositionedError(t *testing.T) {
	dir := t.TempDir()
	test := greetHeader + `  - name: typo
    request: {method: POST, path: /greet, body: '{}'}
    mocks:
      - request: {url: https://api.test/users/x}
        respnd: {status: 200}
    expect: {status: 201, bodyy: x}
`
	writeFiles(t, dir, map[string]string{"greet.yaml": greetFlow, "greet.test.yaml": test})
	file := filepath.Join(dir, "greet.test.yaml")
	_, err := ParseFile(file)
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		fmt.Sprintf(`%s:%d:9: mocks[0]: unknown key "respnd"; did you mean "respond"?`, file, lineOf(t, test, "respnd")),
		fmt.Sprintf(`%s:%d:27: expect: unknown key "bodyy"; did you mean "body"?`, file, lineOf(t, test, "bodyy")),
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	// Through Run: printed, counted, and nothing runs.
	sum, out, errOut := runDir(t, dir, Options{})
	if sum.OK() || sum.Errors != 1 || sum.Passed+sum.Failed != 0 {
		t.Errorf("summary %+v, want 1 error and no case run", sum)
	}
	if !strings.Contains(errOut, want[0]) || out != "" {
		t.Errorf("stderr:\n%s\nstdout:\n%s", errOut, out)
	}
}

func TestTestFileErrors(t *testing.T) {
	for _, tc := range []struct{ name, cases, want string }{
		{"no trigger input", "  - name: x\n    expect: {status: 200}\n", `case "x": give one trigger input: request, queue, timer or call`},
		{"two trigger inputs", "  - name: x\n    request: {path: /greet}\n    timer: {flow: greet}\n", `case "x": one trigger input per case, but it has request and timer`},
		{"no name", "  - request: {path: /greet}\n", `cases[0]: missing required key "name"`},
		{"duplicate name", "  - name: x\n    request: {path: /greet}\n  - name: x\n    request: {path: /greet}\n", `a case named "x" is already at line`},
		{"body and body_file", "  - name: x\n    request: {path: /greet, body: a, body_file: b.json}\n", "request: body and body_file exclude each other"},
		{"missing file", "  - name: x\n    request: {path: /greet, body_file: nothing.json}\n", "nothing.json: no such file or directory"},
		{"path with query", "  - name: x\n    request: {path: '/greet?a=1'}\n", "put query parameters under query:"},
		{"mock without url", "  - name: x\n    request: {path: /greet}\n    mocks: [{request: {method: GET}}]\n", "mocks[0].request: give url (with * wildcards) or url_regex"},
		{"bad regex", "  - name: x\n    request: {path: /greet}\n    mocks: [{request: {url_regex: '('}}]\n", "mocks[0].request.url_regex: error parsing regexp"},
		{"bad jsonpath", "  - name: x\n    request: {path: /greet}\n    expect: {jsonpath: {'$..[': 1}}\n", `jsonpath "$..[":`},
		{"properties of a request", "  - name: x\n    request: {path: /greet}\n    expect: {properties: {a: 1}}\n", "a request case cannot see the message's properties"},
		{"status of a call", "  - name: x\n    call: {flow: greet}\n    expect: {status: 200}\n", "for a call case use message_status"},
		{"wrong type", "  - name: x\n    request: {path: /greet}\n    expect: {status: ok}\n", `status: expected a whole number, found the value "ok"`},
		{"bad time", "now: yesterday\ncases:\n  - name: x\n    request: {path: /greet}\n", `now: "yesterday" is not a time`},
		{"bad duration", "  - name: x\n    timeout: 5 seconds\n    request: {path: /greet}\n", `timeout: "5 seconds" is not a duration (write e.g. 500ms, 2s, 10m, 1h)`},
		{"bad signature encoding", "  - name: x\n    request: {path: /greet, sign: {header: H, key: k, encoding: hexx}}\n", `encoding: "hexx" is not one of base64, hex; did you mean "hex"?`},
		{"nothing where a mapping is expected", "  - name: x\n    request: {path: /greet}\n    mocks: [{request: {url: x}, respond: {headers: }}]\n", `headers: expected a mapping (name: value), found nothing`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			content := "cases:\n" + tc.cases
			if strings.HasPrefix(tc.cases, "now:") {
				content = tc.cases
			}
			writeFiles(t, dir, map[string]string{"x.test.yaml": content})
			_, err := ParseFile(filepath.Join(dir, "x.test.yaml"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if !regexp.MustCompile(`x\.test\.yaml:\d+:\d+: `).MatchString(err.Error()) {
				t.Errorf("error without file:line:col: %v", err)
			}
		})
	}
}

func TestUnknownFlowOfACaseIsReported(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"greet.yaml":      greetFlow,
		"greet.test.yaml": greetHeader + "  - name: x\n    queue: {flow: greeter}\n  - name: y\n    call: {flow: greet}\n",
	})
	sum, out, _ := runDir(t, dir, Options{})
	if sum.Failed != 2 {
		t.Fatalf("%+v\n%s", sum, out)
	}
	for _, want := range []string{
		`queue.flow: no flow "greeter" under ` + dir + ` (queue flows: none)`,
		"call.flow: flow greet (" + filepath.Join(dir, "greet.yaml") + ":1) has a http trigger, not call",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestUnmatchedOutboundRequestFailsNamingIt(t *testing.T) {
	dir := t.TempDir()
	test := greetHeader + `  - name: forgot a mock
    request: {method: POST, path: /greet, body: {user: ada}}
    mocks:
      - request: {method: GET, url: https://api.test/groups/*}
        respond: {body: '[]'}
      - request: {method: POST, url_regex: '^https://api\.test/users/.*$'}
    expect: {status: 500}
`
	writeFiles(t, dir, map[string]string{"greet.yaml": greetFlow, "greet.test.yaml": test})
	sum, out, _ := runDir(t, dir, Options{})
	if sum.Failed != 1 {
		t.Fatalf("an unmatched request did not fail the case: %+v\n%s", sum, out)
	}
	file := filepath.Join(dir, "greet.test.yaml")
	for _, want := range []string{
		"    outbound request:\n        outbound request without a mock: GET https://api.test/users/ada\n",
		"          no mock matches; the case's mocks are:\n",
		fmt.Sprintf("            1. GET https://api.test/groups/* (%s:%d)\n", file, lineOf(t, test, "- request: {method: GET")),
		fmt.Sprintf("            2. POST /^https://api\\.test/users/.*$/ (%s:%d)\n", file, lineOf(t, test, "- request: {method: POST, url_regex")),
		// answered 421 so that no retry waits: the case is quick
		"answered 421",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestNoConsumersNoTimers: a queue flow does not consume what a case
// enqueued, and a timer flow does not fire, so neither makes requests the
// case did not ask for; the enqueued message is read back.
func TestNoConsumersNoTimers(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"in.yaml":   "flow: in\ntrigger: {http: {path: /in, methods: [POST]}}\nsteps:\n  - enqueue: {queue: work, headers: [X-Trace]}\n  - respond: {status: 202}\n",
		"work.yaml": "flow: work\ntrigger: {queue: {name: work, key: '${json.id}'}}\nsteps:\n  - request: {method: POST, url: 'https://sink.test/work'}\n",
		"tick.yaml": "flow: tick\ntrigger: {timer: {every: 1s}}\nsteps:\n  - request: {method: POST, url: 'https://sink.test/tick'}\n",
		"in.test.yaml": `cases:
  - name: queued, not consumed
    request: {method: POST, path: /in, body: {id: a1}, headers: {X-Trace: t-1}}
    expect:
      status: 202
      enqueued:
        - {queue: work, count: 1, key: a1, body: {id: a1}, headers: {X-Trace: t-1}}
  - name: the consumer runs on demand
    queue: {flow: work, body: '{"id":"a1"}'}
    mocks:
      - request: {method: POST, url: https://sink.test/work}
        respond: {status: 500}
    expect: {message_status: FAILED, retry: true, error_contains: answered 500}
  - name: the timer runs on demand
    timer: {flow: tick}
    mocks:
      - request: {method: POST, url: https://sink.test/tick}
        expect: {calls: 1}
    expect: {message_status: COMPLETED}
`,
	})
	sum, out, errOut := runDir(t, dir, Options{})
	if !sum.OK() || sum.Passed != 3 {
		t.Fatalf("%+v\n%s%s", sum, out, errOut)
	}
}

func TestQueueCaseAndPermanentFailure(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"q.yaml": `flow: q
trigger: {queue: {name: jobs}}
steps:
  - route:
      - when: json.kind == "bad"
        steps: [{fail: {message: 'bad job ${json.id}', retry: false}}]
  - set: {properties: {seen: '${json.id}', source: '${property.source}'}, headers: {X-Done: 'yes'}}
  - datastore_delete: {store: jobs, id: '${json.id}'}
`,
		"q.test.yaml": `cases:
  - name: a job is done
    queue: {flow: q, body: {id: j1, kind: good}, properties: {source: webhook}}
    datastore: {jobs: {j1: {value: {state: open}, content_type: application/json}, j2: pending}}
    expect:
      message_status: COMPLETED
      properties: {seen: j1, source: webhook, nothing: {absent: true}}
      headers: {X-Done: 'yes'}
      body: {kind: good, id: j1}
      datastore: {jobs: {j1: absent, j2: {equals: pending}}}
  - name: a bad job is not retried
    queue: {flow: q, body: {id: j3, kind: bad}}
    expect: {message_status: FAILED, retry: false, error_contains: bad job j3}
`,
	})
	sum, out, errOut := runDir(t, dir, Options{})
	if !sum.OK() || sum.Passed != 2 {
		t.Fatalf("%+v\n%s%s", sum, out, errOut)
	}
}

func TestSignedRequestAndPolicies(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"hook.yaml": `flow: hook
secrets: [HOOK_SECRET]
trigger:
  http:
    path: /hook
    methods: [POST]
    max_body: 64
    policies:
      - verify_signature: {header: X-Hub-Signature-256, algorithm: hmac-sha256, encoding: hex, prefix: 'sha256=', key: '${secret.HOOK_SECRET}'}
steps:
  - respond: {status: 204}
`,
		"hook.test.yaml": `secrets: {HOOK_SECRET: s3cret}
cases:
  - name: signed
    request: {path: /hook, body: '{"a":1}', sign: {header: X-Hub-Signature-256, algorithm: hmac-sha256, encoding: hex, prefix: 'sha256=', key: s3cret}}
    expect: {status: 204, message_status: COMPLETED}
  - name: wrong key
    request: {path: /hook, body: '{"a":1}', sign: {header: X-Hub-Signature-256, encoding: hex, prefix: 'sha256=', key: guess}}
    expect: {status: 401, message_status: DISCARDED, body: {error: invalid signature}}
  - name: too large
    request: {path: /hook, body: '` + strings.Repeat("x", 65) + `'}
    expect: {status: 413, message_status: '(no message ran: the runtime answered by itself)'}
  - name: unknown path
    request: {path: /nothing}
    expect: {status: 404}
`,
	})
	sum, out, errOut := runDir(t, dir, Options{})
	if !sum.OK() || sum.Passed != 4 {
		t.Fatalf("%+v\n%s%s", sum, out, errOut)
	}
}

// sign: signs a timestamp (or the URL) with the body when the provider
// does, at the case's now or at signed_at, so a replay can be tested.
func TestSignTimestampAndURLWithTheBody(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"ts.yaml": `flow: ts
secrets: [HOOK_SECRET]
trigger:
  http:
    path: /ts
    policies:
      - verify_signature:
          header: X-Signature
          prefix: 'v0='
          encoding: hex
          key: '${secret.HOOK_SECRET}'
          data: 'v0:${header["X-Request-Timestamp"]}:${body}'
          timestamp: '${header["X-Request-Timestamp"]}'
steps:
  - respond: {status: 204}
`,
		"url.yaml": `flow: url
secrets: [HOOK_SECRET]
trigger:
  http:
    path: /url
    policies:
      - verify_signature: {header: X-Signature, key: '${secret.HOOK_SECRET}', data: 'https://${request.host}${request.uri}${body}'}
steps:
  - respond: {status: 204}
`,
		"sig.test.yaml": `now: 2026-11-23T07:00:00Z
secrets: {HOOK_SECRET: s3cret}
cases:
  - name: timestamp and body
    request: {path: /ts, body: '{"a":1}', sign: {header: X-Signature, encoding: hex, prefix: 'v0=', key: s3cret, data: 'v0:{timestamp}:{body}', timestamp_header: X-Request-Timestamp}}
    expect: {status: 204}
  - name: a replay signed an hour ago
    request: {path: /ts, body: '{"a":1}', sign: {header: X-Signature, encoding: hex, prefix: 'v0=', key: s3cret, data: 'v0:{timestamp}:{body}', timestamp_header: X-Request-Timestamp, signed_at: 2026-11-23T06:00:00Z}}
    expect: {status: 401, message_status: DISCARDED}
  - name: URL and body
    request: {path: /url, query: {user: ada}, body: 'x', sign: {header: X-Signature, key: s3cret, data: 'https://{host}{uri}{body}'}}
    expect: {status: 204}
`,
	})
	sum, out, errOut := runDir(t, dir, Options{})
	if !sum.OK() || sum.Passed != 3 {
		t.Fatalf("%+v\n%s%s", sum, out, errOut)
	}
}

func TestXPathAndTextMatchers(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"x.yaml": "flow: x\ntrigger: {call: {}}\nsteps:\n  - json_to_xml: {root: order}\n",
		"x.test.yaml": `cases:
  - name: converted
    call: {flow: x, body: {id: 7, lines: [{sku: a}, {sku: b}]}}
    expect:
      xpath:
        /order/id: 7
        count(/order/lines): 2
        /order/lines[2]/sku: {matches: '^[ab]$'}
        /order/missing: {absent: true}
      body_contains: [<order>, <sku>a</sku>]
`,
	})
	sum, out, errOut := runDir(t, dir, Options{})
	if !sum.OK() || sum.Passed != 1 {
		t.Fatalf("%+v\n%s%s", sum, out, errOut)
	}
}

func TestLineDiff(t *testing.T) {
	got := lineDiff("a\nb\nc\nd", "a\nB\nc\nd\ne")
	want := []string{"  a", "- b", "+ B", "  c", "  d", "+ e"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lineDiff = %q, want %q", got, want)
	}
	if got := lineDiff("1", "2"); strings.Join(got, "|") != "- 1|+ 2" {
		t.Errorf("one line: %q", got)
	}
}

// TestREADMEWorkedExampleRuns runs the worked example of flows/README.md
// against a copy of the shipped flows, so that the documentation cannot
// drift from what works.
func TestREADMEWorkedExampleRuns(t *testing.T) {
	readme, err := os.ReadFile("../flows/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### A worked example")
	if !ok {
		t.Fatal("flows/README.md has no worked example")
	}
	_, block, _ := strings.Cut(section, "```yaml\n")
	block, _, _ = strings.Cut(block, "```")
	root := t.TempDir()
	for _, dir := range []string{"flows", "schemas"} {
		if err := os.CopyFS(filepath.Join(root, dir), os.DirFS(filepath.Join("..", dir))); err != nil {
			t.Fatal(err)
		}
	}
	writeFiles(t, root, map[string]string{"flows/fitbit/readme-example.test.yaml": block})
	sum, out, errOut := runDir(t, filepath.Join(root, "flows"), Options{Run: regexp.MustCompile(`^readme-example/`)})
	if !sum.OK() || sum.Passed != 1 {
		t.Fatalf("the README example does not pass: %+v\n%s%s", sum, out, errOut)
	}
}

// The whole shipped suite, twice at once in one process, with many cases
// in parallel: runtimes share no tokens, locks, connections or stores, so
// every case passes as it does alone (and -race finds no shared state).
func TestShippedSuiteRunsInParallelInOneProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every shipped flow test twice")
	}
	var wg sync.WaitGroup
	sums := make([]Summary, 2)
	outs := make([]strings.Builder, 2)
	for i := range sums {
		wg.Go(func() {
			sums[i] = Run(context.Background(), []string{"../flows"}, Options{Parallel: 8, Out: &outs[i]})
		})
	}
	wg.Wait()
	for i, sum := range sums {
		if !sum.OK() || sum.Passed == 0 {
			t.Errorf("run %d: %d passed, %d failed, %d errors\n%s", i, sum.Passed, sum.Failed, sum.Errors, outs[i].String())
		}
	}
	if sums[0].Passed != sums[1].Passed {
		t.Errorf("the two runs passed %d and %d cases", sums[0].Passed, sums[1].Passed)
	}
}

// TestIncludedFixturesAreSharedUnderTheFilesOwn: a folder's fixture file
// gives every case of the files that include it its clock, variables,
// datastore entries and mocks; the test file's and the case's own win,
// and a case's mocks answer before the shared ones.
func TestIncludedFixturesAreSharedUnderTheFilesOwn(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"greet.yaml": greetFlow,
		"shared/api.fixtures.yaml": `now: 2026-11-23T02:00:00Z
env: {API_URL: https://api.test}
secrets: {API_KEY: shared-key}
datastore:
  greeted: {old: Bob}
mocks:
  - request: {method: GET, url: 'https://api.test/users/*'}
    respond: {body_file: ada.json}
`,
		"shared/ada.json": `{"name": "Ada"}`,
		"greet.test.yaml": `include: [shared/api.fixtures.yaml]
secrets: {API_KEY: k-1}
cases:
  - name: the shared mock answers and the file's secret wins
    request: {method: POST, path: /greet, body: {user: ada}}
    expect:
      body: {greeting: hello Ada, day: '2026-11-23'}
      datastore: {greeted: {ada: {equals: Ada}, old: {equals: Bob}}}
  - name: the case's mock answers first
    request: {method: POST, path: /greet, body: {user: ada}}
    mocks:
      - request: {method: GET, url: https://api.test/users/ada}
        respond: {body: {name: Grace}}
        expect: {calls: 1, headers: {X-Key: k-1}}
    expect: {body_contains: hello Grace}
`,
	})
	sum, out, errOut := runDir(t, dir, Options{})
	if !sum.OK() || sum.Passed != 2 {
		t.Fatalf("summary %+v\n%s\n%s", sum, out, errOut)
	}
	writeFiles(t, dir, map[string]string{"greet.test.yaml": "include: [shared/nope.fixtures.yaml, shared/ada.json]\ncases:\n  - {name: x, request: {path: /greet}}\n"})
	sum, out, errOut = runDir(t, dir, Options{})
	if sum.OK() || !strings.Contains(out+errOut, "greet.test.yaml:1:1: include: ") || !strings.Contains(out+errOut, `include "shared/ada.json": a fixture file's name ends in .fixtures.yaml`) {
		t.Errorf("bad includes: %+v\n%s\n%s", sum, out, errOut)
	}
}

// TestFollowRunsTheQueuedMessagesThroughTheirConsumers: follow: true runs
// what a request queued through the consumer (and what that queues), and
// a consumer that fails fails the case, naming the queue and the flow.
func TestFollowRunsTheQueuedMessagesThroughTheirConsumers(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"hook.yaml":  "flow: hook\ntrigger: {http: {path: /hook, methods: [POST]}}\nsteps:\n  - enqueue: {queue: first}\n  - respond: {status: 204}\n",
		"first.yaml": "flow: first\ntrigger: {queue: {name: first}}\nsteps:\n  - enqueue: {queue: second}\n",
		"second.yaml": "flow: second\ntrigger: {queue: {name: second}}\nsteps:\n  - filter: json.ok\n" +
			"  - datastore_put: {store: seen, id: '${json.id}', value: done}\n",
		"hook.test.yaml": `cases:
  - name: followed to the end
    request: {path: /hook, body: {id: m1, ok: true}}
    follow: true
    expect: {status: 204, enqueued: [], datastore: {seen: {m1: {equals: done}}}}
  - name: a consumer that fails fails the case
    request: {path: /hook, body: {id: m2}}
    follow: true
    expect: {status: 204}
`,
	})
	sum, out, errOut := runDir(t, dir, Options{})
	if sum.Passed != 1 || sum.Failed != 1 || !strings.Contains(out, "follow: the message on queue second failed in flow second") {
		t.Errorf("summary %+v\n%s\n%s", sum, out, errOut)
	}
}
