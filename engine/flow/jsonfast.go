package flow

import (
	"strconv"
	"unicode/utf8"
)

// fastJSONDepth is the deepest nesting decodeJSONFast takes; deeper
// documents go to encoding/json (which allows 10000).
const fastJSONDepth = 512

// decodeJSONFast decodes the JSON that bodies usually are in one pass,
// with exactly DecodeJSON's result (integers that fit as int64, other
// numbers as float64): it reports ok false, and decodes nothing, for
// anything it does not take — a string with an escape or with invalid
// UTF-8, nesting deeper than fastJSONDepth, and every error — so that
// encoding/json decides those, with its own error messages and its
// replacements of invalid UTF-8. It saves encoding/json's Decoder (its
// buffer and scanner), json.Number strings and the second walk that
// turned them into numbers.
func decodeJSONFast(data []byte) (v any, ok bool) {
	p := fastJSON{b: data}
	p.ws()
	v, ok = p.value(0)
	if !ok {
		return nil, false
	}
	p.ws()
	return v, p.i == len(p.b)
}

type fastJSON struct {
	b []byte
	i int
}

func (p *fastJSON) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *fastJSON) value(depth int) (any, bool) {
	if p.i >= len(p.b) {
		return nil, false
	}
	switch c := p.b[p.i]; {
	case c == '{':
		if depth >= fastJSONDepth {
			return nil, false
		}
		return p.object(depth + 1)
	case c == '[':
		if depth >= fastJSONDepth {
			return nil, false
		}
		return p.array(depth + 1)
	case c == '"':
		s, ok := p.str()
		return s, ok
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case c == 't':
		return true, p.lit("true")
	case c == 'f':
		return false, p.lit("false")
	case c == 'n':
		return nil, p.lit("null")
	}
	return nil, false
}

func (p *fastJSON) lit(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

func (p *fastJSON) object(depth int) (any, bool) {
	p.i++ // {
	m := map[string]any{}
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return m, true
	}
	for {
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, false
		}
		k, ok := p.str()
		if !ok {
			return nil, false
		}
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, false
		}
		p.i++
		p.ws()
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		m[k] = v // a repeated name: the last value, as encoding/json
		if end, ok := p.more('}'); !ok {
			return nil, false
		} else if end {
			return m, true
		}
	}
}

// more reads what follows a member of an object or an array: ',' (more
// members: end false) or the closing byte (end true); anything else is
// not ok.
func (p *fastJSON) more(closing byte) (end, ok bool) {
	p.ws()
	if p.i >= len(p.b) {
		return false, false
	}
	switch p.b[p.i] {
	case ',':
		p.i++
		p.ws()
		return false, true
	case closing:
		p.i++
		return true, true
	}
	return false, false
}

func (p *fastJSON) array(depth int) (any, bool) {
	p.i++ // [
	a := []any{}
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return a, true
	}
	for {
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		if end, ok := p.more(']'); !ok {
			return nil, false
		} else if end {
			return a, true
		}
	}
}

// str reads a string without escapes, of valid UTF-8 and without control
// characters; any other is left to encoding/json.
func (p *fastJSON) str() (string, bool) {
	start := p.i + 1
	ascii := true
	for i := start; i < len(p.b); i++ {
		switch c := p.b[i]; {
		case c == '"':
			s := p.b[start:i]
			if !ascii && !utf8.Valid(s) {
				return "", false
			}
			p.i = i + 1
			return string(s), true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// number reads a number as JSON writes them and converts it as
// exactNumbers does a json.Number.
func (p *fastJSON) number() (any, bool) {
	b, start := p.b, p.i
	i := start
	if b[i] == '-' {
		i++
	}
	digits := func() bool {
		n := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > n
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return nil, false
	}
	integer := true
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return nil, false
		}
		integer = false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return nil, false
		}
		integer = false
	}
	p.i = i
	if integer && i-start <= 18 {
		// Fits an int64 whatever its digits: no string, no ParseInt.
		neg := b[start] == '-'
		j := start
		if neg {
			j++
		}
		var n int64
		for ; j < i; j++ {
			n = n*10 + int64(b[j]-'0')
		}
		if neg {
			n = -n
		}
		return n, true
	}
	s := string(b[start:i])
	if integer {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, true
		}
	}
	f, _ := strconv.ParseFloat(s, 64)
	return f, true
}
