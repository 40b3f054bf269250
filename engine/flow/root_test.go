package flow_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stride-engine/stride/engine/flow"
)

func TestRootOfAndWithin(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "proj", "flows", "google")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(sub, "a.yaml")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "proj", "flows")
	for _, p := range []string{sub, file, want} {
		if got, ok := flow.RootOf(p); !ok || got != want {
			t.Errorf("RootOf(%s) = %s %v, want %s", p, got, ok, want)
		}
	}
	if _, ok := flow.RootOf(dir); ok {
		t.Error("a directory outside any flows directory has a root")
	}
	if !flow.Within(file, sub) || !flow.Within(file, file) || flow.Within(filepath.Join(want, "b.yaml"), sub) || flow.Within(filepath.Join(dir, "proj", "flows-other", "x"), want) {
		t.Error("Within is wrong")
	}
}
