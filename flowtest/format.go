package flowtest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// File is one *.test.yaml file: variables shared by its cases, and the
// cases. flows/README.md ("Testing flows") documents the format.
type File struct {
	Path    string            `yaml:"-"`
	Now     *Time             `yaml:"now"`
	Env     map[string]string `yaml:"env"`
	Secrets map[string]string `yaml:"secrets"`
	Timeout time.Duration     `yaml:"timeout"`
	Cases   []*Case           `yaml:"cases" flowtest:"required"`
}

// Case is one test: a trigger input, fixtures, mocks and expectations.
type Case struct {
	At        Pos
	Keys      keyPos
	Name      string            `yaml:"name" flowtest:"required"`
	Now       *Time             `yaml:"now"`
	Env       map[string]string `yaml:"env"`
	Secrets   map[string]string `yaml:"secrets"`
	Timeout   time.Duration     `yaml:"timeout"`
	Request   *RequestInput     `yaml:"request"`
	Queue     *QueueInput       `yaml:"queue"`
	Timer     *TimerInput       `yaml:"timer"`
	Call      *CallInput        `yaml:"call"`
	Datastore Fixtures          `yaml:"datastore"`
	Mocks     []*Mock           `yaml:"mocks"`
	Expect    *Expect           `yaml:"expect"`

	file *File
}

// ID is how --run selects a case: the test file's name without
// .test.yaml, a slash, and the case's name.
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

func (t *Time) decodeNode(d *decoder, n *yaml.Node, what string) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, "%s: expected a time such as 2026-11-23T02:00:00Z, found %s", what, kindOf(n))
		return
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if v, err := time.Parse(layout, n.Value); err == nil {
			t.Time = v.UTC()
			return
		}
	}
	d.errorf(n, "%s: %q is not a time; write e.g. 2026-11-23T02:00:00Z", what, n.Value)
}

// Body is a payload: text as written, or a YAML mapping or list, sent as
// JSON.
type Body struct {
	Set  bool
	Data []byte
	JSON bool // written as a mapping or list
	At   Pos
}

func (b *Body) decodeNode(d *decoder, n *yaml.Node, what string) {
	b.At, b.Set = d.pos(n), true
	switch n.Kind {
	case yaml.ScalarNode:
		if !isNull(n) {
			b.Data = []byte(n.Value)
		}
	case yaml.MappingNode, yaml.SequenceNode:
		data, err := json.Marshal(plainValue(n))
		if err != nil {
			d.errorf(n, "%s: %v", what, err)
			return
		}
		b.Data, b.JSON = data, true
	default:
		d.errorf(n, "%s: expected text, a mapping or a list, found %s", what, kindOf(n))
	}
}

// stringList is one text or a list of texts.
type stringList []string

func (s *stringList) decodeNode(d *decoder, n *yaml.Node, what string) {
	switch n.Kind {
	case yaml.ScalarNode:
		if !isNull(n) {
			*s = stringList{n.Value}
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			item = resolve(item)
			if item.Kind != yaml.ScalarNode || isNull(item) {
				d.errorf(item, "%s: expected text, found %s", what, kindOf(item))
				continue
			}
			*s = append(*s, item.Value)
		}
	default:
		d.errorf(n, "%s: expected text or a list of texts, found %s", what, kindOf(n))
	}
}

// namedText is one name: text pair of a mapping, in file order.
type namedText struct {
	Name, Value string
	At          Pos
}

// namedTexts is a mapping of texts kept in file order (query parameters,
// headers).
type namedTexts []namedText

func (s *namedTexts) decodeNode(d *decoder, n *yaml.Node, what string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected a mapping (name: value), found %s", what, kindOf(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if seen[strings.ToLower(k.Value)] {
			d.errorf(k, "%s: %q is given twice", what, k.Value)
			continue
		}
		seen[strings.ToLower(k.Value)] = true
		if v.Kind != yaml.ScalarNode {
			d.errorf(v, "%s.%s: expected text, found %s", what, k.Value, kindOf(v))
			continue
		}
		val := v.Value
		if isNull(v) {
			val = ""
		}
		*s = append(*s, namedText{Name: k.Value, Value: val, At: d.pos(k)})
	}
}

// Signature signs a request body the way a webhook sender does.
type Signature struct {
	At        Pos
	Header    string `yaml:"header" flowtest:"required"`
	Algorithm string `yaml:"algorithm"`
	Key       string `yaml:"key" flowtest:"required"`
	Encoding  string `yaml:"encoding"`
	Prefix    string `yaml:"prefix"`
}

// RequestInput is an HTTP request to the flows' http triggers.
type RequestInput struct {
	At            Pos
	Keys          keyPos
	Method        string     `yaml:"method"`
	Path          string     `yaml:"path" flowtest:"required"`
	Query         namedTexts `yaml:"query"`
	Headers       namedTexts `yaml:"headers"`
	Body          Body       `yaml:"body"`
	BodyFile      string     `yaml:"body_file"`
	ContentType   string     `yaml:"content_type"`
	RemoteAddress string     `yaml:"remote_address"`
	Sign          *Signature `yaml:"sign"`
}

// QueueInput is a message delivered to a queue-triggered flow.
type QueueInput struct {
	At          Pos
	Keys        keyPos
	Flow        string     `yaml:"flow" flowtest:"required"`
	Body        Body       `yaml:"body"`
	BodyFile    string     `yaml:"body_file"`
	ContentType string     `yaml:"content_type"`
	Headers     namedTexts `yaml:"headers"`
	Properties  namedTexts `yaml:"properties"`
}

// TimerInput runs a timer-triggered flow once.
type TimerInput struct {
	At   Pos
	Flow string `yaml:"flow" flowtest:"required"`
}

// CallInput runs a flow with trigger call, as the call step would.
type CallInput struct {
	At          Pos
	Keys        keyPos
	Flow        string         `yaml:"flow" flowtest:"required"`
	Body        Body           `yaml:"body"`
	BodyFile    string         `yaml:"body_file"`
	ContentType string         `yaml:"content_type"`
	Headers     namedTexts     `yaml:"headers"`
	Properties  map[string]any `yaml:"properties"`
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
	Keys        keyPos
	ID          string        `yaml:"-"`
	Value       Body          `yaml:"value"`
	ValueFile   string        `yaml:"value_file"`
	ContentType string        `yaml:"content_type"`
	Expires     time.Duration `yaml:"expires"`
}

func (f *Fixtures) decodeNode(d *decoder, n *yaml.Node, what string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected stores (store: {id: entry}), found %s", what, kindOf(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		sf := StoreFixture{Store: k.Value, At: d.pos(k)}
		if v.Kind != yaml.MappingNode {
			d.errorf(v, "%s.%s: expected entries (id: value), found %s", what, k.Value, kindOf(v))
			continue
		}
		for j := 0; j+1 < len(v.Content); j += 2 {
			id, ev := resolve(v.Content[j]), resolve(v.Content[j+1])
			fx := &Fixture{ID: id.Value, At: d.pos(id)}
			w := what + "." + k.Value + "." + id.Value
			switch ev.Kind {
			case yaml.ScalarNode: // the value itself
				fx.Value.decodeNode(d, ev, w)
			case yaml.MappingNode:
				d.decodeStruct(ev, reflectValue(fx), w)
				fx.ID, fx.At = id.Value, d.pos(id)
				if !fx.Value.Set && fx.ValueFile == "" {
					d.errorf(ev, "%s: give value or value_file", w)
				}
				if fx.Value.Set && fx.ValueFile != "" {
					d.errorAt(fx.Keys["value_file"], "%s: value and value_file exclude each other", w)
				}
			default:
				d.errorf(ev, "%s: expected the value (text) or {value: ..., expires: ...}, found %s", w, kindOf(ev))
				continue
			}
			sf.Entries = append(sf.Entries, fx)
		}
		*f = append(*f, sf)
	}
}

// Mock answers outbound requests of request steps that match it.
type Mock struct {
	At      Pos
	Request MockRequest `yaml:"request" flowtest:"required"`
	Respond responses   `yaml:"respond"`
	Expect  *MockExpect `yaml:"expect"`

	urlRE *regexp.Regexp
}

// MockRequest says which requests a mock answers.
type MockRequest struct {
	At           Pos
	Keys         keyPos
	Method       string     `yaml:"method"`
	URL          string     `yaml:"url"`
	URLRegex     string     `yaml:"url_regex"`
	BodyContains stringList `yaml:"body_contains"`
	Headers      namedTexts `yaml:"headers"`
}

// MockResponse is one answer of a mock.
type MockResponse struct {
	At       Pos
	Keys     keyPos
	Status   int        `yaml:"status"`
	Headers  namedTexts `yaml:"headers"`
	Body     Body       `yaml:"body"`
	BodyFile string     `yaml:"body_file"`
	Error    string     `yaml:"error"`

	data []byte
}

// responses is one answer or a sequence of them.
type responses []*MockResponse

func (r *responses) decodeNode(d *decoder, n *yaml.Node, what string) {
	switch n.Kind {
	case yaml.MappingNode:
		m := &MockResponse{}
		d.decodeStruct(n, reflectValue(m), what)
		*r = responses{m}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			m := &MockResponse{}
			d.decodeStruct(resolve(item), reflectValue(m), fmt.Sprintf("%s[%d]", what, i))
			*r = append(*r, m)
		}
	default:
		d.errorf(n, "%s: expected an answer {status, headers, body} or a list of them, found %s", what, kindOf(n))
	}
}

// MockExpect is checked after the run: how often the mock was called and
// what its last call carried.
type MockExpect struct {
	At           Pos
	Calls        *int          `yaml:"calls"`
	Body         *Body         `yaml:"body"`
	BodyContains stringList    `yaml:"body_contains"`
	Headers      textMatchers  `yaml:"headers"`
	Query        textMatchers  `yaml:"query"`
	Form         textMatchers  `yaml:"form"`
	JSONPath     valueMatchers `yaml:"jsonpath"`
}

// Expect is what the run must have produced.
type Expect struct {
	At            Pos
	Keys          keyPos
	Status        *int               `yaml:"status"`
	Body          *Body              `yaml:"body"`
	BodyFile      string             `yaml:"body_file"`
	BodyContains  stringList         `yaml:"body_contains"`
	Headers       textMatchers       `yaml:"headers"`
	JSONPath      valueMatchers      `yaml:"jsonpath"`
	XPath         valueMatchers      `yaml:"xpath"`
	Properties    valueMatchers      `yaml:"properties"`
	MessageStatus *string            `yaml:"message_status"`
	ErrorContains stringList         `yaml:"error_contains"`
	Retry         *bool              `yaml:"retry"`
	Datastore     storeExpects       `yaml:"datastore"`
	Enqueued      *[]*EnqueuedExpect `yaml:"enqueued"`
}

// EnqueuedExpect describes the messages one queue received.
type EnqueuedExpect struct {
	At           Pos
	Queue        string       `yaml:"queue" flowtest:"required"`
	Count        *int         `yaml:"count"`
	Body         *Body        `yaml:"body"`
	BodyContains stringList   `yaml:"body_contains"`
	Key          *string      `yaml:"key"`
	Headers      textMatchers `yaml:"headers"`
}

// textMatcher checks a text: equal to a value, containing texts,
// matching a regular expression, or absent.
type textMatcher struct {
	At       Pos
	Equals   *string
	Contains []string
	Matches  *regexp.Regexp
	Absent   bool
}

var textMatcherKeys = []string{"equals", "contains", "matches", "absent"}

func (m *textMatcher) decodeNode(d *decoder, n *yaml.Node, what string) {
	m.At = d.pos(n)
	switch n.Kind {
	case yaml.ScalarNode:
		v := n.Value
		if isNull(n) {
			v = ""
		}
		m.Equals = &v
	case yaml.MappingNode:
		m.decodeKeys(d, n, what, nil)
	default:
		d.errorf(n, "%s: expected text or {equals | contains | matches | absent}, found %s", what, kindOf(n))
	}
}

// decodeKeys reads the matcher keys of n; other keys are passed to extra
// (or are errors when extra is nil).
func (m *textMatcher) decodeKeys(d *decoder, n *yaml.Node, what string, extra func(k, v *yaml.Node) bool) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		switch k.Value {
		case "equals":
			if v.Kind != yaml.ScalarNode {
				d.errorf(v, "%s.equals: expected text, found %s", what, kindOf(v))
				continue
			}
			s := v.Value
			m.Equals = &s
		case "contains":
			var l stringList
			l.decodeNode(d, v, what+".contains")
			m.Contains = append(m.Contains, l...)
		case "matches":
			re, err := regexp.Compile(v.Value)
			if err != nil || v.Kind != yaml.ScalarNode {
				d.errorf(v, "%s.matches: not a regular expression: %v", what, err)
				continue
			}
			m.Matches = re
		case "absent":
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
				d.errorf(v, "%s.absent: expected true or false, found %s", what, kindOf(v))
				continue
			}
			m.Absent = v.Value == "true"
		default:
			if extra != nil && extra(k, v) {
				continue
			}
			d.errorf(k, "unknown key %q in %s%s (known: %s)", k.Value, what, hint(k.Value, textMatcherKeys), strings.Join(textMatcherKeys, ", "))
		}
	}
	if m.Absent && (m.Equals != nil || len(m.Contains) > 0 || m.Matches != nil) {
		d.errorf(n, "%s: absent: true excludes equals, contains and matches", what)
	}
}

// check returns a description of what was wanted when text (present or
// not) does not satisfy the matcher, or "".
func (m *textMatcher) check(text string, present bool) (want string) {
	switch {
	case m.Absent:
		if present {
			return "absent"
		}
		return ""
	case !present:
		return m.describe()
	}
	if m.Equals != nil && text != *m.Equals {
		return *m.Equals
	}
	for _, c := range m.Contains {
		if !strings.Contains(text, c) {
			return "containing " + strconv.Quote(c)
		}
	}
	if m.Matches != nil && !m.Matches.MatchString(text) {
		return "matching /" + m.Matches.String() + "/"
	}
	return ""
}

func (m *textMatcher) describe() string {
	var parts []string
	if m.Equals != nil {
		parts = append(parts, *m.Equals)
	}
	for _, c := range m.Contains {
		parts = append(parts, "containing "+strconv.Quote(c))
	}
	if m.Matches != nil {
		parts = append(parts, "matching /"+m.Matches.String()+"/")
	}
	if len(parts) == 0 {
		return "present"
	}
	return strings.Join(parts, ", ")
}

// namedMatcher is a name with its text matcher, in file order.
type namedMatcher struct {
	Name string
	At   Pos
	M    textMatcher
}

type textMatchers []namedMatcher

func (s *textMatchers) decodeNode(d *decoder, n *yaml.Node, what string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected a mapping (name: expected value), found %s", what, kindOf(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		nm := namedMatcher{Name: k.Value, At: d.pos(k)}
		nm.M.decodeNode(d, v, what+"."+k.Value)
		*s = append(*s, nm)
	}
}

// valueMatcher checks a structured value: equal to a YAML value (compared
// as JSON: 15720 is a number, '15720' text), or a matcher mapping whose
// keys are only equals, contains, matches, absent.
type valueMatcher struct {
	At    Pos
	Value any  // expected value when not a matcher
	Plain bool // compare with Value
	Text  textMatcher
}

func (m *valueMatcher) decodeNode(d *decoder, n *yaml.Node, what string) {
	m.At = d.pos(n)
	if n.Kind == yaml.MappingNode && len(n.Content) > 0 {
		matcher := true
		for _, k := range orderedKeys(n) {
			if !contains(textMatcherKeys, k.Value) {
				matcher = false
			}
		}
		if matcher {
			var eq *yaml.Node
			m.Text.decodeKeys(d, n, what, nil)
			for i := 0; i+1 < len(n.Content); i += 2 {
				if resolve(n.Content[i]).Value == "equals" {
					eq = resolve(n.Content[i+1])
				}
			}
			if eq != nil { // equals keeps the value's type
				m.Plain, m.Value, m.Text.Equals = true, plainValue(eq), nil
			}
			return
		}
	}
	m.Plain, m.Value = true, plainValue(n)
}

// check compares a value (present or not); it returns the wanted and the
// actual value as text when they differ.
func (m *valueMatcher) check(v any, present bool) (want, got string, ok bool) {
	got = "(no value)"
	if present {
		got = canonical(v)
	}
	if m.Text.Absent {
		if present {
			return "(no value)", got, false
		}
		return "", got, true
	}
	if !present {
		return m.describe(), got, false
	}
	if m.Plain && canonical(m.Value) != got {
		return canonical(m.Value), got, false
	}
	text := got
	if s, isText := v.(string); isText {
		text = s
	}
	for _, c := range m.Text.Contains {
		if !strings.Contains(text, c) {
			return "containing " + strconv.Quote(c), got, false
		}
	}
	if re := m.Text.Matches; re != nil && !re.MatchString(text) {
		return "matching /" + re.String() + "/", got, false
	}
	return "", got, true
}

func (m *valueMatcher) describe() string {
	if m.Plain {
		return canonical(m.Value)
	}
	return m.Text.describe()
}

type namedValue struct {
	Name string
	At   Pos
	M    valueMatcher
}

type valueMatchers []namedValue

func (s *valueMatchers) decodeNode(d *decoder, n *yaml.Node, what string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected a mapping (path: expected value), found %s", what, kindOf(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		nv := namedValue{Name: k.Value, At: d.pos(k)}
		nv.M.decodeNode(d, v, what+"."+k.Value)
		*s = append(*s, nv)
	}
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

func (s *storeExpects) decodeNode(d *decoder, n *yaml.Node, what string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected stores (store: {id: expectation}), found %s", what, kindOf(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		se := &storeExpect{Store: k.Value, At: d.pos(k)}
		w := what + "." + k.Value
		switch {
		case v.Kind == yaml.ScalarNode && v.Value == "empty":
			se.Empty = true
		case v.Kind == yaml.ScalarNode && v.Tag == "!!int":
			c, _ := strconv.Atoi(v.Value)
			se.Count = &c
		case v.Kind == yaml.MappingNode:
			for j := 0; j+1 < len(v.Content); j += 2 {
				id, ev := resolve(v.Content[j]), resolve(v.Content[j+1])
				e := &entryExpect{ID: id.Value, At: d.pos(id)}
				ew := w + "." + id.Value
				switch {
				case ev.Kind == yaml.ScalarNode && ev.Value == "absent":
					e.Absent = true
				case ev.Kind == yaml.ScalarNode && ev.Value == "present":
					e.Present = true
				case ev.Kind == yaml.MappingNode:
					e.Text.At = d.pos(ev)
					e.Text.decodeKeys(d, ev, ew, func(k, v *yaml.Node) bool {
						if k.Value != "jsonpath" {
							return false
						}
						e.JSONPath.decodeNode(d, v, ew+".jsonpath")
						return true
					})
					e.Absent, e.Text.Absent = e.Text.Absent, false
				default:
					d.errorf(ev, "%s: expected absent, present, or {equals | contains | matches | jsonpath}, found %s", ew, kindOf(ev))
					continue
				}
				se.Entries = append(se.Entries, e)
			}
		default:
			d.errorf(v, "%s: expected empty, a number of entries, or entries (id: expectation), found %s", w, kindOf(v))
			continue
		}
		*s = append(*s, se)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
