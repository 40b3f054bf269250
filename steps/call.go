package steps

import (
	"context"

	"github.com/stride-engine/stride/engine/flow"
)

// callConfig runs another flow as a subroutine.
type callConfig struct {
	Flow string `yaml:"flow" required:"true" doc:"The id of a flow with trigger: {call: {}}."`
}

type callStep struct{ id string }

func init() {
	flow.RegisterStep(flow.StepKind[callConfig]{
		Name:      "call",
		Summary:   "Runs another flow on this message, as a subroutine (CPI's process call).",
		Doc:       "The called flow sees the caller's message (body, headers, properties) and its own env and secrets; its changes stay on the message. Its failure fails this step. Unknown flows and call cycles are load errors.",
		Example:   "- call: {flow: fitbit-refresh-token}",
		Shorthand: "flow",
		Build: func(b *flow.Builder, c *callConfig) (flow.Step, error) {
			b.CallFlow(c.Flow, b.FieldPos("flow"))
			return &callStep{c.Flow}, nil
		},
	})
}

func (s *callStep) Run(ctx context.Context, x *flow.Exchange) error {
	f := x.Set().Flow(s.id)
	if f == nil { // checked at load; a set is immutable
		return errorf("no flow %q", s.id)
	}
	return f.Run(ctx, x)
}
