package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stride-engine/stride/engine/flow"
)

// strideBin is the stride binary built once for the real-process tests of
// `stride run` (run_test.go); empty in -short mode.
var strideBin string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if !testing.Short() {
		dir, err := os.MkdirTemp("", "stride-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "TestMain:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		strideBin = filepath.Join(dir, "stride")
		build := exec.Command("go", "build", "-o", strideBin, ".")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "TestMain: go build of the stride binary failed:", err)
			return 1
		}
	}
	return m.Run()
}

// cli runs the stride CLI in-process and returns its exit code and output.
func cli(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestNoArgsPrintsUsageAndExits2(t *testing.T) {
	code, stdout, stderr := cli()
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing (usage goes to stderr)", stdout)
	}
	if !strings.Contains(stderr, "Usage: stride COMMAND") {
		t.Errorf("stderr has no usage:\n%s", stderr)
	}
	for _, c := range commands() {
		if !strings.Contains(stderr, "  "+c.name+" ") {
			t.Errorf("usage does not list command %q:\n%s", c.name, stderr)
		}
	}
}

func TestHelpPrintsUsageToStdout(t *testing.T) {
	for _, arg := range []string{"help", "-h", "--help", "-help"} {
		t.Run(arg, func(t *testing.T) {
			code, stdout, stderr := cli(arg)
			if code != 0 {
				t.Errorf("exit %d, want 0", code)
			}
			if !strings.Contains(stdout, "Usage: stride COMMAND") {
				t.Errorf("stdout has no usage:\n%s", stdout)
			}
			for _, c := range commands() {
				if !strings.Contains(stdout, c.name) || !strings.Contains(stdout, c.summary) {
					t.Errorf("usage does not list %q with its summary:\n%s", c.name, stdout)
				}
			}
			if stderr != "" {
				t.Errorf("stderr = %q, want nothing", stderr)
			}
		})
	}
}

func TestUnknownCommandExits2(t *testing.T) {
	code, stdout, stderr := cli("frobnicate", "x")
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	if !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("stderr does not name the unknown command:\n%s", stderr)
	}
	if !strings.Contains(stderr, "Usage: stride COMMAND") {
		t.Errorf("stderr has no usage:\n%s", stderr)
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands() {
		for _, flagArg := range []string{"--help", "-h"} {
			t.Run(c.name+flagArg, func(t *testing.T) {
				code, stdout, stderr := cli(c.name, flagArg)
				if code != 0 {
					t.Errorf("exit %d, want 0 (stderr: %s)", code, stderr)
				}
				if out := stdout + stderr; !strings.Contains(out, "Usage: stride "+c.name) {
					t.Errorf("no %q in the output:\nstdout: %s\nstderr: %s", "Usage: stride "+c.name, stdout, stderr)
				}
			})
		}
	}
}

func TestBadFlagExits2(t *testing.T) {
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := cli(c.name, "--no-such-flag")
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(stderr, "no-such-flag") {
				t.Errorf("stderr does not name the bad flag:\n%s", stderr)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	code, stdout, stderr := cli("version")
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	if want := "stride " + version + "\ncommit " + commit + "\n"; stdout != want {
		t.Errorf("stdout = %q, want %q (written to the given stdout)", stdout, want)
	}
	if stderr != "" {
		t.Errorf("stderr = %q, want nothing", stderr)
	}
}

func TestStepsListsEveryKind(t *testing.T) {
	code, stdout, stderr := cli("steps")
	if code != 0 {
		t.Fatalf("exit %d, want 0 (stderr: %s)", code, stderr)
	}
	steps, triggers, ok := strings.Cut(stdout, "\nTriggers:\n")
	if !ok || !strings.HasPrefix(steps, "Steps:\n") {
		t.Fatalf("want a Steps: and a Triggers: section:\n%s", stdout)
	}
	if len(flow.StepKinds()) == 0 {
		t.Fatal("no step kind registered: is the steps package imported?")
	}
	listed := func(section, name string) bool {
		for _, line := range strings.Split(section, "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == name {
				return true
			}
		}
		return false
	}
	for _, k := range flow.StepKinds() {
		if !listed(steps, k.Name) {
			t.Errorf("step kind %q is not listed under Steps:\n%s", k.Name, steps)
		}
		if !strings.Contains(steps, k.Summary) {
			t.Errorf("summary of %q is not listed: %q", k.Name, k.Summary)
		}
	}
	for _, k := range flow.TriggerKinds() {
		if !listed(triggers, k.Name) {
			t.Errorf("trigger kind %q is not listed under Triggers:\n%s", k.Name, triggers)
		}
	}
	var names []string
	for _, line := range strings.Split(strings.TrimPrefix(steps, "Steps:\n"), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	if len(names) != len(flow.StepKinds()) {
		t.Errorf("Steps: lists %d kinds %v, want the %d registered", len(names), names, len(flow.StepKinds()))
	}
}

func TestStepsDescribesOneKind(t *testing.T) {
	var set *flow.KindInfo
	for _, k := range flow.StepKinds() {
		if k.Name == "set" {
			set = k
		}
	}
	if set == nil {
		t.Fatal("step kind set is not registered")
	}
	code, stdout, stderr := cli("steps", "set")
	if code != 0 {
		t.Fatalf("exit %d, want 0 (stderr: %s)", code, stderr)
	}
	if !strings.HasPrefix(stdout, "set (step)\n") {
		t.Errorf("want a %q heading:\n%s", "set (step)", stdout)
	}
	opts, example, ok := strings.Cut(stdout, "\nExample:\n")
	if !ok {
		t.Fatalf("no Example: section:\n%s", stdout)
	}
	if !strings.Contains(opts, "\nOptions:\n") {
		t.Fatalf("no Options: section:\n%s", stdout)
	}
	if len(set.Fields) == 0 {
		t.Fatal("set has no documented fields")
	}
	for _, f := range set.Fields {
		if !strings.Contains(opts, "\n  "+f.Name+" ") || !strings.Contains(opts, f.Doc) {
			t.Errorf("option %q (%s) is not shown", f.Name, f.Doc)
		}
	}
	for _, line := range strings.Split(set.Example, "\n") {
		if !strings.Contains(example, "  "+line+"\n") {
			t.Errorf("example line %q is not shown:\n%s", line, example)
		}
	}

	// Every kind, step or trigger, can be described.
	for _, k := range append(flow.StepKinds(), flow.TriggerKinds()...) {
		code, stdout, stderr := cli("steps", k.Name)
		if code != 0 || !strings.HasPrefix(stdout, k.Name+" (") {
			t.Errorf("stride steps %s: exit %d, stdout %q, stderr %q", k.Name, code, stdout, stderr)
		}
	}
}

func TestStepsUnknownKind(t *testing.T) {
	code, stdout, stderr := cli("steps", "nope")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	if !strings.Contains(stderr, `"nope"`) {
		t.Errorf("stderr does not name the kind: %q", stderr)
	}
}

func TestFunctionsListsEverySignature(t *testing.T) {
	code, stdout, stderr := cli("functions")
	if code != 0 {
		t.Fatalf("exit %d, want 0 (stderr: %s)", code, stderr)
	}
	if len(flow.Functions()) == 0 {
		t.Fatal("no functions registered")
	}
	for _, f := range flow.Functions() {
		if !strings.Contains(stdout, f.Signature+"\n    "+f.Doc+"\n") {
			t.Errorf("function %s is not listed with its doc", f.Signature)
		}
	}
}

func TestSchemaMatchesCheckedInFile(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "..", "schemas", "flow.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := cli("schema")
	if code != 0 {
		t.Fatalf("exit %d, want 0 (stderr: %s)", code, stderr)
	}
	if stdout != string(want) {
		line := 1
		for i := 0; i < len(stdout) && i < len(want); i++ {
			if stdout[i] != want[i] {
				break
			}
			if stdout[i] == '\n' {
				line++
			}
		}
		t.Fatalf("`stride schema` differs from schemas/flow.schema.json (first difference at line %d; %d vs %d bytes): run make schema", line, len(stdout), len(want))
	}
}
