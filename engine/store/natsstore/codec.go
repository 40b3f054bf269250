package natsstore

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/stride-engine/stride/engine/store/record"
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

// encoder and decoder are the store's record encoding, shared with the
// badger backend (engine/store/record).
type (
	encoder = record.Encoder
	decoder = record.Decoder
)

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
