package steps

import (
	"context"
	"log/slog"

	"github.com/stride-engine/stride/engine/flow"
)

// logConfig writes a line to Stride's log.
type logConfig struct {
	Message *flow.Template `yaml:"message" required:"true" doc:"The text to log; secrets in it are redacted."`
	Level   string         `yaml:"level" default:"info" enum:"debug,info,warn,error" doc:"The log level."`
}

type logStep struct {
	c     *logConfig
	level slog.Level
}

func init() {
	flow.RegisterStep(flow.StepKind[logConfig]{
		Name:      "log",
		Summary:   "Writes a line to the log, with the message id and flow.",
		Doc:       "Secrets that appear in the text are replaced by ***.",
		Example:   "- log: {level: warn, message: 'no token for ${property.owner}'}",
		Shorthand: "message",
		Build: func(b *flow.Builder, c *logConfig) (flow.Step, error) {
			var l slog.Level
			if err := l.UnmarshalText([]byte(c.Level)); err != nil {
				return nil, err
			}
			return &logStep{c, l}, nil
		},
	})
}

func (s *logStep) Run(ctx context.Context, x *flow.Exchange) error {
	msg, err := s.c.Message.String(x)
	if err != nil {
		return err
	}
	x.Log.Log(ctx, s.level, x.Redact(msg), "flow", x.Flow().ID, "message_id", x.ID, "at", s.c.Message.Pos().FileLine())
	return nil
}
