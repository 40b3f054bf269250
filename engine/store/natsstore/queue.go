package natsstore

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

// This file holds the Queues operations (see store.Queues for their
// contract, and the package documentation for how they are kept).

func (qs *queueStore) Enqueue(ctx context.Context, name string, m store.Message) (string, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	if err := checkQueue("enqueue", name); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if qs.s.isClosed() {
		return "", store.ErrClosed
	}
	now := qs.s.now()
	st := qstate{key: m.Key, enqueued: now, notBefore: m.NotBefore}

	// Take the id and a place in the index together: the pending entry
	// holds back later messages of its key until the write is done.
	qs.mu.Lock()
	id := qs.ids.Next(qs.s.now())
	q := qs.get(name)
	q.used = true
	pend := &qent{id: id, st: st, pending: true}
	q.insert(pend)
	qs.mu.Unlock()

	rev, err := qs.write(ctx, name, id, &m, st)
	if err != nil {
		qs.mu.Lock()
		if pend.pending {
			q.unlink(pend)
		}
		qs.signal(q)
		qs.mu.Unlock()
		return "", fmt.Errorf("store: enqueue %s: %w", name, err)
	}
	qs.applyState(name, id, st, rev, false, false)
	qs.waitApplied(ctx, rev)
	return id, nil
}

// write stores a new message: its content, then its state (which makes it
// visible).
func (qs *queueStore) write(ctx context.Context, name, id string, m *store.Message, st qstate) (uint64, error) {
	if _, err := qs.bucket.Put(ctx, bodyKey(name, id), qs.encodeContent(id, m)); err != nil {
		return 0, noRoom(err)
	}
	rev, err := qs.bucket.Create(ctx, stateKey(name, id), st.encode())
	return rev, noRoom(err)
}

// change applies fn to the state of queue/id with a write conditional on
// the revision read, retrying when another instance changed it meanwhile.
// dead says whether the operation is on a dead letter or a live message;
// the other kind is ErrNotFound. fn returns the new state, or remove.
func (qs *queueStore) change(ctx context.Context, op, name, id string, dead bool, fn func(st *qstate) (remove bool)) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	if err := checkQueueID(op, name, id); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if qs.s.isClosed() {
		return store.ErrClosed
	}
	if !store.IsMessageID(id) {
		return fmt.Errorf("store: %s %s/%s: %w", op, name, id, store.ErrNotFound)
	}
	key := stateKey(name, id)
	fromIndex := true
	for range 20 {
		var st qstate
		var rev uint64
		found := false
		if fromIndex {
			qs.mu.Lock()
			if q := qs.qs[name]; q != nil {
				if e := q.entry(id); e != nil && !e.pending && !e.bad {
					st, rev, found = e.st, e.rev, true
				}
			}
			qs.mu.Unlock()
		}
		if !found {
			e, err := qs.bucket.Get(ctx, key)
			if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
				return fmt.Errorf("store: %s %s/%s: %w", op, name, id, store.ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("store: %s %s/%s: %w", op, name, id, err)
			}
			if st, err = decodeState(e.Value()); err != nil {
				return fmt.Errorf("store: %s %s/%s: %w", op, name, id, err)
			}
			rev = e.Revision()
		}
		if st.dead() != dead {
			if fromIndex {
				fromIndex = false // the index may be behind: ask the bucket
				continue
			}
			return fmt.Errorf("store: %s %s/%s: %w", op, name, id, store.ErrNotFound)
		}
		if fn(&st) {
			mrev, err := qs.s.publishMarker(ctx, qs.subj+key, rev)
			if err == nil {
				qs.applyRemove(name, id, mrev, false)
				// The content goes too; a failure only leaves garbage.
				if err := qs.stream.Purge(ctx, jetstream.WithPurgeSubject(qs.subj+bodyKey(name, id))); err != nil {
					qs.s.log.Warn("natsstore: removing an acknowledged message's content", "queue", name, "id", id, "err", err)
				}
				return nil
			}
			if !isWrongLastSeq(err) {
				return fmt.Errorf("store: %s %s/%s: %w", op, name, id, err)
			}
		} else {
			nrev, err := qs.bucket.Update(ctx, key, st.encode(), rev)
			if err == nil {
				qs.mu.Lock()
				qs.get(name).used = true
				qs.mu.Unlock()
				qs.applyState(name, id, st, nrev, false, false)
				qs.waitApplied(ctx, nrev)
				return nil
			}
			if !isWrongLastSeq(err) {
				return fmt.Errorf("store: %s %s/%s: %w", op, name, id, err)
			}
		}
		fromIndex = false // changed meanwhile: read it again
	}
	return fmt.Errorf("store: %s %s/%s: the message kept changing under concurrent writes", op, name, id)
}

func (qs *queueStore) Ack(ctx context.Context, name, id string) error {
	return qs.change(ctx, "ack", name, id, false, func(*qstate) bool { return true })
}

func (qs *queueStore) Retry(ctx context.Context, name, id string, notBefore time.Time, errText string) error {
	return qs.change(ctx, "retry", name, id, false, func(st *qstate) bool {
		st.attempts++
		st.notBefore = notBefore
		st.leaseUntil, st.holder = time.Time{}, ""
		qs.setError(st, id, errText)
		return false
	})
}

func (qs *queueStore) Release(ctx context.Context, name, id string) error {
	return qs.change(ctx, "release", name, id, false, func(st *qstate) bool {
		st.leaseUntil, st.holder = time.Time{}, ""
		return false
	})
}

func (qs *queueStore) DeadLetter(ctx context.Context, name, id, errText string) error {
	return qs.change(ctx, "dead-letter", name, id, false, func(st *qstate) bool {
		st.leaseUntil, st.holder = time.Time{}, ""
		st.attempts++ // the attempt that failed for good counts too
		st.flags |= flagDead
		qs.setError(st, id, errText)
		return false
	})
}

func (qs *queueStore) Replay(ctx context.Context, name, id string) error {
	return qs.change(ctx, "replay", name, id, true, func(st *qstate) bool {
		st.prior, st.attempts, st.deliveries = st.prior+st.attempts, 0, 0
		st.notBefore, st.leaseUntil, st.holder = time.Time{}, time.Time{}, ""
		st.flags &^= flagDead
		qs.setError(st, id, "")
		return false
	})
}

// deadMessage reads a dead letter's content. One whose content cannot be
// read is still listed, with the reason in LastError.
func (qs *queueStore) deadMessage(ctx context.Context, name, id string, st *qstate) (store.Message, error) {
	m, err := qs.message(id, st)
	if err == nil {
		var e jetstream.KeyValueEntry
		e, err = qs.bucket.Get(ctx, bodyKey(name, id))
		if err == nil {
			err = qs.decodeContent(id, e.Value(), &m)
		} else if ctx.Err() != nil {
			return m, err
		}
	}
	if err != nil {
		m.Body, m.Headers, m.Meta = nil, nil, nil
		m.LastError = fmt.Sprintf("cannot read message: %v", err)
	}
	return m, nil
}

func (qs *queueStore) DeadLetters(ctx context.Context, name string) ([]store.Message, error) {
	if err := checkQueue("dead letters", name); err != nil {
		return nil, err
	}
	if qs.s.isClosed() {
		return nil, store.ErrClosed
	}
	type dl struct {
		id string
		st qstate
	}
	var dead []dl
	qs.mu.Lock()
	if q := qs.qs[name]; q != nil {
		for id, e := range q.dead {
			dead = append(dead, dl{id, e.st})
		}
	}
	qs.mu.Unlock()
	slices.SortFunc(dead, func(a, b dl) int { return strings.Compare(a.id, b.id) })
	out := make([]store.Message, len(dead))
	errs := make([]error, len(dead))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range dead {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i], errs[i] = qs.deadMessage(ctx, name, dead[i].id, &dead[i].st)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("store: dead letters %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func (qs *queueStore) FindDeadLetter(ctx context.Context, id string) (string, store.Message, error) {
	if err := store.ValidID("message", id); err != nil {
		return "", store.Message{}, fmt.Errorf("store: find dead letter: %w", err)
	}
	if qs.s.isClosed() {
		return "", store.Message{}, store.ErrClosed
	}
	var name string
	var st qstate
	qs.mu.Lock()
	for n, q := range qs.qs {
		if e := q.dead[id]; e != nil {
			name, st = n, e.st
			break
		}
	}
	qs.mu.Unlock()
	if name == "" {
		return "", store.Message{}, fmt.Errorf("store: find dead letter %s: no queue holds it: %w", id, store.ErrNotFound)
	}
	m, err := qs.deadMessage(ctx, name, id, &st)
	if err != nil {
		return "", store.Message{}, fmt.Errorf("store: find dead letter %s: %w", id, err)
	}
	return name, m, nil
}

func (qs *queueStore) Stats(ctx context.Context, name string) (store.QueueStats, error) {
	if err := checkQueue("stats", name); err != nil {
		return store.QueueStats{}, err
	}
	if err := ctx.Err(); err != nil {
		return store.QueueStats{}, err
	}
	var st store.QueueStats
	now := qs.s.now()
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q := qs.qs[name]
	if q == nil {
		return st, nil
	}
	st.Dead = len(q.dead)
	for el := q.order.Front(); el != nil; el = el.Next() {
		e := el.Value.(*qent)
		switch {
		case e.pending:
			continue
		case e.leased(now):
			st.InFlight++
		case e.st.notBefore.After(now):
			st.Delayed++
		default:
			st.Ready++
		}
		if st.OldestEnqueued.IsZero() || e.st.enqueued.Before(st.OldestEnqueued) {
			st.OldestEnqueued = e.st.enqueued
		}
	}
	return st, nil
}

func (qs *queueStore) Names(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	qs.mu.Lock()
	var names []string
	for name, q := range qs.qs {
		if q.used || q.order.Len() > 0 || len(q.dead) > 0 {
			names = append(names, name)
		}
	}
	qs.mu.Unlock()
	slices.Sort(names)
	return names, nil
}

func (qs *queueStore) Notify(name string) <-chan struct{} {
	if store.ValidQueueName(name) != nil {
		return nil // never ready; Lease reports the bad name
	}
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q := qs.get(name)
	q.used = true
	return q.wake
}
