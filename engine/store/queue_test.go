package store

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func enqueue(t *testing.T, q Queues, queue, key, body string) string {
	t.Helper()
	id, err := q.Enqueue(bg, queue, Message{Key: key, Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func lease(t *testing.T, q Queues, queue string, max int) []Message {
	t.Helper()
	ms, err := q.Lease(bg, queue, max, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func bodies(ms []Message) string {
	var b []string
	for _, m := range ms {
		b = append(b, string(m.Body))
	}
	return strings.Join(b, ",")
}

func TestQueueFIFO(t *testing.T) {
	db, _ := openTest(t, Options{})
	q := db.Queues()
	var ids []string
	for i := 0; i < 50; i++ {
		id := enqueue(t, q, "in", "", strconv.Itoa(i))
		if len(id) != 32 || (len(ids) > 0 && id <= ids[len(ids)-1]) {
			t.Fatalf("id %q: not 32 hex characters ascending after %v", id, ids)
		}
		ids = append(ids, id)
	}
	var got []Message
	for len(got) < 50 {
		ms := lease(t, q, "in", 7)
		if len(ms) == 0 {
			t.Fatalf("Lease returned nothing after %d messages", len(got))
		}
		got = append(got, ms...)
	}
	for i, m := range got {
		if m.ID != ids[i] || string(m.Body) != strconv.Itoa(i) || m.Deliveries != 1 || m.Enqueued.IsZero() || m.LeaseUntil.IsZero() {
			t.Fatalf("message %d = %+v, want id %s body %d delivered once", i, m, ids[i], i)
		}
	}
	if ms := lease(t, q, "in", 10); len(ms) != 0 {
		t.Fatalf("all leased, yet Lease returned %s", bodies(ms))
	}
	for _, m := range got {
		if err := q.Ack(bg, "in", m.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Ack(bg, "in", got[0].ID); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), got[0].ID) {
		t.Fatalf("second Ack: %v, want ErrNotFound naming the id", err)
	}
	if st, _ := q.Stats(bg, "in"); st != (QueueStats{}) {
		t.Fatalf("Stats after all acked = %+v", st)
	}
}

func TestQueueMessageFields(t *testing.T) {
	clock := newClock()
	db, _ := openTest(t, Options{Now: clock.Now})
	q := db.Queues()
	in := Message{Key: "k", Body: []byte("{}"), ContentType: "application/json",
		Headers: map[string]string{"X-A": "1"}, Meta: map[string]string{"flow": "f"}}
	id, err := q.Enqueue(bg, "in", in)
	if err != nil {
		t.Fatal(err)
	}
	m := lease(t, q, "in", 1)[0]
	if m.ID != id || m.Key != "k" || string(m.Body) != "{}" || m.ContentType != "application/json" ||
		m.Headers["X-A"] != "1" || m.Meta["flow"] != "f" || !m.Enqueued.Equal(clock.Now()) ||
		!m.LeaseUntil.Equal(clock.Now().Add(10*time.Minute)) || m.Attempts != 0 || m.Deliveries != 1 {
		t.Fatalf("leased %+v", m)
	}
}

// TestQueueRetryKeepsPosition: a retried message keeps its place and
// holds back later messages of its key until it is done.
func TestQueueRetryKeepsPosition(t *testing.T) {
	clock := newClock()
	db, _ := openTest(t, Options{Now: clock.Now})
	q := db.Queues()
	a1 := enqueue(t, q, "in", "a", "a1")
	enqueue(t, q, "in", "a", "a2")
	b1 := enqueue(t, q, "in", "b", "b1")
	enqueue(t, q, "in", "", "free")

	if got := bodies(lease(t, q, "in", 10)); got != "a1,b1,free" {
		t.Fatalf("first lease = %s, want a1,b1,free (a2 waits for a1)", got)
	}
	if err := q.Retry(bg, "in", a1, clock.Now().Add(time.Minute), "HTTP 503"); err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(bg, "in", b1); err != nil {
		t.Fatal(err)
	}
	enqueue(t, q, "in", "b", "b2")
	if got := bodies(lease(t, q, "in", 10)); got != "b2" {
		t.Fatalf("while a1 waits: lease = %q, want b2 only (a2 blocked behind a1)", got)
	}
	st, _ := q.Stats(bg, "in")
	if st.Delayed != 1 || st.Ready != 1 || st.InFlight != 2 {
		t.Fatalf("Stats = %+v, want 1 delayed (a1), 1 ready (a2, blocked), 2 in flight (b2, free)", st)
	}
	clock.Advance(time.Minute)
	ms := lease(t, q, "in", 10)
	if bodies(ms) != "a1" || ms[0].Attempts != 1 || ms[0].LastError != "HTTP 503" || ms[0].Deliveries != 2 {
		t.Fatalf("after the delay: %+v, want a1 with Attempts 1 and its error", ms)
	}
	if err := q.Ack(bg, "in", a1); err != nil {
		t.Fatal(err)
	}
	if got := bodies(lease(t, q, "in", 10)); got != "a2" {
		t.Fatalf("after a1 acked: %q, want a2", got)
	}
	if err := q.Retry(bg, "in", "00000000000000000000000000000000", time.Time{}, "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Retry of unknown id: %v", err)
	}
}

func TestQueueDeadLetterReplay(t *testing.T) {
	clock := newClock()
	dir := t.TempDir()
	db := openAt(t, dir, Options{Now: clock.Now})
	q := db.Queues()
	x1 := enqueue(t, q, "in", "x", "x1")
	enqueue(t, q, "in", "x", "x2")
	enqueue(t, q, "other", "", "o")
	if got := bodies(lease(t, q, "in", 10)); got != "x1" {
		t.Fatalf("lease = %q", got)
	}
	if err := q.Retry(bg, "in", x1, time.Time{}, "first"); err != nil {
		t.Fatal(err)
	}
	lease(t, q, "in", 1)
	if err := q.DeadLetter(bg, "in", x1, "gave up after 2 attempts"); err != nil {
		t.Fatal(err)
	}
	// The key moves on: x2 is next.
	ms := lease(t, q, "in", 10)
	if bodies(ms) != "x2" {
		t.Fatalf("after dead letter: %q, want x2", bodies(ms))
	}
	dead, err := q.DeadLetters(bg, "in")
	if err != nil || len(dead) != 1 || dead[0].ID != x1 || dead[0].LastError != "gave up after 2 attempts" || dead[0].Attempts != 2 || string(dead[0].Body) != "x1" {
		t.Fatalf("DeadLetters = %+v, %v", dead, err)
	}
	if st, _ := q.Stats(bg, "in"); st.Dead != 1 || st.InFlight != 1 {
		t.Fatalf("Stats = %+v", st)
	}
	if err := q.DeadLetter(bg, "in", x1, "again"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("dead-lettering a dead letter: %v", err)
	}

	// Dead letters survive a restart and are found by id alone.
	db.Close()
	db = openAt(t, dir, Options{Now: clock.Now})
	q = db.Queues()
	queue, m, err := q.FindDeadLetter(bg, x1)
	if err != nil || queue != "in" || m.ID != x1 {
		t.Fatalf("FindDeadLetter = %q, %+v, %v", queue, m, err)
	}
	if _, _, err := q.FindDeadLetter(bg, "ffffffffffffffffffffffffffffffff"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("FindDeadLetter(unknown) = %v", err)
	}
	if st, _ := q.Stats(bg, "in"); st.Dead != 1 || st.Ready != 1 {
		t.Fatalf("Stats after reopen = %+v (the lease of x2 ended with the process)", st)
	}

	// x2 is in flight again; replaying x1 (earlier, same key) must not let
	// two messages of key x run at once.
	ms = lease(t, q, "in", 10)
	if bodies(ms) != "x2" {
		t.Fatalf("after reopen: %q, want x2", bodies(ms))
	}
	if err := q.Replay(bg, "in", x1); err != nil {
		t.Fatal(err)
	}
	if got := lease(t, q, "in", 10); len(got) != 0 {
		t.Fatalf("replayed x1 leased while x2 of the same key is in flight: %s", bodies(got))
	}
	if err := q.Ack(bg, "in", ms[0].ID); err != nil {
		t.Fatal(err)
	}
	ms = lease(t, q, "in", 10)
	if bodies(ms) != "x1" || ms[0].Attempts != 0 || ms[0].LastError != "" || ms[0].Deliveries != 1 {
		t.Fatalf("replayed: %+v, want x1 with Attempts reset", ms)
	}
	if dead, _ := q.DeadLetters(bg, "in"); len(dead) != 0 {
		t.Fatalf("still dead after replay: %+v", dead)
	}
	if err := q.Replay(bg, "in", x1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Replay: %v", err)
	}
	if st, _ := q.Stats(bg, "in"); st.Dead != 0 || st.InFlight != 1 {
		t.Fatalf("Stats = %+v", st)
	}
	names, _ := q.Names(bg)
	if strings.Join(names, ",") != "in,other" {
		t.Fatalf("Names = %v", names)
	}
}

func TestQueueLeaseExpiry(t *testing.T) {
	clock := newClock()
	db, _ := openTest(t, Options{Now: clock.Now})
	q := db.Queues()
	enqueue(t, q, "in", "k", "first")
	enqueue(t, q, "in", "k", "second")
	ms, err := q.Lease(bg, "in", 10, 30*time.Second)
	if err != nil || bodies(ms) != "first" {
		t.Fatalf("lease = %q, %v", bodies(ms), err)
	}
	clock.Advance(29 * time.Second)
	if got := lease(t, q, "in", 10); len(got) != 0 {
		t.Fatalf("before the lease ended: %s", bodies(got))
	}
	clock.Advance(2 * time.Second)
	again := lease(t, q, "in", 10)
	if bodies(again) != "first" || again[0].ID != ms[0].ID || again[0].Deliveries != 2 || again[0].Attempts != 0 {
		t.Fatalf("after the lease ended: %+v, want first again (2nd delivery), second still behind it", again)
	}
}

// TestQueueRestartRedelivers: a message leased when the process stopped is
// leased again after Open, without waiting for the lease to run out.
func TestQueueRestartRedelivers(t *testing.T) {
	dir := t.TempDir()
	db := openAt(t, dir, Options{})
	q := db.Queues()
	id := enqueue(t, q, "in", "k", "in progress")
	enqueue(t, q, "in", "k", "next")
	if ms := lease(t, q, "in", 10); len(ms) != 1 {
		t.Fatalf("lease = %d messages", len(ms))
	}
	db.Close()
	db = openAt(t, dir, Options{})
	q = db.Queues()
	ms, err := q.Lease(bg, "in", 10, time.Hour)
	if err != nil || len(ms) != 1 || ms[0].ID != id || ms[0].Deliveries != 2 {
		t.Fatalf("after restart: %+v, %v; want %s again", ms, err, id)
	}
	// Ids issued after the restart still sort after the old ones.
	if id2 := enqueue(t, q, "in", "", "new"); id2 <= id {
		t.Fatalf("id after restart %s sorts before %s", id2, id)
	}
}

func TestQueueStats(t *testing.T) {
	clock := newClock()
	db, _ := openTest(t, Options{Now: clock.Now})
	q := db.Queues()
	if st, err := q.Stats(bg, "never-used"); err != nil || st != (QueueStats{}) {
		t.Fatalf("Stats of an unknown queue = %+v, %v", st, err)
	}
	t0 := clock.Now()
	enqueue(t, q, "in", "", "r1")
	clock.Advance(time.Second)
	enqueue(t, q, "in", "", "r2")
	if _, err := q.Enqueue(bg, "in", Message{Body: []byte("later"), NotBefore: clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	d := enqueue(t, q, "in", "", "dead")
	enqueue(t, q, "in", "", "r3")
	lease(t, q, "in", 1) // r1 in flight
	if err := q.DeadLetter(bg, "in", d, "no"); err != nil {
		t.Fatal(err)
	}
	st, err := q.Stats(bg, "in")
	want := QueueStats{Ready: 2, InFlight: 1, Delayed: 1, Dead: 1, OldestEnqueued: t0}
	if err != nil || st != want {
		t.Fatalf("Stats = %+v, %v; want %+v", st, err, want)
	}
	clock.Advance(time.Hour)
	st, _ = q.Stats(bg, "in")
	if st.Delayed != 0 || st.Ready != 4 || st.InFlight != 0 {
		t.Fatalf("an hour later: %+v, want the delayed one ready and r1's lease over", st)
	}
}

func TestQueueNotify(t *testing.T) {
	db, _ := openTest(t, Options{})
	q := db.Queues()
	wake := q.Notify("in")
	select {
	case <-wake:
		t.Fatal("signalled before anything happened")
	default:
	}
	enqueue(t, q, "in", "", "x")
	select {
	case <-wake:
	case <-time.After(time.Second):
		t.Fatal("Enqueue did not signal Notify")
	}
	wake = q.Notify("in")
	ms := lease(t, q, "in", 1)
	if err := q.Ack(bg, "in", ms[0].ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
	case <-time.After(time.Second):
		t.Fatal("Ack did not signal Notify")
	}
	if q.Notify("bad name") != nil {
		t.Fatal("Notify of an invalid name returned a live channel")
	}
	wake = q.Notify("in")
	db.Close()
	select {
	case <-wake:
	case <-time.After(time.Second):
		t.Fatal("Close did not wake waiters")
	}
	if _, err := q.Enqueue(bg, "in", Message{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Enqueue after Close: %v", err)
	}
}

func TestQueueValidation(t *testing.T) {
	db, _ := openTest(t, Options{})
	q := db.Queues()
	if _, err := q.Enqueue(bg, "has space", Message{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Enqueue to a bad name: %v", err)
	}
	if _, err := q.Lease(bg, "in", 0, time.Second); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Lease max 0: %v", err)
	}
	if _, err := q.Lease(bg, "in", 1, 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Lease for 0s: %v", err)
	}
	if err := q.Ack(bg, "in", "a\x00b"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Ack with NUL id: %v", err)
	}
	if ms, err := q.Lease(bg, "empty", 5, time.Second); err != nil || len(ms) != 0 {
		t.Fatalf("Lease of an empty queue = %v, %v", ms, err)
	}
}

// TestQueuePurgeDeadLetter: a purged dead letter is gone for good, also
// after a restart, the dead count follows, and the queue's other messages
// are untouched.
func TestQueuePurgeDeadLetter(t *testing.T) {
	dir := t.TempDir()
	db := openAt(t, dir, Options{})
	q := db.Queues()
	x1 := enqueue(t, q, "in", "", "x1")
	enqueue(t, q, "in", "", "x2")
	lease(t, q, "in", 1)
	if err := q.DeadLetter(bg, "in", x1, "refused"); err != nil {
		t.Fatal(err)
	}
	p, ok := q.(DeadLetterPurger)
	if !ok {
		t.Fatal("the badger queues cannot purge dead letters")
	}
	if err := p.PurgeDeadLetter(bg, "in", "ffffffffffffffffffffffffffffffff"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("purging an unknown id: %v, want ErrNotFound", err)
	}
	if err := p.PurgeDeadLetter(bg, "in", x1); err != nil {
		t.Fatal(err)
	}
	if st, _ := q.Stats(bg, "in"); st.Dead != 0 || st.Ready != 1 {
		t.Fatalf("Stats after purge = %+v, want no dead letter and x2 ready", st)
	}
	if err := p.PurgeDeadLetter(bg, "in", x1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("purging twice: %v, want ErrNotFound", err)
	}
	db.Close()
	db = openAt(t, dir, Options{})
	if _, _, err := db.Queues().FindDeadLetter(bg, x1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after a restart the purged dead letter is back: %v", err)
	}
	if st, _ := db.Queues().Stats(bg, "in"); st.Dead != 0 || st.Ready != 1 {
		t.Fatalf("Stats after reopen = %+v", st)
	}
}

// Message ids sort by issue time even when the clock stands still or
// goes back, and after Seen never sort before an id seen (a restart).
func TestMessageIDsSortAndResume(t *testing.T) {
	var g MessageIDs
	now := time.Now()
	a, b := g.Next(now), g.Next(now.Add(-time.Hour))
	if !(a < b) || !IsMessageID(a) || !IsMessageID(b) {
		t.Fatalf("ids %s then %s: want valid and increasing", a, b)
	}
	var h MessageIDs
	h.Seen(b)
	if c := h.Next(now.Add(-time.Hour)); !(c > b) {
		t.Fatalf("after Seen(%s) issued %s, an older id", b, c)
	}
	if IsMessageID("not-an-id") || IsMessageID(strings.Repeat("z", 32)) {
		t.Fatal("malformed ids accepted")
	}
}
