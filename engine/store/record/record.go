// Package record is the binary encoding of the store's records, shared by
// its backends (badger in engine/store, JetStream in engine/store/
// natsstore): a version byte, then fields as uvarints, zig-zag varints and
// length-prefixed bytes. It is compact, allocation-light and, unlike gob or
// JSON, has no reflection on the hot queue path. Decoding never panics: a
// short or malformed record makes the decoder's Err ErrCorrupt.
package record

import (
	"encoding/binary"
	"errors"
	"time"
)

// ErrCorrupt is the error of a record that does not decode.
var ErrCorrupt = errors.New("corrupt record")

// Encoder appends fields to B.
type Encoder struct{ B []byte }

func (e *Encoder) Byte(v byte)      { e.B = append(e.B, v) }
func (e *Encoder) Uvarint(v uint64) { e.B = binary.AppendUvarint(e.B, v) }
func (e *Encoder) Varint(v int64)   { e.B = binary.AppendVarint(e.B, v) }
func (e *Encoder) Bytes(v []byte)   { e.Uvarint(uint64(len(v))); e.B = append(e.B, v...) }
func (e *Encoder) String(v string)  { e.Uvarint(uint64(len(v))); e.B = append(e.B, v...) }
func (e *Encoder) Time(t time.Time) { e.Varint(TimeNanos(t)) }

// StrMap writes a map of strings (in the map's order: records compare by
// their decoded maps, never by bytes).
func (e *Encoder) StrMap(m map[string]string) {
	e.Uvarint(uint64(len(m)))
	for k, v := range m {
		e.String(k)
		e.String(v)
	}
}

// Decoder reads fields from B; the first problem sets Err and every read
// after it returns zero values.
type Decoder struct {
	B   []byte
	Err error
}

// Fail marks the record corrupt.
func (d *Decoder) Fail() { d.Err = ErrCorrupt; d.B = nil }

func (d *Decoder) Byte() byte {
	if d.Err != nil || len(d.B) < 1 {
		d.Fail()
		return 0
	}
	v := d.B[0]
	d.B = d.B[1:]
	return v
}

func (d *Decoder) Uvarint() uint64 {
	if d.Err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.B)
	if n <= 0 {
		d.Fail()
		return 0
	}
	d.B = d.B[n:]
	return v
}

func (d *Decoder) Varint() int64 {
	if d.Err != nil {
		return 0
	}
	v, n := binary.Varint(d.B)
	if n <= 0 {
		d.Fail()
		return 0
	}
	d.B = d.B[n:]
	return v
}

// Bytes reads a length-prefixed byte string; the result shares the
// record's memory.
func (d *Decoder) Bytes() []byte {
	n := d.Uvarint()
	if d.Err != nil || n > uint64(len(d.B)) {
		d.Fail()
		return nil
	}
	v := d.B[:n:n]
	d.B = d.B[n:]
	return v
}

func (d *Decoder) String() string  { return string(d.Bytes()) }
func (d *Decoder) Time() time.Time { return NanosTime(d.Varint()) }

func (d *Decoder) StrMap() map[string]string {
	n := d.Uvarint()
	if d.Err != nil || n > uint64(len(d.B)) { // each pair takes ≥ 2 bytes
		d.Fail()
		return nil
	}
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for i := uint64(0); i < n && d.Err == nil; i++ {
		k := d.String()
		m[k] = d.String()
	}
	return m
}

// Int reads a small non-negative integer (a count, an attempt).
func (d *Decoder) Int() int {
	v := d.Uvarint()
	if v > 1<<31 {
		d.Fail()
		return 0
	}
	return int(v)
}

// TimeNanos maps the zero time to 0 (UnixNano of the zero time overflows).
func TimeNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// NanosTime is TimeNanos's inverse.
func NanosTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
