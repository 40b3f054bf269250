package natsstore

// Leasing: Lease picks ready messages from this instance's index, in
// FIFO and per-key order, and claims each with a write conditional on the
// revision it saw; a claim whose write got no answer is read back, and
// given back when it was made but cannot be used.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stride-engine/stride/engine/store"
)

// pick is a message Lease chose, with what it saw.
type pick struct {
	e        *qent
	st       qstate
	rev      uint64
	bad      bool
	prevHold *qent
	msg      store.Message
	newRev   uint64
	ok       bool
}

func (qs *queueStore) Lease(ctx context.Context, name string, max int, leaseFor time.Duration) ([]store.Message, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	if err := checkQueue("lease", name); err != nil {
		return nil, err
	}
	if max <= 0 || leaseFor <= 0 {
		return nil, fmt.Errorf("store: lease %s: max (%d) and lease duration (%v) must be positive: %w", name, max, leaseFor, store.ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if qs.s.isClosed() {
		return nil, store.ErrClosed
	}
	var out []store.Message
	lost := map[string]bool{} // picks another instance claimed first
	for round := 0; round < 3 && len(out) < max; round++ {
		now := qs.s.now()
		until := now.Add(leaseFor)
		picks := qs.pick(name, max-len(out), now, lost)
		if len(picks) == 0 {
			break
		}
		err := qs.claim(ctx, name, picks, until)
		got := 0
		for _, p := range picks {
			if p.ok {
				out = append(out, p.msg)
				got++
			} else {
				lost[p.e.id] = true
			}
		}
		if err != nil {
			if len(out) > 0 {
				break // return what was claimed: those leases hold
			}
			return nil, fmt.Errorf("store: lease %s: %w", name, err)
		}
		if got == len(picks) {
			break
		}
	}
	slices.SortFunc(out, func(a, b store.Message) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// pick chooses up to n ready messages in FIFO order, keeping per-key order
// (as the badger store does), and marks them being claimed.
func (qs *queueStore) pick(name string, n int, now time.Time, skip map[string]bool) []*pick {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q := qs.qs[name]
	if q == nil {
		return nil
	}
	var picks []*pick
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
	for el := q.order.Front(); el != nil && len(picks) < n; el = el.Next() {
		e := el.Value.(*qent)
		key := e.st.key
		if key != "" {
			if blocked[key] {
				continue
			}
			// A replayed message sits before later ones of its key that
			// may be in flight: the key's holder blocks it.
			if h := q.holder[key]; h != nil && h != e && (h.leasing || h.leased(now)) {
				continue
			}
		}
		// A state the watch has not delivered yet (this instance's own
		// write) waits until it has: by then every state written before
		// it — an earlier message of its key enqueued on another
		// instance — is in the index too, so per-key order holds across
		// instances.
		if e.pending || e.leasing || e.leased(now) || e.st.notBefore.After(now) || skip[e.id] || e.rev > qs.applied {
			block(key)
			continue
		}
		p := &pick{e: e, st: e.st, rev: e.rev, bad: e.bad}
		e.leasing = true
		if key != "" {
			p.prevHold = q.holder[key]
			q.holder[key] = e
		}
		block(key)
		picks = append(picks, p)
	}
	return picks
}

// claim writes the leases of picks, each conditional on the revision the
// pick saw, reads the contents of those it won, and updates the index.
func (qs *queueStore) claim(ctx context.Context, name string, picks []*pick, until time.Time) error {
	var wg sync.WaitGroup
	errs := make([]error, len(picks))
	for i, p := range picks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = qs.claimOne(ctx, name, p, until)
		}()
	}
	wg.Wait()
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q := qs.get(name)
	for _, p := range picks {
		e := p.e
		e.leasing = false
		if p.ok {
			qs.applyStateLocked(name, e.id, p.st, p.newRev, false, false)
			continue
		}
		if e.st.key != "" && q.holder[e.st.key] == e && e.rev == p.rev {
			if p.prevHold != nil && q.entry(p.prevHold.id) == p.prevHold {
				q.holder[e.st.key] = p.prevHold
			} else {
				delete(q.holder, e.st.key)
			}
		}
		qs.signal(q) // it may be leasable after all
	}
	return errors.Join(errs...)
}

func (qs *queueStore) claimOne(ctx context.Context, name string, p *pick, until time.Time) error {
	id := p.e.id // ids never change; the rest of p.e is the index's
	if p.bad {
		// A state that cannot be read would block its key forever: it
		// becomes a dead letter (its content stays).
		st := qstate{flags: flagDead, enqueued: qs.s.now()}
		qs.setError(&st, id, "cannot read message: its state record is corrupt")
		rev, err := qs.bucket.Update(ctx, stateKey(name, id), st.encode(), p.rev)
		if err == nil {
			qs.applyState(name, id, st, rev, false, false)
			qs.s.log.Error("natsstore: queued message moved to dead letters", "queue", name, "id", id, "err", "unreadable state")
		}
		return nil
	}
	st := p.st
	st.deliveries++
	st.leaseUntil = until
	st.holder = qs.s.opts.Instance
	rev, err := qs.bucket.Update(ctx, stateKey(name, id), st.encode(), p.rev)
	if err != nil {
		if isWrongLastSeq(err) {
			return nil // another instance changed it first
		}
		// No answer (a timeout while the cluster fails over) does not
		// mean no write: a lease written but not known here would hold
		// the message, and its key, until it expired with nobody working
		// on it. Read it back.
		var known bool
		if rev, known = qs.claimedAnyway(ctx, name, id, p.rev, &st); rev == 0 {
			if !known {
				qs.undos.Add(1)
				go qs.undoLease(name, id, p.rev, st)
			}
			return err
		}
		qs.s.log.Warn("natsstore: a lease whose write got no answer was made after all; running the message", "queue", name, "id", id)
	}
	p.st, p.newRev = st, rev
	m, err := qs.message(id, &st)
	if err == nil {
		// The lease is made: read the content even if the lease's own
		// write used up the operation's time (a failover).
		rctx, cancel := withTimeout(context.WithoutCancel(ctx))
		var e jetstream.KeyValueEntry
		e, err = qs.bucket.Get(rctx, bodyKey(name, id))
		cancel()
		if err == nil {
			err = qs.decodeContent(id, e.Value(), &m)
		}
	}
	if err != nil {
		if !(errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) ||
			errors.Is(err, store.ErrCorrupt) || errors.Is(err, store.ErrDecrypt) || errors.Is(err, store.ErrKeyRequired)) {
			// Not read now, perhaps later: give the lease back (in the
			// background, once the store answers) rather than hold the
			// message and its key, unworked, until the lease ends.
			qs.undos.Add(1)
			go qs.undoLease(name, id, p.rev, st)
			return err
		}
		// A message that cannot be read would block its queue or key
		// forever: it becomes a dead letter, its content kept as it is.
		dst := st
		dst.flags |= flagDead
		dst.leaseUntil, dst.holder = time.Time{}, ""
		qs.setError(&dst, id, fmt.Sprintf("cannot read message: %v", err))
		if drev, derr := qs.bucket.Update(ctx, stateKey(name, id), dst.encode(), rev); derr == nil {
			p.st, p.newRev = dst, drev
			qs.s.log.Error("natsstore: queued message moved to dead letters", "queue", name, "id", id, "err", err)
			qs.applyState(name, id, dst, drev, false, false)
		}
		return nil
	}
	m.LeaseUntil = until
	p.msg, p.ok = m, true
	return nil
}

// claimedAnyway reads the state of queue/id after a lease write that got
// no answer. It returns the state's revision when it is the lease st
// (this instance's, to the same deadline) written over revision prev,
// else 0; known is false when the state could not be read either.
func (qs *queueStore) claimedAnyway(ctx context.Context, name, id string, prev uint64, st *qstate) (rev uint64, known bool) {
	rctx, cancel := withTimeout(context.WithoutCancel(ctx))
	defer cancel()
	e, err := qs.bucket.Get(rctx, stateKey(name, id))
	if err != nil {
		return 0, errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted)
	}
	if e.Revision() <= prev || !sameLease(e.Value(), st) {
		return 0, true
	}
	return e.Revision(), true
}

// sameLease reports whether a state record is the lease st.
func sameLease(rec []byte, st *qstate) bool {
	cur, err := decodeState(rec)
	return err == nil && cur.holder == st.holder && cur.leaseUntil.Equal(st.leaseUntil) && cur.deliveries == st.deliveries
}

// undoLease settles a lease write whose outcome could not be read (the
// cluster failing over): as soon as the state can be read, a lease that
// was made after all is released, so that the message does not wait,
// held by nobody, until the lease ends. It gives up after a minute or at
// close.
func (qs *queueStore) undoLease(name, id string, prev uint64, st qstate) {
	defer qs.undos.Done()
	for end := time.Now().Add(time.Minute); time.Now().Before(end); {
		select {
		case <-qs.life.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
		ctx, cancel := withTimeout(qs.life)
		e, err := qs.bucket.Get(ctx, stateKey(name, id))
		if err != nil {
			cancel()
			if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
				return
			}
			continue
		}
		if e.Revision() <= prev || !sameLease(e.Value(), &st) {
			cancel()
			return // the write was not made
		}
		free := st
		free.leaseUntil, free.holder = time.Time{}, ""
		rev, err := qs.bucket.Update(ctx, stateKey(name, id), free.encode(), e.Revision())
		cancel()
		if err == nil {
			qs.applyState(name, id, free, rev, false, false)
			qs.s.log.Warn("natsstore: a lease whose write got no answer was made after all; released it", "queue", name, "id", id)
			return
		}
		if isWrongLastSeq(err) {
			return // changed since: no longer this lease
		}
	}
}
