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
	Status        *int               `yaml:"status"`
	Body          *Body              `yaml:"body"`
	BodyFile      string             `yaml:"body_file"`
	BodyContains  []string           `yaml:"body_contains"`
	Headers       textMatchers       `yaml:"headers"`
	JSONPath      valueMatchers      `yaml:"jsonpath"`
	XPath         valueMatchers      `yaml:"xpath"`
	Properties    valueMatchers      `yaml:"properties"`
	MessageStatus *string            `yaml:"message_status"`
	ErrorContains []string           `yaml:"error_contains"`
	Retry         *bool              `yaml:"retry"`
	Datastore     storeExpects       `yaml:"datastore"`
	Enqueued      *[]*EnqueuedExpect `yaml:"enqueued"`
}

// EnqueuedExpect describes the messages one queue received.
type EnqueuedExpect struct {
	At           Pos
	Queue        string       `yaml:"queue" required:"true" doc:"The queue that received the messages."`
	Count        *int         `yaml:"count"`
	Body         *Body        `yaml:"body"`
	BodyContains []string     `yaml:"body_contains"`
	Key          *string      `yaml:"key"`
	Headers      textMatchers `yaml:"headers"`
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
