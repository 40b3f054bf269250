package store

import (
	"fmt"
	"testing"
)

// Known step kinds are stored as one-byte codes; an unknown kind by
// name; traces written before the codes (every kind by name) read as
// they did.
func TestLogTraceKindCodes(t *testing.T) {
	trace := []TraceEntry{
		{Step: "route", Kind: "route", At: "flows/f.yaml:3", DurationNS: 900, Outcome: "ok"},
		{Step: "verify", Kind: "verify_signature", At: "flows/f.yaml:7", DurationNS: 1200, Outcome: "ok"},
		{Step: "x", Kind: "a_kind_from_a_later_release", At: "flows/f.yaml:9", DurationNS: 5, Outcome: "error", Error: "boom"},
	}
	var coded encoder
	encodeTrace(&coded, trace)
	d := decoder{B: coded.B}
	if got := decodeTrace(&d, logRecordCompact); d.Err != nil || len(d.B) != 0 || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", trace) {
		t.Fatalf("round trip: %+v, %v\nwant %+v", got, d.Err, trace)
	}

	// The encoding before codes: the same step flags, every kind a string.
	var named encoder
	named.Uvarint(uint64(len(trace)))
	prev := ""
	for _, s := range trace {
		var f uint64
		if s.Step == s.Kind {
			f |= traceStepIsKind
		}
		if s.Outcome == "ok" {
			f |= traceOK
		}
		if s.Error != "" {
			f |= traceError
		}
		named.Uvarint(f)
		named.String(s.Kind)
		if f&traceStepIsKind == 0 {
			named.String(s.Step)
		}
		n := 0
		for n < len(prev) && n < len(s.At) && prev[n] == s.At[n] {
			n++
		}
		named.Uvarint(uint64(n))
		named.String(s.At[n:])
		prev = s.At
		named.Varint(s.DurationNS)
		if f&traceOK == 0 {
			named.String(s.Outcome)
		}
		if f&traceError != 0 {
			named.String(s.Error)
		}
	}
	d = decoder{B: named.B}
	if got := decodeTrace(&d, logRecordCompact); d.Err != nil || len(d.B) != 0 || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", trace) {
		t.Fatalf("a trace written before the codes: %+v, %v\nwant %+v", got, d.Err, trace)
	}
	// "route" and "verify_signature" as codes: 5 + 16 bytes of names less.
	if saved := len(named.B) - len(coded.B); saved != len("route")+len("verify_signature") {
		t.Errorf("codes saved %d bytes, want %d", saved, len("route")+len("verify_signature"))
	}

	// A code past the list is corrupt, not a wrong kind.
	var bad encoder
	bad.Uvarint(1)
	bad.Uvarint(traceStepIsKind | traceOK | traceKindCode)
	bad.Uvarint(uint64(len(traceKinds)))
	bad.Uvarint(0)
	bad.String("")
	bad.Varint(1)
	d = decoder{B: bad.B}
	if got := decodeTrace(&d, logRecordCompact); d.Err == nil {
		t.Fatalf("an unknown kind code decoded: %+v", got)
	}
}
