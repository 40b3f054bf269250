package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stride-engine/stride/sandbox"
)

// The soak's load process sends rate × duration notifications, each
// signed and each for another user and day, and its lines add up to
// what it sent and what was not answered 204.
func TestSoakLoadSendsUniqueSignedNotifications(t *testing.T) {
	const secret = "soak-test-secret"
	var mu sync.Mutex
	seen := map[string]bool{}
	bad := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("X-Fitbit-Signature") != sandbox.SignNotification(secret, body) {
			bad++
			w.WriteHeader(404)
			return
		}
		var ups []sandbox.Update
		if err := json.Unmarshal(body, &ups); err != nil || len(ups) != 1 {
			bad++
			w.WriteHeader(400)
			return
		}
		k := ups[0].OwnerID + "/" + ups[0].Date
		if seen[k] {
			w.WriteHeader(409) // a duplicate: the test fails below
			return
		}
		seen[k] = true
		if len(seen)%10 == 0 {
			w.WriteHeader(500) // some answers other than 204, to be counted
			return
		}
		w.WriteHeader(204)
	}))
	defer srv.Close()
	t.Setenv(soakSecretEnv, secret)
	var out bytes.Buffer
	before := time.Now().UTC().AddDate(0, 0, -1)
	if err := soakLoad([]string{"-url", srv.URL, "-rate", "400", "-d", "250ms", "-every", "100ms", "-users", "7", "-c", "4"}, &out); err != nil {
		t.Fatal(err)
	}
	const want = 100
	var sent, non204 int
	var last soakInterval
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var iv soakInterval
		if err := json.Unmarshal(sc.Bytes(), &iv); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		sent += iv.Sent
		non204 += iv.Non204
		last = iv
	}
	mu.Lock()
	defer mu.Unlock()
	if bad != 0 || len(seen) != want {
		t.Fatalf("%d distinct notifications, %d badly signed or shaped; want %d, 0", len(seen), bad, want)
	}
	if sent != want || non204 != want/10 || !last.Last {
		t.Fatalf("lines: sent %d, not 204 %d, last line %+v; want %d, %d, a last line", sent, non204, last, want, want/10)
	}
	// Notification i is for user i % users, i / users days before
	// yesterday (as it was when the load started, or ended: midnight).
	for _, y := range []time.Time{before, time.Now().UTC().AddDate(0, 0, -1)} {
		all := true
		for i := range want {
			u, day := soakPair(i, userIDs(7), y)
			all = all && seen[u+"/"+day]
		}
		if all {
			return
		}
	}
	t.Fatalf("not the notifications of soakPair: %v", seen)
}

// The soak reads goroutines and the live queue depth (not dead letters)
// from stride's metrics.
func TestSoakScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
stride_queue_messages{queue="fitbit-notifications",state="ready"} 3
stride_queue_messages{queue="fitbit-notifications",state="in_flight"} 2
stride_queue_messages{queue="fitbit-notifications",state="delayed"} 1
stride_queue_messages{queue="fitbit-notifications",state="dead"} 7
stride_queue_oldest_message_age_seconds{queue="fitbit-notifications"} 9
`)
	}))
	defer srv.Close()
	g, q, err := scrape(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil || g != 42 || q != 6 {
		t.Fatalf("scrape: goroutines %d, queued %d, %v; want 42, 6", g, q, err)
	}
}
