package flow

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/PaesslerAG/jsonpath"
	"github.com/antchfx/xmlquery"
	"github.com/antchfx/xpath"
	"github.com/expr-lang/expr"

	"github.com/stride-engine/stride/engine/datefmt"
)

// Function is one function of the expression language. The table below is
// the single place a function is declared: the compiler, `stride steps
// --functions` and the docs read it.
type Function struct {
	Name      string
	Signature string
	Doc       string

	fn         func(params ...any) (any, error)
	types      []any
	needsScope bool // the compiler passes the Scope as first argument
	literalArg int  // index of an argument precompiled at load when it is a literal, -1 for none
	precompile func(string) error
}

// RawURL is text that a request URL takes as URL syntax, unescaped: the
// value of raw_url().
type RawURL struct{ Text string }

func (r RawURL) String() string { return r.Text }

// Functions lists the expression functions, in documentation order.
func Functions() []Function { return functions }

var functions = []Function{
	{Name: "xpath", Signature: "xpath(path) / xpath(path, xml)", literalArg: 0, needsScope: true,
		Doc: "Evaluates an XPath 1.0 expression on the XML body (or on the given XML text). A node-set gives the text of its first node, or nil when empty; numbers, strings and booleans come back as such.",
		fn:  fnXPath, types: []any{new(func(*Scope, string) any), new(func(*Scope, string, string) any)}, precompile: precompileXPath},
	{Name: "xpath_all", Signature: "xpath_all(path)", literalArg: 0, needsScope: true,
		Doc: "The text of every node an XPath selects in the XML body, as a list.",
		fn:  fnXPathAll, types: []any{new(func(*Scope, string) []any)}, precompile: precompileXPath},
	{Name: "jsonpath", Signature: "jsonpath(path) / jsonpath(path, value)", literalArg: 0, needsScope: true,
		Doc: "Evaluates a JSONPath on the JSON body (or on a value, e.g. a property). A missing key gives nil; a wildcard gives a list.",
		fn:  fnJSONPath, types: []any{new(func(*Scope, string) any), new(func(*Scope, string, any) any)}, precompile: precompileJSONPath},
	{Name: "now", Signature: "now()", literalArg: -1, needsScope: true,
		Doc: "The current time in UTC (the engine's clock, so tests can fix it).",
		fn:  fnNow, types: []any{new(func(*Scope) time.Time)}},
	{Name: "format_date", Signature: "format_date(time, pattern) / format_date(time, pattern, zone)", literalArg: 1,
		Doc: "Formats a time with a Java/CPI pattern such as yyyy-MM-dd'T'HH:mm:ss, in UTC or the named IANA zone. A text time must be RFC 3339.",
		fn:  fnFormatDate, types: []any{new(func(any, string) string), new(func(any, string, string) string)}, precompile: precompileDate},
	{Name: "parse_date", Signature: "parse_date(text, pattern) / parse_date(text, pattern, zone)", literalArg: 1,
		Doc: "Parses text with a Java/CPI pattern into a time; the zone (default UTC) applies when the pattern has none.",
		fn:  fnParseDate, types: []any{new(func(string, string) time.Time), new(func(string, string, string) time.Time)}, precompile: precompileDate},
	{Name: "add_days", Signature: "add_days(time, n)", literalArg: -1,
		Doc: "The time n calendar days later (n may be negative): add_days(now(), -1) is yesterday.",
		fn:  fnAddDays, types: []any{new(func(any, int) time.Time)}},
	{Name: "add", Signature: "add(time, duration)", literalArg: -1,
		Doc: "The time plus a duration written like 90m, 1h30m or -15s (or a duration value): add(now(), \"-1h\") is an hour ago. Calendar days: add_days.",
		fn:  fnAdd, types: []any{new(func(any, any) time.Time)}},
	{Name: "start_of_day", Signature: "start_of_day(time) / start_of_day(time, zone)", literalArg: -1,
		Doc: "Midnight at the start of the time's day in UTC or the named IANA zone (Europe/Berlin), as an instant: start_of_day(now(), \"Europe/Berlin\").",
		fn:  fnStartOfDay, types: []any{new(func(any) time.Time), new(func(any, string) time.Time)}},
	{Name: "unix", Signature: "unix(time)", literalArg: -1,
		Doc: "The time as unix seconds (an integer).",
		fn:  func(p ...any) (any, error) { t, err := toTime(p[0]); return t.Unix(), err }, types: []any{new(func(any) int64)}},
	{Name: "unix_ms", Signature: "unix_ms(time)", literalArg: -1,
		Doc: "The time as unix milliseconds (an integer).",
		fn:  func(p ...any) (any, error) { t, err := toTime(p[0]); return t.UnixMilli(), err }, types: []any{new(func(any) int64)}},
	{Name: "from_unix", Signature: "from_unix(seconds)", literalArg: -1,
		Doc: "The time of unix seconds (a number or its text), in UTC.",
		fn:  func(p ...any) (any, error) { n, err := toInt64(p[0]); return time.Unix(n, 0).UTC(), err }, types: []any{new(func(any) time.Time)}},
	{Name: "from_unix_ms", Signature: "from_unix_ms(milliseconds)", literalArg: -1,
		Doc: "The time of unix milliseconds (a number or its text), in UTC.",
		fn:  func(p ...any) (any, error) { n, err := toInt64(p[0]); return time.UnixMilli(n).UTC(), err }, types: []any{new(func(any) time.Time)}},
	{Name: "odata_date", Signature: "odata_date(time)", literalArg: -1,
		Doc: "The SAP OData form /Date(milliseconds)/ of a time (or of an RFC 3339 or yyyy-MM-dd text).",
		fn:  fnODataDate, types: []any{new(func(any) string)}},
	{Name: "uuid", Signature: "uuid()", literalArg: -1,
		Doc: "A random UUID (version 4).",
		fn:  fnUUID, types: []any{new(func() string)}},
	{Name: "random_token", Signature: "random_token(bytes)", literalArg: -1,
		Doc: "A random URL-safe token from the given number of random bytes (for OAuth state and PKCE verifiers).",
		fn:  fnRandomToken, types: []any{new(func(int) string)}},
	{Name: "base64", Signature: "base64(text)", literalArg: -1,
		Doc: "Standard base64 of the text.",
		fn:  func(p ...any) (any, error) { return base64.StdEncoding.EncodeToString([]byte(p[0].(string))), nil }, types: []any{new(func(string) string)}},
	{Name: "base64url", Signature: "base64url(text)", literalArg: -1,
		Doc: "Unpadded URL-safe base64 of the text.",
		fn:  func(p ...any) (any, error) { return base64.RawURLEncoding.EncodeToString([]byte(p[0].(string))), nil }, types: []any{new(func(string) string)}},
	{Name: "base64_decode", Signature: "base64_decode(text)", literalArg: -1,
		Doc: "Decodes standard or URL-safe base64, padded or not.",
		fn:  fnBase64Decode, types: []any{new(func(string) string)}},
	{Name: "hmac", Signature: "hmac(algorithm, key, data) / hmac(algorithm, key, data, encoding)", literalArg: -1,
		Doc: "HMAC of data with key; algorithm sha1 or sha256; encoding base64 (default), base64url or hex.",
		fn:  fnHMAC, types: []any{new(func(string, string, string) string), new(func(string, string, string, string) string)}},
	{Name: "sha256", Signature: "sha256(text) / sha256(text, encoding)", literalArg: -1,
		Doc: "SHA-256 digest of the text; encoding hex (default), base64 or base64url (base64url is PKCE's S256 code challenge).",
		fn:  fnSHA256, types: []any{new(func(string) string), new(func(string, string) string)}},
	{Name: "raw_url", Signature: "raw_url(text)", literalArg: -1,
		Doc: "Inserts text into a request URL as URL syntax, unescaped: for the rare value that is itself a path or a query (other values in a request URL are escaped as one path segment or one query value).",
		fn:  func(p ...any) (any, error) { return RawURL{Text: p[0].(string)}, nil }, types: []any{new(func(string) RawURL)}},
	{Name: "urlencode", Signature: "urlencode(text)", literalArg: -1,
		Doc: "Escapes text for a URL query value (in a form body, say; values in a request URL are escaped already).",
		fn:  func(p ...any) (any, error) { return url.QueryEscape(p[0].(string)), nil }, types: []any{new(func(string) string)}},
}

var (
	functionsByName = map[string]*Function{}
	functionOptions = []expr.Option{
		// header.X and query.X are rewritten into these at compile time.
		expr.Function("_header", lookupHeader, new(func(*Scope, string) any)),
		expr.Function("_query", lookupQuery, new(func(*Scope, string) any)),
	}
)

func lookupHeader(p ...any) (any, error) {
	h := p[0].(*Scope).Header
	name := p[1].(string)
	if v, ok := h[name]; ok {
		return v, nil
	}
	if v, ok := h[textproto.CanonicalMIMEHeaderKey(name)]; ok {
		return v, nil
	}
	return nil, nil
}

func lookupQuery(p ...any) (any, error) {
	if v, ok := p[0].(*Scope).Query[p[1].(string)]; ok {
		return v, nil
	}
	return nil, nil
}

func init() {
	for i := range functions {
		f := &functions[i]
		functionsByName[f.Name] = f
		functionOptions = append(functionOptions, expr.Function(f.Name, f.fn, f.types...))
	}
}

// Compiled XPath, JSONPath and date patterns, shared by every flow. They
// are immutable once compiled; flows precompile their literals at load, so
// this cache never grows per message.
var (
	xpathCache    sync.Map // string → *xpath.Expr
	jsonpathCache sync.Map // string → jsonpathEval
	dateCache     sync.Map // string → *datefmt.Layout
)

func compiledXPath(path string) (*xpath.Expr, error) {
	if e, ok := xpathCache.Load(path); ok {
		return e.(*xpath.Expr), nil
	}
	e, err := xpath.Compile(path)
	if err != nil {
		return nil, fmt.Errorf("XPath %q: %v", path, err)
	}
	xpathCache.Store(path, e)
	return e, nil
}

func precompileXPath(p string) error { _, err := compiledXPath(p); return err }

type jsonpathEval func(data any) (any, error)

func compiledJSONPath(path string) (jsonpathEval, error) {
	if e, ok := jsonpathCache.Load(path); ok {
		return e.(jsonpathEval), nil
	}
	ev, err := jsonpath.New(path)
	if err != nil {
		return nil, fmt.Errorf("JSONPath %q: %v", path, err)
	}
	f := jsonpathEval(func(data any) (any, error) { return ev(bgContext, data) })
	jsonpathCache.Store(path, f)
	return f, nil
}

func precompileJSONPath(p string) error { _, err := compiledJSONPath(p); return err }

func compiledDate(pattern string) (*datefmt.Layout, error) {
	if l, ok := dateCache.Load(pattern); ok {
		return l.(*datefmt.Layout), nil
	}
	l, err := datefmt.Compile(pattern)
	if err != nil {
		return nil, err
	}
	dateCache.Store(pattern, l)
	return l, nil
}

func precompileDate(p string) error { _, err := compiledDate(p); return err }

// XPathNodes evaluates an XPath on doc and returns the selected nodes
// (used by steps such as map's for_each). A selected attribute comes back
// as an attribute node holding its value as text, not as its element.
func XPathNodes(doc *xmlquery.Node, path string) ([]*xmlquery.Node, error) {
	e, err := compiledXPath(path)
	if err != nil {
		return nil, err
	}
	it, ok := e.Evaluate(xmlquery.CreateXPathNavigator(doc)).(*xpath.NodeIterator)
	if !ok {
		return nil, fmt.Errorf("XPath %q selects a value, not nodes", path)
	}
	var nodes []*xmlquery.Node
	for it.MoveNext() {
		nav := it.Current().(*xmlquery.NodeNavigator)
		if nav.NodeType() == xpath.AttributeNode {
			attr := &xmlquery.Node{Type: xmlquery.AttributeNode, Data: nav.LocalName(), Prefix: nav.Prefix()}
			text := &xmlquery.Node{Type: xmlquery.TextNode, Data: nav.Value(), Parent: attr}
			attr.FirstChild, attr.LastChild = text, text
			nodes = append(nodes, attr)
			continue
		}
		nodes = append(nodes, nav.Current())
	}
	return nodes, nil
}

// XPathValue evaluates an XPath and converts the result as xpath() does.
func XPathValue(doc *xmlquery.Node, path string) (any, error) {
	e, err := compiledXPath(path)
	if err != nil {
		return nil, err
	}
	switch v := e.Evaluate(xmlquery.CreateXPathNavigator(doc)).(type) {
	case *xpath.NodeIterator:
		if v.MoveNext() {
			return v.Current().Value(), nil
		}
		return nil, nil
	default:
		return v, nil
	}
}

// XPathBool evaluates an XPath as a condition, like XPath's boolean():
// a node-set is true when it is not empty.
func XPathBool(doc *xmlquery.Node, path string) (bool, error) {
	e, err := compiledXPath(path)
	if err != nil {
		return false, err
	}
	switch v := e.Evaluate(xmlquery.CreateXPathNavigator(doc)).(type) {
	case *xpath.NodeIterator:
		return v.MoveNext(), nil
	case bool:
		return v, nil
	case float64:
		return v != 0 && v == v, nil
	case string:
		return v != "", nil
	}
	return false, nil
}

// CompileXPath checks an XPath at load and caches it.
func CompileXPath(path string) error { return precompileXPath(path) }

// CompileJSONPath checks a JSONPath at load and caches it.
func CompileJSONPath(path string) error { return precompileJSONPath(path) }

// JSONPathValue evaluates a JSONPath on decoded JSON; a missing key is nil.
func JSONPathValue(data any, path string) (any, error) {
	ev, err := compiledJSONPath(path)
	if err != nil {
		return nil, err
	}
	v, err := ev(data)
	if err != nil {
		if strings.HasPrefix(err.Error(), "unknown key") || strings.Contains(err.Error(), "out of bounds") {
			return nil, nil
		}
		return nil, err
	}
	return v, nil
}

func fnXPath(p ...any) (any, error) {
	s := p[0].(*Scope)
	doc, err := xpathDoc(s, p[2:])
	if err != nil {
		return nil, err
	}
	return XPathValue(doc, p[1].(string))
}

func xpathDoc(s *Scope, extra []any) (*xmlquery.Node, error) {
	if len(extra) == 0 {
		return s.x.Msg.XML()
	}
	text, _ := extra[0].(string)
	if err := CheckXMLSafe([]byte(text)); err != nil {
		return nil, err
	}
	return xmlquery.Parse(strings.NewReader(text))
}

func fnXPathAll(p ...any) (any, error) {
	doc, err := p[0].(*Scope).x.Msg.XML()
	if err != nil {
		return nil, err
	}
	e, err := compiledXPath(p[1].(string))
	if err != nil {
		return nil, err
	}
	it, ok := e.Evaluate(xmlquery.CreateXPathNavigator(doc)).(*xpath.NodeIterator)
	if !ok {
		return nil, fmt.Errorf("XPath %q selects a value, not nodes", p[1])
	}
	out := []any{}
	for it.MoveNext() {
		// The navigator's value, not its node: on an attribute the
		// navigator's node is the owning element.
		out = append(out, it.Current().Value())
	}
	return out, nil
}

func fnJSONPath(p ...any) (any, error) {
	s := p[0].(*Scope)
	var data any
	if len(p) > 2 {
		data = p[2]
	} else {
		v, err := s.x.Msg.JSON()
		if err != nil {
			return nil, err
		}
		data = v
	}
	return JSONPathValue(data, p[1].(string))
}

func fnNow(p ...any) (any, error) { return p[0].(*Scope).x.Now(), nil }

// toTime accepts a time, an RFC 3339 text or a yyyy-MM-dd date.
func toTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t, nil
	case string:
		if tt, err := time.Parse(time.RFC3339Nano, t); err == nil {
			return tt, nil
		}
		if tt, err := time.Parse(time.DateOnly, t); err == nil {
			return tt, nil
		}
		return time.Time{}, fmt.Errorf("%q is not a time (want RFC 3339 or yyyy-MM-dd)", t)
	case nil:
		return time.Time{}, errors.New("no time given (the value is nil)")
	}
	return time.Time{}, fmt.Errorf("%v (%T) is not a time", v, v)
}

func location(p []any, i int) (*time.Location, error) {
	if len(p) <= i {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(p[i].(string))
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", p[i])
	}
	return loc, nil
}

func fnFormatDate(p ...any) (any, error) {
	t, err := toTime(p[0])
	if err != nil {
		return nil, err
	}
	l, err := compiledDate(p[1].(string))
	if err != nil {
		return nil, err
	}
	loc, err := location(p, 2)
	if err != nil {
		return nil, err
	}
	return l.Format(t.In(loc)), nil
}

func fnParseDate(p ...any) (any, error) {
	l, err := compiledDate(p[1].(string))
	if err != nil {
		return nil, err
	}
	loc, err := location(p, 2)
	if err != nil {
		return nil, err
	}
	return l.Parse(p[0].(string), loc)
}

func fnAddDays(p ...any) (any, error) {
	t, err := toTime(p[0])
	if err != nil {
		return nil, err
	}
	return t.AddDate(0, 0, p[1].(int)), nil
}

func fnAdd(p ...any) (any, error) {
	t, err := toTime(p[0])
	if err != nil {
		return nil, err
	}
	switch d := p[1].(type) {
	case time.Duration:
		return t.Add(d), nil
	case string:
		dur, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration (write e.g. 90m, 1h30m, -15s)", d)
		}
		return t.Add(dur), nil
	}
	return nil, fmt.Errorf("%v (%T) is not a duration (write e.g. \"1h30m\")", p[1], p[1])
}

func fnStartOfDay(p ...any) (any, error) {
	t, err := toTime(p[0])
	if err != nil {
		return nil, err
	}
	loc, err := location(p, 1)
	if err != nil {
		return nil, err
	}
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc).UTC(), nil
}

// toInt64 reads an integer from a number or its text.
func toInt64(v any) (int64, error) {
	switch n := v.(type) {
	case int:
		return int64(n), nil
	case int64:
		return n, nil
	case float64:
		if n == math.Trunc(n) {
			return int64(n), nil
		}
	case string:
		if i, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64); err == nil {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%v is not a whole number", v)
}

func fnODataDate(p ...any) (any, error) {
	t, err := toTime(p[0])
	if err != nil {
		return nil, err
	}
	return datefmt.FormatODataDate(t), nil
}

func fnUUID(...any) (any, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

func fnRandomToken(p ...any) (any, error) {
	n := p[0].(int)
	if n < 1 || n > 1024 {
		return nil, fmt.Errorf("random_token(%d): want 1 to 1024 bytes", n)
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func fnBase64Decode(p ...any) (any, error) {
	s := strings.TrimRight(p[0].(string), "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return string(b), nil
		}
	}
	return nil, errors.New("base64_decode: not base64")
}

func encodeDigest(sum []byte, enc string) (string, error) {
	switch enc {
	case "hex":
		return hex.EncodeToString(sum), nil
	case "base64":
		return base64.StdEncoding.EncodeToString(sum), nil
	case "base64url":
		return base64.RawURLEncoding.EncodeToString(sum), nil
	}
	return "", fmt.Errorf("unknown encoding %q (want hex, base64 or base64url)", enc)
}

// NewHash returns the hash constructor of an HMAC algorithm name.
func NewHash(algorithm string) (func() hash.Hash, error) {
	switch strings.ToLower(strings.TrimPrefix(strings.ToLower(algorithm), "hmac-")) {
	case "sha1":
		return sha1.New, nil
	case "sha256":
		return sha256.New, nil
	}
	return nil, fmt.Errorf("unknown algorithm %q (want sha1 or sha256)", algorithm)
}

func fnHMAC(p ...any) (any, error) {
	h, err := NewHash(p[0].(string))
	if err != nil {
		return nil, err
	}
	m := hmac.New(h, []byte(p[1].(string)))
	m.Write([]byte(p[2].(string)))
	enc := "base64"
	if len(p) > 3 {
		enc = p[3].(string)
	}
	return encodeDigest(m.Sum(nil), enc)
}

func fnSHA256(p ...any) (any, error) {
	sum := sha256.Sum256([]byte(p[0].(string)))
	enc := "hex"
	if len(p) > 1 {
		enc = p[1].(string)
	}
	return encodeDigest(sum[:], enc)
}
