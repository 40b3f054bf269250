package storetest

// The part of the queue suite for backends that several instances share.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/store"
)

// TestSharedQueues runs what two instances sharing queues must see: each
// message is leased by one of them at a time, keys stay in order across
// them, a lease one takes the other respects until it expires, and
// changes made by one wake the other's Notify.
func TestSharedQueues(t *testing.T, open SharedQueuesOpener) {
	t.Run("LeaseOnce", func(t *testing.T) {
		a, b := open(t)
		wake := b.Notify("work")
		id := enqueue(t, a, "work", "", "hello")
		closed(t, "b's Notify after an enqueue on a", wake)
		ms := leaseUntil(t, b, "work", 10, time.Minute, 1)
		if ms[0].ID != id || string(ms[0].Body) != "hello" {
			t.Fatalf("b leased %s", describe(ms))
		}
		if ms := lease(t, a, "work", 10, time.Minute); len(ms) != 0 {
			t.Fatalf("a leased %s, which b holds", bodies(ms))
		}
		must(t, "ack on b", b.Ack(bg, "work", id))
		waitFor(t, "a's stats to show the ack", func() bool {
			st, err := a.Stats(bg, "work")
			return err == nil && st == store.QueueStats{}
		})
		wantErr(t, "ack on a of what b acked", a.Ack(bg, "work", id), store.ErrNotFound, id)
	})
	t.Run("KeyOrderAcrossEnqueuers", func(t *testing.T) {
		// a enqueues the first message of a key, then b the second; b
		// leases at once, before it may have seen a's message: it must
		// not take the second while the first waits.
		a, b := open(t)
		for i := range 30 {
			key := "user-" + strconv.Itoa(i)
			first := enqueue(t, a, "work", key, key+"/1")
			enqueue(t, b, "work", key, key+"/2")
			for _, m := range lease(t, b, "work", 10, time.Minute) {
				if m.Key == key && m.ID != first {
					t.Fatalf("b leased %s while the earlier %s of its key, enqueued on a, waited", m.Body, key+"/1")
				}
				must(t, "ack", b.Ack(bg, "work", m.ID))
			}
			for _, q := range []store.Queues{a, b} {
				for _, m := range lease(t, q, "work", 10, time.Minute) {
					must(t, "ack", q.Ack(bg, "work", m.ID))
				}
			}
		}
	})
	t.Run("LeaseExpiresForTheOther", func(t *testing.T) {
		a, b := open(t)
		id := enqueue(t, a, "work", "k", "1")
		leaseUntil(t, a, "work", 1, 300*time.Millisecond, 1)
		ms := leaseUntil(t, b, "work", 1, time.Minute, 1)
		if ms[0].ID != id || ms[0].Deliveries != 2 {
			t.Fatalf("b leased %s, want %s delivered a second time", describe(ms), id)
		}
		// a outlived its lease: its ack still acts on the message.
		must(t, "late ack on a", a.Ack(bg, "work", id))
		wantErr(t, "ack on b", b.Ack(bg, "work", id), store.ErrNotFound, "")
	})
	t.Run("DeadLetterReplayAcross", func(t *testing.T) {
		a, b := open(t)
		id := enqueue(t, a, "work", "", "1")
		leaseUntil(t, a, "work", 1, time.Minute, 1)
		must(t, "dead letter on a", a.DeadLetter(bg, "work", id, "boom"))
		var queue string
		waitFor(t, "b to find the dead letter", func() bool {
			var err error
			queue, _, err = b.FindDeadLetter(bg, id)
			return err == nil
		})
		if queue != "work" {
			t.Fatalf("found in %q", queue)
		}
		must(t, "replay on b", b.Replay(bg, "work", id))
		ms := leaseUntil(t, a, "work", 1, time.Minute, 1)
		if ms[0].ID != id || ms[0].Attempts != 0 || ms[0].Deliveries != 1 {
			t.Fatalf("a leased after replay: %s", describe(ms))
		}
		names, err := b.Names(bg)
		must(t, "names", err)
		if !slices.Contains(names, "work") {
			t.Fatalf("b's names = %v", names)
		}
	})
	t.Run("KeyOrderParallel", func(t *testing.T) {
		a, b := open(t)
		keyOrderParallel(t, []store.Queues{a, b, a, b})
	})
}

// keyOrderParallel: consumers (one per handle given, which may be the same
// queues or several instances of them) lease in parallel; messages of one
// key must be processed one at a time and in enqueue order, while
// different keys and unkeyed messages run side by side.
func keyOrderParallel(t *testing.T, consumers []store.Queues) {
	producer := consumers[0]
	const keys, per, unkeyed = 5, 12, 12
	total := 0
	for i := range per {
		for k := range keys {
			enqueue(t, producer, "orders", fmt.Sprintf("k%d", k), fmt.Sprintf("k%d:%d", k, i))
			total++
		}
		if i < unkeyed {
			enqueue(t, producer, "orders", "", fmt.Sprintf(":%d", i))
			total++
		}
	}
	var (
		mu         sync.Mutex
		seen       = map[string][]int{}
		inFlight   = map[string]int{}
		maxKeys    int // most distinct keys in flight at once
		done       int
		violations []string
	)
	deadline := time.Now().Add(waitDeadline)
	var wg sync.WaitGroup
	for _, q := range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				finished := done == total
				mu.Unlock()
				if finished {
					return
				}
				if time.Now().After(deadline) {
					t.Errorf("timed out with %d of %d messages processed", done, total)
					return
				}
				wake := q.Notify("orders")
				ms, err := q.Lease(bg, "orders", 3, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ms) == 0 {
					select {
					case <-wake:
					case <-time.After(20 * time.Millisecond):
					}
					continue
				}
				for _, m := range ms {
					key, n, _ := strings.Cut(string(m.Body), ":")
					seq, _ := strconv.Atoi(n)
					mu.Lock()
					if key != "" {
						if inFlight[key] > 0 {
							violations = append(violations, "two messages of "+key+" in flight")
						}
						inFlight[key]++
						if len(inFlight) > maxKeys {
							maxKeys = len(inFlight)
						}
					}
					seen[key] = append(seen[key], seq)
					mu.Unlock()
					time.Sleep(100 * time.Microsecond) // "work"
					mu.Lock()
					if key != "" {
						if inFlight[key]--; inFlight[key] == 0 {
							delete(inFlight, key)
						}
					}
					mu.Unlock()
					if err := q.Ack(bg, "orders", m.ID); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					done++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(violations) > 0 {
		t.Fatalf("%d violations, first: %s", len(violations), violations[0])
	}
	for k := range keys {
		key := fmt.Sprintf("k%d", k)
		s := seen[key]
		if len(s) != per || !slices.IsSorted(s) {
			t.Fatalf("%s: processed %v, want 0…%d in order, each once", key, s, per-1)
		}
	}
	if len(seen[""]) != unkeyed {
		t.Fatalf("unkeyed: processed %d, want %d", len(seen[""]), unkeyed)
	}
	if maxKeys < 2 {
		t.Fatalf("keys never ran in parallel (max %d in flight at once)", maxKeys)
	}
}
