package convert

import (
	"bytes"
	"fmt"
	"slices"
	"unicode/utf8"
)

// JSONToXMLOptions configure JSONToXML. The zero value is usable.
type JSONToXMLOptions struct {
	// Root, if not empty, is the name of an element that always wraps the
	// converted document. If empty, see the root rule in the package
	// documentation. Like keys, it is encoded as an XML name if needed.
	Root string

	// Item is the element name for the items of a top-level array and of
	// an array nested directly in an array. The default is "item".
	Item string

	// Declaration, if set, starts the output with
	// <?xml version="1.0" encoding="UTF-8"?> and a newline.
	Declaration bool
}

const (
	defaultRoot = "root"
	defaultItem = "item"
	xmlDecl     = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
)

// JSONToXML converts the JSON document src to XML and appends it to dst,
// following the conventions described in the package documentation.
// The output is UTF-8, has no insignificant whitespace, and is written
// only if the whole conversion succeeds: on error dst is left unchanged
// and the error is a *SyntaxError.
func JSONToXML(dst *bytes.Buffer, src []byte, opt JSONToXMLOptions) error {
	e := j2x{src: src}
	e.item = appendName(nil, []byte(orDefault(opt.Item, defaultItem)))
	dst.Grow(len(src) + len(src)/4 + 64)
	e.out = dst.AvailableBuffer()
	if opt.Declaration {
		e.out = append(e.out, xmlDecl...)
	}
	if err := e.document(opt.Root); err != nil {
		return err
	}
	dst.Write(e.out)
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// j2x holds the state of one JSONToXML conversion.
type j2x struct {
	src    []byte
	pos    int
	out    []byte
	item   []byte   // encoded opt.Item
	depth  int      // current nesting of JSON objects and arrays
	keyBuf []byte   // decoded key, when it contains escapes
	frames []*frame // per-depth scratch space of open objects
}

// frame is the scratch space of an object being converted.
type frame struct {
	name  []byte // encoded name of the member being converted
	late  []byte // attributes seen after the start tag was closed
	attrs []byte // encoded attribute names, concatenated
	ends  []int  // end offsets of the names in attrs
	set   map[string]struct{}
}

func (e *j2x) errorf(format string, args ...any) error {
	return &SyntaxError{Format: "json", Msg: fmt.Sprintf(format, args...), Offset: int64(e.pos)}
}

func (e *j2x) errUnexpected(what string) error {
	if e.pos >= len(e.src) {
		return e.errorf("unexpected end of input, expected %s", what)
	}
	return e.errorf("invalid character %q, expected %s", e.src[e.pos], what)
}

func (e *j2x) skipSpace() {
	for e.pos < len(e.src) {
		switch e.src[e.pos] {
		case ' ', '\n', '\r', '\t':
			e.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at end of input (which
// callers treat like the invalid byte 0).
func (e *j2x) peek() byte {
	e.skipSpace()
	if e.pos < len(e.src) {
		return e.src[e.pos]
	}
	return 0
}

func (e *j2x) push() error {
	e.depth++
	if e.depth > MaxDepth {
		return &SyntaxError{Format: "json", Msg: ErrTooDeep.Error(), Offset: int64(e.pos), Err: ErrTooDeep}
	}
	return nil
}

// frame returns the reset scratch frame for the current depth.
func (e *j2x) frame() *frame {
	for len(e.frames) <= e.depth {
		e.frames = append(e.frames, new(frame))
	}
	f := e.frames[e.depth]
	f.late = f.late[:0]
	f.attrs = f.attrs[:0]
	f.ends = f.ends[:0]
	f.set = nil
	return f
}

func (e *j2x) document(root string) error {
	c := e.peek()
	if c == 0 {
		return e.errUnexpected("JSON value")
	}
	var err error
	switch {
	case root != "":
		err = e.top(appendName(nil, []byte(root)))
	case c == '{':
		err = e.topObject()
	default:
		err = e.top([]byte(defaultRoot))
	}
	if err != nil {
		return err
	}
	if e.skipSpace(); e.pos < len(e.src) {
		return e.errorf("invalid character %q after top-level value", e.src[e.pos])
	}
	return nil
}

// top converts the document's value as the content of the element name.
func (e *j2x) top(name []byte) error {
	if e.src[e.pos] == '[' {
		return e.arrayItem(name)
	}
	return e.element(name)
}

// topObject converts a top-level object when no root name was given: a
// single member whose value is an object or a scalar (other than an
// attribute or #text) becomes the root element; otherwise the object
// becomes the content of <root>.
func (e *j2x) topObject() error {
	start := e.pos
	e.pos++ // '{'
	if e.peek() != '"' {
		e.pos = start
		return e.element([]byte(defaultRoot))
	}
	key, err := e.key()
	if err != nil {
		return err
	}
	if e.peek() != ':' {
		return e.errUnexpected("':' after object key")
	}
	e.pos++
	v := e.peek()
	if v == 0 {
		return e.errUnexpected("JSON value")
	}
	scalar := v != '{' && v != '['
	if v == '[' || scalar && (len(key) > 0 && key[0] == '@' || string(key) == "#text") {
		e.pos = start
		return e.element([]byte(defaultRoot))
	}
	if err := e.push(); err != nil { // the top-level object
		return err
	}
	f := e.frame()
	f.name = appendName(f.name[:0], key)
	outStart := len(e.out)
	if err := e.element(f.name); err != nil {
		return err
	}
	switch e.peek() {
	case '}':
		e.pos++
		e.depth--
		return nil
	case ',':
		e.pos++
	default:
		return e.errUnexpected("',' or '}' after object member")
	}
	// More members follow: wrap everything in <root>.
	e.out = slices.Insert(e.out, outStart, []byte("<"+defaultRoot+">")...)
	return e.members([]byte(defaultRoot), outStart+1+len(defaultRoot), false, f)
}

// key parses the string at e.pos (after optional space) and returns its
// decoded bytes, which are valid until the next call.
func (e *j2x) key() ([]byte, error) {
	if e.peek() != '"' {
		return nil, e.errUnexpected("string for object key")
	}
	src := e.src
	i := e.pos + 1
	for ; i < len(src); i++ {
		c := src[i]
		if c == '"' {
			k := src[e.pos+1 : i]
			e.pos = i + 1
			return k, nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
	}
	// Slow path: decode escapes into keyBuf.
	b := append(e.keyBuf[:0], src[e.pos+1:i]...)
	e.pos = i
	for {
		if e.pos >= len(src) {
			return nil, e.errorf("unexpected end of input in string")
		}
		c := src[e.pos]
		switch {
		case c == '"':
			e.pos++
			e.keyBuf = b
			return b, nil
		case c == '\\':
			r, err := e.escape()
			if err != nil {
				return nil, err
			}
			b = utf8.AppendRune(b, r)
		case c < 0x20:
			return nil, e.errorf("invalid control character %q in string", c)
		default:
			b = append(b, c)
			e.pos++
		}
	}
}

// escape decodes the escape sequence at e.pos (which is at '\\').
// Lone surrogates decode to U+FFFD.
func (e *j2x) escape() (rune, error) {
	src := e.src
	if e.pos+1 >= len(src) {
		e.pos = len(src)
		return 0, e.errorf("unexpected end of input in string escape")
	}
	c := src[e.pos+1]
	e.pos += 2
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, ok := hex4(src, e.pos)
		if !ok {
			return 0, e.errorf("invalid \\u escape in string")
		}
		e.pos += 4
		if r < 0xD800 || r > 0xDFFF {
			return r, nil
		}
		if r < 0xDC00 && e.pos+1 < len(src) && src[e.pos] == '\\' && src[e.pos+1] == 'u' {
			if r2, ok := hex4(src, e.pos+2); ok && 0xDC00 <= r2 && r2 <= 0xDFFF {
				e.pos += 6
				return 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00), nil
			}
		}
		return utf8.RuneError, nil
	}
	e.pos -= 1
	return 0, e.errorf("invalid escape character %q in string", c)
}

func hex4(src []byte, i int) (rune, bool) {
	if i+4 > len(src) {
		return 0, false
	}
	var r rune
	for _, c := range src[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// element converts the non-array value at e.pos to the element name.
func (e *j2x) element(name []byte) error {
	switch c := e.src[e.pos]; c {
	case '{':
		if err := e.push(); err != nil {
			return err
		}
		e.pos++
		e.out = append(e.out, '<')
		e.out = append(e.out, name...)
		attrAt := len(e.out)
		f := e.frame()
		if e.peek() == '}' {
			e.pos++
			e.out = append(e.out, '/', '>')
			e.depth--
			return nil
		}
		return e.members(name, attrAt, true, f)
	case '[':
		return e.errorf("internal error: array as element") // unreachable
	case 'n':
		if err := e.literal("null"); err != nil {
			return err
		}
		e.out = append(e.out, '<')
		e.out = append(e.out, name...)
		e.out = append(e.out, '/', '>')
		return nil
	}
	e.out = append(e.out, '<')
	e.out = append(e.out, name...)
	e.out = append(e.out, '>')
	mark := len(e.out)
	var err error
	e.out, err = e.scalar(e.out, false)
	if err != nil {
		return err
	}
	if len(e.out) == mark { // empty string
		e.out = append(e.out[:mark-1], '/', '>')
		return nil
	}
	e.out = append(e.out, '<', '/')
	e.out = append(e.out, name...)
	e.out = append(e.out, '>')
	return nil
}

// members converts the members of an object, starting at the first member
// (or after the ',' already consumed), into the content of the element
// name. If open is set, its start tag is still open: attributes are
// appended to e.out until a child or text closes it. Otherwise the start
// tag's '>' is at attrAt in e.out, and attributes are collected in f.late
// and inserted there at the end. It consumes the closing '}'.
func (e *j2x) members(name []byte, attrAt int, open bool, f *frame) error {
	for {
		keyAt := e.pos
		key, err := e.key()
		if err != nil {
			return err
		}
		if e.peek() != ':' {
			return e.errUnexpected("':' after object key")
		}
		e.pos++
		v := e.peek()
		if v == 0 {
			return e.errUnexpected("JSON value")
		}
		scalar := v != '{' && v != '['
		switch {
		case scalar && len(key) > 0 && key[0] == '@':
			mark := len(f.attrs)
			f.attrs = appendName(f.attrs, key[1:])
			if e.duplicate(f, mark) {
				e.pos = keyAt
				return e.errorf("duplicate attribute %q", key)
			}
			dst := &f.late
			if open {
				dst = &e.out
			}
			*dst = append(*dst, ' ')
			*dst = append(*dst, f.attrs[mark:]...)
			*dst = append(*dst, '=', '"')
			if *dst, err = e.scalar(*dst, true); err != nil {
				return err
			}
			*dst = append(*dst, '"')
		case scalar && string(key) == "#text":
			if open {
				attrAt = len(e.out)
				e.out = append(e.out, '>')
			}
			mark := len(e.out)
			if e.out, err = e.scalar(e.out, false); err != nil {
				return err
			}
			if open && len(e.out) == mark { // null or "": keep the tag open
				e.out = e.out[:mark-1]
			} else {
				open = false
			}
		default:
			if open {
				attrAt = len(e.out)
				e.out = append(e.out, '>')
				open = false
			}
			f.name = appendName(f.name[:0], key)
			if v == '[' {
				err = e.array(f.name)
			} else {
				err = e.element(f.name)
			}
			if err != nil {
				return err
			}
		}
		switch e.peek() {
		case ',':
			e.pos++
			continue
		case '}':
			e.pos++
		default:
			return e.errUnexpected("',' or '}' after object member")
		}
		break
	}
	if open {
		e.out = append(e.out, '/', '>')
	} else {
		e.out = append(e.out, '<', '/')
		e.out = append(e.out, name...)
		e.out = append(e.out, '>')
	}
	if len(f.late) > 0 {
		e.out = slices.Insert(e.out, attrAt, f.late...)
	}
	e.depth--
	return nil
}

// duplicate reports whether the attribute name f.attrs[mark:] was seen
// before in the same object, and records it.
func (e *j2x) duplicate(f *frame, mark int) bool {
	name := f.attrs[mark:]
	if f.set != nil {
		if _, ok := f.set[string(name)]; ok {
			return true
		}
		f.set[string(name)] = struct{}{}
		return false
	}
	prev := 0
	for _, end := range f.ends {
		if bytes.Equal(f.attrs[prev:end], name) {
			return true
		}
		prev = end
	}
	f.ends = append(f.ends, len(f.attrs))
	if len(f.ends) > 16 {
		f.set = make(map[string]struct{}, 2*len(f.ends))
		prev = 0
		for _, end := range f.ends {
			f.set[string(f.attrs[prev:end])] = struct{}{}
			prev = end
		}
	}
	return false
}

// array converts the array at e.pos, the value of a member whose encoded
// name is name, to one element per item.
func (e *j2x) array(name []byte) error {
	if err := e.push(); err != nil {
		return err
	}
	e.pos++ // '['
	if e.peek() == ']' {
		e.pos++
		e.depth--
		return nil
	}
	for {
		if e.peek() == 0 {
			return e.errUnexpected("JSON value")
		}
		if err := e.arrayItem(name); err != nil {
			return err
		}
		switch e.peek() {
		case ',':
			e.pos++
			continue
		case ']':
			e.pos++
			e.depth--
			return nil
		}
		return e.errUnexpected("',' or ']' after array item")
	}
}

// arrayItem converts the value at e.pos, an item of an array, to the
// element name. An array becomes one element with an e.item element per
// item.
func (e *j2x) arrayItem(name []byte) error {
	if e.src[e.pos] != '[' {
		return e.element(name)
	}
	e.out = append(e.out, '<')
	e.out = append(e.out, name...)
	e.out = append(e.out, '>')
	mark := len(e.out)
	if err := e.array(e.item); err != nil {
		return err
	}
	if len(e.out) == mark { // empty array
		e.out = append(e.out[:mark-1], '/', '>')
		return nil
	}
	e.out = append(e.out, '<', '/')
	e.out = append(e.out, name...)
	e.out = append(e.out, '>')
	return nil
}

func (e *j2x) literal(lit string) error {
	if len(e.src)-e.pos >= len(lit) && string(e.src[e.pos:e.pos+len(lit)]) == lit {
		e.pos += len(lit)
		return nil
	}
	return e.errorf("invalid literal, expected %q", lit)
}

// scalar converts the string, number, true, false or null at e.pos to
// escaped XML character data appended to dst; attr selects escaping for a
// double-quoted attribute value. null appends nothing.
func (e *j2x) scalar(dst []byte, attr bool) ([]byte, error) {
	switch c := e.src[e.pos]; {
	case c == '"':
		return e.text(dst, attr)
	case c == '-' || '0' <= c && c <= '9':
		start := e.pos
		if err := e.number(); err != nil {
			return dst, err
		}
		return append(dst, e.src[start:e.pos]...), nil
	case c == 't':
		return append(dst, "true"...), e.literal("true")
	case c == 'f':
		return append(dst, "false"...), e.literal("false")
	case c == 'n':
		return dst, e.literal("null")
	}
	return dst, e.errUnexpected("JSON value")
}

// number validates the JSON number at e.pos and moves past it.
func (e *j2x) number() error {
	src, i := e.src, e.pos
	if src[i] == '-' {
		i++
	}
	switch {
	case i < len(src) && src[i] == '0':
		i++
	case i < len(src) && '1' <= src[i] && src[i] <= '9':
		for i++; i < len(src) && '0' <= src[i] && src[i] <= '9'; i++ {
		}
	default:
		e.pos = i
		return e.errUnexpected("digit in number")
	}
	if i < len(src) && src[i] == '.' {
		i++
		if i >= len(src) || src[i] < '0' || src[i] > '9' {
			e.pos = i
			return e.errUnexpected("digit after decimal point")
		}
		for i++; i < len(src) && '0' <= src[i] && src[i] <= '9'; i++ {
		}
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		if i >= len(src) || src[i] < '0' || src[i] > '9' {
			e.pos = i
			return e.errUnexpected("digit in exponent")
		}
		for i++; i < len(src) && '0' <= src[i] && src[i] <= '9'; i++ {
		}
	}
	e.pos = i
	return nil
}

// plain[c] is set for the bytes that are copied from a JSON string to XML
// character data or attribute values unchanged: printable ASCII other than
// '"', '\\', '&', '<' and '>'.
var plain = func() (t [256]bool) {
	for c := 0x20; c <= 0x7F; c++ {
		t[c] = true
	}
	for _, c := range `"\&<>` {
		t[c] = false
	}
	return t
}()

// text converts the JSON string at e.pos to escaped XML text appended to dst.
func (e *j2x) text(dst []byte, attr bool) ([]byte, error) {
	src := e.src
	i := e.pos + 1
	for {
		start := i
		for i < len(src) && plain[src[i]] {
			i++
		}
		dst = append(dst, src[start:i]...)
		if i >= len(src) {
			e.pos = i
			return dst, e.errorf("unexpected end of input in string")
		}
		switch c := src[i]; {
		case c == '"':
			e.pos = i + 1
			return dst, nil
		case c == '\\':
			e.pos = i
			r, err := e.escape()
			if err != nil {
				return dst, err
			}
			i = e.pos
			dst = appendXMLRune(dst, r, attr)
		case c == '&':
			dst = append(dst, "&amp;"...)
			i++
		case c == '<':
			dst = append(dst, "&lt;"...)
			i++
		case c == '>':
			dst = append(dst, "&gt;"...)
			i++
		case c < 0x20:
			e.pos = i
			return dst, e.errorf("invalid control character %q in string", c)
		default:
			r, n := utf8.DecodeRune(src[i:])
			if r == 0xFFFE || r == 0xFFFF || r == utf8.RuneError && n == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, src[i:i+n]...)
			}
			i += n
		}
	}
}

// appendXMLRune appends r escaped for XML text (or an attribute value).
// Characters XML 1.0 cannot represent become U+FFFD.
func appendXMLRune(dst []byte, r rune, attr bool) []byte {
	switch r {
	case '&':
		return append(dst, "&amp;"...)
	case '<':
		return append(dst, "&lt;"...)
	case '>':
		return append(dst, "&gt;"...)
	case '\r':
		return append(dst, "&#xD;"...)
	case '"':
		if attr {
			return append(dst, "&quot;"...)
		}
	case '\n':
		if attr {
			return append(dst, "&#xA;"...)
		}
	case '\t':
		if attr {
			return append(dst, "&#x9;"...)
		}
	}
	if !isXMLChar(r) {
		r = utf8.RuneError
	}
	return utf8.AppendRune(dst, r)
}

// isXMLChar reports whether r is a Char of XML 1.0.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
