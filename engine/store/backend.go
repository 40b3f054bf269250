package store

// This file exports what another backend of the KV, Queues and Log
// interfaces (engine/store/natsstore) needs to behave like this one: the
// same sealer for values sealed before they leave the process, and the same
// rules for ids and sensitivity declarations.

// Sealer seals values with the data key the way the badger store does:
// AES-256-GCM, a fresh random 12-byte nonce per seal, the value's place as
// additional data. The sealed form is nonce || ciphertext || tag.
type Sealer struct{ s *sealer }

// NewSealer returns the sealer of a KeySize-byte key (see ParseKey).
func NewSealer(key []byte) (*Sealer, error) {
	s, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	return &Sealer{s: s}, nil
}

// Seal returns the sealed form of plain, bound to aad.
func (s *Sealer) Seal(plain, aad []byte) []byte {
	return s.s.seal(make([]byte, 0, s.s.sealedLen(len(plain))), plain, aad)
}

// Open returns the plain form of a sealed value, or ErrDecrypt when it does
// not open with this key and aad.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) { return s.s.open(sealed, aad) }

// ValidID reports whether id can be a datastore entry, message or log id:
// 1–1024 bytes without NUL. what names it in the error ("entry", "message").
func ValidID(what, id string) error { return validID(what, id) }

// Normalized checks a sensitivity declaration and returns it as stored:
// All alone, or the paths without duplicates in the order given.
func (s Sensitivity) Normalized() (Sensitivity, error) { return s.normalized() }
