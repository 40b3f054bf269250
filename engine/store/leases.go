package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Data stores Stride keeps for itself beside the flows' own. Names with
// the "stride." prefix are reserved.
const (
	// LeaseStore holds the leases of lock steps shared by instances.
	LeaseStore = "stride.leases"
	// TimerTickStore holds one claim per timer tick, so that instances
	// sharing a store run each tick once.
	TimerTickStore = "stride.timer-ticks"
)

// Leases grants named leases that expire: a lock that several processes
// sharing a KV can take, and that a crashed holder cannot keep. It is
// built on the KV's create-only Put with a TTL, so every backend that
// passes the KV conformance suite has it (badger for one process, NATS
// JetStream for several).
//
// A holder renews its lease well before the TTL ends (Acquire again);
// the lease is only as safe as the holders' clocks and renewals: a
// holder that stalls past its TTL loses the lease to the next taker.
type Leases struct {
	KV KV
}

// Acquire takes the lease name for holder for ttl (rounded up to whole
// seconds), or renews it when holder has it already. It reports whether
// holder has the lease now; false with a nil error means another holder
// has it.
func (l Leases) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if holder == "" || ttl <= 0 {
		return false, fmt.Errorf("store: lease %q: want a holder and a TTL: %w", name, ErrInvalid)
	}
	err := l.KV.Put(ctx, LeaseStore, name, []byte(holder), PutOptions{TTL: ttl})
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, ErrExists) {
		return false, err
	}
	e, err := l.KV.Get(ctx, LeaseStore, name)
	switch {
	case errors.Is(err, ErrNotFound):
		// It ended between the two calls: try once more.
		err = l.KV.Put(ctx, LeaseStore, name, []byte(holder), PutOptions{TTL: ttl})
		if errors.Is(err, ErrExists) {
			return false, nil
		}
		return err == nil, err
	case err != nil:
		return false, err
	case string(e.Value) != holder:
		return false, nil
	}
	// Ours: renew.
	if err := l.KV.Put(ctx, LeaseStore, name, []byte(holder), PutOptions{Overwrite: true, TTL: ttl}); err != nil {
		return false, err
	}
	return true, nil
}

// Release gives up holder's lease; a lease held by another holder, or
// already ended, is left alone.
func (l Leases) Release(ctx context.Context, name, holder string) error {
	e, err := l.KV.Get(ctx, LeaseStore, name)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if string(e.Value) != holder {
		return nil
	}
	if err := l.KV.Delete(ctx, LeaseStore, name); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// Holder returns who holds the lease name now, or "" when nobody does.
func (l Leases) Holder(ctx context.Context, name string) (string, error) {
	e, err := l.KV.Get(ctx, LeaseStore, name)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(e.Value), nil
}

// LeaseBusyError is Hold's error when another holder kept the lease past
// the wait.
type LeaseBusyError struct {
	Name, Holder string
	Waited       time.Duration
}

func (e *LeaseBusyError) Error() string {
	return fmt.Sprintf("%s not acquired within %v: %q holds it", e.Name, e.Waited, e.Holder)
}

// Hold takes the lease name for holder, waiting up to wait for another
// holder to give it up (polling with back-off), and keeps renewing it
// every third of ttl until the returned release is called; release gives
// it up. A holder that crashes keeps it at most ttl.
func (l Leases) Hold(ctx context.Context, name, holder string, ttl, wait time.Duration) (release func(), err error) {
	deadline := time.Now().Add(wait)
	pause := 20 * time.Millisecond
	for {
		ok, err := l.Acquire(ctx, name, holder, ttl)
		if err != nil {
			return nil, fmt.Errorf("%s: lease: %w", name, err)
		}
		if ok {
			break
		}
		if time.Now().Add(pause).After(deadline) {
			other, _ := l.Holder(ctx, name)
			return nil, &LeaseBusyError{Name: name, Holder: other, Waited: wait}
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return nil, fmt.Errorf("%s not acquired: %w", name, context.Cause(ctx))
		}
		pause = min(pause*2, 500*time.Millisecond)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	bg := context.WithoutCancel(ctx)
	go func() {
		defer close(done)
		tick := time.NewTicker(ttl / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_, _ = l.Acquire(bg, name, holder, ttl)
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		_ = l.Release(bg, name, holder)
	}, nil
}
