package record

import (
	"errors"
	"testing"
	"time"
)

func TestRoundTripAndCorruptInput(t *testing.T) {
	at := time.Unix(0, 1795417509123456789)
	var e Encoder
	e.Byte(7)
	e.Uvarint(300)
	e.Varint(-5)
	e.Bytes([]byte("body"))
	e.String("id")
	e.Time(at)
	e.Time(time.Time{})
	e.StrMap(map[string]string{"k": "v"})
	e.Uvarint(42)
	d := Decoder{B: e.B}
	if d.Byte() != 7 || d.Uvarint() != 300 || d.Varint() != -5 || string(d.Bytes()) != "body" || d.String() != "id" ||
		!d.Time().Equal(at) || !d.Time().IsZero() || d.StrMap()["k"] != "v" || d.Int() != 42 || d.Err != nil || len(d.B) != 0 {
		t.Fatalf("round trip failed: %v", d.Err)
	}
	// Every prefix of a record fails cleanly, never panics.
	for n := range len(e.B) {
		d := Decoder{B: e.B[:n]}
		d.Byte()
		d.Uvarint()
		d.Varint()
		d.Bytes()
		_ = d.String()
		d.Time()
		d.Time()
		d.StrMap()
		d.Int()
		if !errors.Is(d.Err, ErrCorrupt) {
			t.Fatalf("prefix of %d bytes: err %v, want ErrCorrupt", n, d.Err)
		}
	}
}
