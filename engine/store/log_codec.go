package store

// The encoding of message log entries: a compact binary record, the
// trace encoded step by step, sealed parts when a key is given.

import (
	"encoding/binary"
	"time"
)

// log record: version, flags, flow, status, start, body blob (sealed when
// flagSealed). Flow and status stay readable so List filters without
// decrypting; everything that may echo message content is in the blob.
func (s *logStore) encode(e *LogEntry) []byte {
	b := encoder{b: make([]byte, 0, 64+24*len(e.Trace))}
	b.string(e.FlowVersion)
	b.string(e.Trigger)
	b.string(e.Queue)
	b.time(e.End)
	b.string(e.Error)
	b.uvarint(uint64(e.TraceDropped))
	encodeTrace(&b, e.Trace)
	blob, sealed := s.db.sealBlob(b.b, logAAD(e.ID, e.Attempt, "entry"))
	r := encoder{b: make([]byte, 0, 24+len(e.Flow)+len(e.Status)+len(blob))}
	r.byte(logRecordCompact)
	var flags byte
	if sealed {
		flags |= flagSealed
	}
	r.byte(flags)
	r.string(e.Flow)
	r.string(e.Status)
	r.time(e.Start)
	r.b = append(r.b, blob...)
	return r.b
}

// Trace step flags of the compact encoding.
const (
	traceStepIsKind = 1 << iota // Step == Kind (an unnamed step): not stored
	traceOK                     // Outcome == "ok": not stored
	traceError                  // an Error follows
)

// encodeTrace writes a trace compactly, as most traces are: per step a
// flags uvarint, the kind, the name only when it is not the kind, the
// position as the length of the prefix it shares with the previous
// step's (the same file, usually) and the rest, the duration, the
// outcome only when it is not "ok", the error only when there is one.
// A typical http flow's trace takes 40% of the plain encoding.
func encodeTrace(b *encoder, trace []TraceEntry) {
	b.uvarint(uint64(len(trace)))
	prev := ""
	for _, t := range trace {
		var f uint64
		if t.Step == t.Kind {
			f |= traceStepIsKind
		}
		if t.Outcome == "ok" {
			f |= traceOK
		}
		if t.Error != "" {
			f |= traceError
		}
		b.uvarint(f)
		b.string(t.Kind)
		if f&traceStepIsKind == 0 {
			b.string(t.Step)
		}
		n := 0
		for n < len(prev) && n < len(t.At) && prev[n] == t.At[n] {
			n++
		}
		b.uvarint(uint64(n))
		b.string(t.At[n:])
		prev = t.At
		b.varint(t.DurationNS)
		if f&traceOK == 0 {
			b.string(t.Outcome)
		}
		if f&traceError != 0 {
			b.string(t.Error)
		}
	}
}

func decodeTrace(d *decoder, version byte) []TraceEntry {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.fail()
	}
	if d.err != nil || n == 0 {
		return nil
	}
	trace := make([]TraceEntry, n)
	prev := ""
	for i := range trace {
		t := &trace[i]
		if version == recordVersion {
			t.Step = d.string()
			t.Kind = d.string()
			t.At = d.string()
			t.DurationNS = d.varint()
			t.Outcome = d.string()
			t.Error = d.string()
			continue
		}
		f := d.uvarint()
		t.Kind = d.string()
		t.Step = t.Kind
		if f&traceStepIsKind == 0 {
			t.Step = d.string()
		}
		shared := d.uvarint()
		if shared > uint64(len(prev)) {
			d.fail()
			return nil
		}
		t.At = prev[:shared] + d.string()
		prev = t.At
		t.DurationNS = d.varint()
		t.Outcome = "ok"
		if f&traceOK == 0 {
			t.Outcome = d.string()
		}
		if f&traceError != 0 {
			t.Error = d.string()
		}
	}
	return trace
}

// logHead is the readable part of a log record.
type logHead struct {
	version byte
	flags   byte
	flow    string
	status  string
	start   time.Time
	blob    []byte // aliases the record
}

func decodeLogHead(v []byte) (logHead, error) {
	d := decoder{b: v}
	var h logHead
	if h.version = d.byte(); h.version != recordVersion && h.version != logRecordCompact {
		return h, ErrCorrupt
	}
	h.flags = d.byte()
	h.flow = d.string()
	h.status = d.string()
	h.start = d.time()
	h.blob = d.b
	return h, d.err
}

func (s *logStore) decode(id string, attempt int, h *logHead) (LogEntry, error) {
	e := LogEntry{ID: id, Attempt: attempt, Flow: h.flow, Status: h.status, Start: h.start}
	p, err := s.db.openBlob(h.blob, h.flags&flagSealed != 0, logAAD(id, attempt, "entry"))
	if err != nil {
		return e, err
	}
	d := decoder{b: p}
	e.FlowVersion = d.string()
	e.Trigger = d.string()
	e.Queue = d.string()
	e.End = d.time()
	e.Error = d.string()
	e.TraceDropped = d.int()
	e.Trace = decodeTrace(&d, h.version)
	if d.err != nil {
		return e, d.err
	}
	return e, nil
}

// parseSuffix splits <inverted start><id>\x00<attempt>.
func parseSuffix(s []byte) (id string, attempt int, ok bool) {
	if len(s) < 8+1+1+4 || s[len(s)-5] != 0 {
		return "", 0, false
	}
	return string(s[8 : len(s)-5]), int(binary.BigEndian.Uint32(s[len(s)-4:])), true
}
