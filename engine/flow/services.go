package flow

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/stride-engine/stride/engine/store"
)

// Services is the durable state the runtime gives every exchange: the
// datastore, the durable queues and the message processing log. Tests and
// tools may leave parts nil; a step that needs a missing part fails with
// ErrNoStore instead of panicking.
type Services struct {
	KV     store.KV
	Queues store.Queues
	Log    store.Log
	// Transport, when set, carries every outbound request of request
	// steps instead of the pooled clients: `stride test` points it at
	// its mocks so that flow tests never touch the network.
	Transport http.RoundTripper
	// Instance names this process when several share the store (NATS):
	// lock steps then also take a lease in the store, held by Instance,
	// and timer ticks are claimed so that one instance runs each. Empty
	// for a store of one process (badger), where in-process locks suffice.
	Instance string
}

// ErrNoStore is returned by steps that need durable state when Stride runs
// without a data directory.
var ErrNoStore = errors.New("this step needs the data store: run stride with --data")

// KV returns the datastore, or ErrNoStore.
func (x *Exchange) KV() (store.KV, error) {
	if x.services == nil || x.services.KV == nil {
		return nil, ErrNoStore
	}
	return x.services.KV, nil
}

// Queues returns the durable queues, or ErrNoStore.
func (x *Exchange) Queues() (store.Queues, error) {
	if x.services == nil || x.services.Queues == nil {
		return nil, ErrNoStore
	}
	return x.services.Queues, nil
}

// SharedLeases returns the leases of a store that several instances
// share, and this instance's name; nil when the store is this process's
// alone.
func (x *Exchange) SharedLeases() (*store.Leases, string) {
	if x.services == nil || x.services.Instance == "" || x.services.KV == nil {
		return nil, ""
	}
	return &store.Leases{KV: x.services.KV}, x.services.Instance
}

// OnSuccess registers fn to run once the message has completed
// successfully (not when it fails): the hook of CPI's "delete on
// completion". A failing hook is logged and marks nothing.
// Hooks added in a split item (a child exchange) run when the whole
// message completes; parallel items may add them concurrently.
func (x *Exchange) OnSuccess(fn func(ctx context.Context) error) {
	if x.onSuccess == nil {
		x.onSuccess = &hooks{}
	}
	x.onSuccess.mu.Lock()
	x.onSuccess.fns = append(x.onSuccess.fns, fn)
	x.onSuccess.mu.Unlock()
}

// hooks is the completion hooks of a message and its split items.
type hooks struct {
	mu  sync.Mutex
	fns []func(ctx context.Context) error
}

// Complete runs the OnSuccess hooks after a successful run. Triggers call
// it; errors are returned joined.
func (x *Exchange) Complete(ctx context.Context) error {
	if x.onSuccess == nil {
		return nil
	}
	x.onSuccess.mu.Lock()
	fns := x.onSuccess.fns
	x.onSuccess.fns = nil
	x.onSuccess.mu.Unlock()
	var errs []error
	for _, fn := range fns {
		if err := fn(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
