// Package oauth is the OAuth2 connection of the flow language: a
// provider's authorization-code client declared once (trigger:
// {connection: ...}), its consent (PKCE S256, a single-use state bound to
// a cookie), the users' tokens in a data store (sealed with the data key,
// declared sensitive), refresh before expiry and on a 401 (one at a time
// per user, a rotated refresh token stored before its access token is
// used, never one spent twice), and disconnect (revoke and forget).
//
// engine/runtime serves the consent routes (trigger_connection.go); the
// request step attaches the bearer (request: {connection, user}).
package oauth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// Config is a connection: the config of a flow with trigger: {connection:
// ...}. The flow's id is the connection's name; its steps run once a
// user's consent is complete and the tokens are stored (the place for
// what a provider needs then: create the contact, subscribe).
type Config struct {
	Title           string           `yaml:"title" required:"true" doc:"The provider's name as users know it, shown on the pages the consent ends on (e.g. Fitbit)."`
	Connect         string           `yaml:"connect" required:"true" doc:"The path that starts a user's consent (GET), e.g. /fitbit/connect: it answers 302 to the provider's consent page."`
	Callback        string           `yaml:"callback" required:"true" doc:"The path the provider redirects back to (GET), e.g. /fitbit/callback; redirect_uri is its public URL."`
	AuthorizeURL    *flow.Template   `yaml:"authorize_url" required:"true" doc:"The provider's consent page."`
	AuthorizeParams flow.TemplateMap `yaml:"authorize_params" doc:"More query parameters of the consent page, e.g. {access_type: offline, prompt: consent}."`
	TokenURL        *flow.Template   `yaml:"token_url" required:"true" doc:"The token endpoint (code exchange and refresh)."`
	RevokeURL       *flow.Template   `yaml:"revoke_url" doc:"The revocation endpoint (RFC 7009): a consent without the required scopes and disconnect with revoke revoke the token there."`
	ClientID        *flow.Template   `yaml:"client_id" required:"true" doc:"The app's client id, e.g. '${env.FITBIT_CLIENT_ID}'."`
	ClientSecret    *flow.Template   `yaml:"client_secret" required:"true" doc:"The app's client secret: a secret.* of the flow, never a literal; it is never logged."`
	ClientAuth      string           `yaml:"client_auth" default:"basic" enum:"basic,form" doc:"How the client authenticates at the token and revoke endpoints: basic (HTTP Basic) or form (client_id and client_secret in the form)."`
	RedirectURI     *flow.Template   `yaml:"redirect_uri" required:"true" doc:"The public URL of the callback path, as registered with the provider."`
	Scopes          *flow.Template   `yaml:"scopes" required:"true" doc:"The scopes asked for, separated by spaces."`
	Require         []string         `yaml:"require" doc:"Scopes the consent must grant: without one of them the token is revoked, nothing is stored, and the page (403) names what is missing."`
	Store           string           `yaml:"store" required:"true" doc:"The data store of the users' tokens, one entry per user id: {user_id, access_token, refresh_token, scope, expires_at}, the tokens declared sensitive (sealed with STRIDE_DATA_KEY)."`
	UserID          string           `yaml:"user_id" default:"user_id" doc:"The field of the token answer (or, with identity, of the identity answer) that is the user's id at the provider."`
	Identity        *flow.Template   `yaml:"identity" doc:"A URL read (GET, with the new access token) after the code exchange, for providers whose token answer does not name the user; user_id is read from its answer, which the steps see as property.identity."`
	Refresh         *RefreshConfig   `yaml:"refresh" doc:"How tokens are refreshed: {skew, rotates, grace}."`
	StateTTL        time.Duration    `yaml:"state_ttl" default:"10m" doc:"How long a consent may take: the state and the PKCE verifier are forgotten after it."`
}

// RefreshConfig is the provider's refresh rule.
type RefreshConfig struct {
	Skew    time.Duration `yaml:"skew" default:"60s" doc:"Refresh this long before the access token's expires_in runs out, so a request never goes out with a token about to die."`
	Rotates bool          `yaml:"rotates" default:"true" doc:"A refresh answers a new refresh token and the old one is spent (Fitbit). false: the refresh token stays valid (Google); an answer without one keeps the stored one either way."`
	Grace   time.Duration `yaml:"grace" default:"0s" doc:"With rotates: how long the provider answers an identical repeat of a refresh alike (a lost answer may be asked again). 0: a refresh whose answer was lost is never sent again (the user connects again)."`
}

var errNotLiteralPath = errors.New("a path is written as it is, e.g. /fitbit/connect (no ${...})")

// ConnectionStore is the data store of the users' tokens (flow.Connector).
func (c *Config) ConnectionStore() string { return c.Store }

// Claims claims GET of the two paths, as the http trigger would.
func (c *Config) Claims() []flow.Claim {
	var out []flow.Claim
	for _, p := range []string{c.Connect, c.Callback} {
		out = append(out, flow.Claim{
			Key:      "route GET " + p,
			Conflict: "GET " + strings.ReplaceAll(p, "%", "%%") + " is already served by flow %s (%s)",
		})
	}
	return out
}

// Validate checks a connection at load.
func Validate(b *flow.Builder, c *Config) error {
	var errs []string
	for _, kp := range [][2]string{{"connect", c.Connect}, {"callback", c.Callback}} {
		key, p := kp[0], kp[1]
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "{}$ ?#") {
			errs = append(errs, fmt.Sprintf("%s: %q: %v", key, p, errNotLiteralPath))
		}
	}
	if c.Connect == c.Callback {
		errs = append(errs, "connect and callback are the same path")
	}
	if c.ClientSecret != nil {
		if _, lit := c.ClientSecret.Literal(); lit {
			errs = append(errs, "client_secret: read it from a secret ('${secret.NAME}'), never write it in the file")
		} else if _, secrets := c.ClientSecret.Vars(); len(secrets) == 0 {
			errs = append(errs, "client_secret: read it from a secret ('${secret.NAME}'), not from env")
		}
	}
	if err := store.ValidStoreName(c.Store); err != nil {
		errs = append(errs, fmt.Sprintf("store %q: %v", c.Store, err))
	}
	if c.UserID == "" {
		errs = append(errs, "user_id: name the field that holds the user's id")
	}
	if c.Refresh == nil {
		c.Refresh = &RefreshConfig{Skew: 60 * time.Second, Rotates: true}
	}
	if c.Refresh.Skew < 0 || c.Refresh.Grace < 0 {
		errs = append(errs, "refresh: skew and grace are durations of 0 or more")
	}
	if c.StateTTL <= 0 {
		errs = append(errs, "state_ttl must be more than 0")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}
