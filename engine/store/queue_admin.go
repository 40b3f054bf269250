package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// This file holds the dead-letter and listing operations: DeadLetters,
// Replay, FindDeadLetter, Stats and Names (see Queues for their contract).

func (s *queueStore) DeadLetters(ctx context.Context, queue string) ([]Message, error) {
	if err := checkQueue("dead letters", queue); err != nil {
		return nil, err
	}
	prefix := queueKindPrefix(queue, 'd')
	var out []Message
	err := s.db.view(ctx, func(txn *badger.Txn) error {
		io := iterOptions(prefix)
		it := txn.NewIterator(io)
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(prefix); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			id := string(it.Item().Key()[len(prefix):])
			err := it.Item().Value(func(v []byte) error {
				m, err := s.deadMessage(id, v)
				out = append(out, m)
				return err
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: dead letters %s: %w", queue, err)
	}
	return out, nil
}

// deadMessage decodes a dead letter. One whose content does not open is
// still listed (it may be replayed once the right key is back), with what
// could be read and the reason in LastError.
func (s *queueStore) deadMessage(id string, v []byte) (Message, error) {
	r, err := decodeQrec(v)
	if err != nil {
		return Message{ID: id, LastError: fmt.Sprintf("cannot read message: %v", err)}, nil
	}
	m, err := s.message(id, &r)
	if err != nil {
		m.Body, m.Headers, m.Meta = nil, nil, nil
		m.LastError = fmt.Sprintf("cannot read message: %v", err)
	}
	return m, nil
}

func (s *queueStore) Replay(ctx context.Context, queue, id string) error {
	if err := checkQueueID("replay", queue, id); err != nil {
		return err
	}
	dkey := queueKey(queue, 'd', id)
	var r qrec
	err := s.db.update(ctx, func(txn *badger.Txn) error {
		item, err := txn.Get(dkey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		if r, err = decodeQrec(v); err != nil {
			return err
		}
		r.prior, r.attempts, r.deliveries = r.prior+r.attempts, 0, 0
		r.notBefore, r.leaseUntil = time.Time{}, time.Time{}
		s.setError(&r, id, "")
		if err := txn.Delete(dkey); err != nil {
			return err
		}
		return txn.Set(queueKey(queue, 'm', id), r.encode())
	})
	if err != nil {
		return fmt.Errorf("store: replay %s/%s: %w", queue, id, err)
	}
	q := s.get(queue)
	q.mu.Lock()
	if q.byID[id] == nil {
		q.insert(&qent{id: id, key: r.key, enqueued: r.enqueued})
	}
	q.dead--
	q.signal()
	q.mu.Unlock()
	if err := s.db.durable(); err != nil {
		return fmt.Errorf("store: replay %s/%s: replayed but not synced: %w", queue, id, err)
	}
	return nil
}

func (s *queueStore) FindDeadLetter(ctx context.Context, id string) (string, Message, error) {
	if err := validID("message", id); err != nil {
		return "", Message{}, fmt.Errorf("store: find dead letter: %w", err)
	}
	names, err := s.Names(ctx)
	if err != nil {
		return "", Message{}, err
	}
	for _, name := range names {
		var m Message
		found := false
		err := s.db.view(ctx, func(txn *badger.Txn) error {
			item, err := txn.Get(queueKey(name, 'd', id))
			if errors.Is(err, badger.ErrKeyNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			found = true
			return item.Value(func(v []byte) error {
				m, err = s.deadMessage(id, v)
				return err
			})
		})
		if err != nil {
			return "", Message{}, fmt.Errorf("store: find dead letter %s: %w", id, err)
		}
		if found {
			return name, m, nil
		}
	}
	return "", Message{}, fmt.Errorf("store: find dead letter %s: no queue holds it: %w", id, ErrNotFound)
}

func (s *queueStore) Stats(ctx context.Context, queue string) (QueueStats, error) {
	if err := checkQueue("stats", queue); err != nil {
		return QueueStats{}, err
	}
	if err := ctx.Err(); err != nil {
		return QueueStats{}, err
	}
	var st QueueStats
	q := s.lookup(queue)
	if q == nil {
		return st, nil
	}
	now := s.db.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	st.Dead = q.dead
	for el := q.order.Front(); el != nil; el = el.Next() {
		e := el.Value.(*qent)
		switch {
		case e.pending:
			continue
		case e.leased(now):
			st.InFlight++
		case e.notBefore.After(now):
			st.Delayed++
		default:
			st.Ready++
		}
		if st.OldestEnqueued.IsZero() || e.enqueued.Before(st.OldestEnqueued) {
			st.OldestEnqueued = e.enqueued
		}
	}
	return st, nil
}

func (s *queueStore) Names(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	names := make([]string, 0, len(s.qs))
	for name := range s.qs {
		names = append(names, name)
	}
	s.mu.Unlock()
	sort.Strings(names)
	return names, nil
}

// DeadLetterPurger is implemented by queues whose dead letters can be
// deleted for good (the badger queues; the admin API answers 501 for the
// others).
type DeadLetterPurger interface {
	// PurgeDeadLetter deletes a queue's dead letter; ErrNotFound when the
	// queue has no dead letter with that id.
	PurgeDeadLetter(ctx context.Context, queue, id string) error
}

// PurgeDeadLetter implements DeadLetterPurger.
func (s *queueStore) PurgeDeadLetter(ctx context.Context, queue, id string) error {
	if err := checkQueueID("purge", queue, id); err != nil {
		return err
	}
	dkey := queueKey(queue, 'd', id)
	err := s.db.update(ctx, func(txn *badger.Txn) error {
		if _, err := txn.Get(dkey); errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		return txn.Delete(dkey)
	})
	if err != nil {
		return fmt.Errorf("store: purge %s/%s: %w", queue, id, err)
	}
	q := s.get(queue)
	q.mu.Lock()
	q.dead--
	q.signal()
	q.mu.Unlock()
	if err := s.db.durable(); err != nil {
		return fmt.Errorf("store: purge %s/%s: purged but not synced: %w", queue, id, err)
	}
	return nil
}
