package steps

import (
	"context"
	"errors"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// datastorePutConfig writes the message (or a value) into a data store.
type datastorePutConfig struct {
	Store      string         `yaml:"store" required:"true" doc:"The data store's name: letters, digits, - _ . (no spaces), at most 40 characters."`
	ID         *flow.Template `yaml:"id" required:"true" doc:"The entry's id, e.g. '${property.user_id}'."`
	Overwrite  bool           `yaml:"overwrite" doc:"Replace an existing entry; without it a duplicate id fails the step (CPI's default)."`
	Expires    string         `yaml:"expires" default:"30d" doc:"How long the entry lives: e.g. 30d, 12h, 90m, or never."`
	Value      *flow.Template `yaml:"value" doc:"What to store instead of the body; a structured value is stored as JSON."`
	Body       *bool          `yaml:"body" doc:"Store the body (default true; false stores only the listed properties)."`
	Properties []string       `yaml:"properties" doc:"Properties stored with the entry and restored by datastore_get."`
}

type datastorePutStep struct {
	c    *datastorePutConfig
	ttl  time.Duration
	body bool
}

func init() {
	flow.RegisterStep(flow.StepKind[datastorePutConfig]{
		Name:    "datastore_put",
		Summary: "Writes the message into a data store under an id (CPI's Data Store Write).",
		Doc: "Stores the body with its content type, and any listed properties. With STRIDE_DATA_KEY set the entry is encrypted at rest. " +
			"A duplicate id fails unless overwrite is true. Entries expire after 30 days unless expires says otherwise (never is allowed).",
		Example: "- datastore_put:\n    store: fitbit-users\n    id: '${property.user_id}'\n    overwrite: true\n    expires: never\n    value: '${ {\"access_token\": property.access_token, \"refresh_token\": property.refresh_token} }'",
		Build: func(b *flow.Builder, c *datastorePutConfig) (flow.Step, error) {
			if err := checkStore(c.Store); err != nil {
				return nil, err
			}
			ttl, err := parseExpiry(c.Expires)
			if err != nil {
				return nil, err
			}
			body := c.Body == nil || *c.Body
			if c.Value != nil && !body {
				return nil, errorf("value and body: false contradict each other")
			}
			if !body && len(c.Properties) == 0 && c.Value == nil {
				return nil, errorf("nothing to store: keep the body or list properties")
			}
			return &datastorePutStep{c: c, ttl: ttl, body: body}, nil
		},
	})
}

func (s *datastorePutStep) Run(ctx context.Context, x *flow.Exchange) error {
	kv, err := x.KV()
	if err != nil {
		return err
	}
	id, err := s.c.ID.String(x)
	if err != nil {
		return errorf("id: %w", err)
	}
	var data []byte
	contentType := x.Msg.ContentType()
	switch {
	case s.c.Value != nil:
		v, err := s.c.Value.Eval(x)
		if err != nil {
			return errorf("value: %w", err)
		}
		var ct string
		if data, ct, err = bodyBytes(v); err != nil {
			return err
		}
		if ct != "" {
			contentType = ct
		}
	case s.body:
		data = x.Msg.Body()
	default:
		contentType = ""
	}
	var props map[string]any
	for _, p := range s.c.Properties {
		v, ok := x.Msg.Property[p]
		if !ok {
			return errorf("property %s is not set", p)
		}
		if props == nil {
			props = map[string]any{}
		}
		props[p] = v
	}
	rec, err := encodeStored(data, contentType, props)
	if err != nil {
		return err
	}
	err = kv.Put(ctx, s.c.Store, id, rec, store.PutOptions{Overwrite: s.c.Overwrite, TTL: s.ttl})
	if errors.Is(err, store.ErrExists) {
		return errorf("%s already has an entry %q (set overwrite: true to replace it)", s.c.Store, id)
	}
	return err
}
