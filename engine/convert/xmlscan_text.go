package convert

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// This file holds the parts of the XML scanner (xmlscan.go) that read
// attribute values, character data and references.

// attrValue appends the value of the quoted attribute at s.pos to s.b.text,
// normalised as XML requires: references replaced and each literal
// whitespace character (after line-end normalisation) replaced by a space.
func (s *scanner) attrValue() *SyntaxError {
	out, err := s.appendAttrValue(s.b.text)
	s.b.text = out
	return err
}

func (s *scanner) appendAttrValue(out []byte) ([]byte, *SyntaxError) {
	src := s.src
	quote := src[s.pos]
	i := s.pos + 1
	for {
		start := i
		for i < len(src) {
			if c := src[i]; attrPlain[c] {
				i++
			} else if c >= utf8.RuneSelf {
				n, err := s.char(i)
				if err != nil {
					return out, err
				}
				i += n
			} else {
				break
			}
		}
		out = append(out, src[start:i]...)
		if i >= len(src) {
			s.pos = i
			return out, s.unexpected("end of attribute value")
		}
		switch c := src[i]; c {
		case quote:
			s.pos = i + 1
			return out, nil
		case '"', '\'':
			out = append(out, c)
			i++
		case '&':
			s.pos = i
			r, err := s.reference()
			if err != nil {
				return out, err
			}
			out = utf8.AppendRune(out, r)
			i = s.pos
		case '\r':
			out = append(out, ' ')
			i++
			if i < len(src) && src[i] == '\n' {
				i++
			}
		case '\t', '\n':
			out = append(out, ' ')
			i++
		case '<':
			s.pos = i
			return out, s.errorf("'<' in attribute value")
		default:
			s.pos = i
			return out, s.errorf("illegal character code " + strconv.QuoteRune(rune(c)))
		}
	}
}

// char checks the non-ASCII character at src[i] and returns its length.
func (s *scanner) char(i int) (int, *SyntaxError) {
	r, n := utf8.DecodeRune(s.src[i:])
	if r == utf8.RuneError && n == 1 {
		s.pos = i
		return 0, s.errorf("invalid UTF-8")
	}
	if r == 0xFFFE || r == 0xFFFF {
		s.pos = i
		return 0, s.errorf("illegal character code " + strconv.QuoteRune(r))
	}
	return n, nil
}

// attrPlain and textPlain mark the ASCII bytes copied unchanged from
// attribute values and character data.
var attrPlain, textPlain = func() (a, t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		a[c], t[c] = true, true
	}
	a['<'], a['&'], a['"'], a['\''] = false, false, false, false
	t['<'], t['&'], t[']'] = false, false, false
	t['\t'], t['\n'] = true, true
	return a, t
}()

// reference decodes the entity or character reference at s.pos.
func (s *scanner) reference() (rune, *SyntaxError) {
	src, start := s.src, s.pos
	end := bytes.IndexByte(src[start:min(len(src), start+40)], ';')
	if end < 0 {
		return 0, s.errorf("invalid character entity (no semicolon)")
	}
	ref := src[start+1 : start+end]
	s.pos = start + end + 1
	switch string(ref) {
	case "lt":
		return '<', nil
	case "gt":
		return '>', nil
	case "amp":
		return '&', nil
	case "apos":
		return '\'', nil
	case "quot":
		return '"', nil
	}
	if len(ref) >= 2 && ref[0] == '#' {
		digits, base := ref[1:], rune(10)
		if digits[0] == 'x' {
			digits, base = digits[1:], 16
		}
		r := rune(0)
		for _, c := range digits {
			d := rune(16)
			switch {
			case '0' <= c && c <= '9':
				d = rune(c - '0')
			case base == 16 && 'a' <= c && c <= 'f':
				d = rune(c-'a') + 10
			case base == 16 && 'A' <= c && c <= 'F':
				d = rune(c-'A') + 10
			}
			if d >= base || r > utf8.MaxRune {
				r = -1
				break
			}
			r = r*base + d
		}
		if len(digits) > 0 && isXMLChar(r) {
			return r, nil
		}
	} else if len(ref) == 0 || ref[0] != '#' {
		s.pos = start
		return 0, s.errorf("invalid character entity &" + string(ref) + "; (only the predefined entities are allowed)")
	}
	s.pos = start
	return 0, s.errorf("invalid character entity &" + string(ref) + ";")
}

// text scans character data at s.pos up to the next '<'.
func (s *scanner) text() *SyntaxError {
	src := s.src
	i := s.pos
	for {
		start := i
		for i < len(src) {
			if c := src[i]; textPlain[c] {
				i++
			} else if c >= utf8.RuneSelf {
				n, err := s.char(i)
				if err != nil {
					return err
				}
				i += n
			} else {
				break
			}
		}
		if i > start {
			if err := s.b.charData(src[start:i]); err != nil {
				return s.at(err, start)
			}
		}
		if i >= len(src) {
			s.pos = i
			return nil
		}
		at := i
		switch c := src[i]; c {
		case '<':
			s.pos = i
			return nil
		case '&':
			s.pos = i
			r, err := s.reference()
			if err != nil {
				return err
			}
			s.buf = utf8.AppendRune(s.buf[:0], r)
			i = s.pos
		case '\r':
			s.buf = append(s.buf[:0], '\n')
			i++
			if i < len(src) && src[i] == '\n' {
				i++
			}
		case ']':
			if bytes.HasPrefix(src[i:], []byte("]]>")) {
				s.pos = i
				return s.errorf("unescaped ]]> not in CDATA section")
			}
			s.buf = append(s.buf[:0], ']')
			i++
		default:
			s.pos = i
			return s.errorf("illegal character code " + strconv.QuoteRune(rune(c)))
		}
		if err := s.b.charData(s.buf); err != nil {
			return s.at(err, at)
		}
	}
}

// checkChars checks that src[lo:hi] holds only XML characters.
func (s *scanner) checkChars(lo, hi int) *SyntaxError {
	src := s.src
	for i := lo; i < hi; {
		c := src[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				s.pos = i
				return s.errorf("illegal character code " + strconv.QuoteRune(rune(c)))
			}
			i++
			continue
		}
		n, err := s.char(i)
		if err != nil {
			return err
		}
		i += n
	}
	return nil
}
