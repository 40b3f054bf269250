package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Log is the message processing log: one entry per message and attempt,
// kept for Options.LogRetention.
type Log interface {
	// Record writes e, replacing the entry of the same ID and Attempt (a
	// PROCESSING entry becomes COMPLETED). A zero Start keeps the existing
	// entry's start (or is now for a new one); a nil Payload keeps the
	// existing payload.
	Record(ctx context.Context, e LogEntry) error
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

type logStore struct{ db *DB }

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

// log record: version, flags, flow, status, start, body blob (sealed when
// flagSealed). Flow and status stay readable so List filters without
// decrypting; everything that may echo message content is in the blob.
func (s *logStore) encode(e *LogEntry) []byte {
	var b encoder
	b.string(e.FlowVersion)
	b.string(e.Trigger)
	b.string(e.Queue)
	b.time(e.End)
	b.string(e.Error)
	b.uvarint(uint64(e.TraceDropped))
	b.uvarint(uint64(len(e.Trace)))
	for _, t := range e.Trace {
		b.string(t.Step)
		b.string(t.Kind)
		b.string(t.At)
		b.varint(t.DurationNS)
		b.string(t.Outcome)
		b.string(t.Error)
	}
	blob, sealed := s.db.sealBlob(b.b, logAAD(e.ID, e.Attempt, "entry"))
	r := encoder{b: make([]byte, 0, 24+len(e.Flow)+len(e.Status)+len(blob))}
	r.byte(recordVersion)
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

// logHead is the readable part of a log record.
type logHead struct {
	flags  byte
	flow   string
	status string
	start  time.Time
	blob   []byte // aliases the record
}

func decodeLogHead(v []byte) (logHead, error) {
	d := decoder{b: v}
	var h logHead
	if d.byte() != recordVersion {
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
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.fail()
	}
	if d.err == nil && n > 0 {
		e.Trace = make([]TraceEntry, n)
		for i := range e.Trace {
			t := &e.Trace[i]
			t.Step = d.string()
			t.Kind = d.string()
			t.At = d.string()
			t.DurationNS = d.varint()
			t.Outcome = d.string()
			t.Error = d.string()
		}
	}
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
	now := s.db.now()
	exp := expiresAt(now.Add(s.db.retention))
	idKey := logIDKey(logByID, e.ID, e.Attempt)
	err := s.db.update(ctx, func(txn *badger.Txn) error {
		x := e // the closure may run more than once
		item, err := txn.Get(idKey)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			if x.Start.IsZero() {
				x.Start = now
			}
		case err != nil:
			return err
		default:
			old, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if !bytes.HasPrefix(old, logByTime) || len(old) < len(logByTime)+8 {
				return ErrCorrupt
			}
			suffix := old[len(logByTime):]
			if x.Start.IsZero() {
				x.Start = time.Unix(0, int64(^binary.BigEndian.Uint64(suffix[:8])))
			}
			if !bytes.Equal(suffix, logSuffix(x.Start, x.ID, x.Attempt)) {
				// The start changed: drop the old entry and its flow index.
				if oi, err := txn.Get(old); err == nil {
					var oldFlow string
					oi.Value(func(v []byte) error {
						h, err := decodeLogHead(v)
						oldFlow = h.flow
						return err
					})
					if oldFlow != "" {
						if err := txn.Delete(append(logFlowPrefix(oldFlow), suffix...)); err != nil {
							return err
						}
					}
				}
				if err := txn.Delete(old); err != nil {
					return err
				}
			}
		}
		suffix := logSuffix(x.Start, x.ID, x.Attempt)
		primary := append(bytes.Clone(logByTime), suffix...)
		set := func(k, v []byte) error {
			ent := badger.NewEntry(k, v)
			ent.ExpiresAt = exp
			return txn.SetEntry(ent)
		}
		if err := set(primary, s.encode(&x)); err != nil {
			return err
		}
		if err := set(idKey, primary); err != nil {
			return err
		}
		if x.Flow != "" {
			if err := set(append(logFlowPrefix(x.Flow), suffix...), nil); err != nil {
				return err
			}
		}
		if x.Payload != nil {
			blob, sealed := s.db.sealBlob(x.Payload, logAAD(x.ID, x.Attempt, "payload"))
			var flags byte
			if sealed {
				flags = flagSealed
			}
			v := append([]byte{recordVersion, flags}, blob...)
			if err := set(logIDKey(logPay, x.ID, x.Attempt), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: log record %s attempt %d: %w", e.ID, e.Attempt, err)
	}
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
			if f.Flow != "" {
				var err error
				if item, err = txn.Get(append(bytes.Clone(logByTime), suffix...)); err != nil {
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
