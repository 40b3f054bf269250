package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// This file holds Enqueue and Lease (see Queues for their contract).

func (s *queueStore) Enqueue(ctx context.Context, queue string, m Message) (string, error) {
	if err := checkQueue("enqueue", queue); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	q := s.get(queue)
	now := s.db.now()

	// Take the id and a place in the index together, so the index stays in
	// id order; the pending entry holds back later messages of its key
	// until the write commits (or fails).
	q.mu.Lock()
	id := s.ids.Next(s.db.now())
	ent := &qent{id: id, key: m.Key, enqueued: now, notBefore: m.NotBefore, pending: true}
	q.insert(ent)
	q.mu.Unlock()

	content, sealed := s.db.sealBlob(encodeContent(&m), bodyAAD(id))
	r := qrec{key: m.Key, enqueued: now, notBefore: m.NotBefore, content: content}
	if sealed {
		r.flags |= flagSealed
	}
	err := s.db.update(ctx, func(txn *badger.Txn) error {
		return txn.Set(queueKey(queue, 'm', id), r.encode())
	})

	q.mu.Lock()
	if err != nil {
		q.remove(id)
	} else {
		ent.pending = false
	}
	q.signal()
	q.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("store: enqueue %s: %w", queue, err)
	}
	// A failed sync leaves the message committed (it will be processed);
	// the caller, told of the error, may enqueue it again: at least once.
	if err := s.db.durable(); err != nil {
		return "", fmt.Errorf("store: enqueue %s: message %s written but not synced: %w", queue, id, err)
	}
	return id, nil
}

func (s *queueStore) Lease(ctx context.Context, queue string, max int, leaseFor time.Duration) ([]Message, error) {
	if err := checkQueue("lease", queue); err != nil {
		return nil, err
	}
	if max <= 0 || leaseFor <= 0 {
		return nil, fmt.Errorf("store: lease %s: max (%d) and lease duration (%v) must be positive: %w", queue, max, leaseFor, ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q := s.lookup(queue)
	if q == nil {
		return nil, nil
	}
	now := s.db.now()
	until := now.Add(leaseFor)

	type pick struct {
		e         *qent
		prevUntil time.Time
		prevHold  *qent
	}
	var picks []pick
	q.mu.Lock()
	var blocked map[string]bool // keys held back by an earlier message in this scan
	block := func(key string) {
		if key == "" {
			return
		}
		if blocked == nil {
			blocked = make(map[string]bool)
		}
		blocked[key] = true
	}
	for el := q.order.Front(); el != nil && len(picks) < max; el = el.Next() {
		e := el.Value.(*qent)
		if e.key != "" {
			if blocked[e.key] {
				continue
			}
			// A replayed message sits before later ones of its key that
			// may be in flight: the key's holder blocks it.
			if h := q.holder[e.key]; h != nil && h != e && h.leased(now) {
				continue
			}
		}
		if e.pending || e.leased(now) || e.notBefore.After(now) {
			block(e.key)
			continue
		}
		p := pick{e: e, prevUntil: e.leaseUntil}
		e.leaseUntil = until
		if e.key != "" {
			p.prevHold = q.holder[e.key]
			q.holder[e.key] = e
		}
		block(e.key)
		picks = append(picks, p)
	}
	q.mu.Unlock()
	if len(picks) == 0 {
		return nil, nil
	}

	// Persist the leases. The transaction reads every record, so an Ack or
	// DeadLetter committed meanwhile makes it conflict and re-run, and then
	// the message is simply gone.
	var out []Message
	var gone, broken []string
	var brokenErr []error
	err := s.db.update(ctx, func(txn *badger.Txn) error {
		out, gone, broken, brokenErr = out[:0], gone[:0], broken[:0], brokenErr[:0]
		for _, p := range picks {
			id := p.e.id
			key := queueKey(queue, 'm', id)
			item, err := txn.Get(key)
			if errors.Is(err, badger.ErrKeyNotFound) {
				gone = append(gone, id)
				continue
			}
			if err != nil {
				return err
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			r, err := decodeQrec(v)
			headerOK := err == nil
			var m Message
			if err == nil {
				m, err = s.message(id, &r)
			}
			if err != nil {
				// A message that cannot be read would block its queue or
				// key forever: it becomes a dead letter, its content kept
				// as it is (a record whose header is unreadable, raw).
				dead := v
				if headerOK {
					r.leaseUntil = time.Time{}
					s.setError(&r, id, fmt.Sprintf("cannot read message: %v", err))
					dead = r.encode()
				}
				if err := txn.Delete(key); err != nil {
					return err
				}
				if err := txn.Set(queueKey(queue, 'd', id), dead); err != nil {
					return err
				}
				broken, brokenErr = append(broken, id), append(brokenErr, err)
				continue
			}
			r.leaseUntil = until
			r.deliveries++
			m.LeaseUntil, m.Deliveries = until, r.deliveries
			if err := txn.Set(key, r.encode()); err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})

	q.mu.Lock()
	defer q.mu.Unlock()
	if err != nil {
		for i := len(picks) - 1; i >= 0; i-- { // undo, latest first
			p := picks[i]
			if q.byID[p.e.id] == nil {
				continue
			}
			p.e.leaseUntil = p.prevUntil
			if p.e.key != "" && q.holder[p.e.key] == p.e {
				if p.prevHold != nil {
					q.holder[p.e.key] = p.prevHold
				} else {
					delete(q.holder, p.e.key)
				}
			}
		}
		return nil, fmt.Errorf("store: lease %s: %w", queue, err)
	}
	for _, id := range gone {
		q.remove(id)
	}
	for i, id := range broken {
		q.remove(id)
		q.dead++
		s.db.log.Error("store: queued message moved to dead letters", "queue", queue, "id", id, "err", brokenErr[i])
	}
	if len(gone)+len(broken) > 0 {
		q.signal()
	}
	return out, nil
}
