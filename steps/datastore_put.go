package steps

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

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
	Sensitive  yaml.Node      `yaml:"sensitive" doc:"What the admin API and stride store get show as ***: true for the whole entry, or a list of fields of the stored JSON value (top-level keys or dotted paths, e.g. [access_token, refresh_token]; a listed property's name also masks it). Flows still read the entry whole; stride store get --reveal on the data directory shows it."`
}

type datastorePutStep struct {
	c         *datastorePutConfig
	ttl       time.Duration
	body      bool
	sensitive store.Sensitivity
}

func init() {
	flow.RegisterStep(flow.StepKind[datastorePutConfig]{
		Name:    "datastore_put",
		Summary: "Writes the message into a data store under an id (CPI's Data Store Write).",
		Doc: "Stores the body with its content type, and any listed properties. With STRIDE_DATA_KEY set the entry is encrypted at rest. " +
			"A duplicate id fails unless overwrite is true. Entries expire after 30 days unless expires says otherwise (never is allowed). " +
			"sensitive declares fields (or the whole entry) that the admin API and stride store get show as ***; each write declares anew.",
		Example: "- datastore_put:\n    store: fitbit-users\n    id: '${property.user_id}'\n    overwrite: true\n    expires: never\n    value: '${ {\"access_token\": property.access_token, \"refresh_token\": property.refresh_token} }'\n    sensitive: [access_token, refresh_token]",
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
			sens, ok := buildSensitive(b, &c.Sensitive, c.Properties)
			if !ok {
				return nil, flow.ErrReported
			}
			return &datastorePutStep{c: c, ttl: ttl, body: body, sensitive: sens}, nil
		},
	})
}

// maxSensitiveFields bounds sensitive: a list of fields, not a schema.
const maxSensitiveFields = 20

// buildSensitive reads sensitive: true | false | FIELD | [FIELD, ...] and
// returns the declaration the store keeps. Fields name parts of the value
// flows stored; the store sees the envelope datastore_put writes
// (storedMessage), so a field becomes a path under "text" (a text body,
// read as JSON) and, when it starts with a listed property, under
// "properties". A binary body ("data") cannot be searched for fields and
// is masked whole.
func buildSensitive(b *flow.Builder, n *yaml.Node, props []string) (store.Sensitivity, bool) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	at := b.FieldPos("sensitive")
	posOf := func(n *yaml.Node) flow.Pos { return flow.Pos{File: at.File, Line: n.Line, Col: n.Column} }
	usage := "sensitive: write true (the whole entry) or a list of fields such as [access_token, refresh_token]"
	var fields []*yaml.Node
	switch {
	case n.Kind == 0: // not given
		return store.Sensitivity{}, true
	case n.Kind == yaml.ScalarNode && n.Tag == "!!bool":
		var all bool
		if err := n.Decode(&all); err != nil {
			b.Errorf(posOf(n), "%s: %s", b.StepName(), usage)
			return store.Sensitivity{}, false
		}
		return store.Sensitivity{All: all}, true
	case n.Kind == yaml.ScalarNode && n.Tag == "!!str":
		fields = []*yaml.Node{n}
	case n.Kind == yaml.SequenceNode:
		fields = n.Content
	default:
		b.Errorf(posOf(n), "%s: %s", b.StepName(), usage)
		return store.Sensitivity{}, false
	}
	if len(fields) == 0 {
		b.Errorf(posOf(n), "%s: sensitive: the list is empty; %s", b.StepName(), usage)
		return store.Sensitivity{}, false
	}
	if len(fields) > maxSensitiveFields {
		b.Errorf(posOf(n), "%s: sensitive: %d fields, at most %d; declare the whole entry with true instead", b.StepName(), len(fields), maxSensitiveFields)
		return store.Sensitivity{}, false
	}
	sens := store.Sensitivity{Paths: []string{"data"}}
	ok := true
	for _, f := range fields {
		for f.Kind == yaml.AliasNode {
			f = f.Alias
		}
		if f.Kind != yaml.ScalarNode || f.Tag == "!!null" {
			b.Errorf(posOf(f), "%s: sensitive: each entry is a field name such as access_token", b.StepName())
			ok = false
			continue
		}
		p := f.Value
		if strings.HasPrefix(p, "$") {
			b.Errorf(posOf(f), "%s: sensitive: %q: write the field's name or dotted path (access_token, token.refresh), not a template or JSONPath", b.StepName(), p)
			ok = false
			continue
		}
		if err := store.ValidSensitivePath(p); err != nil {
			b.Errorf(posOf(f), "%s: sensitive: %s", b.StepName(), strings.TrimSuffix(err.Error(), ": "+store.ErrInvalid.Error()))
			ok = false
			continue
		}
		sens.Paths = append(sens.Paths, "text."+p)
		if first, _, _ := strings.Cut(p, "."); slices.Contains(props, first) {
			sens.Paths = append(sens.Paths, "properties."+p)
		}
	}
	return sens, ok
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
	err = kv.Put(ctx, s.c.Store, id, rec, store.PutOptions{Overwrite: s.c.Overwrite, TTL: s.ttl, Sensitive: s.sensitive})
	if errors.Is(err, store.ErrExists) {
		return errorf("%s already has an entry %q (set overwrite: true to replace it)", s.c.Store, id)
	}
	return err
}
