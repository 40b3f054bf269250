package convert

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// XMLToJSONOptions configure XMLToJSON. The zero value is usable.
type XMLToJSONOptions struct {
	// ArrayPaths lists elements that are always emitted as JSON arrays,
	// even when they occur once. An entry is either an absolute path of
	// element names as written in the document, "/root/a/b", or a bare
	// element name, "b", which matches such elements anywhere.
	ArrayPaths []string

	// Typed keeps numbers and booleans: a text or attribute value that is
	// a JSON number (as JSON writes it: no "+", no leading zeros such as
	// "007", no ".5"; and finite as a float64, so not "1e400") or exactly
	// "true" or "false" becomes that JSON number or boolean, written as in
	// the document. Otherwise every value is a JSON string.
	Typed bool

	// DropRoot omits the root element's key: the output is the root's
	// value, not {"root": value}.
	DropRoot bool
}

// XMLToJSON converts the XML document src to JSON and appends it to dst,
// following the conventions described in the package documentation.
// The output is compact JSON and is written only if the whole conversion
// succeeds: on error dst is left unchanged and the error is a
// *SyntaxError.
func XMLToJSON(dst *bytes.Buffer, src []byte, opt XMLToJSONOptions) error {
	c := x2j{typed: opt.Typed}
	for _, p := range opt.ArrayPaths {
		if strings.HasPrefix(p, "/") {
			if c.absPaths == nil {
				c.absPaths = make(map[string]bool)
			}
			c.absPaths[strings.TrimSuffix(p, "/")] = true
		} else if p != "" {
			if c.names == nil {
				c.names = make(map[string]bool)
			}
			c.names[p] = true
		}
	}
	// Each element has a start tag and, unless empty, an end tag.
	tags := bytes.Count(src, []byte{'<'})
	c.nodes = make([]node, 0, tags/2+1)
	c.text = make([]byte, 0, len(src)/2)
	if err := c.parse(src); err != nil {
		return err
	}
	dst.Grow(len(src) + 64)
	c.out = dst.AvailableBuffer()
	root := &c.nodes[0]
	if !opt.DropRoot {
		c.out = append(c.out, '{')
		c.out = appendJSONString(c.out, root.key)
		c.out = append(c.out, ':')
	}
	if root.forced {
		c.out = append(c.out, '[')
	}
	c.value(0, 0)
	if root.forced {
		c.out = append(c.out, ']')
	}
	if !opt.DropRoot {
		c.out = append(c.out, '}')
	}
	dst.Write(c.out)
	return nil
}

// x2j holds the state of one XMLToJSON conversion. The document is first
// parsed into a tree of nodes, since repeated siblings, which become one
// JSON array, may be separated by other elements.
type x2j struct {
	typed    bool
	names    map[string]bool // bare ArrayPaths
	absPaths map[string]bool // absolute ArrayPaths
	path     []byte          // path of the current element, if absPaths != nil

	nodes    []node
	attrs    []attr
	text     []byte // text of closed elements and attribute values
	open     []openElem
	textBufs [][]byte // reusable text buffers, by depth
	rootSeen bool
	elemKeys map[string]string // raw element name → JSON key
	attrKeys map[string]string // raw attribute name → JSON key
	out      []byte

	entries [][]entry // per-depth scratch for value
}

// node is an element.
type node struct {
	key            string // decoded JSON key
	first, last    int32  // first and last child element, or -1
	next           int32  // next sibling element, or -1
	attrLo, attrHi int32  // range in x2j.attrs
	textLo, textHi int32  // range in x2j.text
	textAt         int32  // number of child elements before the text
	nchild         int32
	forced         bool // listed in ArrayPaths
}

type attr struct {
	key          string // "@" + decoded name
	valLo, valHi int32  // value, in x2j.text
}

// openElem is an element whose end tag has not been seen yet.
type openElem struct {
	node     int32
	name     string // raw name
	text     []byte // text so far
	segStart int    // start of the current text segment in text
	textAt   int32  // -1 until a segment is kept
	pathLen  int
}

// xmlError returns a *SyntaxError whose position the scanner fills in.
func xmlError(msg string, err error) *SyntaxError {
	return &SyntaxError{Format: "xml", Msg: msg, Err: err}
}

// elemKey returns the raw name as a string and its JSON key, allocating
// each distinct name only once.
func (c *x2j) elemKey(raw []byte) (name, key string) {
	if k, ok := c.elemKeys[string(raw)]; ok {
		return k[:len(raw)], k[len(raw):]
	}
	if c.elemKeys == nil {
		c.elemKeys = make(map[string]string)
	}
	name = string(raw)
	key = decodeName(name)
	// Store name and key in one string to save an allocation.
	both := name + key
	c.elemKeys[name] = both
	return both[:len(name)], both[len(name):]
}

func (c *x2j) attrKey(raw []byte) string {
	if k, ok := c.attrKeys[string(raw)]; ok {
		return k
	}
	if c.attrKeys == nil {
		c.attrKeys = make(map[string]string)
	}
	k := "@" + decodeName(string(raw))
	c.attrKeys[string(raw)] = k
	return k
}

// startElement opens the element raw; its attributes follow with
// attribute calls.
func (c *x2j) startElement(raw []byte) *SyntaxError {
	if len(c.open) == 0 {
		if c.rootSeen {
			return xmlError("more than one root element", nil)
		}
		c.rootSeen = true
	}
	if len(c.open) >= MaxDepth {
		return xmlError(ErrTooDeep.Error(), ErrTooDeep)
	}
	name, key := c.elemKey(raw)
	n := node{key: key, first: -1, last: -1, next: -1, textAt: -1}
	n.attrLo = int32(len(c.attrs))
	n.attrHi = n.attrLo
	if c.names[name] {
		n.forced = true
	}
	id := int32(len(c.nodes))
	pathLen := 0
	if len(c.open) > 0 {
		p := &c.open[len(c.open)-1]
		pn := &c.nodes[p.node]
		c.endSegment(p)
		if pn.last < 0 {
			pn.first = id
		} else {
			c.nodes[pn.last].next = id
		}
		pn.last = id
		pn.nchild++
		pathLen = p.pathLen
	}
	if c.absPaths != nil {
		c.path = append(c.path[:pathLen], '/')
		c.path = append(c.path, name...)
		pathLen = len(c.path)
		if c.absPaths[string(c.path)] {
			n.forced = true
		}
	}
	c.nodes = append(c.nodes, n)
	depth := len(c.open)
	if depth >= len(c.textBufs) {
		c.textBufs = append(c.textBufs, nil)
	}
	c.open = append(c.open, openElem{node: id, name: name, text: c.textBufs[depth][:0], textAt: -1, pathLen: pathLen})
	return nil
}

// attribute adds an attribute to the element just started. value is
// appended to c.text by the caller before the call, from valLo on.
func (c *x2j) attribute(raw []byte, valLo int) {
	c.attrs = append(c.attrs, attr{key: c.attrKey(raw), valLo: int32(valLo), valHi: int32(len(c.text))})
	c.nodes[len(c.nodes)-1].attrHi++
}

// endElement closes the innermost open element, whose name must be raw.
func (c *x2j) endElement(raw []byte) *SyntaxError {
	if len(c.open) == 0 {
		return xmlError("unexpected end tag </"+string(raw)+">", nil)
	}
	p := &c.open[len(c.open)-1]
	if p.name != string(raw) {
		return xmlError("element <"+p.name+"> closed by </"+string(raw)+">", nil)
	}
	n := &c.nodes[p.node]
	if n.nchild > 0 {
		c.endSegment(p)
	} else if len(p.text) > 0 {
		p.textAt = 0
	}
	n.textAt = p.textAt
	n.textLo = int32(len(c.text))
	c.text = append(c.text, p.text...)
	n.textHi = int32(len(c.text))
	c.textBufs[len(c.open)-1] = p.text
	c.open = c.open[:len(c.open)-1]
	return nil
}

// charData adds text to the innermost open element. Outside the root
// element only whitespace is allowed.
func (c *x2j) charData(b []byte) *SyntaxError {
	if len(c.open) == 0 {
		if !isSpace(b) {
			return xmlError("text outside the root element", nil)
		}
		return nil
	}
	p := &c.open[len(c.open)-1]
	p.text = append(p.text, b...)
	return nil
}

// endDocument checks that the document had a complete root element.
func (c *x2j) endDocument() *SyntaxError {
	if len(c.open) > 0 {
		return xmlError("unexpected end of input: element <"+c.open[len(c.open)-1].name+"> not closed", nil)
	}
	if !c.rootSeen {
		return xmlError("no root element", nil)
	}
	return nil
}

// endSegment ends the current text segment of p, at a child element's
// start tag or at the end tag of p if p has child elements:
// whitespace-only segments are dropped in elements with child elements.
func (c *x2j) endSegment(p *openElem) {
	if isSpace(p.text[p.segStart:]) {
		p.text = p.text[:p.segStart]
	} else if p.textAt < 0 {
		p.textAt = c.nodes[p.node].nchild
	}
	p.segStart = len(p.text)
}

func isSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// entry is a member of the JSON object for an element.
type entry struct {
	key  string
	kind uint8 // entryAttr, entryText or entryElem
	idx  int32 // index in x2j.attrs or x2j.nodes
	next int32 // next entry with the same key, or -1
}

const (
	entryAttr = iota
	entryText
	entryElem
)

// value appends the JSON value of node i at the given depth.
func (c *x2j) value(i int32, depth int) {
	n := &c.nodes[i]
	if n.attrLo == n.attrHi && n.first < 0 {
		c.scalar(c.text[n.textLo:n.textHi])
		return
	}
	// Gather the members in document order.
	for len(c.entries) <= depth {
		c.entries = append(c.entries, nil)
	}
	es := c.entries[depth][:0]
	for a := n.attrLo; a < n.attrHi; a++ {
		es = append(es, entry{key: c.attrs[a].key, kind: entryAttr, idx: a, next: -1})
	}
	k := int32(0)
	for ch := n.first; ; ch = c.nodes[ch].next {
		if k == n.textAt {
			es = append(es, entry{key: "#text", kind: entryText, idx: i, next: -1})
		}
		if ch < 0 {
			break
		}
		es = append(es, entry{key: c.nodes[ch].key, kind: entryElem, idx: ch, next: -1})
		k++
	}
	c.entries[depth] = es
	// Link entries with equal keys; head entries keep next >= 0 only
	// through the chain, and followers are marked by kind|0x80.
	const follower = 0x80
	if len(es) <= 16 {
		for a := range es {
			if es[a].kind&follower != 0 {
				continue
			}
			prev := a
			for b := a + 1; b < len(es); b++ {
				if es[b].kind&follower == 0 && es[b].key == es[a].key {
					es[prev].next = int32(b)
					es[b].kind |= follower
					prev = b
				}
			}
		}
	} else {
		last := make(map[string]int32, len(es))
		for a := range es {
			if p, ok := last[es[a].key]; ok {
				es[p].next = int32(a)
				es[a].kind |= follower
			}
			last[es[a].key] = int32(a)
		}
	}
	c.out = append(c.out, '{')
	for a := range es {
		if es[a].kind&follower != 0 {
			continue
		}
		if len(c.out) > 0 && c.out[len(c.out)-1] != '{' {
			c.out = append(c.out, ',')
		}
		c.out = appendJSONString(c.out, es[a].key)
		c.out = append(c.out, ':')
		array := es[a].next >= 0
		for b := int32(a); b >= 0 && !array; b = es[b].next {
			array = es[b].kind&^follower == entryElem && c.nodes[es[b].idx].forced
		}
		if array {
			c.out = append(c.out, '[')
		}
		for b := int32(a); b >= 0; b = es[b].next {
			if b != int32(a) {
				c.out = append(c.out, ',')
			}
			// value may reuse deeper scratch only, so es stays valid.
			switch e := c.entries[depth][b]; e.kind &^ follower {
			case entryAttr:
				a := &c.attrs[e.idx]
				c.scalar(c.text[a.valLo:a.valHi])
			case entryText:
				c.scalar(c.text[n.textLo:n.textHi])
			case entryElem:
				c.value(e.idx, depth+1)
			}
		}
		if array {
			c.out = append(c.out, ']')
		}
	}
	c.out = append(c.out, '}')
}

func (c *x2j) scalar(s []byte) {
	if c.typed && isTyped(s) {
		c.out = append(c.out, s...)
		return
	}
	c.out = appendJSONString(c.out, s)
}

// isTyped reports whether s is "true", "false" or a JSON number that is
// finite as a float64.
func isTyped[T string | []byte](s T) bool {
	if len(s) == 4 && s[0] == 't' && s[1] == 'r' && s[2] == 'u' && s[3] == 'e' ||
		len(s) == 5 && s[0] == 'f' && s[1] == 'a' && s[2] == 'l' && s[3] == 's' && s[4] == 'e' {
		return true
	}
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i++; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i++; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
		}
	}
	exp := false
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		exp = true
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i++; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
		}
	}
	if i != len(s) {
		return false
	}
	if exp || len(s) > 300 {
		_, err := strconv.ParseFloat(string(s), 64)
		return err == nil
	}
	return true
}

// AppendJSONString appends s to dst as a JSON string literal (quotes and
// escapes added). Invalid UTF-8 becomes U+FFFD. Other packages that write
// JSON by hand (the map step) use it rather than a copy.
func AppendJSONString(dst []byte, s string) []byte { return appendJSONString(dst, s) }

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD.
func appendJSONString[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', upperHex[c>>4], upperHex[c&0xF])
			}
			i++
			start = i
			continue
		}
		// At most 4 bytes: the conversion of a []byte does not allocate.
		r, n := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			// Valid JSON, but line terminators in JavaScript: escaped so
			// the output can be embedded in a script.
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', upperHex[r&0xF])
			i += n
			start = i
			continue
		}
		i += n
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
