package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Log is the message processing log: one entry per message and attempt,
// kept for Options.LogRetention and within Options.LogMaxBytes (the
// oldest entries go first); payloads are kept for
// Options.LogPayloadRetention.
type Log interface {
	// Record writes one entry: RecordBatch with one entry.
	Record(ctx context.Context, e LogEntry) error
	// RecordBatch writes entries in one badger write batch, without
	// reading anything first: an entry's keys are made from its Start,
	// ID and Attempt, which the writer knows. An entry replaces the one
	// of the same ID and Attempt written before (the last one written is
	// what Get and List show; a PROCESSING entry becomes COMPLETED). A
	// nil Payload keeps the attempt's payload written before. A zero
	// Start keeps the existing entry's start (or is now for a new one):
	// that is the one case that costs a read, made before the batch; the
	// runtime always sets Start. Invalid entries are left out and
	// reported in the error (errors.Join, ErrInvalid); the others are
	// written.
	RecordBatch(ctx context.Context, es []LogEntry) error
	// List returns entries newest first (by Start).
	List(ctx context.Context, f Filter) ([]LogEntry, error)
	// Get returns every attempt of message id, oldest attempt first, with
	// payloads; ErrNotFound when there is none.
	Get(ctx context.Context, id string) ([]LogEntry, error)
}

// Statuses of log entries. Flows may set custom ones.
const (
	StatusProcessing = "PROCESSING"
	StatusCompleted  = "COMPLETED"
	StatusFailed     = "FAILED"
	StatusRetry      = "RETRY"
	StatusEscalated  = "ESCALATED"
	StatusDiscarded  = "DISCARDED"
)

// LogEntry is one attempt at processing one message.
type LogEntry struct {
	ID          string
	Flow        string
	FlowVersion string
	Trigger     string
	// Attempt numbers the attempts of one message, from 1.
	Attempt int
	Status  string
	Start   time.Time
	End     time.Time
	Error   string
	Trace   []TraceEntry
	// TraceDropped counts steps left out of a trace that hit its cap.
	TraceDropped int
	// Payload is kept only for flows that trace payloads; List leaves it
	// out, Get includes it.
	Payload []byte
	// Queue is the queue the message came from, if any.
	Queue string
}

// TraceEntry is one step's run, as in the engine's trace (mirrored here so
// that the store does not depend on the engine).
type TraceEntry struct {
	Step       string
	Kind       string
	At         string // file:line
	DurationNS int64
	Outcome    string // ok, error, stopped
	Error      string
}

// Filter narrows List.
type Filter struct {
	// Flow keeps one flow's entries (an index makes this fast).
	Flow string
	// Status keeps entries of one status (case-insensitive).
	Status string
	// Limit caps the result; 0 or less means 100.
	Limit int
	// Before keeps entries that started before it: pass the Start of the
	// last entry of a page to get the next one.
	Before time.Time
}

// DefaultListLimit is List's limit when none is given.
const DefaultListLimit = 100

var (
	logByTime = []byte("l/t/")
	logByID   = []byte("l/i/")
	logByFlow = []byte("l/f/")
	logPay    = []byte("l/p/")
)

// logSuffix is <inverted start><id>\x00<attempt>: newest sorts first.
func logSuffix(start time.Time, id string, attempt int) []byte {
	b := make([]byte, 8, 8+len(id)+5)
	binary.BigEndian.PutUint64(b, ^uint64(start.UnixNano()))
	b = append(b, id...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint32(b, uint32(attempt))
}

func logIDKey(prefix []byte, id string, attempt int) []byte {
	b := append(bytes.Clone(prefix), id...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint32(b, uint32(attempt))
}

func logFlowPrefix(flow string) []byte {
	return append(append(bytes.Clone(logByFlow), flow...), 0)
}

func logAAD(id string, attempt int, role string) []byte {
	return []byte(id + "\x00" + strconv.Itoa(attempt) + "\x00" + role)
}

// logRecordCompact is the version of log records written since traces
// are stored compactly (see encodeTrace); records of recordVersion (1)
// are still read.
const logRecordCompact = 2

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

func (s *logStore) Record(ctx context.Context, e LogEntry) error {
	return s.RecordBatch(ctx, []LogEntry{e})
}

func validLogEntry(e *LogEntry) error {
	if err := validID("log entry", e.ID); err != nil {
		return fmt.Errorf("store: log record: %w", err)
	}
	switch {
	case e.Attempt < 0 || e.Attempt > math.MaxInt32:
		return fmt.Errorf("store: log record %s: attempt %d out of range: %w", e.ID, e.Attempt, ErrInvalid)
	case e.Status == "":
		return fmt.Errorf("store: log record %s: no status: %w", e.ID, ErrInvalid)
	case strings.IndexByte(e.Flow, 0) >= 0 || len(e.Flow) > maxIDLen:
		return fmt.Errorf("store: log record %s: flow name %.40q contains NUL or is too long: %w", e.ID, e.Flow, ErrInvalid)
	}
	return nil
}

func (s *logStore) RecordBatch(ctx context.Context, es []LogEntry) error {
	var errs []error
	valid := es
	for i := range es {
		if err := validLogEntry(&es[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		valid = make([]LogEntry, 0, len(es)-len(errs))
		for i := range es {
			if validLogEntry(&es[i]) == nil {
				valid = append(valid, es[i])
			}
		}
	}
	if len(valid) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		if valid, err = s.resolveStarts(ctx, valid); err != nil {
			errs = append(errs, fmt.Errorf("store: log record: %w", err))
		} else if err := s.write(valid); err != nil {
			errs = append(errs, fmt.Errorf("store: log record of %d entries (first %s attempt %d): %w", len(valid), valid[0].ID, valid[0].Attempt, err))
		}
	}
	return errors.Join(errs...)
}

// resolveStarts gives entries with a zero Start the start of the entry of
// the same ID and Attempt written before — earlier in the batch, or in the
// store (one read each) — or now. Entries that have a Start, as every
// entry of the runtime has, need no read; es is returned as it is when
// none is zero, and otherwise copied, never changed.
func (s *logStore) resolveStarts(ctx context.Context, es []LogEntry) ([]LogEntry, error) {
	zero := false
	for i := range es {
		if es[i].Start.IsZero() {
			zero = true
			break
		}
	}
	if !zero {
		return es, nil
	}
	es = slices.Clone(es)
	now := s.db.now()
	starts := map[string]time.Time{} // id\x00attempt → start, within the batch
	err := s.db.view(ctx, func(txn *badger.Txn) error {
		for i := range es {
			e := &es[i]
			k := string(logIDKey(nil, e.ID, e.Attempt))
			if !e.Start.IsZero() {
				starts[k] = e.Start
				continue
			}
			if st, ok := starts[k]; ok {
				e.Start = st
				continue
			}
			s.reads.Add(1)
			e.Start = now
			item, err := txn.Get(logIDKey(logByID, e.ID, e.Attempt))
			switch {
			case errors.Is(err, badger.ErrKeyNotFound):
			case err != nil:
				return err
			case live(item.ExpiresAt(), now):
				err := item.Value(func(primary []byte) error {
					if !bytes.HasPrefix(primary, logByTime) || len(primary) < len(logByTime)+8 {
						return ErrCorrupt
					}
					e.Start = time.Unix(0, int64(^binary.BigEndian.Uint64(primary[len(logByTime):])))
					return nil
				})
				if err != nil {
					return err
				}
			}
			starts[k] = e.Start
		}
		return nil
	})
	return es, err
}

// write puts every entry into one badger WriteBatch (which splits itself
// only if it outgrows a transaction) and reads nothing: a WriteBatch
// cannot read. Per entry it sets the primary record under its start, the
// by-id index pointing to it (replacing the pointer of an earlier write
// of the attempt), the by-flow index and the payload, if any. An earlier
// write of the attempt under another start leaves a stale primary that
// List skips (its by-id pointer no longer names it) and that retention
// removes.
func (s *logStore) write(es []LogEntry) error {
	s.db.closeMu.RLock()
	defer s.db.closeMu.RUnlock()
	if s.db.closed {
		return ErrClosed
	}
	now := s.db.now()
	exp := expiresAt(now.Add(s.db.retention))
	payExp := expiresAt(now.Add(min(s.payloadRetention, s.db.retention)))
	wb := s.db.bdb.NewWriteBatch()
	defer wb.Cancel()
	var written int64
	set := func(k, v []byte, exp uint64) error {
		written += int64(len(k) + len(v))
		ent := badger.NewEntry(k, v)
		ent.ExpiresAt = exp
		return wb.SetEntry(ent)
	}
	for i := range es {
		e := &es[i]
		suffix := logSuffix(e.Start, e.ID, e.Attempt)
		primary := append(bytes.Clone(logByTime), suffix...)
		if err := set(primary, s.encode(e), exp); err != nil {
			return err
		}
		if err := set(logIDKey(logByID, e.ID, e.Attempt), primary, exp); err != nil {
			return err
		}
		if e.Flow != "" {
			if err := set(append(logFlowPrefix(e.Flow), suffix...), nil, exp); err != nil {
				return err
			}
		}
		if e.Payload != nil {
			blob, sealed := s.db.sealBlob(e.Payload, logAAD(e.ID, e.Attempt, "payload"))
			var flags byte
			if sealed {
				flags = flagSealed
			}
			v := append([]byte{recordVersion, flags}, blob...)
			if err := set(logIDKey(logPay, e.ID, e.Attempt), v, payExp); err != nil {
				return err
			}
		}
	}
	if err := wb.Flush(); err != nil {
		if errors.Is(err, badger.ErrDBClosed) {
			return ErrClosed
		}
		return err
	}
	s.batches.Add(1)
	s.written(written)
	return nil
}

func (s *logStore) List(ctx context.Context, f Filter) ([]LogEntry, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	prefix := logByTime
	if f.Flow != "" {
		if strings.IndexByte(f.Flow, 0) >= 0 {
			return nil, fmt.Errorf("store: log list: flow name contains NUL: %w", ErrInvalid)
		}
		prefix = logFlowPrefix(f.Flow)
	}
	seek := prefix
	if !f.Before.IsZero() {
		inv := ^uint64(f.Before.UnixNano())
		if inv == math.MaxUint64 {
			return nil, nil
		}
		seek = binary.BigEndian.AppendUint64(bytes.Clone(prefix), inv+1)
	}
	now := s.db.now()
	var out []LogEntry
	err := s.db.view(ctx, func(txn *badger.Txn) error {
		io := iterOptions(prefix)
		it := txn.NewIterator(io)
		defer it.Close()
		n := 0
		for it.Seek(seek); it.ValidForPrefix(prefix) && len(out) < limit; it.Next() {
			if n++; n%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			item := it.Item()
			if !live(item.ExpiresAt(), now) {
				continue
			}
			suffix := item.Key()[len(prefix):]
			id, attempt, ok := parseSuffix(suffix)
			if !ok {
				continue
			}
			primary := item.Key()
			if f.Flow != "" {
				primary = append(bytes.Clone(logByTime), suffix...)
				var err error
				if item, err = txn.Get(primary); err != nil {
					if errors.Is(err, badger.ErrKeyNotFound) {
						continue
					}
					return err
				}
				if !live(item.ExpiresAt(), now) {
					continue
				}
			}
			err := item.Value(func(v []byte) error {
				h, err := decodeLogHead(v)
				if err != nil {
					return fmt.Errorf("log entry %s attempt %d: %w", id, attempt, err)
				}
				if f.Status != "" && !strings.EqualFold(f.Status, h.status) {
					return nil
				}
				if f.Flow != "" && h.flow != f.Flow {
					return nil // the attempt was written again for another flow
				}
				if current, err := s.current(txn, id, attempt, primary, now); err != nil || !current {
					return err
				}
				e, err := s.decode(id, attempt, &h)
				if err != nil {
					return fmt.Errorf("log entry %s attempt %d: %w", id, attempt, err)
				}
				out = append(out, e)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: log list: %w", err)
	}
	return out, nil
}

// current reports whether primary is the attempt's entry: whether the
// by-id pointer names it. Writes never read, so writing an attempt again
// under another start leaves the old primary behind; this check hides it.
func (s *logStore) current(txn *badger.Txn, id string, attempt int, primary []byte, now time.Time) (bool, error) {
	item, err := txn.Get(logIDKey(logByID, id, attempt))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil || !live(item.ExpiresAt(), now) {
		return false, err
	}
	same := false
	err = item.Value(func(v []byte) error {
		same = bytes.Equal(v, primary)
		return nil
	})
	return same, err
}

func (s *logStore) Get(ctx context.Context, id string) ([]LogEntry, error) {
	if err := validID("log entry", id); err != nil {
		return nil, fmt.Errorf("store: log get: %w", err)
	}
	prefix := append(append(bytes.Clone(logByID), id...), 0)
	now := s.db.now()
	var out []LogEntry
	err := s.db.view(ctx, func(txn *badger.Txn) error {
		io := iterOptions(prefix)
		it := txn.NewIterator(io)
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(prefix); it.Next() {
			ix := it.Item()
			if !live(ix.ExpiresAt(), now) || len(ix.Key()) != len(prefix)+4 {
				continue
			}
			attempt := int(binary.BigEndian.Uint32(ix.Key()[len(prefix):]))
			primary, err := ix.ValueCopy(nil)
			if err != nil {
				return err
			}
			item, err := txn.Get(primary)
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			var e LogEntry
			err = item.Value(func(v []byte) error {
				h, err := decodeLogHead(v)
				if err != nil {
					return err
				}
				e, err = s.decode(id, attempt, &h)
				return err
			})
			if err != nil {
				return fmt.Errorf("attempt %d: %w", attempt, err)
			}
			if pi, err := txn.Get(logIDKey(logPay, id, attempt)); err == nil && live(pi.ExpiresAt(), now) {
				err = pi.Value(func(v []byte) error {
					if len(v) < 2 || v[0] != recordVersion {
						return ErrCorrupt
					}
					p, err := s.db.openBlob(v[2:], v[1]&flagSealed != 0, logAAD(id, attempt, "payload"))
					if err != nil {
						return err
					}
					e.Payload = bytes.Clone(p)
					return nil
				})
				if err != nil {
					return fmt.Errorf("attempt %d payload: %w", attempt, err)
				}
			} else if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: log get %s: %w", id, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("store: log get %s: %w", id, ErrNotFound)
	}
	return out, nil
}
