package steps

import (
	"context"
	"net/http"
	"net/textproto"

	"github.com/stride-engine/stride/engine/flow"
)

// respondConfig sets the reply of an http-triggered flow and ends it.
type respondConfig struct {
	Status      *flow.Template   `yaml:"status" default:"200" doc:"The HTTP status, 100 to 599."`
	Body        *flow.Template   `yaml:"body" doc:"The reply body; default: the current message body."`
	ContentType string           `yaml:"content_type" doc:"The reply's content type; default: the message's when body is not given, application/json for a structured body, else text/plain."`
	Headers     flow.TemplateMap `yaml:"headers" doc:"Headers of the reply."`
}

type respondStep struct{ c *respondConfig }

func init() {
	flow.RegisterStep(flow.StepKind[respondConfig]{
		Name:    "respond",
		Summary: "Answers the HTTP request and ends the flow.",
		Doc:     "The steps after respond do not run. Inside on_error, respond ends the message as COMPLETED with that answer.",
		Example: "- respond: {status: 302, headers: {Location: '${property.url}'}}",
		Build: func(b *flow.Builder, c *respondConfig) (flow.Step, error) {
			if v, ok := c.Status.Literal(); ok {
				if n, ok := v.(int); !ok || n < 100 || n > 599 {
					return nil, errorf("status %v is not an HTTP status (100 to 599)", v)
				}
			}
			return &respondStep{c}, nil
		},
	})
}

func (s *respondStep) Run(_ context.Context, x *flow.Exchange) error {
	status, err := s.c.Status.Int(x)
	if err != nil {
		return err
	}
	if status < 100 || status > 599 {
		return errorf("status %d is not an HTTP status", status)
	}
	r := &flow.Response{Status: status, Header: map[string]string{}, Body: x.Msg.Body(), ContentType: x.Msg.ContentType()}
	if s.c.Body != nil {
		v, err := s.c.Body.Eval(x)
		if err != nil {
			return errorf("body: %w", err)
		}
		data, ct, err := bodyBytes(v)
		if err != nil {
			return err
		}
		r.Body = data
		if ct == "" {
			ct = "text/plain; charset=utf-8"
		}
		r.ContentType = ct
	}
	if s.c.ContentType != "" {
		r.ContentType = s.c.ContentType
	}
	for _, h := range s.c.Headers {
		v, err := h.Value.String(x)
		if err != nil {
			return errorf("header %s: %w", h.Key, err)
		}
		r.Header[textproto.CanonicalMIMEHeaderKey(h.Key)] = v
	}
	if status == http.StatusNoContent {
		r.Body = nil
	}
	x.Response = r
	x.Stop("")
	return nil
}
