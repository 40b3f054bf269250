// Package natstest runs an embedded NATS server with JetStream for tests:
// on 127.0.0.1, a random port, its storage in the test's temp directory.
// Only tests import it, so the nats-server module never reaches the
// stride binary.
package natstest

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is a running embedded server.
type Server struct {
	*server.Server
	// URL is the nats:// URL clients connect to.
	URL  string
	opts *server.Options
}

// Start starts a JetStream-enabled server that shuts down when the test
// ends.
func Start(t testing.TB) *Server {
	t.Helper()
	opts := &server.Options{
		ServerName: "stride-test",
		Host:       "127.0.0.1",
		Port:       -1,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoLog:      true,
		NoSigs:     true,
		// Streams with a byte limit (the message log's) reserve it: leave
		// room for many stores. The tests write little.
		JetStreamMaxMemory: 64 << 20,
		JetStreamMaxStore:  1 << 40,
	}
	srv := &Server{opts: opts}
	srv.start(t)
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

func (srv *Server) start(t testing.TB) {
	t.Helper()
	s, err := server.NewServer(srv.opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("nats server did not start in 10s")
	}
	srv.Server, srv.URL = s, s.ClientURL()
}

// Restart stops the server and starts it again on the same port with the
// same storage, as a crash and a restart would; clients reconnect.
func (srv *Server) Restart(t testing.TB) {
	t.Helper()
	srv.opts.Port = srv.Addr().(*net.TCPAddr).Port
	srv.Shutdown()
	srv.WaitForShutdown()
	srv.start(t)
}
