package convert

import (
	"unicode/utf8"
)

// This file holds the JSON lexing of JSONToXML: keys, strings and their
// escapes, numbers and literals, and the XML escaping of the text they
// become.

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
