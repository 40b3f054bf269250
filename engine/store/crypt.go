package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// KeySize is the length of STRIDE_DATA_KEY in bytes (AES-256).
const KeySize = 32

// ParseKey decodes STRIDE_DATA_KEY: 32 bytes written as 64 hex characters or
// as base64 (standard or URL alphabet, padded or not). Surrounding white
// space is ignored. The errors say what was wrong without echoing the key.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("STRIDE_DATA_KEY is empty; want %d bytes as 64 hex characters or base64 (e.g. `openssl rand -hex 32`): %w", KeySize, ErrInvalid)
	}
	if len(s) == 2*KeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	decoded := -1 // length of a base64 decoding of the wrong size
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		k, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(k) == KeySize {
			return k, nil
		}
		decoded = len(k)
	}
	if isHex(s) { // hex digits are base64 too: say what was most likely meant
		return nil, fmt.Errorf("STRIDE_DATA_KEY has %d hex characters; want %d (%d bytes): %w", len(s), 2*KeySize, KeySize, ErrInvalid)
	}
	if decoded >= 0 {
		return nil, fmt.Errorf("STRIDE_DATA_KEY decodes (base64) to %d bytes; want %d (64 hex characters or 43–44 base64 characters): %w", decoded, KeySize, ErrInvalid)
	}
	return nil, fmt.Errorf("STRIDE_DATA_KEY (%d characters) is neither 64 hex characters nor base64 of %d bytes: %w", len(s), KeySize, ErrInvalid)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// sealer seals values with AES-256-GCM. Each seal draws a fresh random
// 12-byte nonce (2^32 seals per key keep the collision risk negligible, far
// beyond what one Stride instance writes between key rotations). The sealed
// form is nonce || ciphertext || tag. The additional data binds a value to
// where it is stored, so a value copied to another id does not open.
type sealer struct{ aead cipher.AEAD }

const nonceSize = 12

func newSealer(key []byte) (*sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("store: data key is %d bytes; want %d: %w", len(key), KeySize, ErrInvalid)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("store: data key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("store: data key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// sealedLen is the length of a sealed value of n plain bytes.
func (s *sealer) sealedLen(n int) int { return nonceSize + n + s.aead.Overhead() }

// seal appends the sealed form of plain to dst.
func (s *sealer) seal(dst, plain, aad []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, nonceSize)...)
	nonce := dst[start : start+nonceSize]
	rand.Read(nonce) // never fails since Go 1.24: it always fills nonce
	return s.aead.Seal(dst, nonce, plain, aad)
}

// open returns the plain form of a sealed value, or ErrDecrypt.
func (s *sealer) open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < nonceSize+s.aead.Overhead() {
		return nil, ErrDecrypt
	}
	p, err := s.aead.Open(nil, sealed[:nonceSize], sealed[nonceSize:], aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return p, nil
}

// sealBlob seals plain when the DB has a key; otherwise it returns plain
// unchanged. sealed reports which.
func (db *DB) sealBlob(plain, aad []byte) (out []byte, sealed bool) {
	if db.seal == nil {
		return plain, false
	}
	return db.seal.seal(make([]byte, 0, db.seal.sealedLen(len(plain))), plain, aad), true
}

// openBlob reverses sealBlob. A sealed blob without a key is ErrKeyRequired;
// one that does not open is ErrDecrypt.
func (db *DB) openBlob(b []byte, sealed bool, aad []byte) ([]byte, error) {
	if !sealed {
		return b, nil
	}
	if db.seal == nil {
		return nil, ErrKeyRequired
	}
	return db.seal.open(b, aad)
}
