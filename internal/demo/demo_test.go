package demo

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var strideBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stride-e2e-")
	if err != nil {
		panic(err)
	}
	strideBin = filepath.Join(dir, "stride")
	if out, err := exec.Command("go", "build", "-o", strideBin, "../../cmd/stride").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func start(t *testing.T) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: starts the stride binary")
	}
	e, err := Start(strideBin, "../../flows", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if code := e.Stop(); code != 0 && !t.Failed() {
			t.Errorf("stride exited %d after SIGTERM", code)
		}
		if t.Failed() {
			t.Logf("stride's log:\n%s", e.Log())
		}
	})
	return e
}

// TestEndToEnd is `make demo`'s scenario as a test: the shipped flows
// against the sandbox, through the real binary.
func TestEndToEnd(t *testing.T) {
	e := start(t)
	r := Scenario(e)
	for _, c := range r.Checks {
		if !c.OK {
			t.Errorf("%s: %s", c.Name, c.Got)
		}
	}
}
