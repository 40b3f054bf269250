package steps

import (
	"context"

	"github.com/stride-engine/stride/engine/flow"
)

// disconnectConfig forgets a connection user's tokens.
type disconnectConfig struct {
	Connection string         `yaml:"connection" required:"true" doc:"The connection (a flow with trigger: {connection: ...})."`
	User       *flow.Template `yaml:"user" required:"true" doc:"The user's id at the provider."`
	Revoke     bool           `yaml:"revoke" default:"true" doc:"Revoke the token at the connection's revoke_url first; false when the provider has revoked it already (the user withdrew consent there)."`
}

type disconnectStep struct{ c *disconnectConfig }

func init() {
	flow.RegisterStep(flow.StepKind[disconnectConfig]{
		Name:    "disconnect",
		Summary: "Forgets a connection user's stored tokens, revoking them at the provider first.",
		Doc:     "A user without stored tokens is no error, nor is a provider that no longer knows the token (400, 401).",
		Example: "- disconnect: {connection: fitbit, user: '${property.owner}', revoke: false}   # the user revoked access on Fitbit",
		Build: func(b *flow.Builder, c *disconnectConfig) (flow.Step, error) {
			b.UseConnection(c.Connection, b.FieldPos("connection"))
			return &disconnectStep{c}, nil
		},
	})
}

func (s *disconnectStep) Run(ctx context.Context, x *flow.Exchange) error {
	conn, user, err := connectionUser(x, s.c.Connection, s.c.User)
	if err != nil {
		return err
	}
	return conn.Disconnect(ctx, x, user, s.c.Revoke)
}
