package store

import (
	"encoding/binary"
	"time"
)

// Records are encoded with a small hand-written binary format: a version
// byte, then fields as uvarints, zig-zag varints and length-prefixed bytes.
// It is compact, allocation-light and, unlike gob or JSON, has no reflection
// on the hot queue path. Decoding never panics: a short or malformed record
// makes the decoder's err ErrCorrupt.

const recordVersion = 1

// record flags
const (
	flagSealed    = 1 << iota // the value (content) blob is AES-GCM sealed
	flagErrSealed             // a queue record's error blob is sealed
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

func (d *decoder) fail() { d.err = ErrCorrupt; d.b = nil }

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

func (d *decoder) int() int {
	v := d.uvarint()
	if v > 1<<31 {
		d.fail()
		return 0
	}
	return int(v)
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
