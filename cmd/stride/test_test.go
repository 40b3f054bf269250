package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// strideTest runs `stride test args...`: the real binary when it was
// built (the flows' tests then run in a process of their own, as in
// `make test`), else in-process.
func strideTest(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	if strideBin == "" {
		return cli(append([]string{"test"}, args...)...)
	}
	cmd := exec.Command(strideBin, append([]string{"test"}, args...)...)
	cmd.Env = childEnv()
	var out, errOut syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errOut.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, out.String(), errOut.String()
}

var summaryRE = regexp.MustCompile(`^(\d+) passed, (\d+) failed$`)

// summary returns the counts of the last line, which must be the summary.
func summary(t *testing.T, stdout string) (passed, failed int) {
	t.Helper()
	m := summaryRE.FindStringSubmatch(lastLine(stdout))
	if m == nil {
		t.Fatalf("last line %q is not `N passed, M failed`:\n%s", lastLine(stdout), stdout)
	}
	passed, _ = strconv.Atoi(m[1])
	failed, _ = strconv.Atoi(m[2])
	return passed, failed
}

// TestShippedFlowsPassTheirTests runs the tests of every shipped flow.
func TestShippedFlowsPassTheirTests(t *testing.T) {
	code, stdout, stderr := strideTest(t, "../../flows")
	passed, failed := summary(t, stdout)
	if code != 0 || failed != 0 {
		t.Fatalf("exit %d, %d failed\nstdout:\n%s\nstderr:\n%s", code, failed, stdout, stderr)
	}
	if passed < 40 {
		t.Errorf("only %d cases passed; the shipped flows have more tests", passed)
	}
	if strings.TrimSpace(stdout) != lastLine(stdout) {
		t.Errorf("passing cases print nothing without -v:\n%s", stdout)
	}
}

const echoFlow = "flow: echo\ntrigger: {http: {path: /echo, methods: [POST]}}\nsteps:\n  - respond: {status: 200, body: '${body}'}\n"

func TestTestCommandFailureExitsOne(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"echo.yaml": echoFlow,
		"echo.test.yaml": `cases:
  - name: echoes
    request: {path: /echo, body: hello}
    expect: {status: 200, body: hello}
  - name: expects too much
    request: {path: /echo, body: hello}
    expect: {status: 200, body: goodbye}
`,
	})
	code, stdout, stderr := cli("test", "-v", dir)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if p, f := summary(t, stdout); p != 1 || f != 1 {
		t.Errorf("%d passed, %d failed; want 1 and 1", p, f)
	}
	file := filepath.Join(dir, "echo.test.yaml")
	for _, want := range []string{
		"--- PASS: echo/echoes (" + file + ":2, ",
		"--- FAIL: echo/expects too much (" + file + ":5, ",
		"    body (line 7):\n        - goodbye\n        + hello\n",
		"    ended at " + filepath.Join(dir, "echo.yaml") + ":4: step respond ended the message\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if stderr != "" {
		t.Errorf("stderr = %q", stderr)
	}
	assertNoPanic(t, stdout)

	// --run picks the passing one only.
	code, stdout, _ = cli("test", "--run", "echo/echoes$", dir)
	if p, f := summary(t, stdout); code != 0 || p != 1 || f != 0 {
		t.Errorf("--run: exit %d, %d passed, %d failed; want 0, 1, 0\n%s", code, p, f, stdout)
	}
}

func TestTestCommandLoadErrorsExitOne(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"echo.yaml":      echoFlow,
		"echo.test.yaml": "cases:\n  - name: typo\n    request: {path: /echo}\n    expect: {stauts: 200}\n",
		"bad/flow.yaml":  "flow: bad\ntrigger: {http: {path: /bad}}\nsteps:\n  - sett: {body: x}\n",
	})
	code, stdout, stderr := cli("test", dir)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		filepath.Join(dir, "echo.test.yaml") + `:4:14: expect: unknown key "stauts"; did you mean "status"?`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if lastLine(stdout) != "0 passed, 0 failed" {
		t.Errorf("last line %q", lastLine(stdout))
	}

	// A flow that does not load: its errors with positions, the cases not run.
	writeFiles(t, dir, map[string]string{"echo.test.yaml": "cases:\n  - name: fine\n    request: {path: /echo}\n"})
	code, stdout, stderr = cli("test", dir)
	if code != 1 || !strings.Contains(stderr, filepath.Join(dir, "bad", "flow.yaml")+`:4:5: unknown step kind "sett"`) {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	if p, f := summary(t, stdout); p != 0 || f != 1 {
		t.Errorf("%d passed, %d failed; want the case counted failed\n%s", p, f, stdout)
	}
	assertNoPanic(t, stdout+stderr)
}

func TestTestCommandArguments(t *testing.T) {
	code, _, stderr := cli("test", "--run", "(", ".")
	if code != 2 || !strings.Contains(stderr, "--run") {
		t.Errorf("bad --run: exit %d, stderr %q", code, stderr)
	}
	code, stdout, stderr := cli("test", filepath.Join(t.TempDir(), "missing"))
	if code != 1 || !strings.Contains(stderr, "no such file or directory") || lastLine(stdout) != "0 passed, 0 failed" {
		t.Errorf("missing path: exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	// A directory without test files is not an error.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"echo.yaml": echoFlow})
	code, stdout, stderr = cli("test", dir)
	if code != 0 || !strings.Contains(stderr, "no test files") || lastLine(stdout) != "0 passed, 0 failed" {
		t.Errorf("no test files: exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
}
