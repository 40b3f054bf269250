package runtime_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/store"
)

// A poison message — one that can never succeed — goes to the dead
// letters at once with its class and place, and the next message of its
// key does not wait behind it.
func TestPoisonMessageDoesNotHoldItsKey(t *testing.T) {
	db := openStore(t)
	var mu sync.Mutex
	var imported []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "bad-date") {
			http.Error(w, `{"errors":[{"errorType":"validation"}]}`, 404)
			return
		}
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		imported = append(imported, r.URL.Path+" "+string(body))
		mu.Unlock()
	}))
	defer api.Close()
	srv, _ := startRuntime(t, db, "p.yaml", producerFlow, "c.yaml", `
flow: worker
trigger:
  queue: {name: work, key: '${json.owner}', retry: {max_attempts: 10, backoff: 1h, max_backoff: 1h}}
steps:
  - set: {properties: {kind: '${json.kinds[0].collectionType}'}}
  - request: '`+api.URL+`/user/${json.owner}/${json.date}/${property.kind}'
`)
	ctx := context.Background()
	send := func(body string) {
		resp, _ := do(t, "POST", srv.URL+"/in", body, "Content-Type", "application/json")
		if resp.StatusCode != 204 {
			t.Fatal(resp.StatusCode)
		}
	}
	send(`{"owner":"ada","date":"bad-date","kinds":[{"collectionType":"activities"}]}`) // the API refuses it: 404
	send(`{"owner":"ada","date":"2026-07-01","kinds":[1,2,3]}`)                         // an expression fails on it
	send(`{"owner":"ada","date":"2026-07-02","kinds":[{"collectionType":"sleep"}]}`)    // a normal one, after both
	waitFor(t, "the normal notification imported behind two poison ones", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(imported) == 1
	})
	if imported[0] != "/user/ada/2026-07-02/sleep " {
		t.Errorf("imported %q", imported)
	}
	var dead []store.Message
	waitFor(t, "two dead letters", func() bool {
		dead, _ = db.Queues().DeadLetters(ctx, "work")
		return len(dead) == 2
	})
	for i, want := range []string{"[refused] worker / request (c.yaml:6)", "[content] worker / set (c.yaml:5)"} {
		if !strings.HasPrefix(dead[i].LastError, want) || dead[i].Attempts != 1 {
			t.Errorf("dead letter %d: %q after %d attempts, want it to start with %q after 1", i, dead[i].LastError, dead[i].Attempts, want)
		}
	}
	// Replayable: the refused one comes back and fails the same way.
	if err := db.Queues().Replay(ctx, "work", dead[0].ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replayed message back in the dead letters", func() bool {
		d, _ := db.Queues().DeadLetters(ctx, "work")
		st, _ := db.Queues().Stats(ctx, "work")
		return len(d) == 2 && st.Ready+st.InFlight+st.Delayed == 0
	})
}

// retry.permanent_status and retry.transient_status override the
// default classes of HTTP statuses.
func TestStatusClassesCanBeOverridden(t *testing.T) {
	for _, tc := range []struct {
		status    int
		retry     string
		wantDead  bool
		wantCalls int
	}{
		{404, "", true, 1},                         // refused: not retried
		{503, "", false, 3},                        // transient: retried until max_attempts, then escalated
		{429, "", false, 3},                        // transient by default
		{409, "transient_status: [409]", false, 3}, // a 4xx made transient
		{503, "permanent_status: [503]", true, 1},  // a 5xx made permanent
	} {
		t.Run(fmt.Sprintf("%d %s", tc.status, tc.retry), func(t *testing.T) {
			db := openStore(t)
			var mu sync.Mutex
			calls := 0
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				calls++
				mu.Unlock()
				w.WriteHeader(tc.status)
			}))
			defer api.Close()
			srv, _ := startRuntime(t, db, "p.yaml", producerFlow, "c.yaml", `
flow: worker
trigger:
  queue: {name: work, retry: {max_attempts: 3, backoff: 1ms, max_backoff: 1ms, `+tc.retry+`}}
steps:
  - request: {url: '`+api.URL+`', retry: {max_attempts: 1}}
`)
			if resp, _ := do(t, "POST", srv.URL+"/in", "{}"); resp.StatusCode != 204 {
				t.Fatal(resp.StatusCode)
			}
			var dead []store.Message
			waitFor(t, "a dead letter", func() bool {
				dead, _ = db.Queues().DeadLetters(context.Background(), "work")
				return len(dead) == 1
			})
			mu.Lock()
			defer mu.Unlock()
			if calls != tc.wantCalls {
				t.Errorf("%d calls, want %d", calls, tc.wantCalls)
			}
			permanent := !strings.HasPrefix(dead[0].LastError, "[transient")
			if permanent != tc.wantDead {
				t.Errorf("reason %q: permanent %v, want %v", dead[0].LastError, permanent, tc.wantDead)
			}
		})
	}
}

// A keyed message that keeps failing transiently is parked in the dead
// letters once its key waited max_key_wait, and the key moves on.
func TestMaxKeyWaitParksAFailingMessage(t *testing.T) {
	db := openStore(t)
	var mu sync.Mutex
	var ok []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("n") == "1" {
			w.WriteHeader(503)
			return
		}
		mu.Lock()
		ok = append(ok, r.URL.Query().Get("n"))
		mu.Unlock()
	}))
	defer api.Close()
	srv, _ := startRuntime(t, db, "p.yaml", producerFlow, "c.yaml", `
flow: worker
trigger:
  queue: {name: work, key: '${json.owner}', retry: {max_attempts: 1000, backoff: 20ms, max_backoff: 20ms, max_key_wait: 300ms}}
steps:
  - request: {url: '`+api.URL+`/?n=${json.n}', retry: {max_attempts: 1}}
`)
	start := time.Now()
	for _, n := range []string{"1", "2"} {
		if resp, _ := do(t, "POST", srv.URL+"/in", `{"owner":"ada","n":`+n+`}`, "Content-Type", "application/json"); resp.StatusCode != 204 {
			t.Fatal(resp.StatusCode)
		}
	}
	waitFor(t, "the second message of the key", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ok) == 1
	})
	if took := time.Since(start); took < 250*time.Millisecond {
		t.Errorf("the key moved on after %v, before max_key_wait", took)
	}
	dead, _ := db.Queues().DeadLetters(context.Background(), "work")
	if len(dead) != 1 || !strings.Contains(dead[0].LastError, "max_key_wait") {
		t.Fatalf("dead letters %+v", dead)
	}
}
