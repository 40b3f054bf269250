package store

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment of the crash test's child process.
const (
	crashDirEnv   = "STRIDE_STORE_CRASH_DIR"
	crashSinkEnv  = "STRIDE_STORE_CRASH_SINK"
	crashDelayEnv = "STRIDE_STORE_CRASH_DELAY"
)

// TestCrash enqueues 1,000 messages, lets a child process consume them,
// SIGKILLs it part-way, lets a second child drain the queue on the same
// directory, and checks that every message reached the sink at least once.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	sink := filepath.Join(t.TempDir(), "sink")
	db := openAt(t, dir, Options{})
	want := make(map[string]bool)
	for i := 0; i < 1000; i++ {
		key := ""
		if i%2 == 0 {
			key = "user" + strconv.Itoa(i%20) // half the messages keyed
		}
		id, err := db.Queues().Enqueue(bg, "work", Message{Key: key, Body: []byte(strconv.Itoa(i))})
		if err != nil {
			t.Fatal(err)
		}
		want[id] = true
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	child := func(delay time.Duration) *exec.Cmd {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=40s")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashSinkEnv+"="+sink, crashDelayEnv+"="+delay.String())
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("child output:\n%s", out.String())
			}
		})
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}

	// First child: slow on purpose, killed once a hundred are done.
	first := child(2 * time.Millisecond)
	deadline := time.Now().Add(20 * time.Second)
	for lines(t, sink) < 100 {
		if time.Now().After(deadline) {
			t.Fatal("first child processed fewer than 100 messages in 20s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := first.Wait()
	atKill := lines(t, sink)
	if ws, ok := first.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("first child was not killed by SIGKILL: %v", err)
	}
	if atKill >= len(want) {
		t.Fatalf("first child finished (%d lines) before it was killed; the test proves nothing", atKill)
	}

	// Second child: drains the queue and exits 0.
	second := child(0)
	if err := second.Wait(); err != nil {
		t.Fatalf("second child: %v", err)
	}

	seen := map[string]int{}
	for _, id := range readLines(t, sink) {
		seen[id]++
	}
	var lost []string
	for id := range want {
		if seen[id] == 0 {
			lost = append(lost, id)
		}
	}
	dups := 0
	for id, n := range seen {
		if !want[id] {
			t.Errorf("sink holds unknown id %q", id)
		}
		dups += n - 1
	}
	if len(lost) > 0 {
		t.Fatalf("%d of %d messages lost, e.g. %s", len(lost), len(want), lost[0])
	}
	db = openAt(t, dir, Options{})
	st, err := db.Queues().Stats(bg, "work")
	if err != nil || st != (QueueStats{}) {
		t.Fatalf("queue after drain: %+v, %v; want empty", st, err)
	}
	t.Logf("killed after %d of %d in the sink; %d processed twice (in flight at the kill)", atKill, len(want), dups)
}

// TestCrashChild is the consumer process of TestCrash; it does nothing in
// a normal test run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("child process of TestCrash")
	}
	delay, err := time.ParseDuration(os.Getenv(crashDelayEnv))
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(dir, Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f, err := os.OpenFile(os.Getenv(crashSinkEnv), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	q := db.Queues()
	for {
		wake := q.Notify("work")
		ms, err := q.Lease(bg, "work", 8, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			st, err := q.Stats(bg, "work")
			if err != nil {
				t.Fatal(err)
			}
			if st.Ready+st.InFlight+st.Delayed == 0 {
				return
			}
			select {
			case <-wake:
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		for _, m := range ms {
			// "Process": the effect is durable before the ack.
			if _, err := f.WriteString(m.ID + "\n"); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(delay)
			if err := q.Ack(bg, "work", m.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(fmt.Errorf("reading %s: %w", path, err))
	}
	return out
}

func lines(t *testing.T, path string) int { return len(readLines(t, path)) }
