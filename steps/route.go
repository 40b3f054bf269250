package steps

import (
	"context"

	"github.com/stride-engine/stride/engine/flow"
)

// routeConfig is a content-based router: the first branch whose condition
// holds runs; with no match and no otherwise, the message goes on unchanged.
type routeConfig struct {
	Branches []routeBranch `yaml:"branches" required:"true" doc:"The branches, tried in order."`
}

type routeBranch struct {
	Pos       flow.Pos
	When      *flow.Condition `yaml:"when" doc:"An expression; the branch runs when it is true."`
	XPath     string          `yaml:"xpath" doc:"An XPath on the XML body; the branch runs when it selects nodes (or is true)."`
	Steps     flow.Steps      `yaml:"steps" doc:"The steps of the branch."`
	Otherwise flow.Steps      `yaml:"otherwise" doc:"Steps run when no branch matched; only in the last branch."`
}

type routeStep struct{ branches []routeBranch }

func init() {
	flow.RegisterStep(flow.StepKind[routeConfig]{
		Name:      "route",
		Summary:   "Runs the first branch whose condition holds (CPI's router).",
		Doc:       "Each branch has when (an expression) or xpath (true when it selects nodes), and steps. A last branch with otherwise runs when nothing matched. With no match the message goes on unchanged.",
		Example:   "- route:\n    - when: request.method == \"GET\"\n      steps:\n        - respond: {status: 204}\n    - xpath: /user[scope='activity']\n      steps:\n        - log: has activity\n    - otherwise:\n        - fail: unexpected message",
		Shorthand: "branches",
		Build: func(b *flow.Builder, c *routeConfig) (flow.Step, error) {
			bad := false
			for i, br := range c.Branches {
				conds := 0
				if br.When != nil {
					conds++
				}
				if br.XPath != "" {
					conds++
					if err := flow.CompileXPath(br.XPath); err != nil {
						b.Errorf(br.Pos, "route branch %d: %v", i+1, err)
						bad = true
					}
				}
				switch {
				case br.Otherwise.Len() > 0 && (conds > 0 || br.Steps.Len() > 0):
					b.Errorf(br.Pos, "route branch %d: otherwise stands alone (no when, xpath or steps beside it)", i+1)
					bad = true
				case br.Otherwise.Len() > 0 && i != len(c.Branches)-1:
					b.Errorf(br.Pos, "route branch %d: otherwise must be the last branch", i+1)
					bad = true
				case br.Otherwise.Len() == 0 && conds != 1:
					b.Errorf(br.Pos, "route branch %d: give exactly one of when and xpath (or write otherwise)", i+1)
					bad = true
				}
			}
			if bad {
				return nil, flow.ErrReported
			}
			if len(c.Branches) == 0 {
				return nil, errorf("route needs at least one branch")
			}
			return &routeStep{c.Branches}, nil
		},
	})
}

func (s *routeStep) Run(ctx context.Context, x *flow.Exchange) error {
	for i := range s.branches {
		br := &s.branches[i]
		if br.Otherwise.Len() > 0 {
			return br.Otherwise.Run(ctx, x)
		}
		ok, err := matches(x, br.When, br.XPath)
		if err != nil {
			return errorf("route branch %d: %w", i+1, err)
		}
		if ok {
			return br.Steps.Run(ctx, x)
		}
	}
	return nil
}

// matches evaluates a condition given as an expression or as an XPath.
func matches(x *flow.Exchange, when *flow.Condition, xpath string) (bool, error) {
	if when != nil {
		return when.Eval(x)
	}
	doc, err := x.Msg.XML()
	if err != nil {
		return false, err
	}
	return flow.XPathBool(doc, xpath)
}
