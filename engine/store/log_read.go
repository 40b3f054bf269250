package store

// Reading the message log: List by time, flow and status, Get by id.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

func (s *logStore) List(ctx context.Context, f Filter) ([]LogEntry, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	if strings.IndexByte(f.Flow, 0) >= 0 {
		return nil, fmt.Errorf("store: log list: flow name contains NUL: %w", ErrInvalid)
	}
	before := uint64(0) // the inverted start to list from (0: the newest)
	if !f.Before.IsZero() {
		inv := ^uint64(f.Before.UnixNano())
		if inv == math.MaxUint64 {
			return nil, nil
		}
		before = inv + 1
	}
	l := logLister{s: s, f: f, limit: limit, now: s.db.now()}
	err := s.db.view(ctx, func(txn *badger.Txn) error {
		l.txn = txn
		if f.Flow == "" {
			return l.scan(ctx, logByTime, before, math.MaxUint64, nil)
		}
		// The flow's seconds, newest first, then the by-flow index that
		// logs written before the seconds index hold: their entries are
		// older than any entry the seconds index knows.
		if err := l.flowSeconds(ctx, before); err != nil || len(l.out) >= limit {
			return err
		}
		return l.scan(ctx, logFlowPrefix(f.Flow), max(before, l.oldest), math.MaxUint64, logByTime)
	})
	if err != nil {
		return nil, fmt.Errorf("store: log list: %w", err)
	}
	return l.out, nil
}

// logLister reads one List page.
type logLister struct {
	s      *logStore
	txn    *badger.Txn
	f      Filter
	limit  int
	now    time.Time
	out    []LogEntry
	n      int    // keys read, for the cancellation check
	oldest uint64 // flowSeconds: the inverted start just past the oldest second listed
}

// flowSeconds lists the flow's entries second by second from the seconds
// index, from the inverted start before.
func (l *logLister) flowSeconds(ctx context.Context, before uint64) error {
	prefix := logSecondsPrefix(l.f.Flow)
	it := l.txn.NewIterator(iterOptions(prefix))
	defer it.Close()
	// The second of before: its inverted second is the smallest that can
	// hold an entry at or after before (seconds sort newest first).
	seek := bytes.Clone(prefix)
	if before != 0 {
		seek = binary.BigEndian.AppendUint64(seek, ^uint64(secondOf(before)))
	}
	for it.Seek(seek); it.ValidForPrefix(prefix) && len(l.out) < l.limit; it.Next() {
		k := it.Item().Key()
		if len(k) != len(prefix)+8 || !live(it.Item().ExpiresAt(), l.now) {
			continue
		}
		sec := int64(^binary.BigEndian.Uint64(k[len(prefix):]))
		// The second's entries: inverted starts from its last
		// nanosecond to its first.
		from := ^uint64(sec*1e9 + 999_999_999)
		to := ^uint64(sec * 1e9)
		l.oldest = to + 1
		if err := l.scan(ctx, logByTime, max(from, before), to, nil); err != nil {
			return err
		}
	}
	return nil
}

// secondOf returns the unix second of an inverted start.
func secondOf(inv uint64) int64 {
	ns := int64(^inv)
	sec := ns / 1e9
	if ns < 0 && ns%1e9 != 0 {
		sec--
	}
	return sec
}

// scan lists the entries under prefix whose inverted start is from from
// to to (inclusive), in key order, until the page is full. With primary
// set, prefix is an index whose keys end in an entry's suffix, and the
// entry is read under primary.
func (l *logLister) scan(ctx context.Context, prefix []byte, from, to uint64, primary []byte) error {
	it := l.txn.NewIterator(iterOptions(prefix))
	defer it.Close()
	seek := binary.BigEndian.AppendUint64(bytes.Clone(prefix), from)
	if from == 0 {
		seek = prefix
	}
	for it.Seek(seek); it.ValidForPrefix(prefix) && len(l.out) < l.limit; it.Next() {
		if l.n++; l.n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		item := it.Item()
		suffix := item.Key()[len(prefix):]
		if len(suffix) < 8 || binary.BigEndian.Uint64(suffix) > to {
			break
		}
		if !live(item.ExpiresAt(), l.now) {
			continue
		}
		id, attempt, ok := parseSuffix(suffix)
		if !ok {
			continue
		}
		key := item.Key()
		if primary != nil {
			key = append(bytes.Clone(primary), suffix...)
			var err error
			if item, err = l.txn.Get(key); err != nil {
				if errors.Is(err, badger.ErrKeyNotFound) {
					continue
				}
				return err
			}
			if !live(item.ExpiresAt(), l.now) {
				continue
			}
		}
		if err := item.Value(func(v []byte) error { return l.take(v, id, attempt, key) }); err != nil {
			return err
		}
	}
	return nil
}

// take adds the entry whose primary record v is under key, if it passes
// the filter and is the attempt's current entry.
func (l *logLister) take(v []byte, id string, attempt int, key []byte) error {
	h, err := decodeLogHead(v, key)
	if err != nil {
		return fmt.Errorf("log entry %s attempt %d: %w", id, attempt, err)
	}
	if l.f.Status != "" && !strings.EqualFold(l.f.Status, h.status) {
		return nil
	}
	if l.f.Flow != "" && h.flow != l.f.Flow {
		return nil // another flow's entry in the second, or the attempt written again for another flow
	}
	if current, err := l.s.current(l.txn, id, attempt, key, l.now); err != nil || !current {
		return err
	}
	e, err := l.s.decode(id, attempt, &h)
	if err != nil {
		return fmt.Errorf("log entry %s attempt %d: %w", id, attempt, err)
	}
	l.out = append(l.out, e)
	return nil
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
		named, err := logPrimary(v, id, attempt)
		same = err == nil && bytes.Equal(named, primary)
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
			v, err := ix.ValueCopy(nil)
			if err != nil {
				return err
			}
			primary, err := logPrimary(v, id, attempt)
			if err != nil {
				continue // names no entry
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
				h, err := decodeLogHead(v, primary)
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
					p, err := s.db.openBlob(v[2:], v[1]&flagSealed != 0, LogAAD(id, attempt, "payload"))
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
