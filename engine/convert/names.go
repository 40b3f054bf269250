package convert

import (
	"unicode/utf8"
)

//go:generate go run gen_names.go

type nameClass uint8

const (
	nameChar  nameClass = 1 // may continue a name
	nameStart nameClass = 2 // may start or continue a name
)

type nameRange struct {
	lo, hi rune
	class  nameClass
}

// classOf reports whether r may start (nameStart) or continue (nameChar)
// an XML name, or neither (0). The colon is not a name character here;
// callers treat it separately.
func classOf(r rune) nameClass {
	if r < utf8.RuneSelf {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', r == '_':
			return nameStart
		case '0' <= r && r <= '9', r == '-', r == '.':
			return nameChar
		}
		return 0
	}
	lo, hi := 0, len(nameRanges)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch nr := &nameRanges[m]; {
		case r < nr.lo:
			hi = m
		case r > nr.hi:
			lo = m + 1
		default:
			return nr.class
		}
	}
	return 0
}

// asciiName[c] is 2 for ASCII bytes that may start a name, 1 for bytes that
// may only continue one, 0 otherwise. '_' is handled by the caller.
var asciiName = [utf8.RuneSelf]uint8{
	'-': 1, '.': 1,
	'0': 1, '1': 1, '2': 1, '3': 1, '4': 1, '5': 1, '6': 1, '7': 1, '8': 1, '9': 1,
	'A': 2, 'B': 2, 'C': 2, 'D': 2, 'E': 2, 'F': 2, 'G': 2, 'H': 2, 'I': 2, 'J': 2,
	'K': 2, 'L': 2, 'M': 2, 'N': 2, 'O': 2, 'P': 2, 'Q': 2, 'R': 2, 'S': 2, 'T': 2,
	'U': 2, 'V': 2, 'W': 2, 'X': 2, 'Y': 2, 'Z': 2,
	'a': 2, 'b': 2, 'c': 2, 'd': 2, 'e': 2, 'f': 2, 'g': 2, 'h': 2, 'i': 2, 'j': 2,
	'k': 2, 'l': 2, 'm': 2, 'n': 2, 'o': 2, 'p': 2, 'q': 2, 'r': 2, 's': 2, 't': 2,
	'u': 2, 'v': 2, 'w': 2, 'x': 2, 'y': 2, 'z': 2,
}

// emptyName is the XML name that stands for the empty JSON key.
const emptyName = "_x_"

// appendName appends the XML name encoding key to dst (see the package
// documentation): characters that may not appear at their position become
// _xHHHH_, every '_' followed by 'x' becomes _x005F_, one colon is kept only
// if it separates two non-empty parts (a QName), and the empty key is _x_.
// key need not be valid UTF-8; invalid bytes are encoded as U+FFFD.
func appendName(dst, key []byte) []byte {
	if len(key) == 0 {
		return append(dst, emptyName...)
	}
	// A single colon with non-empty text on both sides is kept.
	colon := -1
	for i, c := range key {
		if c == ':' {
			if colon >= 0 {
				colon = -1
				break
			}
			colon = i
		}
	}
	if colon == 0 || colon == len(key)-1 {
		colon = -1
	}
	start := true // at the start of a name part
	for i := 0; i < len(key); {
		c := key[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == '_':
				if i < len(key) && key[i] == 'x' {
					dst = append(dst, "_x005F_"...)
				} else {
					dst = append(dst, '_')
				}
			case c == ':' && i-1 == colon:
				dst = append(dst, ':')
				start = true
				continue
			case asciiName[c] == 2 || asciiName[c] == 1 && !start:
				dst = append(dst, c)
			default:
				dst = appendEscapedRune(dst, rune(c))
			}
			start = false
			continue
		}
		r, n := utf8.DecodeRune(key[i:])
		cl := classOf(r)
		if cl == nameStart || cl == nameChar && !start {
			dst = append(dst, key[i:i+n]...)
		} else {
			dst = appendEscapedRune(dst, r)
		}
		i += n
		start = false
	}
	return dst
}

const upperHex = "0123456789ABCDEF"

// appendEscapedRune appends _xHHHH_ with at least four upper-case hex digits.
func appendEscapedRune(dst []byte, r rune) []byte {
	dst = append(dst, '_', 'x')
	switch {
	case r > 0xFFFFF:
		dst = append(dst, upperHex[r>>20&0xF])
		fallthrough
	case r > 0xFFFF:
		dst = append(dst, upperHex[r>>16&0xF])
	}
	return append(dst, upperHex[r>>12&0xF], upperHex[r>>8&0xF], upperHex[r>>4&0xF], upperHex[r&0xF], '_')
}

// decodeName reverses appendName: it returns the JSON key for the XML name.
// A name that contains no escape is returned unchanged (without copying).
func decodeName(name string) string {
	if name == emptyName {
		return ""
	}
	i := indexEscape(name, 0)
	if i < 0 {
		return name
	}
	buf := make([]byte, 0, len(name))
	last := 0
	for i >= 0 {
		r, n := matchEscape(name[i:])
		if n == 0 {
			i = indexEscape(name, i+1)
			continue
		}
		buf = append(buf, name[last:i]...)
		buf = utf8.AppendRune(buf, r)
		last = i + n
		i = indexEscape(name, last)
	}
	buf = append(buf, name[last:]...)
	return string(buf)
}

// indexEscape returns the index of the next "_x" in s at or after i, or -1.
func indexEscape(s string, i int) int {
	for ; i+1 < len(s); i++ {
		if s[i] == '_' && s[i+1] == 'x' {
			return i
		}
	}
	return -1
}

// matchEscape reports whether s starts with _xH…H_ (4 to 6 hex digits,
// either case) denoting a valid Unicode scalar value, returning the rune and
// the length of the escape, or n == 0 if it does not.
func matchEscape(s string) (r rune, n int) {
	if len(s) < 7 || s[0] != '_' || s[1] != 'x' {
		return 0, 0
	}
	i := 2
	for ; i < len(s) && i < 9; i++ {
		c := s[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		default:
			d = 0xFF
		}
		if d == 0xFF {
			break
		}
		r = r<<4 | rune(d)
	}
	if i < 6 || i > 8 || i >= len(s) || s[i] != '_' || !utf8.ValidRune(r) {
		return 0, 0
	}
	return r, i + 1
}
