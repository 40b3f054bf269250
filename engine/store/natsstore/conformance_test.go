package natsstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stride-engine/stride/engine/store"
	"github.com/stride-engine/stride/engine/store/natsstore"
	"github.com/stride-engine/stride/engine/store/natsstore/natstest"
	"github.com/stride-engine/stride/engine/store/storetest"
)

// The conformance suite (engine/store/storetest) against JetStream: one
// embedded server per test function, a fresh prefix (fresh buckets and
// stream) per test of the suite.

var prefixes atomic.Int64

func newPrefix() string { return fmt.Sprintf("t%d", prefixes.Add(1)) }

// connect opens a connection to srv, closed when the test ends.
func connect(t testing.TB, srv *natstest.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(srv.URL, nats.Name(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// open opens a store on its own connection, closed when the test ends.
func open(t testing.TB, srv *natstest.Server, opts natsstore.Options) *natsstore.Store {
	t.Helper()
	nc := connect(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := natsstore.Open(ctx, nc, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformanceKV(t *testing.T) {
	srv := natstest.Start(t)
	storetest.TestKV(t, func(t *testing.T, now func() time.Time) store.KV {
		return open(t, srv, natsstore.Options{Prefix: newPrefix(), Now: now}).KV()
	})
}

func TestConformanceQueues(t *testing.T) {
	srv := natstest.Start(t)
	storetest.TestQueues(t, func(t *testing.T) store.Queues {
		return open(t, srv, natsstore.Options{Prefix: newPrefix()}).Queues()
	})
}

func TestConformanceSharedQueues(t *testing.T) {
	srv := natstest.Start(t)
	storetest.TestSharedQueues(t, func(t *testing.T) (a, b store.Queues) {
		p := newPrefix()
		return open(t, srv, natsstore.Options{Prefix: p}).Queues(), open(t, srv, natsstore.Options{Prefix: p}).Queues()
	})
}

func TestConformanceLog(t *testing.T) {
	srv := natstest.Start(t)
	storetest.TestLog(t, func(t *testing.T) store.Log {
		return open(t, srv, natsstore.Options{Prefix: newPrefix()}).Log()
	})
}
