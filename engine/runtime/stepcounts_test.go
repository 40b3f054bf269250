package runtime_test

import (
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/runtime"
)

// TestStepCountsCountRunsAndErrorsByFileLine: every step of a finished
// message counts one run under its file:line, a failed step one error too,
// and a step that never ran is absent.
func TestStepCountsCountRunsAndErrorsByFileLine(t *testing.T) {
	srv, rt := serve(t, "c.yaml", `
flow: counted
trigger: {http: {path: /counted, methods: [GET]}}
steps:
  - route:
      - when: query.fail != nil
        steps:
          - fail: asked to
  - respond: {status: 200, body: ok}
`)
	for range 3 {
		do(t, "GET", srv.URL+"/counted", "")
	}
	do(t, "GET", srv.URL+"/counted?fail=1", "")
	// A respond step answers before the attempt finishes: wait for the
	// last one to be counted.
	var got map[string]runtime.StepCount
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if got = rt.StepCounts(); got["c.yaml:4"].Runs == 4 {
			break
		}
	}
	if c := got["c.yaml:4"]; c.Runs != 4 || c.Errors != 1 {
		t.Errorf("route at c.yaml:4: %+v, want 4 runs, 1 error (its branch failed)", c)
	}
	if c := got["c.yaml:7"]; c.Runs != 1 || c.Errors != 1 {
		t.Errorf("fail at c.yaml:7: %+v, want 1 run, 1 error", c)
	}
	if c := got["c.yaml:8"]; c.Runs != 3 || c.Errors != 0 {
		t.Errorf("respond at c.yaml:8: %+v, want 3 runs, no error", c)
	}
	if len(got) != 3 {
		t.Errorf("counts %v, want exactly the three steps that ran", got)
	}
}
