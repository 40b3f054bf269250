package store

import (
	"bytes"
	"container/list"
	"fmt"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// This file holds queueStore and the in-memory index of each queue:
// loading it at Open, waking waiters at Close and by Notify, issuing ids,
// and checking queue names and ids.

// queueStore implements Queues on badger. The in-memory index of each queue
// (order, keys, leases) is a cache: it is rebuilt from badger at Open, and
// every change is committed to badger before the cache reflects it (except
// a lease, marked first so that no other consumer takes the message while
// the lease commits).
type queueStore struct {
	db *DB

	mu     sync.Mutex
	qs     map[string]*queue
	closed bool

	ids MessageIDs
}

// queue is one queue's in-memory index.
type queue struct {
	name string

	mu     sync.Mutex
	order  list.List                // *qent, ascending id (FIFO)
	byID   map[string]*list.Element // id → element of order
	holder map[string]*qent         // ordering key → message last leased with it
	dead   int
	wake   chan struct{} // closed and replaced by signal
	closed bool          // the DB closed: wake stays closed
}

// qent is a live message in the index.
type qent struct {
	id         string
	key        string
	enqueued   time.Time
	notBefore  time.Time
	leaseUntil time.Time // zero when not leased
	pending    bool      // being enqueued: not leasable, blocks its key
}

func (e *qent) leased(now time.Time) bool { return now.Before(e.leaseUntil) }

func newQueueStore(db *DB) *queueStore {
	return &queueStore{db: db, qs: make(map[string]*queue)}
}

// get returns the index of a queue, creating it. name must be valid.
func (s *queueStore) get(name string) *queue {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.qs[name]
	if q == nil {
		q = &queue{name: name, byID: make(map[string]*list.Element), holder: make(map[string]*qent), wake: make(chan struct{})}
		if s.closed {
			close(q.wake)
			q.closed = true
		}
		s.qs[name] = q
	}
	return q
}

// lookup returns the index of an existing queue, or nil.
func (s *queueStore) lookup(name string) *queue {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.qs[name]
}

// signal wakes everyone waiting on Notify. q.mu must be held.
func (q *queue) signal() {
	if q.closed {
		return
	}
	close(q.wake)
	q.wake = make(chan struct{})
}

// insert adds e at its place by id, searching from the back: enqueues
// append, only Replay and load insert elsewhere. q.mu must be held.
func (q *queue) insert(e *qent) {
	for el := q.order.Back(); el != nil; el = el.Prev() {
		if el.Value.(*qent).id < e.id {
			q.byID[e.id] = q.order.InsertAfter(e, el)
			return
		}
	}
	q.byID[e.id] = q.order.PushFront(e)
}

// remove drops id from the index. q.mu must be held.
func (q *queue) remove(id string) {
	el := q.byID[id]
	if el == nil {
		return
	}
	e := el.Value.(*qent)
	if e.key != "" && q.holder[e.key] == e {
		delete(q.holder, e.key)
	}
	q.order.Remove(el)
	delete(q.byID, id)
}

// load rebuilds every queue's index from badger. Leases of the previous
// process are over: its messages are ready again.
func (s *queueStore) load() error {
	return s.db.bdb.View(func(txn *badger.Txn) error {
		io := iterOptions(queueArea)
		it := txn.NewIterator(io)
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(queueArea); it.Next() {
			item := it.Item()
			k := item.Key()[len(queueArea):]
			i := bytes.IndexByte(k, 0)
			if i < 0 || len(k) < i+3 || k[i+2] != '/' {
				s.db.log.Warn("store: skipping malformed queue key", "key", fmt.Sprintf("%q", item.Key()))
				continue
			}
			name, kind, id := string(k[:i]), k[i+1], string(k[i+3:])
			q := s.get(name)
			s.ids.Seen(id)
			switch kind {
			case 'd':
				q.dead++
			case 'm':
				err := item.Value(func(v []byte) error {
					r, err := decodeQrec(v)
					// An unreadable record is indexed all the same: the
					// first Lease to reach it moves it to the dead letters.
					q.insert(&qent{id: id, key: r.key, enqueued: r.enqueued, notBefore: r.notBefore})
					return err
				})
				if err != nil {
					s.db.log.Error("store: unreadable queued message", "queue", name, "id", id, "err", err)
				}
			}
		}
		return nil
	})
}

func (s *queueStore) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, q := range s.qs {
		q.mu.Lock()
		q.signal()
		q.closed = true // wake stays closed: waiters after Close return at once
		close(q.wake)
		q.mu.Unlock()
	}
}

func checkQueue(op, queue string) error {
	if err := ValidQueueName(queue); err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	return nil
}

func checkQueueID(op, queue, id string) error {
	if err := checkQueue(op, queue); err != nil {
		return err
	}
	if err := validID("message", id); err != nil {
		return fmt.Errorf("store: %s %s: %w", op, queue, err)
	}
	return nil
}

func (s *queueStore) Notify(queue string) <-chan struct{} {
	if ValidQueueName(queue) != nil {
		return nil // never ready; Lease reports the bad name
	}
	q := s.get(queue)
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.wake
}
