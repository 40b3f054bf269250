package flow

import (
	"errors"
	"io"
	"sync"
)

// A ResourceKey names a resource that steps share within one runtime, such
// as an HTTP client pool, a cache of CSRF tokens or a lock table, and says
// how to make it. Keys are declared once, as package-level values; the
// resources themselves live in a runtime's Resources, so that two runtimes
// in one process (parallel tests, flow tests, a library user) never share
// tokens, locks or connections.
type ResourceKey[T any] struct {
	name string
	new  func() T
}

// NewResourceKey returns a key for resources of type T made by newT. A
// resource that implements io.Closer is closed when its runtime stops.
func NewResourceKey[T any](name string, newT func() T) *ResourceKey[T] {
	return &ResourceKey[T]{name: name, new: newT}
}

// Get returns the resource of k in rs, making it on first use.
func (k *ResourceKey[T]) Get(rs *Resources) T {
	// Steps ask for their resources on every message: the common case
	// (made already) takes the read lock only.
	rs.mu.RLock()
	v, ok := rs.byKey[k]
	rs.mu.RUnlock()
	if ok {
		return v.(T)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if v, ok := rs.byKey[k]; ok {
		return v.(T)
	}
	made := k.new()
	if rs.byKey == nil {
		rs.byKey = map[any]any{}
	}
	rs.byKey[k] = made
	rs.order = append(rs.order, made)
	return made
}

// Resources holds the resources of one runtime. The zero value is ready
// to use.
type Resources struct {
	mu    sync.RWMutex
	byKey map[any]any
	order []any // in creation order, closed in reverse
}

// NewResources returns an empty set of resources.
func NewResources() *Resources { return &Resources{} }

// Close closes every resource that is an io.Closer, the last made first,
// and forgets them all.
func (rs *Resources) Close() error {
	rs.mu.Lock()
	order := rs.order
	rs.byKey, rs.order = nil, nil
	rs.mu.Unlock()
	var errs []error
	for i := len(order) - 1; i >= 0; i-- {
		if c, ok := order[i].(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// Resources returns the resources of the runtime the exchange runs in.
// An exchange made outside a runtime (a tool, a unit test) gets its own
// set on first use.
func (x *Exchange) Resources() *Resources {
	if x.resources == nil {
		x.resources = NewResources()
	}
	return x.resources
}

// SetResources attaches the runtime's resources.
func (x *Exchange) SetResources(rs *Resources) { x.resources = rs }

// SetObserver attaches the runtime's observer (nil for none).
func (x *Exchange) SetObserver(o Observer) { x.observer = o }
