package convert

import (
	"bytes"
	"fmt"
	"slices"
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
