package steps

import (
	"context"

	"github.com/stride-engine/stride/engine/flow"
)

// filterConfig lets a message through only when a condition holds.
type filterConfig struct {
	Pos    flow.Pos
	When   *flow.Condition `yaml:"when" doc:"The message goes on when this expression is true."`
	XPath  string          `yaml:"xpath" doc:"The message goes on when this XPath selects nodes (or is true)."`
	Status string          `yaml:"status" default:"DISCARDED" doc:"The status a filtered message ends with in the message log."`
}

type filterStep struct{ c *filterConfig }

func init() {
	flow.RegisterStep(flow.StepKind[filterConfig]{
		Name:      "filter",
		Summary:   "Ends the message successfully unless a condition holds.",
		Doc:       "A filtered message ends with status DISCARDED (or the given status), not FAILED. Inside a split, only that item ends.",
		Example:   "- filter: 'jsonpath(\"$.collectionType\") == \"activities\"'",
		Shorthand: "when",
		Build: func(b *flow.Builder, c *filterConfig) (flow.Step, error) {
			if (c.When == nil) == (c.XPath == "") {
				return nil, errorf("filter: give exactly one of when and xpath")
			}
			if c.XPath != "" {
				if err := flow.CompileXPath(c.XPath); err != nil {
					return nil, err
				}
			}
			return &filterStep{c}, nil
		},
	})
}

func (s *filterStep) Run(_ context.Context, x *flow.Exchange) error {
	ok, err := matches(x, s.c.When, s.c.XPath)
	if err != nil {
		return err
	}
	if !ok {
		x.Stop(s.c.Status)
	}
	return nil
}
