package runtime_test

import (
	"strings"
	"testing"

	"github.com/stride-engine/stride/engine/flow"
	_ "github.com/stride-engine/stride/steps"
)

// load compiles flow files given as name → YAML, failing the test on errors.
func load(t testing.TB, files ...string) *flow.FlowSet {
	t.Helper()
	set, err := loadErr(files...)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	set.Bind(func(name string) (string, bool) {
		v, ok := testVars[name]
		return v, ok
	})
	return set
}

// loadErr loads flows written as alternating name, content.
func loadErr(files ...string) (*flow.FlowSet, error) {
	var srcs []flow.Source
	for i := 0; i+1 < len(files); i += 2 {
		srcs = append(srcs, flow.Source{Name: files[i], Data: []byte(strings.TrimLeft(files[i+1], "\n"))})
	}
	return flow.Load(srcs)
}

var testVars = map[string]string{"API_URL": "http://127.0.0.1:1", "CLIENT_SECRET": "s3cr3t-value"}
