package natsstore

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stride-engine/stride/engine/store"
)

// This file holds queueStore, its index of every queue (fed by a watch
// of the state records, and by the instance's own writes at once) and
// the encoding of messages.

// queueStore is store.Queues on the KV bucket <prefix>_queues.
type queueStore struct {
	s      *Store
	bucket jetstream.KeyValue
	stream jetstream.Stream
	name   string // the stream's name, KV_<bucket>
	subj   string // $KV.<bucket>.

	watchCancel context.CancelFunc
	watchDone   chan struct{}
	// life ends at close: background work (undoing a lease whose write
	// got no answer) stops with it; undos counts that work.
	life  context.Context
	undos sync.WaitGroup

	mu      sync.Mutex
	qs      map[string]*queue
	removed map[string]uint64 // ids removed by this instance → the marker's revision, until the watch passes it
	applied uint64            // the last revision the watch applied
	// caughtUp is closed (and replaced) whenever applied moves on.
	caughtUp chan struct{}
	closed   bool

	ids store.MessageIDs
}

// queue is one queue's index.
type queue struct {
	name   string
	order  list.List                // *qent of live messages, ascending id (FIFO)
	byID   map[string]*list.Element // id → element of order
	dead   map[string]*qent
	holder map[string]*qent // ordering key → message last leased with it
	wake   chan struct{}    // closed and replaced by signal
	used   bool             // used through this instance (listed by Names)
}

// qent is a message in the index.
type qent struct {
	id      string
	st      qstate
	rev     uint64 // revision of st; 0 while pending
	pending bool   // being enqueued by this instance: not leasable, blocks its key
	leasing bool   // being claimed by this instance's Lease
	bad     bool   // the state record did not decode: Lease dead-letters it
}

func (e *qent) leased(now time.Time) bool { return now.Before(e.st.leaseUntil) }

// qstate is a message's state record: readable, except the error text,
// sealed like the content.
type qstate struct {
	flags      byte
	key        string
	attempts   int
	deliveries int
	enqueued   time.Time
	notBefore  time.Time
	leaseUntil time.Time
	holder     string // Options.Instance of the lease's holder
	errBlob    []byte
	prior      int // attempts before the last replays; appended only when not 0
}

func (st *qstate) dead() bool { return st.flags&flagDead != 0 }

func (st *qstate) encode() []byte {
	e := encoder{B: make([]byte, 0, 48+len(st.key)+len(st.holder)+len(st.errBlob))}
	e.Byte(recordVersion)
	e.Byte(st.flags)
	e.String(st.key)
	e.Uvarint(uint64(st.attempts))
	e.Uvarint(uint64(st.deliveries))
	e.Time(st.enqueued)
	e.Time(st.notBefore)
	e.Time(st.leaseUntil)
	e.String(st.holder)
	e.Bytes(st.errBlob)
	if st.prior > 0 {
		e.Uvarint(uint64(st.prior))
	}
	return e.B
}

func decodeState(b []byte) (qstate, error) {
	d := decoder{B: b}
	var st qstate
	if d.Byte() != recordVersion {
		return st, store.ErrCorrupt
	}
	st.flags = d.Byte()
	st.key = d.String()
	st.attempts = d.Int()
	st.deliveries = d.Int()
	st.enqueued = d.Time()
	st.notBefore = d.Time()
	st.leaseUntil = d.Time()
	st.holder = d.String()
	st.errBlob = d.Bytes()
	if d.Err == nil && len(d.B) > 0 {
		st.prior = d.Int()
	}
	if d.Err != nil || len(d.B) != 0 {
		return qstate{}, store.ErrCorrupt
	}
	st.errBlob = append([]byte(nil), st.errBlob...)
	return st, nil
}

// Sealed parts of a message are bound to its id and role, as in the badger
// store.
func bodyAAD(id string) []byte  { return []byte(id + "\x00body") }
func errorAAD(id string) []byte { return []byte(id + "\x00error") }

// content record: version, flags, then the content (sealed when
// flagSealed): content type, headers, meta, body.
func (qs *queueStore) encodeContent(id string, m *store.Message) []byte {
	e := encoder{B: make([]byte, 0, 16+len(m.ContentType)+len(m.Body))}
	e.String(m.ContentType)
	e.StrMap(m.Headers)
	e.StrMap(m.Meta)
	e.Bytes(m.Body)
	blob, sealed := qs.s.sealBlob(e.B, bodyAAD(id))
	var flags byte
	if sealed {
		flags = flagSealed
	}
	return append([]byte{recordVersion, flags}, blob...)
}

func (qs *queueStore) decodeContent(id string, rec []byte, m *store.Message) error {
	if len(rec) < 2 || rec[0] != recordVersion {
		return store.ErrCorrupt
	}
	c, err := qs.s.openBlob(rec[2:], rec[1]&flagSealed != 0, bodyAAD(id))
	if err != nil {
		return err
	}
	d := decoder{B: c}
	m.ContentType = d.String()
	m.Headers = d.StrMap()
	m.Meta = d.StrMap()
	m.Body = append([]byte(nil), d.Bytes()...)
	return d.Err
}

// setError stores text as st's error blob, sealed when the store has a key.
func (qs *queueStore) setError(st *qstate, id, text string) {
	st.flags &^= flagErrSealed
	st.errBlob = nil
	if text == "" {
		return
	}
	b, sealed := qs.s.sealBlob([]byte(text), errorAAD(id))
	st.errBlob = b
	if sealed {
		st.flags |= flagErrSealed
	}
}

// message is the Message of a state, without its content.
func (qs *queueStore) message(id string, st *qstate) (store.Message, error) {
	m := store.Message{ID: id, Key: st.key, Attempts: st.attempts, PriorAttempts: st.prior, Deliveries: st.deliveries,
		Enqueued: st.enqueued, NotBefore: st.notBefore, LeaseUntil: st.leaseUntil}
	if len(st.errBlob) > 0 {
		e, err := qs.s.openBlob(st.errBlob, st.flags&flagErrSealed != 0, errorAAD(id))
		if err != nil {
			return m, err
		}
		m.LastError = string(e)
	}
	return m, nil
}

// Keys in the bucket: <queue token>.s.<id> (state) and <queue token>.b.<id>
// (content).
func stateKey(queue, id string) string { return token(queue) + ".s." + id }
func bodyKey(queue, id string) string  { return token(queue) + ".b." + id }

// parseStateKey splits a state key; ok is false for anything else.
func parseStateKey(k string) (queue, id string, ok bool) {
	qt, rest, found := strings.Cut(k, ".")
	if !found || !strings.HasPrefix(rest, "s.") {
		return "", "", false
	}
	queue, ok = untoken(qt)
	id = rest[2:]
	return queue, id, ok && id != "" && strings.IndexByte(id, '.') < 0
}

func newQueueStore(ctx context.Context, s *Store) (*queueStore, error) {
	b, err := s.openBucket(ctx, "_queues", "Stride queues (engine/store/natsstore)")
	if err != nil {
		return nil, err
	}
	qs := &queueStore{s: s, bucket: b.kv, stream: b.stream, name: b.name, subj: b.subj,
		qs: make(map[string]*queue), removed: make(map[string]uint64), watchDone: make(chan struct{}), caughtUp: make(chan struct{})}
	setup, cancel := withTimeout(ctx)
	defer cancel()
	bucket := b.kv.Bucket()
	wctx, wcancel := context.WithCancel(context.Background())
	qs.watchCancel, qs.life = wcancel, wctx
	first, err := qs.startWatch(setup)
	if err != nil {
		wcancel()
		return nil, fmt.Errorf("watching bucket %s: %w", bucket, err)
	}
	ready := make(chan struct{})
	go qs.watch(wctx, first, ready)
	select {
	case <-ready:
	case <-setup.Done():
		qs.close()
		return nil, fmt.Errorf("loading the queues of bucket %s: %w", bucket, setup.Err())
	}
	if s.opts.Instance != "" {
		if err := qs.endOwnLeases(ctx); err != nil {
			qs.close()
			return nil, err
		}
	}
	return qs, nil
}

// get returns the index of a queue, creating it. qs.mu must be held.
func (qs *queueStore) get(name string) *queue {
	q := qs.qs[name]
	if q == nil {
		q = &queue{name: name, byID: make(map[string]*list.Element), dead: make(map[string]*qent), holder: make(map[string]*qent), wake: make(chan struct{})}
		if qs.closed {
			close(q.wake)
		}
		qs.qs[name] = q
	}
	return q
}

// signal wakes everyone waiting on Notify. qs.mu must be held.
func (qs *queueStore) signal(q *queue) {
	if qs.closed {
		return
	}
	close(q.wake)
	q.wake = make(chan struct{})
}

// entry finds id in q, live or dead. qs.mu must be held.
func (q *queue) entry(id string) *qent {
	if el := q.byID[id]; el != nil {
		return el.Value.(*qent)
	}
	return q.dead[id]
}

// insert adds e to the live order by id, searching from the back: new
// messages append. qs.mu must be held.
func (q *queue) insert(e *qent) {
	for el := q.order.Back(); el != nil; el = el.Prev() {
		if el.Value.(*qent).id < e.id {
			q.byID[e.id] = q.order.InsertAfter(e, el)
			return
		}
	}
	q.byID[e.id] = q.order.PushFront(e)
}

// unlink drops e from the order or the dead letters and from holder.
// qs.mu must be held.
func (q *queue) unlink(e *qent) {
	if el := q.byID[e.id]; el != nil {
		q.order.Remove(el)
		delete(q.byID, e.id)
	}
	delete(q.dead, e.id)
	if e.st.key != "" && q.holder[e.st.key] == e {
		delete(q.holder, e.st.key)
	}
}

// applyState puts a message's state at revision rev into the index,
// unless the index has a newer one. watched says it came from the watch.
func (qs *queueStore) applyState(name, id string, st qstate, rev uint64, bad, watched bool) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	qs.applyStateLocked(name, id, st, rev, bad, watched)
}

// applyStateLocked is applyState with qs.mu held.
func (qs *queueStore) applyStateLocked(name, id string, st qstate, rev uint64, bad, watched bool) {
	if watched {
		qs.advance(rev)
	}
	if r, ok := qs.removed[id]; ok {
		if rev <= r {
			return // this instance removed it after this state was written
		}
		delete(qs.removed, id)
	}
	q := qs.get(name)
	e := q.entry(id)
	if e != nil && e.rev >= rev && !e.pending {
		return
	}
	if e == nil {
		e = &qent{id: id}
	} else {
		q.unlink(e)
	}
	e.st, e.rev, e.pending, e.bad = st, rev, false, bad
	if st.dead() {
		q.dead[id] = e
	} else {
		q.insert(e)
		if st.key != "" && (e.leasing || !st.leaseUntil.IsZero()) {
			q.holder[st.key] = e
		}
	}
	qs.signal(q)
}

// applyRemove drops a message removed at revision rev from the index.
func (qs *queueStore) applyRemove(name, id string, rev uint64, watched bool) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if watched {
		qs.advance(rev)
		if r, ok := qs.removed[id]; ok && rev >= r {
			delete(qs.removed, id)
		}
	} else if rev > qs.applied {
		qs.removed[id] = rev
	}
	q := qs.get(name)
	if e := q.entry(id); e != nil && e.rev <= rev {
		q.unlink(e)
	}
	qs.signal(q)
}

func (qs *queueStore) close() {
	qs.watchCancel()
	<-qs.watchDone
	qs.undos.Wait()
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if qs.closed {
		return
	}
	for _, q := range qs.qs {
		qs.signal(q)
	}
	qs.closed = true
	for _, q := range qs.qs {
		close(q.wake) // stays closed: waiters after Close return at once
	}
}

func checkQueue(op, queue string) error {
	if err := store.ValidQueueName(queue); err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	return nil
}

// validMessageID: ids this store issues are 32 hex characters; anything
// else cannot name a message (and could not be a key token).
func checkQueueID(op, queue, id string) error {
	if err := checkQueue(op, queue); err != nil {
		return err
	}
	if err := store.ValidID("message", id); err != nil {
		return fmt.Errorf("store: %s %s: %w", op, queue, err)
	}
	return nil
}

// endOwnLeases ends the leases this instance (Options.Instance) held
// before it restarted: their messages are ready again at once.
func (qs *queueStore) endOwnLeases(ctx context.Context) error {
	type own struct{ queue, id string }
	var mine []own
	qs.mu.Lock()
	for name, q := range qs.qs {
		for el := q.order.Front(); el != nil; el = el.Next() {
			e := el.Value.(*qent)
			if e.st.holder == qs.s.opts.Instance && !e.st.leaseUntil.IsZero() {
				mine = append(mine, own{name, e.id})
			}
		}
	}
	qs.mu.Unlock()
	for _, m := range mine {
		err := qs.Release(ctx, m.queue, m.id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("ending the leases of instance %s: %w", qs.s.opts.Instance, err)
		}
	}
	return nil
}
