package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/runtime"
	"github.com/stride-engine/stride/engine/store"
	"github.com/stride-engine/stride/engine/store/natsstore/natstest"
)

func TestStoreFlagOpensBadgerByDefault(t *testing.T) {
	t.Setenv("STRIDE_DATA_KEY", "")
	for _, tc := range []struct{ store, data string }{{"", t.TempDir()}, {t.TempDir(), "/nonexistent/unused"}} {
		s, err := openStoreFlag(t.Context(), storeOptions{Store: tc.store, DataDir: tc.data, Durability: store.SurviveProcessCrash})
		if err != nil {
			t.Fatal(err)
		}
		if s.DB == nil || s.KV == nil || s.Queues == nil || s.Log == nil || (s.Where != tc.store && s.Where != tc.data) {
			t.Fatalf("--store %q: %+v", tc.store, s)
		}
		if err := s.KV.Put(t.Context(), "s", "a", []byte("1"), store.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStoreFlagRefusals(t *testing.T) {
	t.Setenv("STRIDE_DATA_KEY", "")
	for _, tc := range []struct {
		opts storeOptions
		want string
	}{
		{storeOptions{Store: "nats://", DataDir: t.TempDir()}, "want nats://host:port"},
		{storeOptions{Store: "nats://u:hunter2@host:4222/path"}, "want nats://host:port"},
		{storeOptions{Store: "nats://127.0.0.1:1,,  "}, "cannot connect"}, // parses; nothing listens
		{storeOptions{Store: t.TempDir(), NATSCreds: "x.creds"}, "not a nats:// URL"},
		{storeOptions{Store: "nats://127.0.0.1:1"}, "cannot connect"},
		{storeOptions{Store: "nats://127.0.0.1:1", NATSCreds: "/nonexistent/x.creds"}, "x.creds"},
	} {
		_, err := openStoreFlag(t.Context(), tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--store %q: %v, want an error with %q", tc.opts.Store, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("--store %q: the error shows the password: %v", tc.opts.Store, err)
		}
	}
	urls, where, err := natsURLs("nats://u:p@a:4222, b:4223")
	if err != nil || urls != "nats://u:p@a:4222,nats://b:4223" || where != "nats://a:4222,nats://b:4223" {
		t.Fatalf("natsURLs = %q, %q, %v", urls, where, err)
	}
}

// deliveries records what the consumer flows of several instances
// delivered, by instance.
type deliveries struct {
	mu  sync.Mutex
	got []delivery
	srv *httptest.Server
}

type delivery struct{ by, body string }

func newDeliveries(t *testing.T) *deliveries {
	d := &deliveries{}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		time.Sleep(5 * time.Millisecond) // some work, so that both instances get some
		d.mu.Lock()
		d.got = append(d.got, delivery{by: r.URL.Query().Get("by"), body: string(body)})
		d.mu.Unlock()
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *deliveries) all() []delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.got)
}

// startInstance runs a runtime on the store --store names, as `stride
// run` would, with a producer flow (POST /in → enqueue) and a consumer
// flow (the queue → POST to the sink, saying which instance delivered).
func startInstance(t *testing.T, name, storeSpec, sinkURL string) *httptest.Server {
	t.Helper()
	s, err := openStoreFlag(t.Context(), storeOptions{Store: storeSpec, NATSPrefix: "e2e", Instance: name})
	if err != nil {
		t.Fatal(err)
	}
	set, err := flow.Load([]flow.Source{
		{Name: "producer.yaml", Data: []byte(`
flow: ingest
trigger: {http: {path: /in, methods: [POST]}}
steps:
  - enqueue: {queue: work}
  - respond: {status: 204}
`)},
		{Name: "consumer.yaml", Data: []byte(fmt.Sprintf(`
flow: worker
trigger:
  queue: {name: work, workers: 2, key: '${json.user}', retry: {max_attempts: 3, backoff: 10ms}}
steps:
  - request: {method: POST, url: '%s/?by=%s', body: '${body}', retry: {max_attempts: 1}}
`, sinkURL, name))},
	})
	if err != nil {
		t.Fatal(err)
	}
	set.Bind(func(string) (string, bool) { return "", false })
	rt := runtime.New(runtime.Options{Services: s.Services()})
	rt.Swap(set)
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rt)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rt.Stop(ctx); err != nil {
			t.Errorf("stopping %s: %v", name, err)
		}
		s.Close()
	})
	return srv
}

// TestTwoInstancesShareAQueueOnNATS: two runtimes on one NATS server,
// each with the producer and the consumer flow. Whichever instance a
// request reaches, each message is delivered once, by either instance,
// and the messages of one user in the order they were sent; both
// instances' message logs show every run.
func TestTwoInstancesShareAQueueOnNATS(t *testing.T) {
	t.Setenv("STRIDE_DATA_KEY", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	nsrv := natstest.Start(t)
	sink := newDeliveries(t)
	a := startInstance(t, "a", nsrv.URL, sink.srv.URL)
	b := startInstance(t, "b", nsrv.URL, sink.srv.URL)

	const users, perUser = 4, 10
	for i := range perUser {
		for u := range users {
			srv := a
			if (i+u)%2 == 1 {
				srv = b
			}
			resp, err := http.Post(srv.URL+"/in", "application/json", strings.NewReader(fmt.Sprintf(`{"user":"u%d","seq":%d}`, u, i)))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 204 {
				t.Fatalf("POST /in: %d", resp.StatusCode)
			}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(sink.all()) < users*perUser {
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d of %d messages", len(sink.all()), users*perUser)
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := sink.all()
	seen := map[string]bool{}
	last := map[string]int{}
	by := map[string]int{}
	for _, d := range got {
		if seen[d.body] {
			t.Fatalf("%s delivered twice", d.body)
		}
		seen[d.body] = true
		by[d.by]++
		var m struct {
			User string
			Seq  int
		}
		if err := json.Unmarshal([]byte(d.body), &m); err != nil {
			t.Fatalf("body %q: %v", d.body, err)
		}
		if prev, ok := last[m.User]; ok && m.Seq <= prev {
			t.Fatalf("%s: message %d delivered after %d", m.User, m.Seq, prev)
		}
		last[m.User] = m.Seq
	}
	if len(got) != users*perUser {
		t.Fatalf("delivered %d messages, want %d", len(got), users*perUser)
	}
	t.Logf("delivered by instance: %v", by)
	if by["a"] == 0 || by["b"] == 0 {
		t.Errorf("one instance delivered everything: %v", by)
	}

	// The message log is shared: either instance lists every run.
	s, err := openStoreFlag(t.Context(), storeOptions{Store: nsrv.URL, NATSPrefix: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	deadline = time.Now().Add(10 * time.Second)
	for {
		es, err := s.Log.List(t.Context(), store.Filter{Flow: "worker", Status: store.StatusCompleted, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == users*perUser {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log lists %d completed runs of worker, want %d", len(es), users*perUser)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, err := s.Queues.Stats(t.Context(), "work"); err != nil || st != (store.QueueStats{}) {
		t.Fatalf("queue stats after everything was delivered: %+v, %v", st, err)
	}
}
