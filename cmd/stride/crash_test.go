package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestCrashLosesNoQueuedMessage: 1,000 notifications are accepted (204,
// so durably queued), stride is killed with SIGKILL while their processing
// is under way, and a restart on the same data directory delivers every
// one of them to the sink at least once.
func TestCrashLosesNoQueuedMessage(t *testing.T) {
	const total = 1000
	var mu sync.Mutex
	seen := map[string]int{}
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		time.Sleep(2 * time.Millisecond) // slow enough that the kill lands mid-way
		mu.Lock()
		seen[string(data)]++
		mu.Unlock()
		w.WriteHeader(204)
	}))
	defer sink.Close()
	delivered := func() (distinct, all int) {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range seen {
			all += n
		}
		return len(seen), all
	}

	flows := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(flows, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ingest.yaml", "flow: ingest\ntrigger: {http: {path: /in, methods: [POST]}}\nsteps:\n  - enqueue: {queue: work}\n  - respond: {status: 204}\n")
	write("worker.yaml", fmt.Sprintf("flow: worker\ntrigger: {queue: {name: work, workers: 4, retry: {max_attempts: 20, backoff: 50ms}}}\nsteps:\n  - request: {method: PUT, url: '%s', body: '${body}'}\n", sink.URL))
	data := t.TempDir()

	first := startStride(t, flows, nil, "--data", data)
	first.waitHealthy(t)
	var wg sync.WaitGroup
	var accepted sync.Map
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < total; i += 8 {
				body := fmt.Sprintf("msg-%04d", i)
				resp, err := httpClient.Post("http://"+first.addr+"/in", "text/plain", strings.NewReader(body))
				if err != nil {
					return // the process is gone
				}
				resp.Body.Close()
				if resp.StatusCode == 204 {
					accepted.Store(body, true)
				}
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if n, _ := delivered(); n >= 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("processing did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.wait(t, 5*time.Second)
	atKill, _ := delivered()
	if atKill >= total {
		t.Fatalf("everything was delivered before the kill (%d); the test proves nothing", atKill)
	}

	second := startStride(t, flows, nil, "--data", data)
	second.waitHealthy(t)
	deadline = time.Now().Add(60 * time.Second)
	for {
		n, _ := delivered()
		missing := 0
		accepted.Range(func(k, _ any) bool {
			mu.Lock()
			if seen[k.(string)] == 0 {
				missing++
			}
			mu.Unlock()
			return true
		})
		if missing == 0 {
			_, all := delivered()
			t.Logf("accepted %d; %d delivered before SIGKILL; after restart all %d delivered (%d deliveries, %d duplicates)", total, atKill, n, all, all-n)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d accepted messages never arrived after the restart", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
