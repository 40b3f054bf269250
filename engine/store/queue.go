package store

import (
	"bytes"
	"container/list"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Queues are durable FIFO queues with at-least-once delivery and per-key
// ordering.
//
// A consumer loop looks like:
//
//	for {
//		wake := q.Notify(name)          // before Lease: no lost wake-up
//		msgs, err := q.Lease(ctx, name, n, leaseFor)
//		... process each, then Ack, Retry or DeadLetter it ...
//		if len(msgs) == 0 {
//			select { case <-wake: case <-time.After(poll): case <-ctx.Done(): }
//		}
//	}
//
// The poll interval only matters for delayed messages becoming due and for
// expired leases; new, retried and released messages signal Notify.
//
// Ack, Retry and DeadLetter act on the message whatever its lease: a
// consumer that outlives its lease (processing took longer than leaseFor)
// can race the consumer that received the message next. The runtime must
// choose leaseFor longer than a flow may run.
type Queues interface {
	// Enqueue writes m to queue and returns its id once the write is
	// durable (see Durability for what survives what). The id is
	// assigned: ids sort by enqueue time, which is the queue's FIFO order.
	// m.ID, Attempts, Deliveries, LeaseUntil and LastError are ignored.
	Enqueue(ctx context.Context, queue string, m Message) (id string, err error)
	// Lease returns up to max ready messages in FIFO order and marks them
	// in flight until now+leaseFor. A message is ready when it is due
	// (NotBefore ≤ now) and not in flight. A message with a Key is not
	// returned while another message of that Key is in flight, or while an
	// earlier one of that Key is not yet due: messages of one key run one at
	// a time and in order. An expired lease makes its message ready again,
	// and opening the database ends all leases of the previous process.
	Lease(ctx context.Context, queue string, max int, leaseFor time.Duration) ([]Message, error)
	// Ack deletes a processed message.
	Ack(ctx context.Context, queue, id string) error
	// Retry releases a message for another attempt at notBefore: Attempts
	// grows by one, LastError is errText, and the message keeps its place
	// (later messages of its key wait for it).
	Retry(ctx context.Context, queue, id string, notBefore time.Time, errText string) error
	// DeadLetter moves a message to the queue's dead letters (ESCALATED)
	// with errText as LastError, counting the failed attempt; later
	// messages of its key proceed.
	DeadLetter(ctx context.Context, queue, id, errText string) error
	// DeadLetters lists a queue's dead letters, oldest first.
	DeadLetters(ctx context.Context, queue string) ([]Message, error)
	// Replay moves a dead letter back to its queue, at its original place,
	// with Attempts and Deliveries reset.
	Replay(ctx context.Context, queue, id string) error
	// FindDeadLetter finds a dead letter by id in any queue (for
	// `stride messages replay ID`).
	FindDeadLetter(ctx context.Context, id string) (queue string, m Message, err error)
	// Stats counts a queue's messages for metrics.
	Stats(ctx context.Context, queue string) (QueueStats, error)
	// Names lists the queues that hold messages or dead letters, or were
	// used since Open, sorted.
	Names(ctx context.Context) ([]string, error)
	// Notify returns a channel closed at the next Enqueue, Retry, Ack,
	// DeadLetter or Replay on queue, or at Close.
	Notify(queue string) <-chan struct{}
}

// Message is a queued message.
type Message struct {
	// ID is assigned by Enqueue: 32 hex characters, sortable by enqueue time.
	ID string
	// Key orders messages: those of one non-empty key are processed one at
	// a time, in order. It is stored readable (like ids), not sealed.
	Key         string
	Body        []byte
	ContentType string
	Headers     map[string]string
	Meta        map[string]string
	// Attempts counts failed attempts (Retry and DeadLetter calls): a
	// message escalated after three failed attempts says 3.
	Attempts int
	// Deliveries counts leases, including those lost to a crash or an
	// expired lease: Deliveries much above Attempts+1 points at a message
	// that kills its consumer.
	Deliveries int
	// NotBefore delays delivery; zero means now.
	NotBefore time.Time
	Enqueued  time.Time
	// LeaseUntil is the lease deadline of a leased message.
	LeaseUntil time.Time
	// LastError is the errText of the last Retry or DeadLetter.
	LastError string
}

// QueueStats are a queue's counts. Ready counts due messages not in flight,
// including those waiting behind an earlier message of their key.
type QueueStats struct {
	Ready, InFlight, Delayed, Dead int
	// OldestEnqueued is the enqueue time of the oldest live message (zero
	// when there is none).
	OldestEnqueued time.Time
}

var queueArea = []byte("q/")

// queueKey is q/<queue>\x00<kind>/<id>, kind 'm' (live) or 'd' (dead).
func queueKey(queue string, kind byte, id string) []byte {
	k := make([]byte, 0, len(queueArea)+len(queue)+3+len(id))
	k = append(k, queueArea...)
	k = append(k, queue...)
	k = append(k, 0, kind, '/')
	return append(k, id...)
}

func queueKindPrefix(queue string, kind byte) []byte { return queueKey(queue, kind, "") }

// Sealed parts of a message are bound to its id and role, so neither a body
// nor an error text opens under another message or in the other role.
func bodyAAD(id string) []byte  { return []byte(id + "\x00body") }
func errorAAD(id string) []byte { return []byte(id + "\x00error") }

// qrec is a decoded queue record. The content (content type, headers, meta,
// body) and the error text are blobs, sealed when flagSealed: state changes
// (lease, retry, dead letter) rewrite the plain header and copy the content
// blob as it is, without decrypting it.
type qrec struct {
	flags      byte
	key        string
	attempts   int
	deliveries int
	enqueued   time.Time
	notBefore  time.Time
	leaseUntil time.Time
	content    []byte
	errBlob    []byte
}

func (r *qrec) encode() []byte {
	e := encoder{b: make([]byte, 0, 48+len(r.key)+len(r.content)+len(r.errBlob))}
	e.byte(recordVersion)
	e.byte(r.flags)
	e.string(r.key)
	e.uvarint(uint64(r.attempts))
	e.uvarint(uint64(r.deliveries))
	e.time(r.enqueued)
	e.time(r.notBefore)
	e.time(r.leaseUntil)
	e.bytes(r.content)
	e.bytes(r.errBlob)
	return e.b
}

// decodeQrec decodes rec; the blobs alias rec.
func decodeQrec(rec []byte) (qrec, error) {
	d := decoder{b: rec}
	var r qrec
	if d.byte() != recordVersion {
		return r, ErrCorrupt
	}
	r.flags = d.byte()
	r.key = d.string()
	r.attempts = d.int()
	r.deliveries = d.int()
	r.enqueued = d.time()
	r.notBefore = d.time()
	r.leaseUntil = d.time()
	r.content = d.bytes()
	r.errBlob = d.bytes()
	if d.err != nil {
		return qrec{}, d.err
	}
	return r, nil
}

func encodeContent(m *Message) []byte {
	e := encoder{b: make([]byte, 0, 16+len(m.ContentType)+len(m.Body))}
	e.string(m.ContentType)
	e.strMap(m.Headers)
	e.strMap(m.Meta)
	e.bytes(m.Body)
	return e.b
}

func decodeContent(b []byte, m *Message) error {
	d := decoder{b: b}
	m.ContentType = d.string()
	m.Headers = d.strMap()
	m.Meta = d.strMap()
	m.Body = bytes.Clone(d.bytes())
	return d.err
}

// message decodes r into a Message, opening its blobs.
func (s *queueStore) message(id string, r *qrec) (Message, error) {
	m := Message{
		ID: id, Key: r.key, Attempts: r.attempts, Deliveries: r.deliveries,
		Enqueued: r.enqueued, NotBefore: r.notBefore, LeaseUntil: r.leaseUntil,
	}
	if len(r.errBlob) > 0 {
		e, err := s.db.openBlob(r.errBlob, r.flags&flagErrSealed != 0, errorAAD(id))
		if err != nil {
			return m, err
		}
		m.LastError = string(e)
	}
	c, err := s.db.openBlob(r.content, r.flags&flagSealed != 0, bodyAAD(id))
	if err != nil {
		return m, err
	}
	if err := decodeContent(c, &m); err != nil {
		return m, err
	}
	return m, nil
}

// setError stores text as r's error blob, sealed when the DB has a key.
func (s *queueStore) setError(r *qrec, id, text string) {
	r.flags &^= flagErrSealed
	r.errBlob = nil
	if text == "" {
		return
	}
	b, sealed := s.db.sealBlob([]byte(text), errorAAD(id))
	r.errBlob = b
	if sealed {
		r.flags |= flagErrSealed
	}
}

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

	idMu   sync.Mutex
	lastID int64 // nanoseconds part of the last id issued
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
			if n := idNanos(id); n > s.lastID {
				s.lastID = n
			}
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

// newID returns a fresh message id: 8 bytes of strictly increasing
// nanoseconds (the clock, bumped past the last id issued, also across
// restarts) and 8 random bytes, as 32 hex characters.
func (s *queueStore) newID() string {
	s.idMu.Lock()
	n := s.db.now().UnixNano()
	if n <= s.lastID {
		n = s.lastID + 1
	}
	s.lastID = n
	s.idMu.Unlock()
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(n))
	rand.Read(b[8:])
	return hex.EncodeToString(b[:])
}

func idNanos(id string) int64 {
	if len(id) != 32 {
		return 0
	}
	b, err := hex.DecodeString(id[:16])
	if err != nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
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
	id := s.newID()
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
		r.attempts, r.deliveries = 0, 0
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

func (s *queueStore) Notify(queue string) <-chan struct{} {
	if ValidQueueName(queue) != nil {
		return nil // never ready; Lease reports the bad name
	}
	q := s.get(queue)
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.wake
}
