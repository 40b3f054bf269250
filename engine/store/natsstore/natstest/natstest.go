// Package natstest runs an embedded NATS server with JetStream for tests:
// on 127.0.0.1, a random port, its storage in the test's temp directory.
// Only tests and the benchmark program import it, so the nats-server
// module never reaches the stride binary.
package natstest

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// TB is what the helpers need of a test: testing.TB has it, and so can a
// benchmark program that runs a cluster outside `go test`.
type TB interface {
	Helper()
	TempDir() string
	Cleanup(func())
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// Server is a running embedded server.
type Server struct {
	*server.Server
	// URL is the nats:// URL clients connect to.
	URL  string
	opts *server.Options
}

// Start starts a JetStream-enabled server that shuts down when the test
// ends.
func Start(t TB) *Server {
	t.Helper()
	srv := &Server{opts: serverOptions(t, "stride-test", -1)}
	srv.start(t)
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

// StartWithStorage is Start with a server that has maxStore bytes of
// file storage for JetStream, to see what happens when it is full.
func StartWithStorage(t TB, maxStore int64) *Server {
	t.Helper()
	opts := serverOptions(t, "stride-test-small", -1)
	opts.JetStreamMaxStore = maxStore
	srv := &Server{opts: opts}
	srv.start(t)
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

// serverOptions are a test server's: JetStream on loopback, storage in
// a temp dir, no logs, no signal handlers.
func serverOptions(t TB, name string, port int) *server.Options {
	return &server.Options{
		ServerName: name,
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoLog:      true,
		NoSigs:     true,
		// Streams with a byte limit (the message log's) reserve it: leave
		// room for many stores. The tests write little.
		JetStreamMaxMemory: 64 << 20,
		JetStreamMaxStore:  1 << 40,
	}
}

func (srv *Server) start(t TB) {
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
func (srv *Server) Restart(t TB) {
	t.Helper()
	srv.opts.Port = srv.Addr().(*net.TCPAddr).Port
	srv.Shutdown()
	srv.WaitForShutdown()
	srv.start(t)
}

// Cluster is a JetStream cluster of embedded servers on 127.0.0.1, as
// a production cluster of three would run, with R3 streams possible.
type Cluster struct {
	Servers []*Server
	// URLs lists every server's client URL, comma-separated, as --store
	// takes them.
	URLs string
}

// StartCluster starts n clustered JetStream servers (routes between
// them on loopback) and waits until they have elected a JetStream meta
// leader. They shut down when the test ends.
func StartCluster(t TB, n int) *Cluster {
	t.Helper()
	routePorts := make([]int, n)
	for i := range routePorts {
		routePorts[i] = freePort(t)
	}
	var routes []*url.URL
	for _, p := range routePorts {
		routes = append(routes, &url.URL{Scheme: "nats", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(p))})
	}
	c := &Cluster{}
	var urls []string
	for i := range n {
		opts := serverOptions(t, fmt.Sprintf("stride-test-%d", i+1), freePort(t))
		opts.Cluster = server.ClusterOpts{Name: "stride-test", Host: "127.0.0.1", Port: routePorts[i]}
		opts.Routes = routes
		srv := &Server{opts: opts}
		srv.start(t)
		c.Servers = append(c.Servers, srv)
		urls = append(urls, srv.URL)
	}
	c.URLs = strings.Join(urls, ",")
	t.Cleanup(func() {
		for _, s := range c.Servers {
			s.Shutdown()
			s.WaitForShutdown()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !c.ready() {
		if time.Now().After(deadline) {
			t.Fatal("the NATS cluster elected no JetStream leader within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

// ready reports whether one server leads JetStream and every running
// server follows it.
func (c *Cluster) ready() bool {
	leader := false
	for _, s := range c.Servers {
		if !s.Running() {
			continue
		}
		if s.JetStreamIsLeader() {
			leader = true
		}
		if !s.JetStreamIsCurrent() {
			return false
		}
	}
	return leader
}

// Stop shuts server i down, as losing a node would.
func (c *Cluster) Stop(i int) {
	c.Servers[i].Shutdown()
	c.Servers[i].WaitForShutdown()
}

func freePort(t TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
