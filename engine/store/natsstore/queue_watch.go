package natsstore

// The watch keeps this instance's index of the queues up to date with
// every instance's writes, and tells writers when it has passed theirs.

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

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
