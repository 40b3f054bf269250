package steps

import (
	"context"

	"github.com/stride-engine/stride/engine/flow"
)

// completeConfig ends the message successfully.
type completeConfig struct {
	Status string `yaml:"status" default:"COMPLETED" doc:"The status recorded in the message log, e.g. COMPLETED or a custom one such as ALREADY_CONNECTED."`
}

type completeStep struct{ status string }

func init() {
	flow.RegisterStep(flow.StepKind[completeConfig]{
		Name:      "complete",
		Summary:   "Ends the message successfully, with an optional custom status.",
		Doc:       "Inside on_error it turns the failure into a completed message (the error stays in the trace).",
		Example:   "- complete: {status: DUPLICATE}",
		Shorthand: "status",
		Build:     func(b *flow.Builder, c *completeConfig) (flow.Step, error) { return &completeStep{c.Status}, nil },
	})
}

func (s *completeStep) Run(_ context.Context, x *flow.Exchange) error {
	x.Stop(s.status)
	return nil
}
