package steps

import (
	"context"
	"log/slog"
	"net/textproto"
	"strings"

	"github.com/stride-engine/stride/engine/flow"
)

// apiKeyConfig checks an API key sent in a header or the query.
type apiKeyConfig struct {
	Header          string           `yaml:"header" doc:"The request header that carries the key, e.g. X-API-Key (give header or query)."`
	Query           string           `yaml:"query" doc:"The query parameter that carries the key, e.g. api_key (give header or query; a header is safer: URLs end up in logs)."`
	Keys            []*flow.Template `yaml:"keys" required:"true" doc:"The accepted keys, usually secrets such as '${secret.PARTNER_API_KEY}'; any one matches."`
	Status          int              `yaml:"status" default:"401" doc:"The status of a rejected request."`
	HideCredentials bool             `yaml:"hide_credentials" doc:"Remove the key from the message's headers (or query) once it is checked, so that later steps cannot forward it."`
}

type apiKeyStep struct {
	c      *apiKeyConfig
	header string // canonical header name, or ""
}

func init() {
	flow.RegisterStep(flow.StepKind[apiKeyConfig]{
		Name:    "api_key",
		Policy:  true,
		Summary: "Lets a request through only with one of the given API keys in a header or query parameter.",
		Doc: "An inbound policy: list it under an http trigger's policies (it runs before the flow) or as a step. " +
			"A request whose key is missing or unknown is answered 401 (or status) with {\"error\": ...}, ends " +
			"DISCARDED, and the flow (and on_error) does not run. The key is compared in constant time against " +
			"every accepted key; an accepted key that evaluates to empty text never matches. Several keys let you " +
			"rotate: add the new one, move the callers, remove the old one.",
		Example: "- api_key:\n" +
			"    header: X-API-Key\n" +
			"    keys: ['${secret.PARTNER_API_KEY}', '${secret.PARTNER_API_KEY_NEXT}']",
		Build: func(b *flow.Builder, c *apiKeyConfig) (flow.Step, error) {
			if (c.Header == "") == (c.Query == "") {
				return nil, errorf("give exactly one of header (e.g. X-API-Key) and query (e.g. api_key)")
			}
			if len(c.Keys) == 0 {
				return nil, errorf("keys: give at least one key")
			}
			if err := checkPolicyStatus(c.Status); err != nil {
				return nil, err
			}
			s := &apiKeyStep{c: c}
			if c.Header != "" {
				if strings.ContainsAny(c.Header, " :\t") {
					return nil, errorf("header %q: write a header name such as X-API-Key", c.Header)
				}
				s.header = textproto.CanonicalMIMEHeaderKey(c.Header)
			}
			return s, nil
		},
	})
}

func (s *apiKeyStep) Run(ctx context.Context, x *flow.Exchange) error {
	var given string
	if s.header != "" {
		given = strings.TrimSpace(x.Msg.Header[s.header])
	} else {
		given = x.Query[s.c.Query]
	}
	if given == "" {
		policyReject(ctx, x, "api_key", slog.LevelInfo, s.c.Status, "missing API key", nil)
		return nil
	}
	givenDigest := secretDigest(given)
	match := 0
	for i, k := range s.c.Keys {
		want, err := k.String(x)
		if err != nil {
			return errorf("keys[%d]: %w", i, err)
		}
		wantDigest := secretDigest(want)
		nonEmpty := 1
		if want == "" {
			nonEmpty = 0 // an unset key never lets anyone in
		}
		match |= digestsEqual(&wantDigest, &givenDigest) & nonEmpty
	}
	if match != 1 {
		policyReject(ctx, x, "api_key", slog.LevelInfo, s.c.Status, "invalid API key", nil)
		return nil
	}
	if s.c.HideCredentials {
		if s.header != "" {
			delete(x.Msg.Header, s.header)
		} else {
			delete(x.Query, s.c.Query)
		}
	}
	return nil
}
