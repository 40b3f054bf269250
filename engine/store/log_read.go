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
