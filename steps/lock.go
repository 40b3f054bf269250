package steps

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// lockConfig runs a block of steps at most once at a time per key.
type lockConfig struct {
	Key     *flow.Template `yaml:"key" required:"true" doc:"What the lock is taken on, e.g. '${property.owner}': messages with the same key run the block one at a time, others in parallel."`
	Name    string         `yaml:"name" doc:"The lock's name: lock steps with the same name share their locks, across flows. Default: this step alone (<flow id>@<file:line>)."`
	Timeout time.Duration  `yaml:"timeout" default:"30s" doc:"How long a message waits for the lock before it fails (503); the message's own deadline also ends the wait."`
	Steps   flow.Steps     `yaml:"steps" required:"true" doc:"The steps run while the lock is held."`
}

type lockStep struct {
	key     *flow.Template
	name    string
	timeout time.Duration
	steps   flow.Steps
}

func init() {
	flow.RegisterStep(flow.StepKind[lockConfig]{
		Name:    "lock",
		Summary: "Runs a block of steps at most once at a time per key (e.g. one user's token refresh).",
		Doc: "Messages with the same key value wait their turn, in about the order they came, for at most timeout; then the step fails with status 503 naming the lock and the key. " +
			"Messages with different keys run in parallel. Lock steps with the same name share their locks across flows; without a name the lock belongs to this step. " +
			"The lock is released when the block ends in any way (done, failed, respond, filter). " +
			"Instances sharing a store (--store nats://) also exclude each other: the block then holds a lease in the store, renewed while it runs, that a crashed instance loses within 15 s. " +
			"They are not reentrant: the same message taking the same lock and key again (through call) fails at once instead of waiting for itself.",
		Example: "- lock:\n    name: fitbit-token-refresh\n    key: '${property.owner}'\n    timeout: 30s\n    steps:\n      - call: {flow: fitbit-refresh-token}",
		Build: func(b *flow.Builder, c *lockConfig) (flow.Step, error) {
			if c.Timeout <= 0 {
				b.Errorf(b.FieldPos("timeout"), "lock: timeout must be more than 0 (e.g. 30s)")
				return nil, flow.ErrReported
			}
			if c.Steps.Len() == 0 {
				b.Errorf(b.FieldPos("steps"), "lock: steps is empty: a lock guards at least one step")
				return nil, flow.ErrReported
			}
			name := c.Name
			if name == "" {
				name = b.FlowID() + "@" + b.Pos().FileLine()
			}
			return &lockStep{key: c.Key, name: name, timeout: c.Timeout, steps: c.Steps}, nil
		},
	})
}

func (s *lockStep) Run(ctx context.Context, x *flow.Exchange) error {
	key, err := s.key.String(x)
	if err != nil {
		return errorf("lock %s: key: %w", s.name, err)
	}
	l, err := lockTables.Get(x.Resources()).acquire(ctx, lockID{s.name, key}, x, s.timeout)
	if err != nil {
		return err
	}
	defer l.release() // also when a nested step panics
	if leases, instance := x.SharedLeases(); leases != nil {
		// Instances share the store: the in-process lock orders this
		// instance's messages, the lease excludes the other instances.
		release, err := leases.Hold(ctx, "lock/"+s.name+"/"+key, instance, leaseTTL, s.timeout)
		var busy *store.LeaseBusyError
		if errors.As(err, &busy) {
			return &flow.StatusError{Status: 503, Msg: fmt.Sprintf("lock %s for key %q not acquired within %v: instance %q holds it", s.name, key, s.timeout, busy.Holder)}
		}
		if err != nil {
			return err
		}
		defer release()
	}
	return s.steps.Run(ctx, x)
}

// leaseTTL is how long a shared lock's lease outlives a holder that
// stops renewing it (a crashed instance): the others wait at most that.
const leaseTTL = 15 * time.Second

// The lock table: one entry per (name, key) that is held or waited for.
// An entry is reference-counted by its holder and its waiters and removed
// when the last of them leaves, so a million distinct keys over time cost
// nothing once they are done.
//
// Each runtime has its own table: locks exclude messages of one runtime.
var lockTables = flow.NewResourceKey("locks", func() *lockTable {
	return &lockTable{m: map[lockID]*lockEntry{}}
})

type lockTable struct {
	mu sync.Mutex
	m  map[lockID]*lockEntry
}

type lockID struct{ name, key string }

type lockEntry struct {
	// sem holds one token while the lock is held. Waiters block sending
	// to it; the runtime queues blocked senders in order and hands the
	// slot to the first of them when the holder receives, so the lock
	// passes on in arrival order and a newcomer cannot overtake.
	sem chan struct{}
	// refs counts the holder and the waiters; guarded by lockTable.mu.
	refs int
	// holder is the exchange holding the lock, to refuse reentry;
	// guarded by lockTable.mu.
	holder *flow.Exchange
}

// heldLock is a lock acquired by one message.
type heldLock struct {
	t  *lockTable
	id lockID
	e  *lockEntry
}

func (locks *lockTable) acquire(ctx context.Context, id lockID, x *flow.Exchange, timeout time.Duration) (*heldLock, error) {
	locks.mu.Lock()
	e := locks.m[id]
	if e == nil {
		e = &lockEntry{sem: make(chan struct{}, 1)}
		locks.m[id] = e
	}
	if e.holder == x {
		locks.mu.Unlock()
		return nil, errorf("lock %s for key %q is already held by this message (locks are not reentrant)", id.name, id.key)
	}
	e.refs++
	locks.mu.Unlock()

	select {
	case e.sem <- struct{}{}: // free: no timer needed
	default:
		start := time.Now()
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case e.sem <- struct{}{}:
		case <-t.C:
			locks.unref(id, e)
			return nil, &flow.StatusError{Status: 503,
				Msg: fmt.Sprintf("lock %s for key %q not acquired within %v", id.name, id.key, timeout)}
		case <-ctx.Done():
			locks.unref(id, e)
			return nil, fmt.Errorf("lock %s for key %q not acquired: gave up after %v: %w",
				id.name, id.key, time.Since(start).Round(time.Millisecond), context.Cause(ctx))
		}
	}
	locks.mu.Lock()
	e.holder = x
	locks.mu.Unlock()
	return &heldLock{locks, id, e}, nil
}

func (l *heldLock) release() {
	l.t.mu.Lock()
	l.e.holder = nil
	l.t.mu.Unlock()
	<-l.e.sem // hands the slot to the first waiter, if any
	l.t.unref(l.id, l.e)
}

func (locks *lockTable) unref(id lockID, e *lockEntry) {
	locks.mu.Lock()
	if e.refs--; e.refs == 0 {
		delete(locks.m, id)
	}
	locks.mu.Unlock()
}
