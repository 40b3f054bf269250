package natsstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stride-engine/stride/engine/store"
	"github.com/stride-engine/stride/engine/store/natsstore"
	"github.com/stride-engine/stride/engine/store/natsstore/natstest"
)

var bg = context.Background()

func testKey(b byte) []byte {
	k := make([]byte, store.KeySize)
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

// raw returns every message the server holds in the stream, headers and
// data, as an operator with `nats stream view` would see them.
func raw(t *testing.T, srv *natstest.Server, stream string) []byte {
	t.Helper()
	js, err := jetstream.New(connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(bg, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(bg)
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		m, err := s.GetMsg(bg, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		all.WriteString(m.Subject)
		for k, vs := range m.Header {
			all.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
		}
		all.Write(m.Data)
	}
	return all.Bytes()
}

// TestOperatorsSeeNoSecrets: with a data key, nothing the NATS server
// stores holds a token, a body, an error text or a payload in the clear;
// ids, names and statuses stay readable.
func TestOperatorsSeeNoSecrets(t *testing.T) {
	srv := natstest.Start(t)
	const secret = "s3cr3t-t0k3n"
	s := open(t, srv, natsstore.Options{Prefix: "enc", Key: testKey(1)})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.KV().Put(bg, "tokens", "user-1", []byte(`{"access_token":"`+secret+`"}`), store.PutOptions{Sensitive: store.Sensitivity{Paths: []string{"access_token"}}}))
	q := s.Queues()
	id, err := q.Enqueue(bg, "work", store.Message{Key: "user-1", Body: []byte(secret), Headers: map[string]string{"Authorization": "Bearer " + secret}, Meta: map[string]string{"m": secret}})
	must(err)
	if _, err := q.Lease(bg, "work", 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	must(q.Retry(bg, "work", id, time.Time{}, "HTTP 401 for "+secret))
	dead, err := q.Enqueue(bg, "work", store.Message{Body: []byte(secret)})
	must(err)
	must(q.DeadLetter(bg, "work", dead, "failed with "+secret))
	must(s.Log().Record(bg, store.LogEntry{ID: id, Flow: "fitbit", Attempt: 1, Status: store.StatusFailed, Start: time.Now().Add(-time.Second),
		Error: "token " + secret, Payload: []byte(secret), Trace: []store.TraceEntry{{Step: "s", Error: secret}}}))

	for _, stream := range []string{"KV_enc_kv", "KV_enc_queues", "enc_log"} {
		b := raw(t, srv, stream)
		if bytes.Contains(b, []byte(secret)) {
			t.Fatalf("stream %s holds the secret in the clear:\n%q", stream, b)
		}
		if len(b) == 0 {
			t.Fatalf("stream %s is empty", stream)
		}
	}
	// What the index needs stays readable.
	if b := raw(t, srv, "KV_enc_queues"); !bytes.Contains(b, []byte(id)) || !bytes.Contains(b, []byte("user-1")) {
		t.Fatal("the queue's ids and ordering keys are not readable")
	}
	if b := raw(t, srv, "enc_log"); !bytes.Contains(b, []byte("FAILED")) || !bytes.Contains(b, []byte("fitbit")) {
		t.Fatal("the log's statuses and flows are not readable")
	}

	// The same key reads everything back.
	e, err := s.KV().Get(bg, "tokens", "user-1")
	if err != nil || !bytes.Contains(e.Value, []byte(secret)) {
		t.Fatalf("get: %v", err)
	}
	entries, err := s.Log().Get(bg, id)
	if err != nil || string(entries[0].Payload) != secret || entries[0].Error != "token "+secret {
		t.Fatalf("log get: %+v, %v", entries, err)
	}

	// Another key, or none, is refused at Open.
	nc := connect(t, srv)
	if _, err := natsstore.Open(bg, nc, natsstore.Options{Prefix: "enc", Key: testKey(2)}); !errors.Is(err, store.ErrDecrypt) {
		t.Fatalf("open with another key: %v, want ErrDecrypt", err)
	}
	if _, err := natsstore.Open(bg, nc, natsstore.Options{Prefix: "enc"}); !errors.Is(err, store.ErrKeyRequired) {
		t.Fatalf("open without a key: %v, want ErrKeyRequired", err)
	}
}

// TestMessagesOutliveTheInstance: a new instance (a restart) sees the
// queued messages, dead letters, entries and log of the one before; the
// leases the old one held end when they expire, or at once when the
// instance has a stable name.
func TestMessagesOutliveTheInstance(t *testing.T) {
	srv := natstest.Start(t)
	first := open(t, srv, natsstore.Options{Prefix: "restart", Instance: "pod-0"})
	q := first.Queues()
	leased, err := q.Enqueue(bg, "work", store.Message{Key: "k", Body: []byte("leased")})
	if err != nil {
		t.Fatal(err)
	}
	waiting, _ := q.Enqueue(bg, "work", store.Message{Key: "k", Body: []byte("waiting")})
	dead, _ := q.Enqueue(bg, "work", store.Message{Body: []byte("dead")})
	if ms, err := q.Lease(bg, "work", 2, time.Hour); err != nil || len(ms) != 2 {
		t.Fatalf("lease: %v %v", ms, err)
	}
	if err := q.DeadLetter(bg, "work", dead, "boom"); err != nil {
		t.Fatal(err)
	}
	first.Close()
	if _, err := q.Lease(bg, "work", 1, time.Minute); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("lease after close: %v, want ErrClosed", err)
	}
	select {
	case <-q.Notify("work"):
	default:
		t.Fatal("Notify after Close is not closed")
	}

	// Another instance: the hour-long lease holds.
	other := open(t, srv, natsstore.Options{Prefix: "restart", Instance: "pod-1"})
	if ms, _ := other.Queues().Lease(bg, "work", 5, time.Minute); len(ms) != 0 {
		t.Fatalf("another instance leased %d messages under pod-0's lease", len(ms))
	}
	if st, _ := other.Queues().Stats(bg, "work"); st.InFlight != 1 || st.Ready != 1 || st.Dead != 1 {
		t.Fatalf("stats on another instance = %+v", st)
	}
	// pod-0 restarted: its lease ends at Open.
	again := open(t, srv, natsstore.Options{Prefix: "restart", Instance: "pod-0"})
	ms, err := again.Queues().Lease(bg, "work", 5, time.Minute)
	if err != nil || len(ms) != 1 || ms[0].ID != leased || ms[0].Deliveries != 2 {
		t.Fatalf("after pod-0's restart leased %+v, %v; want the message it held", ms, err)
	}
	if err := again.Queues().Ack(bg, "work", leased); err != nil {
		t.Fatal(err)
	}
	ms, _ = again.Queues().Lease(bg, "work", 5, time.Minute)
	if len(ms) != 1 || ms[0].ID != waiting {
		t.Fatalf("then leased %+v, want the message behind it", ms)
	}
	if _, m, err := again.Queues().FindDeadLetter(bg, dead); err != nil || string(m.Body) != "dead" || m.LastError != "boom" {
		t.Fatalf("dead letter after restart: %+v %v", m, err)
	}
}

// TestLogLimits: the stream carries the retention and size limits, and a
// payload expires before its entry.
func TestLogLimits(t *testing.T) {
	srv := natstest.Start(t)
	s := open(t, srv, natsstore.Options{Prefix: "limits", LogRetention: 48 * time.Hour, LogPayloadRetention: time.Hour, LogMaxBytes: 8 << 20})
	if err := s.Log().Record(bg, store.LogEntry{ID: "m", Attempt: 1, Status: "OK", Start: time.Now().Add(-time.Second), Payload: []byte("p")}); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(connect(t, srv))
	st, err := js.Stream(bg, "limits_log")
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	if cfg.MaxAge != 48*time.Hour || cfg.MaxBytes != 8<<20 || cfg.Discard != jetstream.DiscardOld {
		t.Fatalf("log stream limits: max age %v, max bytes %d, discard %v", cfg.MaxAge, cfg.MaxBytes, cfg.Discard)
	}
	m, err := st.GetLastMsgForSubject(bg, "limits.logp.m.1")
	if err != nil {
		t.Fatal(err)
	}
	if ttl := m.Header.Get("Nats-TTL"); ttl != "1h0m0s" && ttl != "3600" && ttl != "1h" {
		t.Fatalf("payload TTL header = %q, want an hour", ttl)
	}
	// Reopening with other limits updates the stream.
	open(t, srv, natsstore.Options{Prefix: "limits", LogRetention: 24 * time.Hour, LogMaxBytes: -1})
	info, _ := st.Info(bg)
	if info.Config.MaxAge != 24*time.Hour || info.Config.MaxBytes != -1 {
		t.Fatalf("after reopening: max age %v, max bytes %d", info.Config.MaxAge, info.Config.MaxBytes)
	}
}

// TestServerExpiresEntries: the server removes an expired datastore entry
// by itself (the store's clock only hides it earlier).
func TestServerExpiresEntries(t *testing.T) {
	srv := natstest.Start(t)
	s := open(t, srv, natsstore.Options{Prefix: "ttl"})
	if err := s.KV().Put(bg, "s", "a", []byte("v"), store.PutOptions{TTL: time.Second}); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(connect(t, srv))
	st, _ := js.Stream(bg, "KV_ttl_kv")
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := st.GetLastMsgForSubject(bg, "$KV.ttl_kv.s.a")
		if errors.Is(err, jetstream.ErrMsgNotFound) || err == nil && m.Header.Get("Nats-Marker-Reason") != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server kept the entry 10s past its TTL")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := s.KV().Get(bg, "s", "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after expiry: %v", err)
	}
}

// TestLongIDs: an id whose subject token would be too long is hashed into
// the token and read back from the record.
func TestLongIDs(t *testing.T) {
	srv := natstest.Start(t)
	s := open(t, srv, natsstore.Options{Prefix: "long"})
	ids := []string{strings.Repeat(".", 1024), strings.Repeat("é", 512), strings.Repeat(".", 1023) + "x"}
	for _, id := range ids {
		if err := s.KV().Put(bg, "s", id, []byte(id[:8]), store.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := s.KV().Put(bg, "s", id, nil, store.PutOptions{}); !errors.Is(err, store.ErrExists) {
			t.Fatalf("second put: %v", err)
		}
		if e, err := s.KV().Get(bg, "s", id); err != nil || e.ID != id {
			t.Fatalf("get: %v", err)
		}
		if err := s.Log().Record(bg, store.LogEntry{ID: id, Flow: id, Attempt: 1, Status: "OK", Start: time.Now().Add(-time.Second)}); err != nil {
			t.Fatal(err)
		}
		if es, err := s.Log().Get(bg, id); err != nil || len(es) != 1 || es[0].Flow != id {
			t.Fatalf("log get: %v", err)
		}
		if es, err := s.Log().List(bg, store.Filter{Flow: id}); err != nil || len(es) != 1 || es[0].ID != id {
			t.Fatalf("log list: %d, %v", len(es), err)
		}
	}
	es, err := s.KV().Select(bg, "s", store.SelectOptions{Prefix: "..."})
	if err != nil || len(es) != 2 || es[0].ID != ids[0] || es[1].ID != ids[2] {
		t.Fatalf("select: %d entries, %v", len(es), err)
	}
	if err := s.KV().Delete(bg, "s", ids[0]); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.KV().Count(bg, "s"); n != 2 {
		t.Fatalf("count = %d", n)
	}
}

// TestServerRestart: the server goes away and comes back (its storage
// kept); the instances reconnect, nothing stored is lost, and each sees
// the other's changes again.
func TestServerRestart(t *testing.T) {
	srv := natstest.Start(t)
	a := open(t, srv, natsstore.Options{Prefix: "r"}).Queues()
	b := open(t, srv, natsstore.Options{Prefix: "r"}).Queues()
	before, err := a.Enqueue(bg, "work", store.Message{Body: []byte("before")})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	srv.Restart(t)
	t.Logf("restarted in %v", time.Since(t0))
	// Writes fail while the connection is down, then work again.
	deadline := time.Now().Add(30 * time.Second)
	var after string
	for {
		ctx, cancel := context.WithTimeout(bg, time.Second)
		after, err = a.Enqueue(ctx, "work", store.Message{Body: []byte("after")})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("enqueue after the restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("enqueue works %v after the restart began", time.Since(t0))
	var got []string
	for len(got) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("b leased %v of [before after] after the restart", got)
		}
		ms, err := b.Lease(bg, "work", 5, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			got = append(got, m.ID)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("b leased both %v after the restart began", time.Since(t0))
	if got[0] != before || got[1] != after {
		t.Fatalf("b leased %v, want [%s %s]", got, before, after)
	}
}

// A server out of storage refuses writes: the store says ErrFull (retry
// later), for datastore puts and enqueues alike, never a plain failure.
func TestFullServerIsErrFull(t *testing.T) {
	srv := natstest.StartWithStorage(t, 6<<20)
	s := open(t, srv, natsstore.Options{Prefix: "full", LogMaxBytes: 1 << 20})
	value := bytes.Repeat([]byte("x"), 64<<10)
	var err error
	for i := 0; i < 200 && err == nil; i++ {
		err = s.KV().Put(bg, "big", fmt.Sprintf("e%03d", i), value, store.PutOptions{Overwrite: true})
	}
	if !errors.Is(err, store.ErrFull) {
		t.Fatalf("filling the server: %v, want ErrFull", err)
	}
	if _, err := s.Queues().Enqueue(bg, "work", store.Message{Body: value}); !errors.Is(err, store.ErrFull) {
		t.Errorf("enqueue on a full server: %v, want ErrFull", err)
	}
}
