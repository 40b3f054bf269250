package flowtest

// The expectations of a case: what the run must have produced. The
// matchers they use are in matchers.go.

import (
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/stride-engine/stride/engine/flow"
)

// Expect is what the run must have produced.
type Expect struct {
	At            Pos
	Keys          flow.KeyPos
	Status        *int               `yaml:"status" doc:"The HTTP status of the reply (request cases)."`
	Body          *Body              `yaml:"body" doc:"The reply body, or the final message body; a mapping or list is compared as JSON, text exactly."`
	BodyFile      string             `yaml:"body_file" doc:"A file with the expected body, relative to the test file; JSON is compared as JSON."`
	BodyContains  []string           `yaml:"body_contains" doc:"Texts the body must contain."`
	Headers       textMatchers       `yaml:"headers" doc:"The reply's headers (request cases), else the final message's (name: expected text)."`
	JSONPath      valueMatchers      `yaml:"jsonpath" doc:"{path: value} on the JSON body; values keep their type (15720 is not '15720')."`
	XPath         valueMatchers      `yaml:"xpath" doc:"{path: value} on the XML body; values are text."`
	Properties    valueMatchers      `yaml:"properties" doc:"Exchange properties at the end (not for request cases)."`
	MessageStatus *string            `yaml:"message_status" doc:"The message's final status: COMPLETED, FAILED, DISCARDED, or a custom status from complete."`
	ErrorContains []string           `yaml:"error_contains" doc:"Texts the message's error must contain."`
	Retry         *bool              `yaml:"retry" doc:"Queue cases: whether the queue would retry the failed message (false for a permanent failure)."`
	Datastore     storeExpects       `yaml:"datastore" doc:"{STORE: {ID: absent | present | {equals, contains, matches, jsonpath}}}; ID * is some entry; STORE: empty or a number of entries."`
	Enqueued      *[]*EnqueuedExpect `yaml:"enqueued" doc:"The messages queued, per queue: every queue that received messages is listed; [] means none."`
}

// EnqueuedExpect describes the messages one queue received.
type EnqueuedExpect struct {
	At           Pos
	Queue        string       `yaml:"queue" required:"true" doc:"The queue that received the messages."`
	Count        *int         `yaml:"count" doc:"How many messages the queue received."`
	Body         *Body        `yaml:"body" doc:"The body of the messages; a mapping or list is compared as JSON, text exactly."`
	BodyContains []string     `yaml:"body_contains" doc:"Texts the body of the messages must contain."`
	Key          *string      `yaml:"key" doc:"The messages' key (the queue keeps per-key order)."`
	Headers      textMatchers `yaml:"headers" doc:"Headers of the messages (name: expected text)."`
}

// storeExpect is what one datastore must hold after the run.
type storeExpect struct {
	Store   string
	At      Pos
	Empty   bool
	Count   *int
	Entries []*entryExpect
}

// entryExpect is what one entry (or, with id *, some entry) must hold.
type entryExpect struct {
	ID       string
	At       Pos
	Absent   bool
	Present  bool
	Text     textMatcher
	JSONPath valueMatchers
}

type storeExpects []*storeExpect

// DecodeYAML implements flow.YAMLValue: {store: empty | count | {id:
// absent | present | {equals, contains, matches, jsonpath}}}.
func (s *storeExpects) DecodeYAML(d *flow.Decoder, n *yaml.Node, what string) {
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, "%s: expected stores (store: {id: expectation}), found %s", what, flow.KindOf(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := flow.Resolve(n.Content[i]), flow.Resolve(n.Content[i+1])
		se := &storeExpect{Store: k.Value, At: d.Pos(k)}
		w := what + "." + k.Value
		switch {
		case v.Kind == yaml.ScalarNode && v.Value == "empty":
			se.Empty = true
		case v.Kind == yaml.ScalarNode && v.Tag == "!!int":
			c, _ := strconv.Atoi(v.Value)
			se.Count = &c
		case v.Kind == yaml.MappingNode:
			for j := 0; j+1 < len(v.Content); j += 2 {
				id, ev := flow.Resolve(v.Content[j]), flow.Resolve(v.Content[j+1])
				if e := decodeEntryExpect(d, id, ev, w+"."+id.Value); e != nil {
					se.Entries = append(se.Entries, e)
				}
			}
		default:
			d.Errorf(v, "%s: expected empty, a number of entries, or entries (id: expectation), found %s", w, flow.KindOf(v))
			continue
		}
		*s = append(*s, se)
	}
}

// decodeEntryExpect decodes the expectation ev of the entry id, or
// reports it and returns nil.
func decodeEntryExpect(d *flow.Decoder, id, ev *yaml.Node, what string) *entryExpect {
	e := &entryExpect{ID: id.Value, At: d.Pos(id)}
	switch {
	case ev.Kind == yaml.ScalarNode && ev.Value == "absent":
		e.Absent = true
	case ev.Kind == yaml.ScalarNode && ev.Value == "present":
		e.Present = true
	case ev.Kind == yaml.MappingNode:
		e.Text.At = d.Pos(ev)
		e.Text.decodeKeys(d, ev, what, func(k, v *yaml.Node) bool {
			if k.Value != "jsonpath" {
				return false
			}
			d.Decode(v, &e.JSONPath, "jsonpath")
			return true
		}, "jsonpath")
		e.Absent, e.Text.Absent = e.Text.Absent, false
	default:
		d.Errorf(ev, "%s: expected absent, present, or {equals | contains | matches | jsonpath}, found %s", what, flow.KindOf(ev))
		return nil
	}
	return e
}
