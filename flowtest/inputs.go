package flowtest

// The inputs of a case: the trigger input that starts a flow, and the
// datastore entries put before the run.

import (
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stride-engine/stride/engine/flow"
)

// Signature signs a request body the way a webhook sender does.
type Signature struct {
	At        Pos
	Header    string `yaml:"header" required:"true" doc:"The header that carries the signature, e.g. X-Hub-Signature-256."`
	Algorithm string `yaml:"algorithm" default:"hmac-sha256" enum:"hmac-sha1,hmac-sha256" doc:"The HMAC algorithm."`
	Key       string `yaml:"key" required:"true" doc:"The shared secret the body is signed with."`
	Encoding  string `yaml:"encoding" default:"base64" enum:"base64,hex" doc:"How the signature is written."`
	Prefix    string `yaml:"prefix" doc:"Text before the signature in the header, e.g. sha256=."`
	// Data and TimestampHeader mirror verify_signature's data and
	// timestamp, for providers that sign more than the body.
	Data            string `yaml:"data" doc:"The signed text when it is not the body alone: {body}, {timestamp}, {uri} and {host} are replaced, e.g. 'v0:{timestamp}:{body}'."`
	TimestampHeader string `yaml:"timestamp_header" doc:"A header that carries the signing time in unix seconds, e.g. X-Request-Timestamp."`
	SignedAt        *Time  `yaml:"signed_at" doc:"When the request was signed (RFC 3339); default the case's now. Set it apart from now to test that a replay is refused."`
}

// RequestInput is an HTTP request to the flows' http triggers.
type RequestInput struct {
	At            Pos
	Keys          flow.KeyPos
	Method        string     `yaml:"method" doc:"The HTTP method (default GET; POST with a body)."`
	Path          string     `yaml:"path" required:"true" doc:"The request's path from the root, e.g. /fitbit/webhook."`
	Query         namedTexts `yaml:"query" doc:"Query parameters (name: value)."`
	Headers       namedTexts `yaml:"headers" doc:"Request headers (name: value)."`
	Body          Body       `yaml:"body" doc:"The body: text as written, or a mapping or list sent as JSON."`
	BodyFile      string     `yaml:"body_file" doc:"A file with the body, relative to the test file."`
	ContentType   string     `yaml:"content_type" doc:"The Content-Type of the body."`
	RemoteAddress string     `yaml:"remote_address" doc:"The client's address (HOST:PORT), for allow_ips."`
	Sign          *Signature `yaml:"sign" doc:"Sign the body like a webhook sender."`
}

// QueueInput is a message delivered to a queue-triggered flow.
type QueueInput struct {
	At          Pos
	Keys        flow.KeyPos
	Flow        string     `yaml:"flow" required:"true" doc:"The id of the queue-triggered flow that gets the message."`
	Body        Body       `yaml:"body" doc:"The body: text as written, or a mapping or list sent as JSON."`
	BodyFile    string     `yaml:"body_file" doc:"A file with the body, relative to the test file."`
	ContentType string     `yaml:"content_type" doc:"The Content-Type of the body."`
	Headers     namedTexts `yaml:"headers" doc:"Message headers (name: value)."`
	Properties  namedTexts `yaml:"properties" doc:"Exchange properties (name: value)."`
}

// TimerInput runs a timer-triggered flow once.
type TimerInput struct {
	At   Pos
	Flow string `yaml:"flow" required:"true" doc:"The id of the timer-triggered flow to run."`
}

// CallInput runs a flow with trigger call, as the call step would.
type CallInput struct {
	At          Pos
	Keys        flow.KeyPos
	Flow        string         `yaml:"flow" required:"true" doc:"The id of the flow to call (trigger: {call: {}})."`
	Body        Body           `yaml:"body" doc:"The body: text as written, or a mapping or list sent as JSON."`
	BodyFile    string         `yaml:"body_file" doc:"A file with the body, relative to the test file."`
	ContentType string         `yaml:"content_type" doc:"The Content-Type of the body."`
	Headers     namedTexts     `yaml:"headers" doc:"Message headers (name: value)."`
	Properties  map[string]any `yaml:"properties" doc:"Exchange properties (name: value)."`
}

// Fixtures are datastore entries put before the run, by store and id.
type Fixtures []StoreFixture

// StoreFixture is one store's entries.
type StoreFixture struct {
	Store   string
	At      Pos
	Entries []*Fixture
}

// Fixture is one datastore entry.
type Fixture struct {
	At          Pos
	Keys        flow.KeyPos
	ID          string        `yaml:"-"`
	Value       Body          `yaml:"value" doc:"The value: text, or a mapping or list stored as JSON."`
	ValueFile   string        `yaml:"value_file" doc:"A file with the value, relative to the test file."`
	ContentType string        `yaml:"content_type" doc:"The value's content type."`
	Expires     time.Duration `yaml:"expires" doc:"The entry expires after this long, e.g. 10m."`
}

// DecodeYAML implements flow.YAMLValue: {store: {id: value or {value, ...}}}.
func (f *Fixtures) DecodeYAML(d *flow.Decoder, n *yaml.Node, what string) {
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, "%s: expected stores (store: {id: entry}), found %s", what, flow.KindOf(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := flow.Resolve(n.Content[i]), flow.Resolve(n.Content[i+1])
		sf := StoreFixture{Store: k.Value, At: d.Pos(k)}
		if v.Kind != yaml.MappingNode {
			d.Errorf(v, "%s.%s: expected entries (id: value), found %s", what, k.Value, flow.KindOf(v))
			continue
		}
		for j := 0; j+1 < len(v.Content); j += 2 {
			id, ev := flow.Resolve(v.Content[j]), flow.Resolve(v.Content[j+1])
			fx := &Fixture{}
			w := what + "." + k.Value + "." + id.Value
			switch ev.Kind {
			case yaml.ScalarNode: // the value itself
				fx.Value.DecodeYAML(d, ev, w)
			case yaml.MappingNode:
				d.Decode(ev, fx, w)
				if !fx.Value.Set && fx.ValueFile == "" {
					d.Errorf(ev, "%s: give value or value_file", w)
				}
				if fx.Value.Set && fx.ValueFile != "" {
					d.ErrorAt(fx.Keys["value_file"], "%s: value and value_file exclude each other", w)
				}
			default:
				d.Errorf(ev, "%s: expected the value (text) or {value: ..., expires: ...}, found %s", w, flow.KindOf(ev))
				continue
			}
			fx.ID, fx.At = id.Value, d.Pos(id)
			sf.Entries = append(sf.Entries, fx)
		}
		*f = append(*f, sf)
	}
}
