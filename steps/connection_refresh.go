package steps

import (
	"context"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/oauth"
)

// connectionRefreshConfig refreshes a connection user's access token now.
type connectionRefreshConfig struct {
	Connection string         `yaml:"connection" required:"true" doc:"The connection (a flow with trigger: {connection: ...})."`
	User       *flow.Template `yaml:"user" required:"true" doc:"The user's id at the provider, e.g. '${json.id}'."`
}

type connectionRefreshStep struct{ c *connectionRefreshConfig }

func init() {
	flow.RegisterStep(flow.StepKind[connectionRefreshConfig]{
		Name:    "connection_refresh",
		Summary: "Refreshes a connection user's access token now, whether or not it expires soon.",
		Doc: "request: {connection: ...} refreshes by itself (before expiry and on a 401); this step is for a schedule that must refresh every user (a nightly collection). " +
			"Refreshes of one user run one at a time, and one that waited takes the token the other stored: the refresh token is never sent twice.",
		Example: "- connection_refresh: {connection: fitbit, user: '${json.id}'}",
		Build: func(b *flow.Builder, c *connectionRefreshConfig) (flow.Step, error) {
			b.UseConnection(c.Connection, b.FieldPos("connection"))
			return &connectionRefreshStep{c}, nil
		},
	})
}

func (s *connectionRefreshStep) Run(ctx context.Context, x *flow.Exchange) error {
	conn, user, err := connectionUser(x, s.c.Connection, s.c.User)
	if err != nil {
		return err
	}
	t, err := conn.Load(ctx, x, user)
	if err != nil {
		return err
	}
	_, err = conn.Refresh(ctx, x, user, t.AccessToken)
	return err
}

// connectionUser finds a connection of the exchange's flow set and
// evaluates whose tokens a step means (connection_refresh, disconnect,
// request).
func connectionUser(x *flow.Exchange, name string, user *flow.Template) (*oauth.Conn, string, error) {
	conn, err := oauth.Find(x, name)
	if err != nil {
		return nil, "", err
	}
	u, err := user.String(x)
	if err != nil {
		return nil, "", errorf("user: %w", err)
	}
	return conn, u, nil
}
