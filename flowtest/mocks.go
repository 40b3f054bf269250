package flowtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/stride-engine/stride/engine/flow"
)

// Mock answers outbound requests of request steps that match it.
type Mock struct {
	At      Pos
	Request MockRequest `yaml:"request" required:"true" doc:"Which requests the mock answers: url (with * wildcards) or url_regex, and optionally method, body_contains, headers."`
	Respond responses   `yaml:"respond" doc:"The answer {status, headers, body or body_file, or error}, or a list of answers given in order (the last repeats); default 200 without a body."`
	Expect  *MockExpect `yaml:"expect" doc:"Checked after the run: how often the mock was called and what its last call carried."`

	urlRE *regexp.Regexp
}

// MockRequest says which requests a mock answers.
type MockRequest struct {
	At           Pos
	Keys         flow.KeyPos
	Method       string     `yaml:"method" doc:"Only requests with this method (default: any)."`
	URL          string     `yaml:"url" doc:"The URL; * matches anything. Matched without the query unless it has a ?."`
	URLRegex     string     `yaml:"url_regex" doc:"A regular expression the URL must match, instead of url."`
	BodyContains []string   `yaml:"body_contains" doc:"Texts the request body must contain."`
	Headers      namedTexts `yaml:"headers" doc:"Headers the request must carry, with these values."`
}

// MockResponse is one answer of a mock.
type MockResponse struct {
	At       Pos
	Keys     flow.KeyPos
	Status   int        `yaml:"status" doc:"The HTTP status (default 200)."`
	Headers  namedTexts `yaml:"headers" doc:"Response headers (name: value)."`
	Body     Body       `yaml:"body" doc:"The body: text as written, or a mapping or list sent as JSON."`
	BodyFile string     `yaml:"body_file" doc:"A file with the body, relative to the test file."`
	Error    string     `yaml:"error" doc:"Fail the connection with this error instead of answering."`

	data []byte
}

// responses is one answer or a sequence of them.
type responses []*MockResponse

// DecodeYAML implements flow.YAMLValue.
func (r *responses) DecodeYAML(d *flow.Decoder, n *yaml.Node, what string) {
	switch n.Kind {
	case yaml.MappingNode:
		m := &MockResponse{}
		d.Decode(n, m, what)
		*r = responses{m}
	case yaml.SequenceNode:
		d.Decode(n, (*[]*MockResponse)(r), what)
	default:
		d.Errorf(n, "%s: expected an answer {status, headers, body} or a list of them, found %s", what, flow.KindOf(n))
	}
}

// MockExpect is checked after the run: how often the mock was called and
// what its last call carried.
type MockExpect struct {
	At           Pos
	Calls        *int          `yaml:"calls" doc:"The mock must be called exactly this many times."`
	Body         *Body         `yaml:"body" doc:"The last call's body; a mapping or list is compared as JSON, text exactly."`
	BodyContains []string      `yaml:"body_contains" doc:"Texts the last call's body must contain."`
	Headers      textMatchers  `yaml:"headers" doc:"Headers of the last call (name: expected text)."`
	Query        textMatchers  `yaml:"query" doc:"Query parameters of the last call (name: expected text)."`
	Form         textMatchers  `yaml:"form" doc:"Form fields of the last call's body (name: expected text)."`
	JSONPath     valueMatchers `yaml:"jsonpath" doc:"{path: value} on the last call's JSON body; values keep their type."`
}

// call is one outbound request a flow sent.
type call struct {
	Method string
	URL    *url.URL
	Header http.Header
	Body   []byte
}

// shown is METHOD URL, as failures print it.
func (c *call) shown() string { return c.Method + " " + c.URL.String() }

// mockTransport answers every outbound request of request steps from a
// case's mocks. It is the Transport of the case's Services, so nothing
// reaches the network: a request no mock matches is recorded (the case
// fails naming it) and answered 421 Misdirected Request, a status no
// flow retries.
type mockTransport struct {
	mocks []*Mock

	mu        sync.Mutex
	calls     [][]*call // per mock
	unmatched []*call
}

func newMockTransport(mocks []*Mock) *mockTransport {
	return &mockTransport{mocks: mocks, calls: make([][]*call, len(mocks))}
}

// StatusNoMock is the status of the answer to a request no mock matches.
const StatusNoMock = http.StatusMisdirectedRequest

func (t *mockTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	c := &call{Method: req.Method, URL: req.URL, Header: req.Header.Clone(), Body: body}
	t.mu.Lock()
	idx := -1
	for i, m := range t.mocks {
		if m.matches(c) {
			idx = i
			break
		}
	}
	if idx < 0 {
		t.unmatched = append(t.unmatched, c)
		t.mu.Unlock()
		msg, _ := json.Marshal(map[string]string{"error": "stride test: no mock matches " + c.shown()})
		return response(req, StatusNoMock, http.Header{"Content-Type": {"application/json"}, "X-Stride-Test": {"no mock"}}, msg), nil
	}
	n := len(t.calls[idx])
	t.calls[idx] = append(t.calls[idx], c)
	m := t.mocks[idx]
	r := m.Respond[min(n, len(m.Respond)-1)]
	t.mu.Unlock()
	if r.Error != "" {
		return nil, errors.New(r.Error)
	}
	h := http.Header{}
	for _, nt := range r.Headers {
		h.Add(nt.Name, nt.Value)
	}
	if h.Get("Content-Type") == "" && len(r.data) > 0 {
		h.Set("Content-Type", sniffType(r.data))
	}
	return response(req, r.Status, h, r.data), nil
}

func response(req *http.Request, status int, h http.Header, body []byte) *http.Response {
	return &http.Response{
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// sniffType is the Content-Type of a payload written without one.
func sniffType(data []byte) string {
	if looksStructured(data) && json.Valid(data) {
		return "application/json"
	}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '<' {
		return "application/xml"
	}
	return "text/plain; charset=utf-8"
}

// matches reports whether a mock answers a request: the method, the URL
// (without the query, unless the pattern has one), the body and headers.
func (m *Mock) matches(c *call) bool {
	r := &m.Request
	if r.Method != "" && !strings.EqualFold(r.Method, c.Method) {
		return false
	}
	if !m.urlRE.MatchString(urlForMatch(c.URL, m.patternHasQuery())) {
		return false
	}
	for _, s := range r.BodyContains {
		if !bytes.Contains(c.Body, []byte(s)) {
			return false
		}
	}
	for _, h := range r.Headers {
		if c.Header.Get(h.Name) != h.Value {
			return false
		}
	}
	return true
}

func (m *Mock) patternHasQuery() bool {
	if m.Request.URLRegex != "" {
		return strings.Contains(m.Request.URLRegex, `\?`)
	}
	return strings.Contains(m.Request.URL, "?")
}

func urlForMatch(u *url.URL, withQuery bool) string {
	s := u.Scheme + "://" + u.Host + u.Path
	if withQuery && u.RawQuery != "" {
		s += "?" + u.RawQuery
	}
	return s
}

// describe is how a failure lists a mock.
func (m *Mock) describe() string {
	r := &m.Request
	method := r.Method
	if method == "" {
		method = "(any method)"
	}
	target := r.URL
	if target == "" {
		target = "/" + r.URLRegex + "/"
	}
	s := method + " " + target
	if len(r.BodyContains) > 0 {
		s += fmt.Sprintf(" with body containing %q", strings.Join(r.BodyContains, `", "`))
	}
	for _, h := range r.Headers {
		s += fmt.Sprintf(" with %s: %s", h.Name, h.Value)
	}
	return s + " (" + m.At.FileLine() + ")"
}

// snapshot returns the calls so far.
func (t *mockTransport) snapshot() (calls [][]*call, unmatched []*call) {
	t.mu.Lock()
	defer t.mu.Unlock()
	calls = make([][]*call, len(t.calls))
	for i, cs := range t.calls {
		calls[i] = append([]*call(nil), cs...)
	}
	return calls, append([]*call(nil), t.unmatched...)
}
