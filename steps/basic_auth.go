package steps

import (
	"context"
	"encoding/base64"
	"log/slog"
	"strings"

	"github.com/stride-engine/stride/engine/flow"
)

// basicAuthConfig checks HTTP Basic credentials against a set of users.
type basicAuthConfig struct {
	Users           flow.TemplateMap `yaml:"users" required:"true" doc:"The users that may call: user name → password, usually a secret such as '${secret.PARTNER_PASSWORD}'."`
	Realm           string           `yaml:"realm" default:"stride" doc:"The realm named in the WWW-Authenticate header of a 401."`
	Status          int              `yaml:"status" default:"401" doc:"The status of a rejected request."`
	HideCredentials bool             `yaml:"hide_credentials" doc:"Remove the Authorization header once it is checked, so that later steps cannot forward it."`
}

type basicAuthStep struct {
	c         *basicAuthConfig
	users     []string // user names, in the order written
	challenge map[string]string
}

func init() {
	flow.RegisterStep(flow.StepKind[basicAuthConfig]{
		Name:    "basic_auth",
		Policy:  true,
		Summary: "Lets a request through only with the user name and password of one of the given users (HTTP Basic).",
		Doc: "An inbound policy: list it under an http trigger's policies (it runs before the flow) or as a step. " +
			"A request without valid credentials is answered 401 with WWW-Authenticate: Basic realm=\"...\" and {\"error\": ...}, " +
			"ends DISCARDED, and the flow (and on_error) does not run. User names and passwords are compared in " +
			"constant time against every user, so neither timing nor the answer tells which user exists or which " +
			"part was wrong. On success property auth_user holds the user name. Keep passwords in secrets; a user " +
			"whose password is empty never matches. Basic credentials travel in clear text: use it over HTTPS only.",
		Example: "- basic_auth:\n" +
			"    users:\n" +
			"      partner-a: '${secret.PARTNER_A_PASSWORD}'\n" +
			"      partner-b: '${secret.PARTNER_B_PASSWORD}'\n" +
			"    realm: partner-api",
		Build: func(b *flow.Builder, c *basicAuthConfig) (flow.Step, error) {
			if len(c.Users) == 0 {
				return nil, errorf("users: give at least one user (name: password)")
			}
			s := &basicAuthStep{c: c}
			for _, u := range c.Users {
				if u.Key == "" || strings.Contains(u.Key, ":") {
					b.Errorf(b.FieldPos("users"), "basic_auth: user name %q: Basic credentials cannot carry an empty name or a colon", u.Key)
					return nil, flow.ErrReported
				}
				s.users = append(s.users, u.Key)
			}
			if c.Realm == "" || strings.ContainsAny(c.Realm, "\"\\") || strings.ContainsFunc(c.Realm, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				return nil, errorf("realm %q: write plain text without quotes or backslashes", c.Realm)
			}
			if err := checkPolicyStatus(c.Status); err != nil {
				return nil, err
			}
			if c.Status == 401 {
				s.challenge = map[string]string{"Www-Authenticate": `Basic realm="` + c.Realm + `"`}
			}
			return s, nil
		},
	})
}

// parseBasicAuth reads "Basic base64(user:password)"; ok is false when
// the header is not Basic credentials.
func parseBasicAuth(h string) (user, password string, ok bool) {
	scheme, cred, found := strings.Cut(strings.TrimSpace(h), " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}

func (s *basicAuthStep) Run(ctx context.Context, x *flow.Exchange) error {
	h, _ := policyHeader(x, "Authorization")
	user, password, ok := parseBasicAuth(h)
	if !ok {
		s.reject(ctx, x, "authentication required")
		return nil
	}
	// Every password is evaluated and every user compared, matched or
	// not, so that the time taken does not depend on which user exists.
	givenUser, givenPassword := secretDigest(user), secretDigest(password)
	match := 0
	for i, u := range s.c.Users {
		want, err := u.Value.String(x)
		if err != nil {
			return errorf("users: password of %s: %w", s.users[i], err)
		}
		wantUser, wantPassword := secretDigest(u.Key), secretDigest(want)
		userOK := digestsEqual(&wantUser, &givenUser)
		passwordOK := digestsEqual(&wantPassword, &givenPassword)
		nonEmpty := 1
		if want == "" {
			nonEmpty = 0 // an unset password never lets anyone in
		}
		match |= userOK & passwordOK & nonEmpty
	}
	if match != 1 {
		s.reject(ctx, x, "invalid credentials")
		return nil
	}
	x.Msg.Property["auth_user"] = user
	if s.c.HideCredentials {
		delete(x.Msg.Header, "Authorization")
	}
	return nil
}

func (s *basicAuthStep) reject(ctx context.Context, x *flow.Exchange, msg string) {
	hdr := make(map[string]string, len(s.challenge))
	for k, v := range s.challenge {
		hdr[k] = v
	}
	policyReject(ctx, x, "basic_auth", slog.LevelInfo, s.c.Status, msg, hdr)
}
