package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stride-engine/stride/engine/store"
)

// --log-max-size caps the message log of the real binary: past it the
// oldest entries go, and what is left is under the cap; --log-retention
// reaches the store, and bad values of either are refused.
func TestRunLogMaxSize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.yaml": httpFlow("a", "/a")})
	data := filepath.Join(t.TempDir(), "data")
	const capBytes = 1 << 20
	p := startStride(t, dir, nil, "--data", data, "--log-max-size", "1MiB", "--log-retention", "72h")
	p.waitHealthy(t)
	if !strings.Contains(p.stderr.String(), `msg="message log" max_size=1MiB retention=72h0m0s`) {
		t.Errorf("no start line with the log's bounds:\n%s", p.stderr.String())
	}
	// ~15,000 entries of ~120 bytes under their keys: ~1.8 MiB written.
	var wg sync.WaitGroup
	client := &http.Client{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1900 {
				resp, err := client.Get("http://" + p.addr + "/a")
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					t.Errorf("GET /a: %s", resp.Status)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, exitTimeout); code != 0 {
		t.Fatalf("exit %d", code)
	}
	db, err := store.Open(data, store.Options{GCInterval: -1, LogMaxBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	parts, err := db.BytesByPart(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	es, err := db.Log().List(context.Background(), store.Filter{Limit: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	if parts.Log > capBytes || parts.Log < capBytes/2 || len(es) >= 15_200 {
		t.Errorf("after 15,200 messages the log holds %d bytes in %d entries; want under the 1 MiB cap, the oldest deleted", parts.Log, len(es))
	}
	t.Logf("log after 15,200 messages with a 1 MiB cap: %d bytes, %d entries", parts.Log, len(es))

	for _, args := range [][]string{{"--log-max-size", "10KiB"}, {"--log-max-size", "lots"}, {"--log-retention", "soon"}, {"--log-retention", "1s"}} {
		q := startStride(t, dir, nil, args...)
		if code := q.wait(t, exitTimeout); code != 2 || !strings.Contains(q.stderr.String(), args[0]) {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming the flag", args, code, q.stderr.String())
		}
	}
}
