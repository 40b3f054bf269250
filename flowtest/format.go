package flowtest

// The format of a test file: its top level and cases (this file), the
// trigger inputs and datastore fixtures (inputs.go), the mocks
// (mocks.go), and the expectations with their matchers (expect.go,
// matchers.go). flows/README.md ("Testing flows") documents it. Files are
// decoded by the flow loader's strict decoder (flow.Decoder): struct tags
// give the keys; types with a YAML form of their own implement
// flow.YAMLValue.

import (
	"encoding/json"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stride-engine/stride/engine/flow"
)

// Pos is a place in a test file: the engine's positions, so test files and
// flow files report places alike.
type Pos = flow.Pos

// File is one *.test.yaml file: variables shared by its cases, and the
// cases.
type File struct {
	Keys      flow.KeyPos
	Path      string            `yaml:"-"`
	Now       *Time             `yaml:"now" doc:"A fixed clock for the flows: now() and dates."`
	Env       map[string]string `yaml:"env" doc:"Environment variables for every case."`
	Secrets   map[string]string `yaml:"secrets" doc:"Secrets for every case."`
	Timeout   time.Duration     `yaml:"timeout" doc:"The longest a case may run (default 60s)."`
	Include   []string          `yaml:"include" doc:"Fixture files (*.fixtures.yaml, relative to this file) shared by a folder's tests: their now, env, secrets, datastore and mocks apply to every case, under this file's own."`
	Datastore Fixtures          `yaml:"datastore" doc:"Data store entries put before every case's run, under the case's own: {STORE: {ID: VALUE}}."`
	Mocks     []*Mock           `yaml:"mocks" doc:"Mocks for every case, consulted after the case's own (the first that matches answers)."`
	Cases     []*Case           `yaml:"cases" required:"true" doc:"The test cases, each with a name and one trigger input."`
}

// FixtureFile is a *.fixtures.yaml file: what a folder's test files
// share (include:), so that a new source's tests need not repeat, or
// copy, the variables and the answers of the systems around its flows.
type FixtureFile struct {
	Path      string            `yaml:"-"`
	Now       *Time             `yaml:"now" doc:"A fixed clock for the flows."`
	Env       map[string]string `yaml:"env" doc:"Environment variables."`
	Secrets   map[string]string `yaml:"secrets" doc:"Secrets."`
	Datastore Fixtures          `yaml:"datastore" doc:"Data store entries put before each case's run."`
	Mocks     []*Mock           `yaml:"mocks" doc:"Mocks consulted after the case's and the test file's own."`
}

// IsFixtureFile reports whether path names a fixture file.
func IsFixtureFile(path string) bool { return strings.HasSuffix(path, ".fixtures.yaml") }

// Case is one test: a trigger input, fixtures, mocks and expectations.
type Case struct {
	At        Pos
	Keys      flow.KeyPos
	Name      string            `yaml:"name" required:"true" doc:"The case's name, unique in the file; --run selects cases by file/name."`
	Now       *Time             `yaml:"now" doc:"This case's fixed clock, instead of the file's now."`
	Env       map[string]string `yaml:"env" doc:"Environment variables for this case, over the file's env."`
	Secrets   map[string]string `yaml:"secrets" doc:"Secrets for this case, over the file's secrets."`
	Timeout   time.Duration     `yaml:"timeout" doc:"The longest this case may run, instead of the file's timeout."`
	Request   *RequestInput     `yaml:"request" doc:"Input: an HTTP request to the flows' http triggers, as the listener would get it (policies apply)."`
	Queue     *QueueInput       `yaml:"queue" doc:"Input: one message to a queue-triggered flow, run once (no retries)."`
	Timer     *TimerInput       `yaml:"timer" doc:"Input: one run of a timer-triggered flow."`
	Call      *CallInput        `yaml:"call" doc:"Input: a run of a flow with trigger call, like a Process Call, with exchange properties."`
	Datastore Fixtures          `yaml:"datastore" doc:"Data store entries put before the run: {STORE: {ID: VALUE or {value, value_file, content_type, expires}}}."`
	Mocks     []*Mock           `yaml:"mocks" doc:"The receivers, simulated: every outbound request must match one; the first that matches answers."`
	Follow    bool              `yaml:"follow" doc:"Follow the messages the run queues: each is run once by its queue's consumer flow, as the queue trigger would (and what those queue, in turn); a consumer run that fails fails the case. The expectations then see the whole chain: mocks, data stores, and enqueued (what is left: nothing)."`
	Expect    *Expect           `yaml:"expect" doc:"What the run must have produced."`

	file *File
}

// ID is how --run selects a case: the test file's name without
// .test.yaml, a slash, and the case's name.
// Path returns the test file the case is written in, for --run to select
// cases by file path too.
func (c *Case) Path() string { return c.file.Path }

func (c *Case) ID() string {
	base := c.file.Path
	if i := strings.LastIndexAny(base, `/\`); i >= 0 {
		base = base[i+1:]
	}
	return strings.TrimSuffix(base, ".test.yaml") + "/" + c.Name
}

// Time is an instant written as RFC 3339 (2026-11-23T02:00:00Z) or a
// date (2026-11-23, midnight UTC).
type Time struct{ time.Time }

// DecodeYAML implements flow.YAMLValue.
func (t *Time) DecodeYAML(d *flow.Decoder, n *yaml.Node, what string) {
	if n.Kind != yaml.ScalarNode || flow.IsNull(n) {
		d.Errorf(n, "%s: expected a time such as 2026-11-23T02:00:00Z, found %s", what, flow.KindOf(n))
		return
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if v, err := time.Parse(layout, n.Value); err == nil {
			t.Time = v.UTC()
			return
		}
	}
	d.Errorf(n, "%s: %q is not a time; write e.g. 2026-11-23T02:00:00Z", what, n.Value)
}

// Body is a payload: text as written, or a YAML mapping or list, sent as
// JSON. Nothing is an empty body.
type Body struct {
	Set  bool
	Data []byte
	JSON bool // written as a mapping or list
	At   Pos
}

// DecodeYAML implements flow.YAMLValue.
func (b *Body) DecodeYAML(d *flow.Decoder, n *yaml.Node, what string) {
	b.At, b.Set = d.Pos(n), true
	switch n.Kind {
	case yaml.ScalarNode:
		if !flow.IsNull(n) {
			b.Data = []byte(n.Value)
		}
	case yaml.MappingNode, yaml.SequenceNode:
		data, err := json.Marshal(flow.PlainValue(n))
		if err != nil {
			d.Errorf(n, "%s: %v", what, err)
			return
		}
		b.Data, b.JSON = data, true
	default:
		d.Errorf(n, "%s: expected text, a mapping or a list, found %s", what, flow.KindOf(n))
	}
}

// namedText is one name: text pair of a mapping, in file order.
type namedText struct {
	Name, Value string
	At          Pos
}

// namedTexts is a mapping of texts kept in file order (query parameters,
// headers). Names are given once, in any case.
type namedTexts []namedText

// DecodeYAML implements flow.YAMLValue.
func (s *namedTexts) DecodeYAML(d *flow.Decoder, n *yaml.Node, what string) {
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, "%s: expected a mapping (name: value), found %s", what, flow.KindOf(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := flow.Resolve(n.Content[i])
		if seen[strings.ToLower(k.Value)] {
			d.Errorf(k, "%s: key %q is given twice", what, k.Value)
			continue
		}
		seen[strings.ToLower(k.Value)] = true
		var val string
		d.Decode(n.Content[i+1], &val, what+"."+k.Value)
		*s = append(*s, namedText{Name: k.Value, Value: val, At: d.Pos(k)})
	}
}
