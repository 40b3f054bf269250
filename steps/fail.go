package steps

import (
	"context"

	"github.com/stride-engine/stride/engine/flow"
)

// failConfig fails the message on purpose.
type failConfig struct {
	Message *flow.Template `yaml:"message" required:"true" doc:"Why the message fails; becomes error.message."`
	Status  *flow.Template `yaml:"status" doc:"An HTTP status to carry (error.status; an http trigger answers with it)."`
	Retry   *bool          `yaml:"retry" doc:"false: trying again cannot help (a malformed payload); a queue consumer moves the message to the dead letters at once. true: a queue consumer retries it even when its status is a 4xx (which is not retried by default)."`
}

type failStep struct{ c *failConfig }

func init() {
	flow.RegisterStep(flow.StepKind[failConfig]{
		Name:      "fail",
		Summary:   "Fails the message with a message (and optionally an HTTP status).",
		Doc:       "The flow's on_error runs, as for any failing step; without one the message ends FAILED.",
		Example:   "- fail: {message: 'unknown collection ${property.collection}', status: 400}",
		Shorthand: "message",
		Build:     func(b *flow.Builder, c *failConfig) (flow.Step, error) { return &failStep{c}, nil },
	})
}

func (s *failStep) Run(_ context.Context, x *flow.Exchange) error {
	msg, err := s.c.Message.String(x)
	if err != nil {
		return err
	}
	var out error = errorf("%s", msg)
	if s.c.Status != nil {
		status, err := s.c.Status.Int(x)
		if err != nil {
			return err
		}
		out = &flow.StatusError{Status: status, Msg: msg}
	}
	switch {
	case s.c.Retry == nil:
	case *s.c.Retry:
		out = &flow.TransientError{Err: out}
	default:
		out = &flow.PermanentError{Err: out}
	}
	return out
}
