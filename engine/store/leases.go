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
