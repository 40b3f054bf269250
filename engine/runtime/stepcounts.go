package runtime

import (
	"sync"
	"sync/atomic"

	"github.com/stride-engine/stride/engine/flow"
)

// StepCount is how often the step at one file:line ran since the runtime
// was made, and how often it failed. The monitor page shows it on the
// step's box in the flow's diagram.
type StepCount struct {
	Runs   int64
	Errors int64
}

// stepCounts counts step runs by the step's file:line, which names a step
// across flows (a called flow's steps count wherever they are called
// from). Counting is on every message's path, so it takes no lock once a
// step has been seen: a sync.Map read and two atomic adds per trace entry.
type stepCounts struct {
	m sync.Map // file:line → *stepCounter
}

type stepCounter struct{ runs, errors atomic.Int64 }

// add counts the steps of one finished attempt's trace.
func (c *stepCounts) add(trace []flow.TraceEntry) {
	for i := range trace {
		t := &trace[i]
		v, ok := c.m.Load(t.At)
		if !ok {
			v, _ = c.m.LoadOrStore(t.At, &stepCounter{})
		}
		sc := v.(*stepCounter)
		sc.runs.Add(1)
		if t.Outcome == "error" {
			sc.errors.Add(1)
		}
	}
}

// StepCounts returns the run and error counts of every step that ran
// since the runtime was made, by the step's file:line (as in a trace). A
// step whose file was edited keeps its counts under its old line.
func (r *Runtime) StepCounts() map[string]StepCount {
	out := map[string]StepCount{}
	r.steps.m.Range(func(k, v any) bool {
		sc := v.(*stepCounter)
		out[k.(string)] = StepCount{Runs: sc.runs.Load(), Errors: sc.errors.Load()}
		return true
	})
	return out
}
