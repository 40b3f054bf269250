// Package mapping is the template language of the map step (CPI's
// message mapping): a YAML template that is the shape of the result, with
// ${...} expressions for values and $-directives ($for_each, $if, $value
// with $convert, $map and $default) for what a plain value cannot say.
//
// A template is compiled once, when the flow loads (Compile, or ReadFile
// for a *.map.yaml file), against the names a flow.Builder has in scope;
// every error names the template's file:line:col. Execute runs it on one
// message and appends compact JSON, keys in template order. A Mapping adds
// what the map step does with that JSON: a JSON Schema check and the
// conversion to XML. CompileFile does all of it outside any flow, for
// tools such as stride map.
package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"

	"gopkg.in/yaml.v3"

	"github.com/stride-engine/stride/engine/convert"
	"github.com/stride-engine/stride/engine/flow"
)

// Template is a compiled template. It holds no state of a run, so one
// Template serves concurrent messages.
type Template struct {
	root  node
	exprs []*flow.Template // every expression of the template, for Vars
}

// Compile compiles the template written at root, a node of the YAML file
// named file (the flow file for a template written inline in a step),
// with the names b has in scope (a flow's declared env and secrets; item
// is added inside $for_each). Errors are reported through b, positioned
// in file; Compile then returns flow.ErrReported.
func Compile(b *flow.Builder, file string, root *yaml.Node) (*Template, error) {
	if t := resolve(root); t == nil || t.Kind == yaml.ScalarNode && t.Tag == "!!null" {
		pos := flow.Pos{File: file}
		if root != nil {
			pos.Line, pos.Col = root.Line, root.Column
		}
		b.Errorf(pos, "map: the template is empty; write the shape of the result under template:")
		return nil, flow.ErrReported
	}
	c := &compiler{file: file}
	n := c.compile(b.InFile(file), root, nil)
	if c.failed {
		return nil, flow.ErrReported
	}
	return &Template{root: n, exprs: c.exprs}, nil
}

// errOmitted is the error of a template whose top-level $if is false.
var errOmitted = errors.New("map: the template's $if is false, so there is no result")

// Execute runs t on the message of x and appends the result, compact
// JSON with keys in template order, to dst. A value that is missing
// without a $default fails it, naming the target path and the template's
// file:line: map: Contacts[0].DateOfBirth (profile.map.yaml:14): ...
func (t *Template) Execute(x *flow.Exchange, dst []byte) ([]byte, error) {
	r := &runState{x: x, buf: dst}
	omitted, err := t.root.emit(r)
	if err != nil {
		return dst, err
	}
	if omitted {
		return dst, errOmitted
	}
	return r.buf, nil
}

// Vars returns the names of the env and secret variables the template
// reads, each list sorted: what a tool must bind to run it outside a flow.
func (t *Template) Vars() (env, secrets []string) {
	seen := map[string]bool{}
	for _, e := range t.exprs {
		en, se := e.Vars()
		for _, n := range en {
			if !seen["env."+n] {
				seen["env."+n] = true
				env = append(env, n)
			}
		}
		for _, n := range se {
			if !seen["secret."+n] {
				seen["secret."+n] = true
				secrets = append(secrets, n)
			}
		}
	}
	sort.Strings(env)
	sort.Strings(secrets)
	return env, secrets
}

// Mapping is a template with what is done with its result: what the map
// step runs per message. The fields are set once, before the first Run.
type Mapping struct {
	Template *Template
	Schema   *Schema // every result must match it; nil for no check
	XML      bool    // convert the JSON result to XML (as json_to_xml does)
	Root     string  // with XML, the root element that wraps the document

	// sizeHint is the largest result so far, so that a run allocates its
	// buffer once.
	sizeHint atomic.Int64
}

// Run executes the template on x, checks the JSON against the schema and
// converts it to XML when asked. It returns the result and its content
// type, application/json or application/xml.
func (m *Mapping) Run(x *flow.Exchange) (result []byte, contentType string, err error) {
	out, err := m.Template.Execute(x, make([]byte, 0, m.sizeHint.Load()+64))
	if err != nil {
		return nil, "", err
	}
	if n := int64(len(out)); n > m.sizeHint.Load() {
		m.sizeHint.Store(n)
	}
	if m.Schema != nil {
		if err := m.Schema.Validate(out); err != nil {
			return nil, "", &flow.PayloadError{Err: fmt.Errorf("map: %w", err)}
		}
	}
	if !m.XML {
		return out, "application/json", nil
	}
	var xb bytes.Buffer
	if err := convert.JSONToXML(&xb, out, convert.JSONToXMLOptions{Root: m.Root}); err != nil {
		return nil, "", &flow.PayloadError{Err: fmt.Errorf("map: converting the result to XML: %w", err)}
	}
	return xb.Bytes(), "application/xml", nil
}
