package natsstore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"time"

	"github.com/stride-engine/stride/engine/store"
)

// Records are encoded like the badger store's: a version byte, then
// uvarints, zig-zag varints and length-prefixed bytes. Decoding never
// panics: a short or malformed record makes the decoder's err
// store.ErrCorrupt.

const recordVersion = 1

// record flags
const (
	flagSealed    = 1 << iota // the value (content) blob is sealed
	flagErrSealed             // a queue record's error blob is sealed
	flagDead                  // a queue record is a dead letter
)

type encoder struct{ b []byte }

func (e *encoder) byte(v byte)      { e.b = append(e.b, v) }
func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) bytes(v []byte)   { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) string(v string)  { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) time(t time.Time) { e.varint(timeNanos(t)) }
func (e *encoder) strMap(m map[string]string) {
	e.uvarint(uint64(len(m)))
	for k, v := range m {
		e.string(k)
		e.string(v)
	}
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err = store.ErrCorrupt; d.b = nil }

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes returns a sub-slice of the input (not a copy).
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || uint64(len(d.b)) < n {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string  { return string(d.bytes()) }
func (d *decoder) time() time.Time { return nanosTime(d.varint()) }

func (d *decoder) int() int {
	v := d.uvarint()
	if v > 1<<31 {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *decoder) strMap() map[string]string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) { // each pair takes ≥ 2 bytes
		d.fail()
		return nil
	}
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		k := d.string()
		m[k] = d.string()
	}
	return m
}

// timeNanos maps the zero time to 0 (UnixNano of the zero time overflows).
func timeNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nanosTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Names and ids become subject tokens (and KV key tokens): letters, digits,
// '-' and '_' stay as they are, so that what an operator sees in `nats`
// reads like the name; every other byte, '.' and '=' among them, becomes
// =XX (upper-case hex). The empty string is "=". The mapping is
// one-to-one, so a token names exactly one string.
//
// A token is kept short enough for a subject: beyond maxTokenLen its
// escaped form is replaced by "~" and the hex SHA-256 of the string. Such
// a token still names one string (in practice); records keep the string
// itself, which is what is read back.
const maxTokenLen = 1200

func token(s string) string {
	if s == "" {
		return "="
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if plain(s[i]) {
			n++
		} else {
			n += 3
		}
	}
	if n > maxTokenLen {
		sum := sha256.Sum256([]byte(s))
		return "~" + hex.EncodeToString(sum[:])
	}
	if n == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(n)
	const hexdigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plain(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteByte(hexdigits[c>>4])
		b.WriteByte(hexdigits[c&15])
	}
	return b.String()
}

func plain(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// untoken reverses token; ok is false for a hashed or malformed token.
func untoken(t string) (string, bool) {
	if t == "=" {
		return "", true
	}
	if strings.HasPrefix(t, "~") || t == "" {
		return "", false
	}
	if strings.IndexByte(t, '=') < 0 {
		return t, true
	}
	b := make([]byte, 0, len(t))
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c != '=' {
			b = append(b, c)
			continue
		}
		if i+2 >= len(t) {
			return "", false
		}
		v, err := hex.DecodeString(t[i+1 : i+3])
		if err != nil {
			return "", false
		}
		b = append(b, v[0])
		i += 2
	}
	return string(b), true
}
