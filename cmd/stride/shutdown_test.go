package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMFinishesInFlightRequests: a request in flight when SIGTERM
// arrives still gets its answer, and stride exits 0 afterwards.
func TestSIGTERMFinishesInFlightRequests(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "late but complete")
	}))
	defer upstream.Close()
	flows := t.TempDir()
	flow := "flow: slow\ntrigger: {http: {path: /slow, methods: [GET]}}\nsteps:\n  - request: '" + upstream.URL + "'\n"
	if err := os.WriteFile(filepath.Join(flows, "slow.yaml"), []byte(flow), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startStride(t, flows, nil)
	p.waitHealthy(t)

	type result struct {
		status int
		body   string
		err    error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := httpClient.Get("http://" + p.addr + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- result{status: resp.StatusCode, body: string(b)}
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached the upstream")
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Stride is draining: it must not have exited while the request runs.
	select {
	case <-p.done:
		t.Fatal("stride exited with a request in flight")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	r := <-got
	if r.err != nil || r.status != 200 || r.body != "late but complete" {
		t.Fatalf("in-flight request: %+v", r)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}
