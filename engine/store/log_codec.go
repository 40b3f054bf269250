package store

// The encoding of message log entries: a compact binary record, the
// trace encoded step by step, sealed parts when a key is given.

import (
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strconv"
	"time"

	"github.com/stride-engine/stride/engine/store/record"
)

// log record (logRecordSmall, since 2026-12-05): version, flags, flow,
// status (a one-byte code for the common ones), body blob (sealed when
// flagSealed). The start is the primary key's. Flow and status stay
// readable so List filters without decrypting; everything that may echo
// message content is in the blob. Records of logRecordCompact and
// recordVersion also hold the start, and a body of EncodeLogBody's form.
func (s *logStore) encode(e *LogEntry) []byte {
	body := encodeSmallBody(e)
	blob, sealed := body, false
	if carriesContent(e) {
		blob, sealed = s.db.sealBlob(body, LogAAD(e.ID, e.Attempt, "entry"))
	}
	r := encoder{B: make([]byte, 0, 8+len(e.Flow)+len(blob))}
	r.Byte(logRecordSmall)
	var flags byte
	if sealed {
		flags |= flagSealed
	}
	r.Byte(flags)
	r.String(e.Flow)
	writeCoded(&r, logStatusCodes[:], e.Status)
	r.B = append(r.B, blob...)
	return r.B
}

// carriesContent reports whether an entry's body may hold message
// content, which a data key seals: an error or a trace (errors quote
// what failed), or a correlation id a caller chose. The body of any other
// entry — what a message that went well leaves at log level info — is the
// flow's version, the trigger and queue, the end, and ids Stride made:
// nothing of the message, like the flow, status and start that every
// record keeps readable. Left plain, it saves the seal's 28 bytes (nonce
// and tag) on most entries.
func carriesContent(e *LogEntry) bool {
	if e.Error != "" || len(e.Trace) > 0 {
		return true
	}
	if corr := e.CorrelationID; corr != "" && corr != e.ID {
		raw, err := hex.DecodeString(corr)
		return err != nil || hex.EncodeToString(raw) != corr
	}
	return false
}

// logStatusCodes are the statuses a logRecordSmall record stores as a
// one-byte code (0: the status follows as a string). Append only.
var logStatusCodes = [...]string{"", StatusCompleted, StatusFailed, StatusRetry, StatusEscalated, StatusDiscarded, StatusProcessing}

// logTriggerCodes are the triggers a small body stores as a one-byte
// code (0: the trigger follows as a string). Append only.
var logTriggerCodes = [...]string{"", "http", "queue", "timer", "call", "connection"}

// encodeSmallBody is EncodeLogBody's content, smaller: the flow version,
// the correlation id and the trace id as bytes when they are hex, the
// trigger as a code, the end as the duration since the start.
func encodeSmallBody(e *LogEntry) []byte {
	b := encoder{B: make([]byte, 0, 48+24*len(e.Trace))}
	hexOrString(&b, e.FlowVersion)
	writeCoded(&b, logTriggerCodes[:], e.Trigger)
	b.String(e.Queue)
	if e.End.IsZero() {
		b.Byte(0)
	} else {
		b.Byte(1)
		b.Varint(e.End.Sub(e.Start).Nanoseconds())
	}
	b.String(e.Error)
	b.Uvarint(uint64(e.TraceDropped))
	encodeTrace(&b, e.Trace)
	hexOrString(&b, storedCorrelation(e))
	tid, err := hex.DecodeString(e.TraceID)
	if err != nil || len(tid) != 16 {
		tid = nil
	}
	b.Bytes(tid)
	return b.B
}

// writeCoded writes v as its one-byte code in codes (whose code 0 is
// unused), or as 0 and the string when codes does not hold it.
func writeCoded(b *encoder, codes []string, v string) {
	if c := slices.Index(codes, v); c > 0 && c < 256 {
		b.Byte(byte(c))
		return
	}
	b.Byte(0)
	b.String(v)
}

// readCoded reads what writeCoded wrote; a code codes does not hold is
// corrupt.
func readCoded(d *decoder, codes []string) string {
	c := d.Byte()
	switch {
	case c == 0:
		return d.String()
	case int(c) < len(codes):
		return codes[c]
	}
	d.Fail()
	return ""
}

// storedCorrelation is the correlation id as a record stores it: ""
// when it is the entry's own id (most entries start their chain), which
// decoding gives back.
func storedCorrelation(e *LogEntry) string {
	if e.CorrelationID == e.ID {
		return ""
	}
	return e.CorrelationID
}

// hexOrString writes v as its bytes when it is lowercase hex (ids and
// versions nearly always are: half the size), else as it is: a flag
// byte, then the bytes.
func hexOrString(b *encoder, v string) {
	if raw, err := hex.DecodeString(v); err == nil && len(v) > 0 && hex.EncodeToString(raw) == v {
		b.Byte(1)
		b.Bytes(raw)
		return
	}
	b.Byte(0)
	b.String(v)
}

func readHexOrString(d *decoder) string {
	if d.Byte() == 1 {
		return hex.EncodeToString(d.Bytes())
	}
	return d.String()
}

// decodeSmallBody fills e from encodeSmallBody's bytes; e.Start and e.ID
// are set.
func decodeSmallBody(p []byte, e *LogEntry) error {
	d := decoder{B: p}
	e.FlowVersion = readHexOrString(&d)
	e.Trigger = readCoded(&d, logTriggerCodes[:])
	e.Queue = d.String()
	if d.Byte() == 1 {
		e.End = e.Start.Add(time.Duration(d.Varint()))
	}
	e.Error = d.String()
	e.TraceDropped = d.Int()
	e.Trace = decodeTrace(&d, logRecordCompact)
	e.CorrelationID = e.ID
	if corr := readHexOrString(&d); corr != "" {
		e.CorrelationID = corr
	}
	if tid := d.Bytes(); len(tid) == 16 {
		e.TraceID = hex.EncodeToString(tid)
	}
	return d.Err
}

// EncodeLogBody encodes what a log entry holds beside the fields a
// backend keeps readable for its indexes (id, attempt, flow, status,
// start): flow version, trigger, queue, end, error and the trace,
// compactly. Every backend seals it whole; DecodeLogBody reads it.
func EncodeLogBody(e *LogEntry) []byte {
	b := encoder{B: make([]byte, 0, 64+24*len(e.Trace))}
	b.String(e.FlowVersion)
	b.String(e.Trigger)
	b.String(e.Queue)
	b.Time(e.End)
	b.String(e.Error)
	b.Uvarint(uint64(e.TraceDropped))
	encodeTrace(&b, e.Trace)
	// Appended fields: entries written before them end here, and decode
	// with the defaults. The correlation id is stored only when it is
	// not the entry's own id (most entries start their chain), the trace
	// id as its 16 bytes.
	b.String(storedCorrelation(e))
	tid, err := hex.DecodeString(e.TraceID)
	if err != nil || len(tid) != 16 {
		tid = nil
	}
	b.Bytes(tid)
	return b.B
}

// DecodeLogBody fills e from EncodeLogBody's bytes.
func DecodeLogBody(p []byte, e *LogEntry) error {
	return decodeLogBody(p, e, logRecordCompact)
}

// decodeLogBody reads a body of a record of version (the plain trace of
// version 1 records, or the compact one).
func decodeLogBody(p []byte, e *LogEntry, version byte) error {
	d := decoder{B: p}
	e.FlowVersion = d.String()
	e.Trigger = d.String()
	e.Queue = d.String()
	e.End = d.Time()
	e.Error = d.String()
	e.TraceDropped = d.Int()
	e.Trace = decodeTrace(&d, version)
	e.CorrelationID = e.ID
	if d.Err == nil && len(d.B) > 0 {
		if corr := d.String(); corr != "" {
			e.CorrelationID = corr
		}
		if tid := d.Bytes(); len(tid) == 16 {
			e.TraceID = hex.EncodeToString(tid)
		}
	}
	return d.Err
}

// LogAAD is the additional data that binds a sealed part (role "entry"
// or "payload") to its log entry: a blob copied to another entry fails
// to open.
func LogAAD(id string, attempt int, role string) []byte {
	return []byte(id + "\x00" + strconv.Itoa(attempt) + "\x00" + role)
}

// Trace step flags of the compact encoding.
const (
	traceStepIsKind = 1 << iota // Step == Kind (an unnamed step): not stored
	traceOK                     // Outcome == "ok": not stored
	traceError                  // an Error follows
	traceKindCode               // the kind is a code of traceKinds, not its name (since issue 23)
)

// traceKinds are the step kinds a trace stores as a one-byte code
// (traceKindCode) instead of their names; a kind not listed is stored by
// name. Append only: a code's kind never changes, and a record written
// with a code this list does not hold is corrupt.
var traceKinds = [...]string{
	"route", "set", "filter", "request", "map", "call", "respond", "enqueue", "verify_signature",
	"idempotent", "split", "datastore_get", "datastore_put", "datastore_delete", "datastore_select",
	"log", "fail", "complete", "disconnect", "connection_refresh", "lock", "quota", "retry",
	"json_to_xml", "xml_to_json",
}

// traceKindOf returns kind's code in traceKinds.
func traceKindOf(kind string) (uint64, bool) {
	for i, k := range traceKinds {
		if k == kind {
			return uint64(i), true
		}
	}
	return 0, false
}

// encodeTrace writes a trace compactly, as most traces are: per step a
// flags uvarint, the kind, the name only when it is not the kind, the
// position as the length of the prefix it shares with the previous
// step's (the same file, usually) and the rest, the duration, the
// outcome only when it is not "ok", the error only when there is one.
// A typical http flow's trace takes 40% of the plain encoding. Since
// issue 23 the kinds of traceKinds are stored as a code (a step flag
// says so): traces written before read as they did.
func encodeTrace(b *encoder, trace []TraceEntry) {
	b.Uvarint(uint64(len(trace)))
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
		code, coded := traceKindOf(t.Kind)
		if coded {
			f |= traceKindCode
		}
		b.Uvarint(f)
		if coded {
			b.Uvarint(code)
		} else {
			b.String(t.Kind)
		}
		if f&traceStepIsKind == 0 {
			b.String(t.Step)
		}
		n := 0
		for n < len(prev) && n < len(t.At) && prev[n] == t.At[n] {
			n++
		}
		b.Uvarint(uint64(n))
		b.String(t.At[n:])
		prev = t.At
		b.Varint(t.DurationNS)
		if f&traceOK == 0 {
			b.String(t.Outcome)
		}
		if f&traceError != 0 {
			b.String(t.Error)
		}
	}
}

func decodeTrace(d *decoder, version byte) []TraceEntry {
	n := d.Uvarint()
	if d.Err == nil && n > uint64(len(d.B)) {
		d.Fail()
	}
	if d.Err != nil || n == 0 {
		return nil
	}
	trace := make([]TraceEntry, n)
	prev := ""
	for i := range trace {
		t := &trace[i]
		if version == recordVersion {
			t.Step = d.String()
			t.Kind = d.String()
			t.At = d.String()
			t.DurationNS = d.Varint()
			t.Outcome = d.String()
			t.Error = d.String()
			continue
		}
		f := d.Uvarint()
		if f&traceKindCode != 0 {
			code := d.Uvarint()
			if code >= uint64(len(traceKinds)) {
				d.Fail()
				return nil
			}
			t.Kind = traceKinds[code]
		} else {
			t.Kind = d.String()
		}
		t.Step = t.Kind
		if f&traceStepIsKind == 0 {
			t.Step = d.String()
		}
		shared := d.Uvarint()
		if shared > uint64(len(prev)) {
			d.Fail()
			return nil
		}
		t.At = prev[:shared] + d.String()
		prev = t.At
		t.DurationNS = d.Varint()
		t.Outcome = "ok"
		if f&traceOK == 0 {
			t.Outcome = d.String()
		}
		if f&traceError != 0 {
			t.Error = d.String()
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

// decodeLogHead reads the readable head of the record v stored under the
// primary key primary (whose start a logRecordSmall record does not
// repeat).
func decodeLogHead(v, primary []byte) (logHead, error) {
	d := decoder{B: v}
	var h logHead
	switch h.version = d.Byte(); h.version {
	case recordVersion, logRecordCompact, logRecordSmall:
	default:
		return h, ErrCorrupt
	}
	h.flags = d.Byte()
	h.flow = d.String()
	if h.version == logRecordSmall {
		h.status = readCoded(&d, logStatusCodes[:])
		if len(primary) < len(logByTime)+8 {
			return h, ErrCorrupt
		}
		h.start = record.NanosTime(int64(^binary.BigEndian.Uint64(primary[len(logByTime):])))
	} else {
		h.status = d.String()
		h.start = d.Time()
	}
	h.blob = d.B
	return h, d.Err
}

func (s *logStore) decode(id string, attempt int, h *logHead) (LogEntry, error) {
	e := LogEntry{ID: id, Attempt: attempt, Flow: h.flow, Status: h.status, Start: h.start}
	p, err := s.db.openBlob(h.blob, h.flags&flagSealed != 0, LogAAD(id, attempt, "entry"))
	if err != nil {
		return e, err
	}
	if h.version == logRecordSmall {
		return e, decodeSmallBody(p, &e)
	}
	return e, decodeLogBody(p, &e, h.version)
}

// parseSuffix splits <inverted start><id>\x00<attempt>.
func parseSuffix(s []byte) (id string, attempt int, ok bool) {
	if len(s) < 8+1+1+4 || s[len(s)-5] != 0 {
		return "", 0, false
	}
	return string(s[8 : len(s)-5]), int(binary.BigEndian.Uint32(s[len(s)-4:])), true
}
