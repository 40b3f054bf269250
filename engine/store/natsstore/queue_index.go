package natsstore

import (
	"container/list"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
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

	idMu   sync.Mutex
	lastID int64
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

// aWatch is one watch of the state records: it first delivers the last
// record of every message (the snapshot), then every change.
type aWatch struct {
	w       jetstream.KeyWatcher
	lastSeq uint64 // the bucket's last revision before the watch began
}

func (qs *queueStore) startWatch(ctx context.Context) (*aWatch, error) {
	info, err := qs.stream.Info(ctx)
	if err != nil {
		return nil, err
	}
	w, err := qs.bucket.WatchFiltered(context.Background(), []string{"*.s.*"})
	if err != nil {
		return nil, err
	}
	return &aWatch{w: w, lastSeq: info.State.LastSeq}, nil
}

// errReconnected ends a watch to read everything again.
var errReconnected = errors.New("reconnected")

// watch keeps the index up to date until the store closes; ready is
// closed once the first snapshot is applied. After the connection comes
// back from an outage, it watches anew (a resync): the new snapshot
// brings what changed meanwhile, and messages the index still holds but
// the snapshot does not — removed while this instance could not see it,
// and their markers gone since — leave the index.
func (qs *queueStore) watch(ctx context.Context, w *aWatch, ready chan struct{}) {
	defer close(qs.watchDone)
	status := qs.s.nc.StatusChanged(nats.CONNECTED)
	defer qs.s.nc.RemoveStatusListener(status)
	readyOnce := sync.OnceFunc(func() { close(ready) })
	defer readyOnce()
	for {
		err := qs.follow(ctx, w, status, readyOnce)
		w.w.Stop()
		if ctx.Err() != nil {
			return
		}
		if qs.s.nc.IsClosed() {
			qs.s.log.Error("natsstore: the NATS connection was closed; queue changes of other instances are no longer seen")
			return
		}
		if !errors.Is(err, errReconnected) {
			qs.s.log.Error("natsstore: the watch of the queues ended; watching anew", "err", err)
		}
		for {
			setup, cancel := withTimeout(ctx)
			w, err = qs.startWatch(setup)
			cancel()
			if err == nil {
				break
			}
			qs.s.log.Error("natsstore: cannot watch the queues; other instances' changes are not seen until it can", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

// follow applies what one watch delivers until the store closes, the
// connection comes back from an outage, or the watch ends.
func (qs *queueStore) follow(ctx context.Context, w *aWatch, status <-chan nats.Status, ready func()) error {
	seen := map[string]bool{} // ids in the snapshot
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-status:
			return errReconnected
		case e, ok := <-w.w.Updates():
			if !ok {
				return errors.New("the watch's updates ended")
			}
			if e == nil {
				if seen != nil {
					qs.prune(seen, w.lastSeq)
					seen = nil
					ready()
				}
				continue
			}
			queue, id, ok := parseStateKey(e.Key())
			if !ok {
				continue
			}
			if seen != nil {
				seen[id] = true
			}
			if e.Operation() != jetstream.KeyValuePut {
				qs.applyRemove(queue, id, e.Revision(), true)
				continue
			}
			st, err := decodeState(e.Value())
			if err != nil {
				qs.s.log.Error("natsstore: unreadable queue message state; the next lease moves it to the dead letters", "queue", queue, "id", id, "err", err)
			}
			qs.applyState(queue, id, st, e.Revision(), err != nil, true)
		}
	}
}

// prune drops from the index the messages a snapshot did not bring back
// although they were written before it began (revision ≤ lastSeq): they
// were removed.
func (qs *queueStore) prune(seen map[string]bool, lastSeq uint64) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	for _, q := range qs.qs {
		var gone []*qent
		for el := q.order.Front(); el != nil; el = el.Next() {
			if e := el.Value.(*qent); !e.pending && !seen[e.id] && e.rev <= lastSeq {
				gone = append(gone, e)
			}
		}
		for _, e := range q.dead {
			if !seen[e.id] && e.rev <= lastSeq {
				gone = append(gone, e)
			}
		}
		for _, e := range gone {
			q.unlink(e)
		}
		if len(gone) > 0 {
			qs.signal(q)
		}
	}
	for id, rev := range qs.removed {
		if rev <= lastSeq {
			delete(qs.removed, id)
		}
	}
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

// advance records the watch's position and forgets removals it passed.
// qs.mu must be held.
func (qs *queueStore) advance(rev uint64) {
	if rev > qs.applied {
		qs.applied = rev
		close(qs.caughtUp)
		qs.caughtUp = make(chan struct{})
	}
}

// waitApplied waits, at most watchCatchUp, until the watch has applied
// revision rev — this instance's own write — so that a Lease right after
// it can take the message (Lease takes only what the watch has passed;
// see pick). A watch that is behind (a reconnect) only delays the lease.
func (qs *queueStore) waitApplied(ctx context.Context, rev uint64) {
	t := time.NewTimer(watchCatchUp)
	defer t.Stop()
	for {
		qs.mu.Lock()
		done, ch := qs.applied >= rev || qs.closed, qs.caughtUp
		qs.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// watchCatchUp bounds how long a write waits for the watch to see it.
const watchCatchUp = 2 * time.Second

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

// newID returns a fresh message id: 8 bytes of strictly increasing
// nanoseconds (within this process) and 8 random bytes, as 32 hex
// characters — the badger store's format. Ids of different instances
// interleave by their clocks.
func (qs *queueStore) newID() string {
	qs.idMu.Lock()
	n := qs.s.now().UnixNano()
	if n <= qs.lastID {
		n = qs.lastID + 1
	}
	qs.lastID = n
	qs.idMu.Unlock()
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(n))
	rand.Read(b[8:])
	return hex.EncodeToString(b[:])
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

func isMessageID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
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
