package steps

import (
	"context"
	"encoding/json"
	"net/textproto"

	"github.com/stride-engine/stride/engine/flow"
)

// setConfig is the content modifier: it sets headers, properties and the body.
type setConfig struct {
	Headers          flow.TemplateMap `yaml:"headers" doc:"Headers to set, name: template. Names are stored in canonical form (X-Fitbit-Signature)."`
	Properties       flow.TemplateMap `yaml:"properties" doc:"Properties to set, name: template, in order: a later one may use an earlier one. A lone ${...} keeps its type."`
	Body             *flow.Template   `yaml:"body" doc:"The new body. Text is written as is; a list or mapping value is written as JSON."`
	ContentType      string           `yaml:"content_type" doc:"The body's content type; default: unchanged for text, application/json for structured values."`
	RemoveHeaders    []string         `yaml:"remove_headers" doc:"Headers to remove."`
	RemoveProperties []string         `yaml:"remove_properties" doc:"Properties to remove."`
}

type setStep struct {
	c       *setConfig
	headers []string // canonical names, computed once
}

func init() {
	flow.RegisterStep(flow.StepKind[setConfig]{
		Name:    "set",
		Summary: "Sets headers, properties and the body (CPI's content modifier).",
		Doc:     "Entries are evaluated in order, so a property can use one set just before it. Removals happen before the new values are set.",
		Example: "- set:\n    properties:\n      owner: '${jsonpath(\"$.ownerId\")}'\n      day: '${format_date(now(), \"yyyy-MM-dd\")}'\n    headers: {Content-Type: application/json}",
		Build: func(b *flow.Builder, c *setConfig) (flow.Step, error) {
			if len(c.Headers) == 0 && len(c.Properties) == 0 && c.Body == nil && len(c.RemoveHeaders) == 0 && len(c.RemoveProperties) == 0 {
				return nil, errorf("set changes nothing: give headers, properties, body, remove_headers or remove_properties")
			}
			s := &setStep{c: c}
			for _, h := range c.Headers {
				s.headers = append(s.headers, textproto.CanonicalMIMEHeaderKey(h.Key))
			}
			return s, nil
		},
	})
}

func (s *setStep) Run(_ context.Context, x *flow.Exchange) error {
	m := x.Msg
	for _, h := range s.c.RemoveHeaders {
		delete(m.Header, textproto.CanonicalMIMEHeaderKey(h))
	}
	for _, p := range s.c.RemoveProperties {
		delete(m.Property, p)
	}
	for i, h := range s.c.Headers {
		v, err := h.Value.String(x)
		if err != nil {
			return errorf("header %s: %w", h.Key, err)
		}
		m.Header[s.headers[i]] = v
	}
	for _, p := range s.c.Properties {
		v, err := p.Value.Eval(x)
		if err != nil {
			return errorf("property %s: %w", p.Key, err)
		}
		m.Property[p.Key] = v
	}
	if s.c.Body != nil {
		v, err := s.c.Body.Eval(x)
		if err != nil {
			return errorf("body: %w", err)
		}
		data, ct, err := bodyBytes(v)
		if err != nil {
			return errorf("body: %w", err)
		}
		if ct == "" {
			ct = m.ContentType()
		}
		if s.c.ContentType != "" {
			ct = s.c.ContentType
		}
		m.SetBody(data, ct)
	}
	return nil
}

// bodyBytes renders a value as a body: text as is, structures as JSON
// (with their content type), anything else as its text form.
func bodyBytes(v any) ([]byte, string, error) {
	switch b := v.(type) {
	case string:
		return []byte(b), "", nil
	case []byte:
		return b, "", nil
	case map[string]any, []any:
		data, err := json.Marshal(b)
		return data, "application/json", err
	}
	return []byte(flow.Stringify(v)), "", nil
}
