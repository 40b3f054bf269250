package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// This file holds the settling of a leased message: Ack, Retry and
// DeadLetter (see Queues for their contract).

// change applies fn to the record of queue/id in one transaction.
func (s *queueStore) change(ctx context.Context, op, queue, id string, fn func(txn *badger.Txn, key []byte, r *qrec) error) error {
	if err := checkQueueID(op, queue, id); err != nil {
		return err
	}
	key := queueKey(queue, 'm', id)
	err := s.db.update(ctx, func(txn *badger.Txn) error {
		item, err := txn.Get(key)
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
		r, err := decodeQrec(v)
		if err != nil {
			return err
		}
		return fn(txn, key, &r)
	})
	if err != nil {
		return fmt.Errorf("store: %s %s/%s: %w", op, queue, id, err)
	}
	return nil
}

func (s *queueStore) Ack(ctx context.Context, queue, id string) error {
	err := s.change(ctx, "ack", queue, id, func(txn *badger.Txn, key []byte, _ *qrec) error {
		return txn.Delete(key)
	})
	if err != nil {
		return err
	}
	if q := s.lookup(queue); q != nil {
		q.mu.Lock()
		q.remove(id)
		q.signal() // the next message of its key may be ready
		q.mu.Unlock()
	}
	return nil
}

func (s *queueStore) Retry(ctx context.Context, queue, id string, notBefore time.Time, errText string) error {
	err := s.change(ctx, "retry", queue, id, func(txn *badger.Txn, key []byte, r *qrec) error {
		r.attempts++
		r.notBefore = notBefore
		r.leaseUntil = time.Time{}
		s.setError(r, id, errText)
		return txn.Set(key, r.encode())
	})
	if err != nil {
		return err
	}
	if q := s.lookup(queue); q != nil {
		q.mu.Lock()
		if el := q.byID[id]; el != nil {
			e := el.Value.(*qent)
			e.notBefore = notBefore
			e.leaseUntil = time.Time{}
			if e.key != "" && q.holder[e.key] == e {
				delete(q.holder, e.key)
			}
		}
		q.signal()
		q.mu.Unlock()
	}
	return nil
}

func (s *queueStore) DeadLetter(ctx context.Context, queue, id, errText string) error {
	err := s.change(ctx, "dead-letter", queue, id, func(txn *badger.Txn, key []byte, r *qrec) error {
		r.leaseUntil = time.Time{}
		r.attempts++ // the attempt that failed for good counts too
		s.setError(r, id, errText)
		if err := txn.Delete(key); err != nil {
			return err
		}
		return txn.Set(queueKey(queue, 'd', id), r.encode())
	})
	if err != nil {
		return err
	}
	q := s.get(queue)
	q.mu.Lock()
	q.remove(id)
	q.dead++
	q.signal()
	q.mu.Unlock()
	return nil
}

func (s *queueStore) Release(ctx context.Context, queue, id string) error {
	err := s.change(ctx, "release", queue, id, func(txn *badger.Txn, key []byte, r *qrec) error {
		r.leaseUntil = time.Time{}
		return txn.Set(key, r.encode())
	})
	if err != nil {
		return err
	}
	if q := s.lookup(queue); q != nil {
		q.mu.Lock()
		if el := q.byID[id]; el != nil {
			e := el.Value.(*qent)
			e.leaseUntil = time.Time{}
			if e.key != "" && q.holder[e.key] == e {
				delete(q.holder, e.key)
			}
		}
		q.signal()
		q.mu.Unlock()
	}
	return nil
}
