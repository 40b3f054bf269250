package storetest

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/store"
)

// QueuesOpener opens empty queues for one test, on the wall clock; the
// backend closes them when the test ends (t.Cleanup).
type QueuesOpener func(t *testing.T) store.Queues

// SharedQueuesOpener opens two handles on the same empty queues, as two
// Stride instances sharing them would.
type SharedQueuesOpener func(t *testing.T) (a, b store.Queues)

// TestQueues runs the Queues contract against a backend.
func TestQueues(t *testing.T, open QueuesOpener) {
	for _, tc := range []struct {
		name string
		run  func(*testing.T, QueuesOpener)
	}{
		{"FIFO", qFIFO},
		{"MessageFields", qFields},
		{"InvalidArguments", qInvalid},
		{"KeyOrder", qKeyOrder},
		{"RetryKeepsItsPlace", qRetry},
		{"Release", qRelease},
		{"LeaseExpiry", qLeaseExpiry},
		{"DelayedEnqueue", qDelayed},
		{"DeadLetterAndReplay", qDeadLetter},
		{"ReplayAtOriginalPlace", qReplayPlace},
		{"Stats", qStats},
		{"NamesAndNotify", qNamesNotify},
		{"KeyOrderParallel", func(t *testing.T, open QueuesOpener) {
			q := open(t)
			keyOrderParallel(t, []store.Queues{q, q, q, q})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open) })
	}
}

func enqueue(t testing.TB, q store.Queues, queue, key, body string) string {
	t.Helper()
	id, err := q.Enqueue(bg, queue, store.Message{Key: key, Body: []byte(body)})
	must(t, "enqueue", err)
	return id
}

func lease(t testing.TB, q store.Queues, queue string, max int, leaseFor time.Duration) []store.Message {
	t.Helper()
	ms, err := q.Lease(bg, queue, max, leaseFor)
	must(t, "lease", err)
	return ms
}

// leaseUntil leases until it gets at least n messages (waiting for a
// lease to expire or a delay to pass) and returns what the lease that
// got them returned.
func leaseUntil(t testing.TB, q store.Queues, queue string, max int, leaseFor time.Duration, n int) []store.Message {
	t.Helper()
	var ms []store.Message
	waitFor(t, fmt.Sprintf("%d leasable messages in %s", n, queue), func() bool {
		ms = lease(t, q, queue, max, leaseFor)
		if len(ms) > 0 && len(ms) < n {
			t.Fatalf("leased %s, want %d at once", bodies(ms), n)
		}
		return len(ms) >= n
	})
	return ms
}

func bodies(ms []store.Message) string {
	var b []string
	for _, m := range ms {
		b = append(b, string(m.Body))
	}
	return strings.Join(b, ",")
}

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func qFIFO(t *testing.T, open QueuesOpener) {
	q := open(t)
	var ids []string
	for i := range 30 {
		id := enqueue(t, q, "in", "", strconv.Itoa(i))
		if !hexID.MatchString(id) || (len(ids) > 0 && id <= ids[len(ids)-1]) {
			t.Fatalf("id %q: not 32 hex characters ascending after %v", id, ids)
		}
		ids = append(ids, id)
	}
	var got []store.Message
	for len(got) < 30 {
		ms := lease(t, q, "in", 7, 10*time.Minute)
		if len(ms) == 0 {
			t.Fatalf("lease returned nothing after %d messages", len(got))
		}
		if len(ms) > 7 {
			t.Fatalf("lease of at most 7 returned %d", len(ms))
		}
		got = append(got, ms...)
	}
	for i, m := range got {
		if m.ID != ids[i] || string(m.Body) != strconv.Itoa(i) || m.Deliveries != 1 || m.Attempts != 0 || m.Enqueued.IsZero() || m.LeaseUntil.IsZero() {
			t.Fatalf("message %d = %s, want id %s body %d delivered once", i, describe(m), ids[i], i)
		}
	}
	if ms := lease(t, q, "in", 10, 10*time.Minute); len(ms) != 0 {
		t.Fatalf("all leased, yet lease returned %s", bodies(ms))
	}
	for _, m := range got {
		must(t, "ack", q.Ack(bg, "in", m.ID))
	}
	wantErr(t, "second ack", q.Ack(bg, "in", got[0].ID), store.ErrNotFound, got[0].ID)
	if st, err := q.Stats(bg, "in"); err != nil || st != (store.QueueStats{}) {
		t.Fatalf("stats after all acked = %+v, %v", st, err)
	}
	if ms := lease(t, q, "in", 10, time.Minute); len(ms) != 0 {
		t.Fatalf("lease after all acked returned %s", bodies(ms))
	}
}

func qFields(t *testing.T, open QueuesOpener) {
	q := open(t)
	in := store.Message{ID: "ignored", Key: "k", Body: []byte("{}"), ContentType: "application/json",
		Headers: map[string]string{"X-A": "1", "X-B": ""}, Meta: map[string]string{"flow": "f"},
		Attempts: 7, Deliveries: 9, LastError: "ignored", LeaseUntil: time.Now().Add(time.Hour)}
	before := time.Now()
	id, err := q.Enqueue(bg, "in", in)
	must(t, "enqueue", err)
	after := time.Now()
	leased := time.Now()
	ms := lease(t, q, "in", 5, 10*time.Minute)
	leasedAfter := time.Now()
	if len(ms) != 1 {
		t.Fatalf("leased %d messages", len(ms))
	}
	m := ms[0]
	if m.ID != id || m.Key != "k" || string(m.Body) != "{}" || m.ContentType != "application/json" ||
		m.Headers["X-A"] != "1" || len(m.Headers) != 2 || m.Meta["flow"] != "f" || len(m.Meta) != 1 ||
		m.Attempts != 0 || m.Deliveries != 1 || m.LastError != "" || !m.NotBefore.IsZero() {
		t.Fatalf("leased %s", describe(m))
	}
	if m.Enqueued.Before(before.Truncate(time.Millisecond)) || m.Enqueued.After(after) {
		t.Fatalf("Enqueued %v is not within the enqueue call (%v–%v)", m.Enqueued, before, after)
	}
	if m.LeaseUntil.Before(leased.Add(10*time.Minute).Truncate(time.Millisecond)) || m.LeaseUntil.After(leasedAfter.Add(10*time.Minute)) {
		t.Fatalf("LeaseUntil %v is not the lease call's time + 10m", m.LeaseUntil)
	}
}

func qInvalid(t *testing.T, open QueuesOpener) {
	q := open(t)
	for _, name := range []string{"", "a b", "a/b", strings.Repeat("q", 41)} {
		_, err := q.Enqueue(bg, name, store.Message{})
		wantErr(t, fmt.Sprintf("enqueue to %q", name), err, store.ErrInvalid, "")
		_, err = q.Lease(bg, name, 1, time.Minute)
		wantErr(t, fmt.Sprintf("lease from %q", name), err, store.ErrInvalid, "")
		wantErr(t, "ack", q.Ack(bg, name, "x"), store.ErrInvalid, "")
		_, err = q.Stats(bg, name)
		wantErr(t, "stats", err, store.ErrInvalid, "")
		if ch := q.Notify(name); ch != nil {
			t.Fatalf("Notify(%q) returned a channel", name)
		}
	}
	_, err := q.Lease(bg, "in", 0, time.Minute)
	wantErr(t, "lease of 0", err, store.ErrInvalid, "")
	_, err = q.Lease(bg, "in", 1, 0)
	wantErr(t, "lease for 0s", err, store.ErrInvalid, "")
	wantErr(t, "ack of an empty id", q.Ack(bg, "in", ""), store.ErrInvalid, "")
	if ms, err := q.Lease(bg, "never-used", 5, time.Minute); err != nil || len(ms) != 0 {
		t.Fatalf("lease from an unknown queue = %v, %v", ms, err)
	}
	if st, err := q.Stats(bg, "never-used"); err != nil || st != (store.QueueStats{}) {
		t.Fatalf("stats of an unknown queue = %+v, %v", st, err)
	}
	enqueue(t, q, "in", "", "x")
	const missing = "0000000000000000ffffffffffffffff"
	wantErr(t, "ack of a missing id", q.Ack(bg, "in", missing), store.ErrNotFound, missing)
	wantErr(t, "retry of a missing id", q.Retry(bg, "in", missing, time.Now(), "e"), store.ErrNotFound, "")
	wantErr(t, "release of a missing id", q.Release(bg, "in", missing), store.ErrNotFound, "")
	wantErr(t, "dead letter of a missing id", q.DeadLetter(bg, "in", missing, "e"), store.ErrNotFound, "")
	wantErr(t, "replay of a missing id", q.Replay(bg, "in", missing), store.ErrNotFound, "")
	_, _, err = q.FindDeadLetter(bg, missing)
	wantErr(t, "find a missing dead letter", err, store.ErrNotFound, "")
	_, _, err = q.FindDeadLetter(bg, "")
	wantErr(t, "find an empty id", err, store.ErrInvalid, "")
}

// qKeyOrder: a message of a key is not leased while another of its key is
// in flight; other keys and unkeyed messages are.
func qKeyOrder(t *testing.T, open QueuesOpener) {
	q := open(t)
	a1 := enqueue(t, q, "in", "a", "a1")
	enqueue(t, q, "in", "a", "a2")
	b1 := enqueue(t, q, "in", "b", "b1")
	enqueue(t, q, "in", "", "u1")
	enqueue(t, q, "in", "a", "a3")
	enqueue(t, q, "in", "", "u2")
	ms := lease(t, q, "in", 10, time.Minute)
	if got := bodies(ms); got != "a1,b1,u1,u2" {
		t.Fatalf("leased %s, want a1,b1,u1,u2 (a2 and a3 wait for a1)", got)
	}
	if ms := lease(t, q, "in", 10, time.Minute); len(ms) != 0 {
		t.Fatalf("leased %s while a1 is in flight", bodies(ms))
	}
	must(t, "ack a1", q.Ack(bg, "in", a1))
	ms = lease(t, q, "in", 10, time.Minute)
	if got := bodies(ms); got != "a2" {
		t.Fatalf("after a1's ack leased %s, want a2 alone", got)
	}
	must(t, "ack b1", q.Ack(bg, "in", b1))
	if ms := lease(t, q, "in", 10, time.Minute); len(ms) != 0 {
		t.Fatalf("leased %s while a2 is in flight", bodies(ms))
	}
}

func qRetry(t *testing.T, open QueuesOpener) {
	q := open(t)
	k1 := enqueue(t, q, "in", "k", "k1")
	enqueue(t, q, "in", "k", "k2")
	ms := lease(t, q, "in", 10, time.Minute)
	if bodies(ms) != "k1" {
		t.Fatalf("leased %s", bodies(ms))
	}
	notBefore := time.Now().Add(400 * time.Millisecond)
	must(t, "retry", q.Retry(bg, "in", k1, notBefore, "HTTP 503"))
	u := enqueue(t, q, "in", "", "u")
	// k1 waits for its time, k2 waits behind k1; the unkeyed one runs.
	if got := bodies(lease(t, q, "in", 10, time.Minute)); got != "u" {
		if time.Now().Before(notBefore) {
			t.Fatalf("during k1's delay leased %q, want u alone", got)
		}
		t.Skip("the machine was too slow to observe the delay")
	}
	must(t, "ack u", q.Ack(bg, "in", u))
	ms = leaseUntil(t, q, "in", 10, time.Minute, 1)
	if time.Now().Before(notBefore) {
		t.Fatalf("k1 was leased again before its notBefore")
	}
	m := ms[0]
	if len(ms) != 1 || m.ID != k1 || m.Attempts != 1 || m.Deliveries != 2 || m.LastError != "HTTP 503" || !m.NotBefore.Equal(notBefore) {
		t.Fatalf("after the delay leased %s, want k1 alone with 1 attempt, 2 deliveries, its error and notBefore", describe(ms))
	}
	// A retry of a message whose time has come is ready at once.
	must(t, "retry now", q.Retry(bg, "in", k1, time.Time{}, "again"))
	ms = lease(t, q, "in", 10, time.Minute)
	if len(ms) != 1 || ms[0].ID != k1 || ms[0].Attempts != 2 || ms[0].LastError != "again" {
		t.Fatalf("after retry now: %s", describe(ms))
	}
}

func qRelease(t *testing.T, open QueuesOpener) {
	q := open(t)
	k1 := enqueue(t, q, "in", "k", "k1")
	enqueue(t, q, "in", "k", "k2")
	u1 := enqueue(t, q, "in", "", "u1")
	enqueue(t, q, "in", "", "u2")
	ms := lease(t, q, "in", 2, time.Minute)
	if bodies(ms) != "k1,u1" {
		t.Fatalf("leased %s", bodies(ms))
	}
	must(t, "release k1", q.Release(bg, "in", k1))
	must(t, "release u1", q.Release(bg, "in", u1))
	ms = lease(t, q, "in", 2, time.Minute)
	if bodies(ms) != "k1,u1" || ms[0].Attempts != 0 || ms[0].Deliveries != 2 || ms[1].Deliveries != 2 {
		t.Fatalf("after release leased %s, want k1 and u1 again at their place, no attempt counted", describe(ms))
	}
}

func qLeaseExpiry(t *testing.T, open QueuesOpener) {
	q := open(t)
	k1 := enqueue(t, q, "in", "k", "k1")
	enqueue(t, q, "in", "k", "k2")
	ms := lease(t, q, "in", 10, 300*time.Millisecond)
	if bodies(ms) != "k1" {
		t.Fatalf("leased %s", bodies(ms))
	}
	ms = leaseUntil(t, q, "in", 10, time.Minute, 1)
	if len(ms) != 1 || ms[0].ID != k1 || ms[0].Deliveries != 2 || ms[0].Attempts != 0 {
		t.Fatalf("after the lease expired leased %s, want k1 alone, delivered twice", describe(ms))
	}
}

func qDelayed(t *testing.T, open QueuesOpener) {
	q := open(t)
	notBefore := time.Now().Add(400 * time.Millisecond)
	id, err := q.Enqueue(bg, "in", store.Message{Key: "k", Body: []byte("later"), NotBefore: notBefore})
	must(t, "enqueue", err)
	enqueue(t, q, "in", "k", "behind")
	enqueue(t, q, "in", "", "now")
	ms := lease(t, q, "in", 10, time.Minute)
	st, err := q.Stats(bg, "in")
	must(t, "stats", err)
	if !time.Now().Before(notBefore) {
		t.Skip("the machine was too slow to observe the delay")
	}
	if bodies(ms) != "now" {
		t.Fatalf("before its time leased %s, want only the unkeyed one", bodies(ms))
	}
	if st.Delayed != 1 || st.Ready != 1 || st.InFlight != 1 {
		t.Fatalf("stats = %+v, want 1 delayed, 1 ready (behind it), 1 in flight", st)
	}
	ms = leaseUntil(t, q, "in", 10, time.Minute, 1)
	if time.Now().Before(notBefore) {
		t.Fatal("the delayed message was leased before its time")
	}
	if len(ms) != 1 || ms[0].ID != id {
		t.Fatalf("leased %s, want the delayed message alone (behind waits for it)", bodies(ms))
	}
}

func qDeadLetter(t *testing.T, open QueuesOpener) {
	q := open(t)
	k1 := enqueue(t, q, "in", "k", "k1")
	k2 := enqueue(t, q, "in", "k", "k2")
	other := enqueue(t, q, "other", "", "o")
	lease(t, q, "in", 1, time.Minute)
	must(t, "retry", q.Retry(bg, "in", k1, time.Time{}, "first"))
	lease(t, q, "in", 1, time.Minute)
	must(t, "dead letter", q.DeadLetter(bg, "in", k1, "[permanent] HTTP 400"))
	wantErr(t, "ack of a dead letter", q.Ack(bg, "in", k1), store.ErrNotFound, "")
	// Later messages of its key proceed.
	ms := lease(t, q, "in", 10, time.Minute)
	if len(ms) != 1 || ms[0].ID != k2 {
		t.Fatalf("after the dead letter leased %s, want k2", describe(ms))
	}
	lease(t, q, "other", 1, time.Minute)
	must(t, "dead letter other", q.DeadLetter(bg, "other", other, "x"))
	must(t, "dead letter k2", q.DeadLetter(bg, "in", k2, "second"))
	dead, err := q.DeadLetters(bg, "in")
	must(t, "dead letters", err)
	if len(dead) != 2 || dead[0].ID != k1 || dead[1].ID != k2 {
		t.Fatalf("dead letters = %s, want k1, k2 (oldest first)", describe(dead))
	}
	d := dead[0]
	if string(d.Body) != "k1" || d.Key != "k" || d.Attempts != 2 || d.Deliveries != 2 || d.LastError != "[permanent] HTTP 400" || !d.LeaseUntil.IsZero() || d.Enqueued.IsZero() {
		t.Fatalf("dead letter = %s, want k1 with 2 attempts (the last counted), 2 deliveries, its error, no lease", describe(d))
	}
	if st, err := q.Stats(bg, "in"); err != nil || st.Dead != 2 || st.Ready+st.InFlight+st.Delayed != 0 || !st.OldestEnqueued.IsZero() {
		t.Fatalf("stats = %+v, %v; want 2 dead and nothing else", st, err)
	}
	queue, m, err := q.FindDeadLetter(bg, other)
	if err != nil || queue != "other" || m.ID != other || string(m.Body) != "o" {
		t.Fatalf("find dead letter = %q %s %v", queue, describe(m), err)
	}
	wantErr(t, "replay in the wrong queue", q.Replay(bg, "other", k1), store.ErrNotFound, "")
	must(t, "replay", q.Replay(bg, "in", k1))
	wantErr(t, "second replay", q.Replay(bg, "in", k1), store.ErrNotFound, "")
	ms = lease(t, q, "in", 10, time.Minute)
	if len(ms) != 1 || ms[0].ID != k1 || ms[0].Attempts != 0 || ms[0].PriorAttempts != 2 || ms[0].Deliveries != 1 || ms[0].LastError != "" || string(ms[0].Body) != "k1" {
		t.Fatalf("after replay leased %s, want k1 reset, its 2 attempts before the replay kept as prior", describe(ms))
	}
	if dead, _ := q.DeadLetters(bg, "in"); len(dead) != 1 || dead[0].ID != k2 {
		t.Fatalf("dead letters after replay = %s", describe(dead))
	}
	// Failing again and replayed again: the prior attempts add up.
	must(t, "dead letter replayed", q.DeadLetter(bg, "in", k1, "again"))
	must(t, "replay again", q.Replay(bg, "in", k1))
	ms = lease(t, q, "in", 10, time.Minute)
	if len(ms) != 1 || ms[0].ID != k1 || ms[0].Attempts != 0 || ms[0].PriorAttempts != 3 {
		t.Fatalf("after a second replay leased %s, want k1 with 3 prior attempts", describe(ms))
	}
	must(t, "ack replayed", q.Ack(bg, "in", k1))
}

// qReplayPlace: a replayed message goes back to its place by id: before
// later messages not yet leased, and behind a later message of its key
// that is in flight.
func qReplayPlace(t *testing.T, open QueuesOpener) {
	q := open(t)
	x1 := enqueue(t, q, "in", "", "x1")
	enqueue(t, q, "in", "", "x2")
	lease(t, q, "in", 1, time.Minute)
	must(t, "dead letter x1", q.DeadLetter(bg, "in", x1, "e"))
	must(t, "replay x1", q.Replay(bg, "in", x1))
	if got := bodies(lease(t, q, "in", 1, time.Minute)); got != "x1" {
		t.Fatalf("after replay leased %s, want x1 (before x2)", got)
	}

	a1 := enqueue(t, q, "keyed", "a", "a1")
	a2 := enqueue(t, q, "keyed", "a", "a2")
	lease(t, q, "keyed", 1, time.Minute)
	must(t, "dead letter a1", q.DeadLetter(bg, "keyed", a1, "e"))
	if got := bodies(lease(t, q, "keyed", 5, time.Minute)); got != "a2" {
		t.Fatalf("leased %s, want a2", got)
	}
	must(t, "replay a1", q.Replay(bg, "keyed", a1))
	if ms := lease(t, q, "keyed", 5, time.Minute); len(ms) != 0 {
		t.Fatalf("leased %s while a2, of its key, is in flight", bodies(ms))
	}
	must(t, "ack a2", q.Ack(bg, "keyed", a2))
	if got := bodies(lease(t, q, "keyed", 5, time.Minute)); got != "a1" {
		t.Fatalf("after a2's ack leased %s, want a1", got)
	}
}

func qStats(t *testing.T, open QueuesOpener) {
	q := open(t)
	a := enqueue(t, q, "in", "", "a")
	enqueue(t, q, "in", "k", "b")
	enqueue(t, q, "in", "k", "c")
	d := enqueue(t, q, "in", "", "d")
	enqueue(t, q, "in", "", "e")
	ms := lease(t, q, "in", 3, time.Minute)
	if bodies(ms) != "a,b,d" {
		t.Fatalf("leased %s, want a,b,d", bodies(ms))
	}
	must(t, "retry a", q.Retry(bg, "in", a, time.Now().Add(time.Hour), "later"))
	must(t, "dead letter d", q.DeadLetter(bg, "in", d, "dead"))
	st, err := q.Stats(bg, "in")
	must(t, "stats", err)
	want := store.QueueStats{Ready: 2, InFlight: 1, Delayed: 1, Dead: 1, OldestEnqueued: ms[0].Enqueued}
	if st.Ready != want.Ready || st.InFlight != want.InFlight || st.Delayed != want.Delayed || st.Dead != want.Dead || !st.OldestEnqueued.Equal(want.OldestEnqueued) {
		t.Fatalf("stats = %+v, want %+v (c waits behind b and counts as ready)", st, want)
	}
}

func qNamesNotify(t *testing.T, open QueuesOpener) {
	q := open(t)
	if names, err := q.Names(bg); err != nil || len(names) != 0 {
		t.Fatalf("names of empty queues = %v, %v", names, err)
	}
	wake := q.Notify("zeta")
	id := enqueue(t, q, "zeta", "", "1")
	closed(t, "Notify after an enqueue", wake)
	enqueue(t, q, "alpha", "", "1")
	names, err := q.Names(bg)
	must(t, "names", err)
	if !slices.Equal(names, []string{"alpha", "zeta"}) {
		t.Fatalf("names = %v, want [alpha zeta]", names)
	}
	lease(t, q, "zeta", 1, time.Minute)
	for _, step := range []struct {
		what string
		do   func() error
	}{
		{"retry", func() error { return q.Retry(bg, "zeta", id, time.Time{}, "e") }},
		{"dead letter", func() error {
			lease(t, q, "zeta", 1, time.Minute)
			return q.DeadLetter(bg, "zeta", id, "e")
		}},
		{"replay", func() error { return q.Replay(bg, "zeta", id) }},
		{"ack", func() error {
			lease(t, q, "zeta", 1, time.Minute)
			return q.Ack(bg, "zeta", id)
		}},
	} {
		wake := q.Notify("zeta")
		must(t, step.what, step.do())
		closed(t, "Notify after "+step.what, wake)
	}
	// A queue used since open stays named when empty.
	names, _ = q.Names(bg)
	if !slices.Equal(names, []string{"alpha", "zeta"}) {
		t.Fatalf("names after the queue emptied = %v", names)
	}
}
