package runtime

import "github.com/stride-engine/stride/engine/flow"

// CallTrigger marks a flow used as a subroutine by the call step.
type CallTrigger struct{}

func init() {
	RegisterTrigger(TriggerKind[CallTrigger]{
		TriggerKind: flow.TriggerKind[CallTrigger]{
			Name:    "call",
			Summary: "Makes the flow a subroutine that other flows run with the call step.",
			Doc:     "The called flow works on the caller's message (CPI's process call).",
			Example: "trigger: {call: {}}",
		},
		// A called flow runs inside its caller's run: nothing to start.
		New: func(*Host, *flow.Flow, *CallTrigger) (Trigger, error) { return nil, nil },
	})
}
