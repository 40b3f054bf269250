package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory, or skips
// the test when it cannot (not root, no mount permission).
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a size-limited tmpfs needs root; the disk guard's unit test (engine/runtime) covers the logic with a fake statfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); the disk guard's unit test covers the logic", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// fill writes a file of real data (tmpfs does not back holes) until the
// file system has about leave bytes free.
func fill(t *testing.T, dir string, leave int64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	for freeBytes(t, dir) > leave+int64(len(chunk)) {
		if _, err := f.Write(chunk); err != nil {
			break // full
		}
	}
	return path
}

// A full data disk never crashes stride: below --min-free-disk a flow
// that would queue a message answers 503 with Retry-After and nothing is
// acknowledged; once space is freed, 204s resume without a restart and
// every acknowledged message is delivered.
func TestDataDiskFullRefusesThenResumes(t *testing.T) {
	mnt := mountTmpfs(t, 1<<30)
	var mu sync.Mutex
	delivered := map[string]bool{}
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		mu.Lock()
		delivered[string(data)] = true
		mu.Unlock()
	}))
	defer sink.Close()
	flows := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(flows, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ingest.yaml", "flow: ingest\ntrigger: {http: {path: /in, methods: [POST]}}\nsteps:\n  - enqueue: {queue: work}\n  - respond: {status: 204}\n")
	write("worker.yaml", fmt.Sprintf("flow: worker\ntrigger: {queue: {name: work, workers: 4}}\nsteps:\n  - request: {method: PUT, url: '%s', body: '${body}'}\n", sink.URL))

	p := startStride(t, flows, nil, "--data", filepath.Join(mnt, "data"), "--min-free-disk", "400MiB")
	p.waitHealthy(t)
	accepted := map[string]bool{}
	send := func(round string, n int) (ok, refused int) {
		for i := range n {
			body := fmt.Sprintf("%s-%03d", round, i)
			resp, err := httpClient.Post("http://"+p.addr+"/in", "text/plain", strings.NewReader(body))
			if err != nil {
				t.Fatalf("%s: %v (did stride die?)\nstderr:\n%s", body, err, p.stderr.String())
			}
			resp.Body.Close()
			switch {
			case resp.StatusCode == 204:
				accepted[body] = true
				ok++
			case resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "":
				refused++
			default:
				t.Fatalf("%s: %d (Retry-After %q)", body, resp.StatusCode, resp.Header.Get("Retry-After"))
			}
		}
		return ok, refused
	}
	if ok, _ := send("room", 20); ok != 20 {
		t.Fatalf("with room, %d of 20 accepted", ok)
	}

	filler := fill(t, mnt, 0) // full: not one more page can be backed
	time.Sleep(1500 * time.Millisecond)
	if ok, refused := send("full", 100); ok != 0 || refused != 100 {
		t.Fatalf("with the disk full: %d accepted, %d refused with Retry-After; want all 100 refused", ok, refused)
	}
	if p.exited() {
		t.Fatalf("stride exited with the disk full:\n%s", p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), "data disk nearly full") {
		t.Errorf("no WARN line about the full disk:\n%s", p.stderr.String())
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, _ := send("freed", 1)
		if ok == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("204s did not resume within 5 s of freeing space")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ok, _ := send("after", 50); ok != 50 {
		t.Fatalf("after freeing space, %d of 50 accepted", ok)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		missing := 0
		for b := range accepted {
			if !delivered[b] {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d acknowledged messages never delivered", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
