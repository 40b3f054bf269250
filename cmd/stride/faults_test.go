package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Faults an operator meets, against the real binary: oversized input,
// clients that never finish, SIGTERM in the middle of a burst, and a
// storm of edits (some broken) under load.

// deliverySink counts what a queue consumer delivers, by body.
type deliverySink struct {
	*httptest.Server
	mu   sync.Mutex
	seen map[string]int
}

func newDeliverySink(t *testing.T) *deliverySink {
	s := &deliverySink{seen: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		time.Sleep(time.Millisecond)
		s.mu.Lock()
		s.seen[string(data)]++
		s.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return s
}

// missing returns how many of bodies were never delivered.
func (s *deliverySink) missing(bodies []string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, b := range bodies {
		if s.seen[b] == 0 {
			n++
		}
	}
	return n
}

func (s *deliverySink) waitAll(t *testing.T, bodies []string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for s.missing(bodies) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged messages never delivered", s.missing(bodies), len(bodies))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// queueFlows writes an ingest flow (enqueue, 204) and a consumer that
// delivers each body to sinkURL.
func queueFlows(t *testing.T, sinkURL string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"ingest.yaml": "flow: ingest\ntrigger: {http: {path: /in, methods: [POST], max_body: 1MiB}}\nsteps:\n  - enqueue: {queue: work}\n  - respond: {status: 204}\n",
		"worker.yaml": fmt.Sprintf("flow: worker\ntrigger: {queue: {name: work, workers: 4, retry: {max_attempts: 20, backoff: 50ms}}}\nsteps:\n  - request: {method: PUT, url: '%s', body: '${body}'}\n", sinkURL),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestOversizedInputIsRefusedWithItsStatus(t *testing.T) {
	sink := newDeliverySink(t)
	p := startStride(t, queueFlows(t, sink.URL), nil)
	p.waitHealthy(t)
	resp, err := httpClient.Post("http://"+p.addr+"/in", "text/plain", strings.NewReader(strings.Repeat("x", 10<<20)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || !strings.Contains(string(body), "larger than") {
		t.Errorf("10 MiB body: %d %s, want 413 with a message", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("POST", "http://"+p.addr+"/in", strings.NewReader("ok"))
	req.Header.Set("X-Big", strings.Repeat("h", 2<<20))
	resp, err = httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 431 {
		t.Errorf("2 MiB header: %d, want 431", resp.StatusCode)
	}
	// Stride still serves, and refused input queued nothing.
	if resp, err := httpClient.Post("http://"+p.addr+"/in", "text/plain", strings.NewReader("small")); err != nil || resp.StatusCode != 204 {
		t.Fatalf("after oversized input: %v %v", resp, err)
	}
	sink.waitAll(t, []string{"small"}, 10*time.Second)
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.seen) != 1 {
		t.Errorf("delivered %d bodies, want only the small one", len(sink.seen))
	}
}

// Clients that open a connection and never finish their headers neither
// hold up other clients nor stay connected: ReadHeaderTimeout drops them.
func TestSlowClientsNeitherBlockNorStay(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the header timeout")
	}
	sink := newDeliverySink(t)
	p := startStride(t, queueFlows(t, sink.URL), nil)
	p.waitHealthy(t)
	const slow = 400
	conns := make([]net.Conn, 0, slow)
	for range slow {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST /in HTTP/1.1\r\nHost: x\r\nX-Partial: ") // and never the rest
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	resp, err := httpClient.Post("http://"+p.addr+"/in", "text/plain", strings.NewReader("while-slow"))
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("a normal request among %d slow clients: %v %v", slow, resp, err)
	}
	resp.Body.Close()
	// Every slow connection is closed by the server (read ends) within
	// the header timeout and a margin.
	var closed atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			_, err := bufio.NewReader(c).ReadString('\n')
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				closed.Add(1) // EOF, a reset, or a 408 written before closing
			}
		})
	}
	wg.Wait()
	if n := closed.Load(); n != slow {
		t.Errorf("%d of %d slow connections were dropped by the server within 20 s", n, slow)
	}
}

// SIGTERM in the middle of a burst: stride exits 0, and every message it
// acknowledged is delivered, before the exit or after the restart.
func TestSIGTERMMidBurstLosesNothing(t *testing.T) {
	sink := newDeliverySink(t)
	flows := queueFlows(t, sink.URL)
	data := t.TempDir()
	p := startStride(t, flows, nil, "--data", data, "--shutdown-timeout", "5s")
	p.waitHealthy(t)
	var mu sync.Mutex
	var acked []string
	var sent atomic.Int64
	var wg sync.WaitGroup
	for c := range 20 {
		wg.Go(func() {
			for i := c; i < 200; i += 20 {
				body := fmt.Sprintf("burst-%03d", i)
				resp, err := httpClient.Post("http://"+p.addr+"/in", "text/plain", strings.NewReader(body))
				sent.Add(1)
				if err != nil {
					return // stride stopped listening
				}
				resp.Body.Close()
				if resp.StatusCode == 204 {
					mu.Lock()
					acked = append(acked, body)
					mu.Unlock()
				}
			}
		})
	}
	for sent.Load() < 100 {
		time.Sleep(time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0\n%s", code, p.stderr.String())
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 50 {
		t.Fatalf("only %d acknowledged before the shutdown; the test proves little", len(acked))
	}
	second := startStride(t, flows, nil, "--data", data)
	second.waitHealthy(t)
	sink.waitAll(t, acked, 30*time.Second)
	t.Logf("%d acknowledged before SIGTERM, all delivered", len(acked))
}

// A storm of saves — some of them broken — under load: every request is
// answered by a good version (never a 404 or 500) and every acknowledged
// message is delivered.
func TestReloadStormUnderLoad(t *testing.T) {
	sink := newDeliverySink(t)
	flows := queueFlows(t, sink.URL)
	p := startStride(t, flows, nil)
	p.waitHealthy(t)
	stop := make(chan struct{})
	var saves, broken atomic.Int64
	var editor sync.WaitGroup
	editor.Go(func() {
		path := filepath.Join(flows, "ingest.yaml")
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			content := fmt.Sprintf("flow: ingest\ndescription: save %d\ntrigger: {http: {path: /in, methods: [POST]}}\nsteps:\n  - enqueue: {queue: work}\n  - respond: {status: 204}\n", i)
			if i%10 == 3 {
				content = "flow: ingest\ntrigger: {http: {path: /in}}\nsteps:\n  - enqueue: {queue: [broken\n"
				broken.Add(1)
			}
			tmp := path + ".tmp"
			if err := os.WriteFile(tmp, []byte(content), 0o644); err == nil {
				_ = os.Rename(tmp, path) // an editor's atomic save
				saves.Add(1)
			}
			time.Sleep(25 * time.Millisecond)
		}
	})
	var acked []string
	for i := range 200 {
		body := fmt.Sprintf("storm-%03d", i)
		resp, err := httpClient.Post("http://"+p.addr+"/in", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 {
			t.Fatalf("request %d during the storm: %d", i, resp.StatusCode)
		}
		acked = append(acked, body)
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	editor.Wait()
	sink.waitAll(t, acked, 30*time.Second)
	if saves.Load() < 20 || broken.Load() == 0 {
		t.Fatalf("%d saves, %d broken: not a storm", saves.Load(), broken.Load())
	}
	t.Logf("%d saves (%d broken) under 200 requests: all answered 204 and delivered", saves.Load(), broken.Load())
}
