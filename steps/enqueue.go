package steps

import (
	"context"
	"encoding/json"
	"net/textproto"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// enqueueConfig writes the message to a durable queue.
type enqueueConfig struct {
	Queue      string         `yaml:"queue" required:"true" doc:"The queue's name; a flow with trigger: {queue: {name: ...}} consumes it."`
	Key        *flow.Template `yaml:"key" doc:"The ordering key; default: the key the consuming queue trigger declares, evaluated on this message."`
	Body       *flow.Template `yaml:"body" doc:"What to enqueue instead of the body."`
	Headers    []string       `yaml:"headers" doc:"Headers carried to the consumer."`
	Properties []string       `yaml:"properties" doc:"Properties carried to the consumer (as text)."`
}

type enqueueStep struct {
	c       *enqueueConfig
	headers []string
}

func init() {
	flow.RegisterStep(flow.StepKind[enqueueConfig]{
		Name:    "enqueue",
		Summary: "Writes the message to a durable queue; it is on disk before the step ends.",
		Doc: "The consuming flow (trigger queue) runs it at least once, retried with back-off and escalated to the dead letters after max_attempts. " +
			"Messages of one key run one at a time, in order. Use it to answer a webhook at once and process later. Encrypted at rest with STRIDE_DATA_KEY.",
		Example: "- enqueue: {queue: fitbit-notifications}\n- respond: {status: 204}",
		Build: func(b *flow.Builder, c *enqueueConfig) (flow.Step, error) {
			if err := store.ValidStoreName(c.Queue); err != nil {
				return nil, errorf("queue %q: %v", c.Queue, err)
			}
			b.EnqueueTo(c.Queue, b.FieldPos("queue"))
			s := &enqueueStep{c: c}
			for _, h := range c.Headers {
				s.headers = append(s.headers, textproto.CanonicalMIMEHeaderKey(h))
			}
			return s, nil
		},
	})
}

func (s *enqueueStep) Run(ctx context.Context, x *flow.Exchange) error {
	qs, err := x.Queues()
	if err != nil {
		return err
	}
	m := store.Message{Body: x.Msg.Body(), ContentType: x.Msg.ContentType()}
	if s.c.Body != nil {
		v, err := s.c.Body.Eval(x)
		if err != nil {
			return errorf("body: %w", err)
		}
		data, ct, err := bodyBytes(v)
		if err != nil {
			return err
		}
		m.Body = data
		if ct != "" {
			m.ContentType = ct
		}
	}
	if s.c.Key != nil {
		if m.Key, err = s.c.Key.String(x); err != nil {
			return errorf("key: %w", err)
		}
	} else if m.Key, err = x.QueueKey(s.c.Queue, flow.NewMessage(m.Body, m.ContentType)); err != nil {
		// The consumer's key is a scheduling hint: a message it cannot be
		// computed for (a malformed payload) is still queued, without
		// ordering, so that the consumer can judge it and it is not lost
		// at intake.
		x.Log.Warn("enqueue: ordering key not computed; queued without a key", "flow", x.Flow().ID, "message_id", x.ID, "queue", s.c.Queue, "error", x.Redact(err.Error()))
		m.Key = ""
	}
	for _, h := range s.headers {
		if v, ok := x.Msg.Header[h]; ok {
			if m.Headers == nil {
				m.Headers = map[string]string{}
			}
			m.Headers[h] = v
		}
	}
	for _, p := range s.c.Properties {
		v, ok := x.Msg.Property[p]
		if !ok {
			return errorf("property %s is not set", p)
		}
		if m.Meta == nil {
			m.Meta = map[string]string{}
		}
		if str, isStr := v.(string); isStr {
			m.Meta[p] = str
		} else {
			data, _ := json.Marshal(v)
			m.Meta[p] = string(data)
		}
	}
	if m.Meta == nil {
		m.Meta = make(map[string]string, 2)
	}
	x.Carry(ctx, m.Meta)
	id, err := qs.Enqueue(ctx, s.c.Queue, m)
	if err != nil {
		return err
	}
	x.Msg.Property["enqueued_id"] = id
	return nil
}
