package steps

import (
	"context"

	"github.com/stride-engine/stride/engine/flow"
)

// retryConfig, inside on_error, runs the failed step again.
type retryConfig struct {
	Max  int    `yaml:"max" default:"1" doc:"How many times the failed step may be run again for this message."`
	From string `yaml:"from" doc:"Run again from this named step (beside the failed one) instead of the failed step."`
}

type retryStep struct{ c *retryConfig }

func init() {
	flow.RegisterStep(flow.StepKind[retryConfig]{
		Name:    "retry",
		Summary: "Inside on_error: runs the failed step again, after a repair.",
		Doc:     "The pattern \"on 401, refresh the token and send again\". Once max retries are spent the original error fails the message. The rest of on_error after retry does not run. Guard the repair with error.retries_left > 0, so that it does not run again when no retry is left (error.attempt counts the step's failures).",
		Example: "on_error:\n  - route:\n      - when: error.status == 401 && error.retries_left > 0\n        steps:\n          - call: {flow: fitbit-refresh-token}\n          - retry: {max: 1}",
		Build: func(b *flow.Builder, c *retryConfig) (flow.Step, error) {
			if !b.InOnError() {
				return nil, errorf("retry only works inside on_error")
			}
			if c.Max < 1 {
				return nil, errorf("max must be at least 1")
			}
			b.RetryBudget(c.Max)
			return &retryStep{c}, nil
		},
	})
}

func (s *retryStep) Run(_ context.Context, x *flow.Exchange) error {
	x.RequestRetry(flow.RetryRequest{Max: s.c.Max, From: s.c.From})
	return nil
}
