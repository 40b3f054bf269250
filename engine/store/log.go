package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
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
	// CorrelationID ties the entries of one inbound request's messages
	// together (the webhook's and its queued consumer's); it is the ID
	// when the message started the chain.
	CorrelationID string
	// TraceID is the OpenTelemetry trace id (32 hex digits) of the run,
	// or "" when it had none.
	TraceID string
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
	logByFlow = []byte("l/f/") // written until 2026-12-05, still read (see logFlowSeconds)
	logPay    = []byte("l/p/")
	// logFlowSeconds indexes the seconds in which a flow's entries
	// started: l/s/<flow>\x00<inverted unix second>, no value. A flow's
	// entries are found by scanning the by-time keys of its seconds. It
	// replaced the by-flow index, a key per entry (a third of the log's
	// keys and ~60 bytes an entry), with a key per flow and second.
	logFlowSeconds = []byte("l/s/")
)

// logSuffix is <inverted start><id>\x00<attempt>: newest sorts first.
func logSuffix(start time.Time, id string, attempt int) []byte {
	b := make([]byte, 8, 8+len(id)+5)
	binary.BigEndian.PutUint64(b, ^uint64(start.UnixNano()))
	b = append(b, id...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint32(b, uint32(attempt))
}

// The by-id index's value names the attempt's primary record. Since
// issue 23 it is the primary's 8-byte inverted start alone (the rest of
// the primary key is the index key's id and attempt); entries written
// before hold the whole primary key, "l/t/..." (12 bytes or more), and
// are read as they are.
func logPointer(primary []byte) []byte {
	return primary[len(logByTime) : len(logByTime)+8]
}

// logPrimary is the primary key the by-id value v of (id, attempt) names.
func logPrimary(v []byte, id string, attempt int) ([]byte, error) {
	switch {
	case len(v) == 8:
		b := make([]byte, 0, len(logByTime)+8+len(id)+5)
		b = append(append(b, logByTime...), v...)
		b = append(append(b, id...), 0)
		return binary.BigEndian.AppendUint32(b, uint32(attempt)), nil
	case bytes.HasPrefix(v, logByTime) && len(v) >= len(logByTime)+8:
		return v, nil
	}
	return nil, ErrCorrupt
}

func logIDKey(prefix []byte, id string, attempt int) []byte {
	b := append(bytes.Clone(prefix), id...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint32(b, uint32(attempt))
}

func logFlowPrefix(flow string) []byte {
	return append(append(bytes.Clone(logByFlow), flow...), 0)
}

// logSecondsPrefix is l/s/<flow>\x00.
func logSecondsPrefix(flow string) []byte {
	return append(append(bytes.Clone(logFlowSeconds), flow...), 0)
}

// logSecondKey is the seconds index key of flow's entries that started
// in unix second sec.
func logSecondKey(flow string, sec int64) []byte {
	return binary.BigEndian.AppendUint64(logSecondsPrefix(flow), ^uint64(sec))
}

// flowSeconds remembers, per flow, the second index key written last and
// when it expires, so that a busy flow writes its key once a second, not
// once an entry. It is a cache: forgetting it (a restart) only writes a
// key again.
type flowSeconds struct {
	mu   sync.Mutex
	last map[string]flowSecond
}

type flowSecond struct {
	sec int64  // unix second
	exp uint64 // the key's expiry as written
}

// need reports whether the seconds key of (flow, sec) must be written
// for an entry expiring at exp: it was not written by this process, or
// it expires before the entry (an entry written long after its start).
func (f *flowSeconds) need(flow string, sec int64, exp uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l, ok := f.last[flow]; ok && l.sec == sec && l.exp >= exp {
		return false
	}
	if f.last == nil {
		f.last = map[string]flowSecond{}
	}
	f.last[flow] = flowSecond{sec, exp + 60} // a minute's margin: rewritten at most once a minute
	return true
}

// forget drops what need remembered, after a write batch failed.
func (f *flowSeconds) forget() {
	f.mu.Lock()
	clear(f.last)
	f.mu.Unlock()
}

// logRecordCompact is the version of log records written since traces
// are stored compactly (see encodeTrace); records of recordVersion (1)
// are still read.
const logRecordCompact = 2

// logRecordSmall is the version of log records written since 2026-12-05
// (see logStore.encode): no start (the key has it), codes for common
// statuses and triggers, ids as bytes, the end as a duration.
const logRecordSmall = 3

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
				err := item.Value(func(v []byte) error {
					primary, err := logPrimary(v, e.ID, e.Attempt)
					if err != nil {
						return err
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
		if err := set(logIDKey(logByID, e.ID, e.Attempt), logPointer(primary), exp); err != nil {
			return err
		}
		if e.Flow != "" && s.seconds.need(e.Flow, e.Start.Unix(), exp) {
			// Expires a minute after the entries it indexes (see need).
			if err := set(logSecondKey(e.Flow, e.Start.Unix()), nil, exp+60); err != nil {
				return err
			}
		}
		if e.Payload != nil {
			blob, sealed := s.db.sealBlob(e.Payload, LogAAD(e.ID, e.Attempt, "payload"))
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
		s.seconds.forget() // the keys it remembers may not be there
		if errors.Is(err, badger.ErrDBClosed) {
			return ErrClosed
		}
		return err
	}
	s.batches.Add(1)
	s.written(written)
	return nil
}
