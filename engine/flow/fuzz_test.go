package flow_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stride-engine/stride/engine/flow"
)

// FuzzLoad feeds arbitrary bytes to the loader: it must never panic, and
// every error it reports must name the file and a position.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/schema/*/*.yaml")
	shipped, _ := flow.FindFlowFiles("../../flows")
	for _, p := range append(seeds, shipped...) {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("flow: a\ntrigger: {call: {}}\nsteps: [{set: {properties: {a: '${x'}}}]\n"))
	f.Add([]byte("flow: &a a\ntrigger: *a\nsteps: *a\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := flow.Load([]flow.Source{{Name: "fuzz.yaml", Data: data}})
		if err == nil {
			return
		}
		var el flow.ErrorList
		if !errors.As(err, &el) {
			t.Fatalf("want an ErrorList, got %T: %v", err, err)
		}
		for _, e := range el {
			if !strings.HasPrefix(e.Error(), "fuzz.yaml:") {
				t.Fatalf("error without a position: %q", e.Error())
			}
		}
	})
}
