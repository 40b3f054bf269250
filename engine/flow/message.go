package flow

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net/textproto"

	"github.com/antchfx/xmlquery"
)

// Message is what flows through a flow's steps: a body with its content
// type, transport headers, and flow-local properties (CPI's exchange
// properties).
//
// Parsed views of the body (XML, JSON, string) are built on first use and
// cached; SetBody drops them, so a view never describes an older body.
type Message struct {
	body        []byte
	contentType string

	// Header holds transport headers in canonical MIME form
	// ("X-Fitbit-Signature"): request headers on the way in, headers to
	// send on the way out.
	Header map[string]string
	// Property holds flow-local values. Values are strings, numbers,
	// booleans, time.Time, or decoded JSON (map[string]any, []any).
	Property map[string]any

	str    string
	strOK  bool
	xml    *xmlquery.Node
	xmlErr error
	xmlOK  bool
	json   any
	jsonE  error
	jsonOK bool
}

// NewMessage returns a message with the given body and content type.
func NewMessage(body []byte, contentType string) *Message {
	return &Message{
		body:        body,
		contentType: contentType,
		Header:      map[string]string{},
		Property:    map[string]any{},
	}
}

// Body returns the body bytes. Callers must not modify them.
func (m *Message) Body() []byte { return m.body }

// ContentType returns the body's media type, e.g. "application/json".
func (m *Message) ContentType() string { return m.contentType }

// SetBody replaces the body and drops every cached view of the old one.
func (m *Message) SetBody(body []byte, contentType string) {
	m.body = body
	m.contentType = contentType
	m.str, m.strOK = "", false
	m.xml, m.xmlErr, m.xmlOK = nil, nil, false
	m.json, m.jsonE, m.jsonOK = nil, nil, false
}

// BodyString returns the body as a string, converted once per body.
func (m *Message) BodyString() string {
	if !m.strOK {
		m.str, m.strOK = string(m.body), true
	}
	return m.str
}

// ErrDoctype rejects XML with a document type declaration. Stride never
// expands entities: a DOCTYPE is the only way to declare them, and no
// payload of an integration needs one.
var ErrDoctype = errors.New("XML with a DOCTYPE or entity declaration is not accepted (entity expansion is disabled)")

// CheckXMLSafe returns ErrDoctype when data declares a DOCTYPE or entities.
func CheckXMLSafe(data []byte) error {
	if bytes.Contains(data, []byte("<!DOCTYPE")) || bytes.Contains(data, []byte("<!ENTITY")) ||
		bytes.Contains(data, []byte("<!doctype")) {
		return ErrDoctype
	}
	return nil
}

// XML returns the body parsed as an XML document, parsed once per body.
func (m *Message) XML() (*xmlquery.Node, error) {
	if !m.xmlOK {
		m.xmlOK = true
		if err := CheckXMLSafe(m.body); err != nil {
			m.xmlErr = &PayloadError{Err: err}
		} else if doc, err := xmlquery.Parse(bytes.NewReader(m.body)); err != nil {
			m.xmlErr = &PayloadError{Err: fmt.Errorf("body is not well-formed XML: %w", err)}
		} else {
			m.xml = doc
		}
	}
	return m.xml, m.xmlErr
}

// JSON returns the body decoded as JSON (see DecodeJSON: integers stay
// exact), decoded once per body.
func (m *Message) JSON() (any, error) {
	if !m.jsonOK {
		m.jsonOK = true
		v, err := DecodeJSON(m.body)
		if err != nil {
			m.jsonE = &PayloadError{Err: fmt.Errorf("body is not valid JSON: %w", err)}
		} else {
			m.json = v
		}
	}
	return m.json, m.jsonE
}

// Clone returns a copy whose header and property maps can be changed
// without touching m. The body bytes are shared (bodies are never mutated
// in place), and so are the cached views.
func (m *Message) Clone() *Message {
	c := *m
	c.Header = maps.Clone(m.Header)
	c.Property = maps.Clone(m.Property)
	return &c
}

// SetHeader sets a header under its canonical name.
func (m *Message) SetHeader(name, value string) {
	m.Header[textproto.CanonicalMIMEHeaderKey(name)] = value
}
