package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stride-engine/stride/engine/store/natsstore/natstest"
	"github.com/stride-engine/stride/internal/demo"
)

// A cluster as production would run it, on loopback: three JetStream
// servers (R3 buckets and streams) and three `stride run` processes with
// the shipped flows against the sandbox. A burst of signed Fitbit
// notifications is spread over the three; one Stride process is killed
// with SIGKILL mid-burst (and restarted, as an orchestrator would), and
// one NATS server is stopped. Every acknowledged notification is imported
// into Marketing Cloud — none lost, none imported twice — the daily timer
// (every 3 s here) runs once per tick across the instances, no refresh
// token is spent twice although all three refresh tokens, and a reload on
// each instance keeps it serving.
func TestClusterOfThreeOnNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS cluster, three stride processes and the sandbox")
	}
	nc := natstest.StartCluster(t, 3)
	shared := []string{"--store", nc.URLs, "--nats-replicas", "3"}
	// The daily collection every 3 s, for days the burst does not touch
	// (yesterday): it makes every instance refresh tokens and claim ticks.
	env := []string{"FITBIT_DAILY_SCHEDULE=*/3 * * * * *"}
	e, err := demo.StartWith(strideBin, "../../flows", t.TempDir(), env, append(shared, "--instance", "s1")...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Stop()
		if t.Failed() {
			for i, p := range append([]*demo.Proc{e.Proc}, e.Instances...) {
				t.Logf("stride s%d's log (tail, without the startup warnings):\n%s", i+1, tail(p.Log(), 60))
			}
		}
	})
	for _, name := range []string{"s2", "s3"} {
		if _, err := e.AddInstance(t.TempDir(), append(shared, "--instance", name)...); err != nil {
			t.Fatal(err)
		}
	}
	procs := append([]*demo.Proc{e.Proc}, e.Instances...)

	var users []string
	for i := range 6 {
		u := fmt.Sprintf("CLU%02d", i)
		if status, page, err := e.Connect(u, "", false); err != nil || status != 200 {
			t.Fatalf("connect %s: %d %v %s", u, status, err, page)
		}
		users = append(users, u)
	}
	type note struct{ user, day string }
	var notes []note
	today := time.Now().UTC()
	for d := range 10 {
		for _, u := range users {
			notes = append(notes, note{u, today.AddDate(0, 0, -(d + 2)).Format("2006-01-02")})
		}
	}

	// Send the burst from 6 senders; each sends to the next instance
	// that answers, as a load balancer would. Half-way one Stride process
	// dies, at two thirds a NATS server.
	killed := procs[2]
	var mu sync.Mutex
	ackedBy := make([]int, len(procs)) // 204s per instance
	refused := 0                       // answers other than 204 (the killed instance, the failover)
	var wg sync.WaitGroup
	ch := make(chan note)
	for w := range 6 {
		wg.Go(func() {
			for n := range ch {
				for attempt := 0; ; attempt++ {
					p := procs[(w+attempt)%len(procs)]
					code, err := e.NotifyAt(p, demo.Update(n.user, n.day, "activities"))
					if err == nil && code == http.StatusNoContent {
						mu.Lock()
						ackedBy[(w+attempt)%len(procs)]++
						mu.Unlock()
						break
					}
					mu.Lock()
					refused++
					mu.Unlock()
					if attempt > 200 {
						t.Errorf("notification %v never accepted: %d %v", n, code, err)
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	for i, n := range notes {
		switch i {
		case len(notes) / 2:
			killed.Kill()
		case 2 * len(notes) / 3:
			nc.Stop(2)
		}
		ch <- n
	}
	close(ch)
	wg.Wait()
	// The orchestrator restarts the killed process: with the same
	// --instance it ends the leases it held, so its messages run at once.
	if err := killed.Restart(); err != nil {
		t.Fatal(err)
	}

	imported := func() (missing int) {
		for _, n := range notes {
			if e.InteractionFor(n.user, n.day) == nil {
				missing++
			}
		}
		return missing
	}
	if !demo.WaitFor(60*time.Second, func() bool { return imported() == 0 }) {
		for i, p := range procs {
			if resp, err := http.Get("http://" + p.Admin + "/admin/queues"); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				t.Logf("s%d queues: %s", i+1, b)
			}
		}
		dumpQueueStates(t, nc.URLs)
		// Where are they stuck? Each process prints its goroutines on
		// SIGQUIT (and exits); the logs go to files for a look.
		for i, p := range procs {
			_ = syscall.Kill(p.Pid(), syscall.SIGQUIT)
			time.Sleep(200 * time.Millisecond)
			_ = os.WriteFile(filepath.Join(os.TempDir(), fmt.Sprintf("stride-cluster-s%d.log", i+1)), []byte(p.Log()), 0o644)
		}
		t.Fatalf("%d of %d acknowledged notifications never reached Marketing Cloud", imported(), len(notes))
	}

	// A reload on each instance: it keeps serving, and what it is sent
	// after the reload is imported too.
	late := today.AddDate(0, 0, -20).Format("2006-01-02")
	for i, p := range procs {
		resp, err := http.Post("http://"+p.Admin+"/admin/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("reload on s%d: %d", i+1, resp.StatusCode)
		}
		if code, err := e.NotifyAt(p, demo.Update(users[i], late, "activities")); err != nil || code != http.StatusNoContent {
			t.Errorf("notification to s%d after its reload: %d %v", i+1, code, err)
		}
	}
	if !demo.WaitFor(30*time.Second, func() bool {
		for i := range procs {
			if e.InteractionFor(users[i], late) == nil {
				return false
			}
		}
		return true
	}) {
		t.Error("notifications sent after the reloads were not imported")
	}

	// None duplicated: one interaction per notification (Marketing Cloud
	// keys them). A message that was running on the killed instance, or
	// whose ack was lost in the NATS failover, runs again — at least
	// once — and its import is repeated under the same key: count those,
	// bounded by what can be in flight.
	time.Sleep(time.Second) // a second delivery would land by now
	keys := map[string]int{}
	again := 0
	for _, in := range e.MKC.Interactions() {
		keys[in.SourceObjectID]++
		if in.Imports > 1 {
			again++
		}
	}
	for _, n := range notes {
		if k := n.user + "-" + n.day; keys[k] != 1 {
			t.Errorf("%s: %d interactions, want 1", k, keys[k])
		}
	}
	if again > 12 {
		t.Errorf("%d imports repeated: more than the messages in flight at the kill and the failover", again)
	}
	if n := e.Fitbit.SpentRefreshTokenReused(); n != 0 {
		t.Errorf("a spent refresh token was presented %d times", n)
	}

	// The daily timer: one run per tick across the cluster, the other
	// instances' ticks SKIPPED and naming the one that ran it.
	var msgs []demo.Message
	demo.WaitFor(30*time.Second, func() bool {
		msgs, _ = e.Messages()
		n := 0
		for _, m := range msgs {
			if m.Flow == "fitbit-daily" && m.Status != "SKIPPED" {
				n++
			}
		}
		return n >= 4
	})
	runs, skipped := map[string]int{}, 0
	for _, m := range msgs {
		if m.Flow != "fitbit-daily" {
			continue
		}
		if m.Status == "SKIPPED" {
			skipped++
			// It names the instance that claimed the tick, unless the
			// claim could not be read back (a failover).
			if !skippedTick.MatchString(m.Error) {
				t.Errorf("a skipped tick does not say where it ran: %q", m.Error)
			}
			continue
		}
		runs[m.Start.UTC().Truncate(3*time.Second).Format(time.RFC3339)]++
	}
	for tick, n := range runs {
		if n != 1 {
			t.Errorf("tick %s ran %d times", tick, n)
		}
	}
	// Skips are log entries like any other: one written while the NATS
	// server it went to was being stopped can be lost (and counted as
	// dropped), so the test asks for some, not one per tick and instance.
	if len(runs) < 3 || skipped == 0 {
		t.Errorf("%d daily ticks run and %d skipped: want several ticks, and skips recorded by the other instances", len(runs), skipped)
	}
	t.Logf("what happened: s3 killed (kill -9) after %d notifications and restarted after the burst; NATS server 3 stopped after %d", len(notes)/2, 2*len(notes)/3)
	t.Logf("acknowledged (204): %d — by s1 %d, s2 %d, s3 %d; %d answers other than 204 were sent again elsewhere", ackedBy[0]+ackedBy[1]+ackedBy[2], ackedBy[0], ackedBy[1], ackedBy[2], refused)
	t.Logf("imported into Marketing Cloud: %d of %d notifications, one interaction each — lost %d, duplicated 0; imports repeated under the same key (at least once): %d", len(notes)-imported(), len(notes), imported(), again)
	t.Logf("daily timer: %d ticks run, each once; %d skips recorded by the other instances; refresh tokens spent twice: 0; reload on each instance: served", len(runs), skipped)
}

var skippedTick = regexp.MustCompile(`^tick \S+ runs on (instance s[123]|another instance)$`)

func tail(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if !strings.Contains(l, `msg="flow not started"`) {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// dumpQueueStates logs the state records of the queues bucket as they are
// on the servers (holder and lease are readable in the raw record).
func dumpQueueStates(t *testing.T, urls string) {
	conn, err := nats.Connect(urls)
	if err != nil {
		t.Log(err)
		return
	}
	defer conn.Close()
	js, _ := jetstream.New(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, "stride_queues")
	if err != nil {
		t.Log(err)
		return
	}
	keys, _ := kv.Keys(ctx)
	for _, k := range keys {
		if !strings.Contains(k, ".s.") {
			continue
		}
		if e, err := kv.Get(ctx, k); err == nil {
			t.Logf("state %s rev %d: %q", k, e.Revision(), e.Value())
		}
	}
}
