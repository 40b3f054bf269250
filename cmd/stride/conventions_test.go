package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/store"
)

// The conventions of the CLI: help on stdout, usage errors on stderr with
// exit 2, flags anywhere, suggestions for typos.

func TestHelpGoesToStdoutForEveryCommandAndSubcommand(t *testing.T) {
	var calls [][]string
	for _, c := range commands() {
		calls = append(calls, []string{c.name, "--help"}, []string{c.name, "-h"}, []string{"help", c.name})
	}
	calls = append(calls,
		[]string{"messages", "show", "--help"},
		[]string{"messages", "replay", "ID", "-h"},
		[]string{"store", "backup", "--help"},
		[]string{"store", "get", "S", "I", "--help"},
		[]string{"store", "restore", "FILE", "--data", "D", "--help"},
		[]string{"test", "flows", "--help"},
	)
	for _, args := range calls {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := cli(args...)
			name := args[0]
			if name == "help" {
				name = args[1]
			}
			if code != 0 || !strings.HasPrefix(stdout, "Usage: stride "+name+" ") || stderr != "" {
				t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant 0, the help on stdout, nothing on stderr", code, stdout, stderr)
			}
		})
	}
}

func TestUsageErrorsGoToStderrWithExit2(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--no-such-flag"},
		{"store"},
		{"store", "get", "S"},
		{"messages", "show"},
		{"messages", "show", "a", "b"},
		{"test", "--parallel"},
		{"validate", "--format", "xml"},
		{"schema", "--kind", "flwo"},
		{"schema", "extra"},
	} {
		code, stdout, stderr := cli(args...)
		if code != 2 || stdout != "" || stderr == "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2, nothing, the error", args, code, stdout, stderr)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"vaildate", "flows"}, `stride: unknown command "vaildate"; did you mean "validate"?`},
		{[]string{"mesages"}, `did you mean "messages"?`},
		{[]string{"help", "stauts"}, `stride: unknown command "stauts"; did you mean "status"?`},
		{[]string{"run", "--adrr", "x"}, "flag provided but not defined: --adrr; did you mean --addr?"},
		{[]string{"test", "--paralel", "2", "."}, "did you mean --parallel?"},
		{[]string{"messages", "--stauts", "FAILED"}, "did you mean --status?"},
		{[]string{"store", "get", "s", "i", "--revael"}, "did you mean --reveal?"},
		{[]string{"messages", "shwo", "ID"}, `stride messages: unknown subcommand "shwo"; did you mean "show"?`},
		{[]string{"store", "lss"}, `stride store: unknown subcommand "lss"; did you mean "ls"?`},
		{[]string{"validate", "--format", "jsno"}, `did you mean "json"?`},
		{[]string{"schema", "--kind", "flowtset"}, `did you mean "flowtest"?`},
	} {
		code, stdout, stderr := cli(tc.args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s\nwant 2 and %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
	// No suggestion for a word that is nothing like a flag.
	if _, _, stderr := cli("run", "--zzzzzzzz"); strings.Contains(stderr, "did you mean") {
		t.Errorf("a suggestion for --zzzzzzzz:\n%s", stderr)
	}
}

func TestFlagsMayFollowArguments(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(dir, store.Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.KV().Put(context.Background(), "users", "ADA1", []byte(`{"text":"{\"name\":\"Ada\"}"}`), store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	unsetEnv(t, "STRIDE_DATA_KEY")
	unsetEnv(t, "STRIDE_DATA")
	if code, out, errOut := cli("store", "get", "users", "ADA1", "--data", dir); code != 0 || !strings.Contains(out, "Ada") {
		t.Errorf("store get S I --data D: exit %d, %q %q", code, out, errOut)
	}
	if code, out, errOut := cli("store", "ls", "--data="+dir, "users", "--limit", "5"); code != 0 || out != "ADA1\n" {
		t.Errorf("store ls --data=D S --limit N: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := cli("messages", "replay", "NOPE", "--data", dir); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("messages replay ID --data D: exit %d, %q", code, errOut)
	}

	flows := t.TempDir()
	writeFiles(t, flows, map[string]string{
		"echo.yaml":      echoFlow,
		"echo.test.yaml": "cases:\n  - name: echoes\n    request: {path: /echo, body: hello}\n    expect: {body: hello}\n",
	})
	code, stdout, _ := cli("test", flows, "-v", "--run", "echoes")
	if p, f := summary(t, stdout); code != 0 || p != 1 || f != 0 || !strings.Contains(stdout, "--- PASS: echo/echoes") {
		t.Errorf("test PATH -v --run X: exit %d\n%s", code, stdout)
	}
	// After --, everything is an argument.
	code, _, stderr := cli("validate", "--", "--env")
	if code != 1 || !strings.Contains(stderr, "--env") {
		t.Errorf("validate -- --env: exit %d, stderr %q; want --env taken as a path", code, stderr)
	}
}

func TestValidateFormats(t *testing.T) {
	broken := filepath.Join("testdata", "broken")
	_, _, textErr := cli("validate", broken)
	textLines := lines(textErr)
	errs := textLines[:len(textLines)-1]

	code, stdout, stderr := cli("validate", "--format", "json", broken)
	if code != 1 || stderr != "" {
		t.Fatalf("json: exit %d, stderr %q; want 1 and nothing", code, stderr)
	}
	var report struct {
		OK     bool     `json:"ok"`
		Flows  int      `json:"flows"`
		Paths  []string `json:"paths"`
		Errors []struct {
			File    string `json:"file"`
			Line    int    `json:"line"`
			Col     int    `json:"col"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("json: %v\n%s", err, stdout)
	}
	if report.OK || len(report.Errors) != len(errs) {
		t.Fatalf("json: ok %v, %d errors; want false and the %d of the text output\n%s", report.OK, len(report.Errors), len(errs), stdout)
	}
	for i, e := range report.Errors {
		if got := e.File + ":" + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Col) + ": " + e.Message; got != errs[i] {
			t.Errorf("json error %d = %q, text has %q", i, got, errs[i])
		}
	}

	code, stdout, stderr = cli("validate", "--format=github", broken)
	if code != 1 || lastLine(stderr) != strconv.Itoa(len(errs))+" errors" {
		t.Fatalf("github: exit %d, stderr %q", code, stderr)
	}
	annotations := lines(stdout)
	if len(annotations) != len(errs) {
		t.Fatalf("github: %d annotations for %d errors:\n%s", len(annotations), len(errs), stdout)
	}
	for i, a := range annotations {
		e := report.Errors[i]
		want := "::error file=" + e.File + ",line=" + strconv.Itoa(e.Line) + ",col=" + strconv.Itoa(e.Col) + "::"
		if !strings.HasPrefix(a, want) || strings.Contains(a[len(want):], "\n") {
			t.Errorf("annotation %q, want the prefix %q", a, want)
		}
	}
	if got := ghData("50%\nmore"); got != "50%25%0Amore" {
		t.Errorf("ghData = %q", got)
	}
	if got := ghProperty("a:b,c"); got != "a%3Ab%2Cc" {
		t.Errorf("ghProperty = %q", got)
	}

	// Valid: the ok line as before, or the report.
	code, stdout, _ = cli("validate", "--format", "json", "../../flows")
	if err := json.Unmarshal([]byte(stdout), &report); err != nil || code != 0 || !report.OK || report.Flows == 0 || len(report.Errors) != 0 {
		t.Errorf("json of the shipped flows: exit %d, %v\n%s", code, err, stdout)
	}
	if !strings.Contains(stdout, `"errors": []`) {
		t.Errorf("no errors is an empty list:\n%s", stdout)
	}
	if code, stdout, _ := cli("validate", "--format", "github", "../../flows"); code != 0 || !strings.HasPrefix(stdout, "ok: ") {
		t.Errorf("github of the shipped flows: exit %d\n%s", code, stdout)
	}
	// A path that does not exist is an error without a line.
	missing := filepath.Join(t.TempDir(), "nowhere")
	if code, stdout, _ := cli("validate", "--format", "json", missing); code != 1 || !strings.Contains(stdout, `"line": 0`) || !strings.Contains(stdout, "nowhere") {
		t.Errorf("json of a missing path: exit %d\n%s", code, stdout)
	}
}

// junitReport is the part of JUnit XML the tests read.
type junitReport struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Time     float64  `xml:"time,attr"`
	Suites   []struct {
		Name     string  `xml:"name,attr"`
		Tests    int     `xml:"tests,attr"`
		Failures int     `xml:"failures,attr"`
		Errors   int     `xml:"errors,attr"`
		Time     float64 `xml:"time,attr"`
		Cases    []struct {
			Name      string  `xml:"name,attr"`
			Classname string  `xml:"classname,attr"`
			File      string  `xml:"file,attr"`
			Line      int     `xml:"line,attr"`
			Time      float64 `xml:"time,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestTestWritesJUnit(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"echo.yaml": echoFlow,
		"echo.test.yaml": `cases:
  - name: echoes
    request: {path: /echo, body: hello}
    expect: {body: hello}
  - name: echoes <wrong> & more
    request: {path: /echo, body: hello}
    expect:
      body: bye
`,
		"broken.test.yaml": "cases:\n  - name: nothing to run\n",
	})
	report := filepath.Join(t.TempDir(), "report.xml")
	code, stdout, _ := cli("test", dir, "--junit", report)
	if p, f := summary(t, stdout); code != 1 || p != 1 || f != 1 {
		t.Fatalf("exit %d, %d passed, %d failed; want 1, 1, 1\n%s", code, p, f, stdout)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var r junitReport
	if err := xml.Unmarshal(data, &r); err != nil {
		t.Fatalf("not XML: %v\n%s", err, data)
	}
	if r.Tests != 3 || r.Failures != 1 || r.Errors != 1 || len(r.Suites) != 2 {
		t.Fatalf("tests %d, failures %d, errors %d, suites %d; want 3, 1, 1, 2\n%s", r.Tests, r.Failures, r.Errors, len(r.Suites), data)
	}
	suites := map[string]int{}
	for i, s := range r.Suites {
		suites[filepath.Base(s.Name)] = i
	}
	echo := r.Suites[suites["echo.test.yaml"]]
	if echo.Tests != 2 || echo.Failures != 1 || len(echo.Cases) != 2 {
		t.Fatalf("echo suite: %+v", echo)
	}
	pass, fail := echo.Cases[0], echo.Cases[1]
	if pass.Name != "echoes" || pass.Classname != "echo" || pass.Line != 2 || pass.Failure != nil || pass.Time <= 0 {
		t.Errorf("passing case: %+v", pass)
	}
	echoFile := filepath.Join(dir, "echo.test.yaml")
	if fail.Name != "echoes <wrong> & more" || fail.File != echoFile || fail.Line != 5 || fail.Failure == nil {
		t.Fatalf("failing case: %+v", fail)
	}
	if want := echoFile + ":8: body"; !strings.HasPrefix(fail.Failure.Message, want) {
		t.Errorf("failure message %q, want it to start with %q", fail.Failure.Message, want)
	}
	if !strings.Contains(fail.Failure.Text, "- bye\n") || !strings.Contains(fail.Failure.Text, "+ hello") {
		t.Errorf("failure text without the diff:\n%s", fail.Failure.Text)
	}
	broken := r.Suites[suites["broken.test.yaml"]]
	if broken.Errors != 1 || len(broken.Cases) != 1 || broken.Cases[0].Error == nil ||
		!strings.Contains(broken.Cases[0].Error.Message, "broken.test.yaml:2:") {
		t.Errorf("a test file that does not load: %+v", broken)
	}

	// A report that cannot be written fails before the run.
	code, _, stderr := cli("test", dir, "--junit", filepath.Join(dir, "no", "such", "dir", "r.xml"))
	if code != 1 || !strings.Contains(stderr, "--junit") {
		t.Errorf("unwritable report: exit %d, %q", code, stderr)
	}
}

// TestSchemaKindsMatchCheckedInFiles keeps schemas/flowtest.schema.json
// and schemas/mapping.schema.json in step with the types they come from.
func TestSchemaKindsMatchCheckedInFiles(t *testing.T) {
	for _, k := range schemaKinds {
		want, err := os.ReadFile(filepath.Join("..", "..", k.file))
		if err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := cli("schema", "--kind", k.name)
		if code != 0 || stderr != "" {
			t.Fatalf("schema --kind %s: exit %d, %s", k.name, code, stderr)
		}
		if stdout != string(want) {
			t.Errorf("`stride schema --kind %s` differs from %s: regenerate it (stride schema --kind %s > %s)", k.name, k.file, k.name, k.file)
		}
	}
	_, flowSchema, _ := cli("schema")
	_, kindFlow, _ := cli("schema", "--kind", "flow")
	if flowSchema != kindFlow {
		t.Error("stride schema is not stride schema --kind flow")
	}
}

// TestMessagesAskTheServerWhenTheDataDirIsNotHere: a data directory that
// is not on this machine is no error while a stride runs: the commands
// ask its admin API.
func TestMessagesAskTheServerWhenTheDataDirIsNotHere(t *testing.T) {
	flows := t.TempDir()
	writeFiles(t, flows, map[string]string{"f.yaml": "flow: hello\ntrigger: {http: {path: /hello, methods: [GET]}}\nsteps:\n  - respond: {status: 200, body: hi}\n"})
	p := startStride(t, flows, nil)
	p.waitHealthy(t)
	resp, err := httpClient.Get("http://" + p.addr + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("flow answered %d", resp.StatusCode)
	}
	id := resp.Header.Get("X-Stride-Message-Id")
	elsewhere := filepath.Join(t.TempDir(), "not-here")
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out, errOut := cli("messages", "--data", elsewhere, "--admin-addr", p.admin)
		if code != 0 || !strings.Contains(errOut, "asking the admin API") {
			t.Fatalf("messages: exit %d, stderr %q", code, errOut)
		}
		if strings.Contains(out, id) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s not listed:\n%s", id, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, out, errOut := cli("store", "ls", "--data", elsewhere, "--admin-addr", p.admin); code != 0 {
		t.Errorf("store ls: exit %d, %q %q", code, out, errOut)
	}
	backup := filepath.Join(t.TempDir(), "b.backup")
	if code, out, errOut := cli("store", "backup", backup, "--data", elsewhere, "--admin-addr", p.admin); code != 0 || !strings.Contains(out, "through the admin API") {
		t.Errorf("store backup: exit %d, %q %q", code, out, errOut)
	}
	if st, err := os.Stat(backup); err != nil || st.Size() == 0 {
		t.Errorf("no backup written: %v", err)
	}
	// Without a server, the directory's error as before.
	code, _, errOut := cli("messages", "--data", elsewhere, "--admin-addr", freeAddr(t))
	if code != 1 || !strings.Contains(errOut, "--data "+elsewhere) || strings.Contains(errOut, "asking") {
		t.Errorf("no server: exit %d, %q", code, errOut)
	}
}
