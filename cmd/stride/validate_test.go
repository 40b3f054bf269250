package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// writeFiles writes name → content under dir, creating sub-directories.
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

// httpFlow is a minimal valid flow answering GET path with 204.
func httpFlow(id, path string) string {
	return "flow: " + id + "\ntrigger: {http: {path: " + path + ", methods: [GET]}}\nsteps:\n  - respond: {status: 204}\n"
}

// needyFlow declares NEEDED_VAR as required (no default).
const needyFlow = "flow: needy\nenv: {NEEDED_VAR: }\ntrigger: {http: {path: /needy, methods: [GET]}}\nsteps:\n  - respond: {status: 200, body: '${env.NEEDED_VAR}'}\n"

// unsetEnv unsets name for the test and restores it after.
func unsetEnv(t *testing.T, name string) {
	t.Setenv(name, "")
	os.Unsetenv(name)
}

// lines splits output into its lines, without the final newline.
func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// assertNoPanic fails when output looks like a Go panic or stack trace.
func assertNoPanic(t *testing.T, output string) {
	t.Helper()
	for _, bad := range []string{"panic:", "goroutine ", "runtime error", ".go:"} {
		if strings.Contains(output, bad) {
			t.Errorf("output contains %q, a Go panic or stack trace:\n%s", bad, output)
		}
	}
}

func TestValidateValidDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.yaml":     httpFlow("a", "/a"),
		"sub/b.yaml": httpFlow("b", "/b"),
		"README.md":  "not a flow: [",
	})
	code, stdout, stderr := cli("validate", dir)
	if code != 0 {
		t.Fatalf("exit %d, want 0\nstderr: %s", code, stderr)
	}
	if stderr != "" {
		t.Errorf("stderr = %q, want nothing", stderr)
	}
	out := lines(stdout)
	if len(out) != 1 {
		t.Fatalf("want one summary line, got %d:\n%s", len(out), stdout)
	}
	if want := "ok: 2 flows in " + dir + " valid"; out[0] != want {
		t.Errorf("summary = %q, want %q", out[0], want)
	}
}

func TestValidateDefaultsToStrideFlows(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"one.yaml": httpFlow("one", "/one")})
	t.Setenv("STRIDE_FLOWS", dir)
	code, stdout, stderr := cli("validate")
	if code != 0 || stdout != "ok: 1 flow in "+dir+" valid\n" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0 and the one flow of $STRIDE_FLOWS", code, stdout, stderr)
	}
}

func TestValidateSeveralPaths(t *testing.T) {
	dir1, dir2 := t.TempDir(), t.TempDir()
	writeFiles(t, dir1, map[string]string{"a.yaml": httpFlow("a", "/a")})
	writeFiles(t, dir2, map[string]string{"b.yaml": httpFlow("b", "/b")})
	single := filepath.Join(dir2, "b.yaml")
	code, stdout, stderr := cli("validate", dir1, single)
	if want := "ok: 2 flows in " + dir1 + ", " + single + " valid\n"; code != 0 || stdout != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0 and %q", code, stdout, stderr, want)
	}
}

var errorLine = regexp.MustCompile(`^(.+\.yaml):(\d+):(\d+): (\S.*)$`)

func TestValidateReportsEveryError(t *testing.T) {
	dir := filepath.Join("testdata", "broken")
	code, stdout, stderr := cli("validate", dir)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	assertNoPanic(t, stderr)
	out := lines(stderr)
	if len(out) < 3 {
		t.Fatalf("want at least two errors and a count line:\n%s", stderr)
	}
	errs, count := out[:len(out)-1], out[len(out)-1]
	if want := strconv.Itoa(len(errs)) + " errors"; count != want {
		t.Errorf("last line = %q, want the count %q", count, want)
	}
	files := map[string]bool{}
	for _, l := range errs {
		m := errorLine.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("error line %q is not file:line:col: message", l)
			continue
		}
		files[filepath.Base(m[1])] = true
	}
	for _, f := range []string{"unknown-step.yaml", "tab.yaml"} {
		if !files[f] {
			t.Errorf("no error names %s:\n%s", f, stderr)
		}
	}
	// The positions point at the offending token.
	for _, want := range []string{
		filepath.Join(dir, "tab.yaml") + ":2:1: ",
		filepath.Join(dir, "unknown-step.yaml") + `:4:5: unknown step kind "respnd"`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("no error %q in:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stderr, `did you mean "respond"`) {
		t.Errorf("the unknown step kind has no suggestion:\n%s", stderr)
	}
}

func TestValidateCountsOneError(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.yaml": httpFlow("a", "/a"), "b.yaml": httpFlow("a", "/b")})
	code, stdout, stderr := cli("validate", dir)
	out := lines(stderr)
	if code != 1 || stdout != "" || len(out) != 2 || out[1] != "1 error" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant 1, one error and the line %q", code, stdout, stderr, "1 error")
	}
	if !errorLine.MatchString(out[0]) || !strings.Contains(out[0], `flow id "a" is already used`) {
		t.Errorf("error line = %q", out[0])
	}
}

func TestValidateMissingPath(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere")
	code, stdout, stderr := cli("validate", missing)
	if code != 1 || stdout != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", code, stdout)
	}
	if out := lines(stderr); len(out) != 1 || !strings.HasPrefix(out[0], "stride validate: ") || !strings.Contains(out[0], missing) {
		t.Errorf("stderr = %q, want one line naming %s", stderr, missing)
	}
}

func TestValidateSkipsTestAndMapFiles(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.yaml":          httpFlow("a", "/a"),
		"a.test.yaml":     "this: [is not, a flow\n",
		"fitbit.map.yaml": "\tnot: yaml: at all\n",
		".hidden/x.yaml":  "broken: [\n",
	})
	code, stdout, stderr := cli("validate", dir)
	if code != 0 {
		t.Fatalf("exit %d, want 0 (.test.yaml, .map.yaml and dot directories are not flows)\nstderr: %s", code, stderr)
	}
	if want := "ok: 1 flow in " + dir + " valid\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
}

func TestValidateEnv(t *testing.T) {
	unsetEnv(t, "NEEDED_VAR")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"needy.yaml": needyFlow, "plain.yaml": httpFlow("plain", "/plain")})

	t.Run("without --env the variables are not checked", func(t *testing.T) {
		if code, _, stderr := cli("validate", dir); code != 0 {
			t.Errorf("exit %d, want 0\nstderr: %s", code, stderr)
		}
	})
	t.Run("missing", func(t *testing.T) {
		code, stdout, stderr := cli("validate", "--env", dir)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		if stdout != "" {
			t.Errorf("stdout = %q, want nothing", stdout)
		}
		out := lines(stderr)
		if len(out) != 1 {
			t.Fatalf("want one line (only needy is affected):\n%s", stderr)
		}
		if want := filepath.Join(dir, "needy.yaml") + ":1:7: flow needy would not start: "; !strings.HasPrefix(out[0], want) || !strings.Contains(out[0], "NEEDED_VAR") {
			t.Errorf("stderr = %q, want %q... naming NEEDED_VAR", out[0], want)
		}
	})
	t.Run("from the env file", func(t *testing.T) {
		code, stdout, stderr := cli("validate", "--env", "--env-file", filepath.Join("testdata", "vars.env"), dir)
		if code != 0 || stdout != "ok: 2 flows in "+dir+" valid\n" {
			t.Errorf("exit %d, stdout %q, stderr %q; want 0", code, stdout, stderr)
		}
	})
	t.Run("from the process", func(t *testing.T) {
		t.Setenv("NEEDED_VAR", "x")
		empty := filepath.Join(t.TempDir(), "empty.env")
		writeFiles(t, filepath.Dir(empty), map[string]string{"empty.env": "# nothing\n"})
		code, _, stderr := cli("validate", "--env", "--env-file", empty, dir)
		if code != 0 {
			t.Errorf("exit %d, want 0\nstderr: %s", code, stderr)
		}
	})
	t.Run("env file missing", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "missing.env")
		code, _, stderr := cli("validate", "--env", "--env-file", missing, dir)
		if code != 1 || !strings.Contains(stderr, missing) {
			t.Errorf("exit %d, stderr %q; want 1 naming %s", code, stderr, missing)
		}
	})
	t.Run("env file malformed", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.env")
		writeFiles(t, filepath.Dir(bad), map[string]string{"bad.env": "# ok\nNEEDED_VAR=1\nthis line has no equals sign\n"})
		code, _, stderr := cli("validate", "--env", "--env-file", bad, dir)
		if code != 1 || !strings.Contains(stderr, bad+":3: expected KEY=VALUE") {
			t.Errorf("exit %d, stderr %q; want 1 and %s:3: expected KEY=VALUE", code, stderr, bad)
		}
	})
}

// A flow calling a flow with a missing variable cannot start either.
func TestValidateEnvDisablesCallers(t *testing.T) {
	unsetEnv(t, "NEEDED_VAR")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"callee.yaml": "flow: callee\nenv: {NEEDED_VAR: }\ntrigger: {call: {}}\nsteps:\n  - set: {body: '${env.NEEDED_VAR}'}\n",
		"caller.yaml": "flow: caller\ntrigger: {http: {path: /c, methods: [GET]}}\nsteps:\n  - call: callee\n",
	})
	code, _, stderr := cli("validate", "--env", dir)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr, "flow caller would not start: calls callee") || !strings.Contains(stderr, "flow callee would not start: missing variables: NEEDED_VAR") {
		t.Errorf("stderr does not report both flows:\n%s", stderr)
	}
}

func TestReadEnvFile(t *testing.T) {
	got, err := readEnvFile(filepath.Join("testdata", "vars.env"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"NEEDED_VAR": "plain",
		"EXPORTED":   "exported value",
		"DOUBLE":     "double quoted # not a comment",
		"SINGLE":     "single quoted",
		"EMPTY":      "",
		"EQUALS":     "a=b=c",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("readEnvFile =\n%q\nwant\n%q", got, want)
	}
}

func TestReadEnvFileErrors(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"noequals.env": "A=1\n\nB\n",
		"nokey.env":    "A=1\n\n=value\n",
		"export.env":   "A=1\n\nexport \n",
	} {
		p := filepath.Join(dir, name)
		writeFiles(t, dir, map[string]string{name: content})
		if _, err := readEnvFile(p); err == nil || err.Error() != p+":3: expected KEY=VALUE" {
			t.Errorf("%s: err = %v, want %s:3: expected KEY=VALUE", name, err, p)
		}
	}
	if _, err := readEnvFile(filepath.Join(dir, "absent.env")); err == nil {
		t.Error("a missing env file gives no error")
	}
}

func TestEnvLookupProcessWins(t *testing.T) {
	t.Setenv("NEEDED_VAR", "from-process")
	unsetEnv(t, "SINGLE")
	unsetEnv(t, "STRIDE_TEST_UNSET_VAR")
	lookup, err := envLookup(filepath.Join("testdata", "vars.env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, value string
		ok          bool
	}{
		{"NEEDED_VAR", "from-process", true}, // in both: the process wins
		{"SINGLE", "single quoted", true},    // only in the file
		{"EMPTY", "", true},                  // set, to nothing
		{"STRIDE_TEST_UNSET_VAR", "", false}, // in neither
	} {
		if v, ok := lookup(c.name); v != c.value || ok != c.ok {
			t.Errorf("lookup(%s) = %q, %v; want %q, %v", c.name, v, ok, c.value, c.ok)
		}
	}

	// Without a file, only the process counts.
	lookup, err = envLookup("")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := lookup("NEEDED_VAR"); v != "from-process" || !ok {
		t.Errorf("lookup(NEEDED_VAR) = %q, %v without a file", v, ok)
	}
	if _, ok := lookup("SINGLE"); ok {
		t.Error("SINGLE found without an env file")
	}
}
