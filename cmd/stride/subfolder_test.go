package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A subfolder or one file of a flows root is validated and tested against
// every flow of the root: a call into another folder resolves.
func TestValidateAndTestASubfolderOfTheFlowsRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "flows")
	files := map[string]string{
		"shared/greet.yaml":     "flow: greet\ntrigger: {call: {}}\nsteps:\n  - set: {body: 'hello ${body}'}\n",
		"source/hook.yaml":      "flow: hook\ntrigger: {http: {path: /hook}}\nsteps:\n  - call: greet\n  - respond: {status: 200}\n",
		"source/hook.test.yaml": "cases:\n  - name: greets\n    request: {path: /hook, body: ada}\n    expect: {status: 200, body: hello ada}\n",
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	source := filepath.Join(root, "source")
	if code, out, errOut := runCmd("validate", source); code != 0 || !strings.Contains(out, "ok: 1 flow") {
		t.Errorf("validate source/: exit %d %q %q (the call to shared/ must resolve)", code, out, errOut)
	}
	if code, out, errOut := runCmd("test", source); code != 0 || !strings.Contains(out, "1 passed, 0 failed") {
		t.Errorf("test source/: exit %d %q %q", code, out, errOut)
	}
	if code, out, _ := runCmd("test", "--run", "source/hook.test.yaml/greets", root); code != 0 || !strings.Contains(out, "1 passed") {
		t.Errorf("--run by file path: exit %d %q", code, out)
	}
	// An error in another folder is that folder's: source/ stays valid,
	// broken/ reports it.
	broken := filepath.Join(root, "broken", "bad.yaml")
	if err := os.MkdirAll(filepath.Dir(broken), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(broken, []byte("flow: bad\ntrigger: {call: {}}\nsteps:\n  - sett: {body: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCmd("validate", source); code != 0 || !strings.Contains(out, "ok: 1 flow") {
		t.Errorf("validate source/ beside a broken folder: exit %d %q %q", code, out, errOut)
	}
	if code, _, errOut := runCmd("validate", filepath.Dir(broken)); code != 1 || !strings.Contains(errOut, `unknown step kind "sett"`) {
		t.Errorf("validate broken/: exit %d %q", code, errOut)
	}
}
