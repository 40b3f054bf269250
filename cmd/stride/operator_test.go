package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/store"
)

const testDataKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

func runCmd(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestStoreCommandsDecryptOnlyWithTheKey writes a sealed entry the way
// datastore_put does, then reads it with the CLI with and without the key.
func TestStoreCommandsDecryptOnlyWithTheKey(t *testing.T) {
	dir := t.TempDir()
	key, _ := store.ParseKey(testDataKey)
	db, err := store.Open(dir, store.Options{Key: key, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range []string{"26FWFL", "ABC123"} {
		if err := db.KV().Put(ctx, "fitbit-users", id, []byte(`{"text":"{\"refresh_token\":\"rt-`+id+`\"}"}`), store.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	t.Setenv("STRIDE_DATA_KEY", testDataKey)
	if code, out, errOut := runCmd("store", "--data", dir, "ls"); code != 0 || out != "fitbit-users\t2\n" {
		t.Fatalf("ls: %d %q %q", code, out, errOut)
	}
	if code, out, _ := runCmd("store", "--data", dir, "ls", "fitbit-users"); code != 0 || out != "26FWFL\nABC123\n" {
		t.Fatalf("ls store: %d %q", code, out)
	}
	if code, out, _ := runCmd("store", "--data", dir, "get", "fitbit-users", "26FWFL"); code != 0 || !strings.Contains(out, `rt-26FWFL`) {
		t.Fatalf("get: %d %q", code, out)
	}
	if code, out, _ := runCmd("store", "--data", dir, "rm", "fitbit-users", "ABC123"); code != 0 || !strings.Contains(out, "deleted fitbit-users/ABC123") {
		t.Fatalf("rm: %d %q", code, out)
	}
	if code, _, errOut := runCmd("store", "--data", dir, "get", "fitbit-users", "ABC123"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("get after rm: %d %q", code, errOut)
	}

	t.Setenv("STRIDE_DATA_KEY", "")
	code, out, errOut := runCmd("store", "--data", dir, "get", "fitbit-users", "26FWFL")
	if code == 0 || strings.Contains(out+errOut, "rt-26FWFL") {
		t.Fatalf("without the key the value must not be readable: %d %q %q", code, out, errOut)
	}
	t.Setenv("STRIDE_DATA_KEY", strings.Repeat("ab", 32))
	if code, _, errOut := runCmd("store", "--data", dir, "ls"); code == 0 || !strings.Contains(errOut, "STRIDE_DATA_KEY") {
		t.Fatalf("wrong key: %d %q", code, errOut)
	}
}

func TestStoreAndMessagesUsage(t *testing.T) {
	for _, args := range [][]string{{"store"}, {"store", "get", "s"}, {"store", "frobnicate"}, {"messages", "--data", t.TempDir(), "show"}} {
		if code, _, _ := runCmd(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)", args, code)
		}
	}
	if code, _, errOut := runCmd("store", "--data", filepath.Join(t.TempDir(), "missing"), "ls"); code != 1 || !strings.Contains(errOut, "--data") {
		t.Errorf("missing data dir: %d %q", code, errOut)
	}
}

// TestMessagesThroughTheAdminAPIWhileRunning: while stride run holds the
// data directory, `stride messages` reads the running instance's log and
// replays through its admin API.
func TestMessagesThroughTheAdminAPIWhileRunning(t *testing.T) {
	flows := t.TempDir()
	if err := os.WriteFile(filepath.Join(flows, "f.yaml"), []byte("flow: hello\ntrigger: {http: {path: /hello, methods: [GET]}}\nsteps:\n  - fail: {message: broken on purpose, status: 418}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	p := startStride(t, flows, nil, "--data", data)
	p.waitHealthy(t)
	resp, err := httpClient.Get("http://" + p.addr + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot {
		t.Fatalf("flow answered %d", resp.StatusCode)
	}
	id := resp.Header.Get("X-Stride-Message-Id")
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out, errOut := runCmd("messages", "--data", data, "--admin-addr", p.admin, "--flow", "hello")
		if code != 0 {
			t.Fatalf("messages: %d %s", code, errOut)
		}
		if !strings.Contains(errOut, "asking its admin API") {
			t.Fatalf("expected the admin API fallback, stderr %q", errOut)
		}
		if strings.Contains(out, id) {
			if !strings.Contains(out, "FAILED") || !strings.Contains(out, "broken on pur") || !strings.Contains(out, "DURATION") || !strings.Contains(out, " ms ") {
				t.Fatalf("listing (durations with their unit): %s", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s not listed:\n%s", id, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, out, _ := runCmd("messages", "--data", data, "--admin-addr", p.admin, "show", id)
	if code != 0 || !strings.Contains(out, "f.yaml:4") || !strings.Contains(out, "error") {
		t.Fatalf("show: %d\n%s", code, out)
	}
	if code, _, errOut := runCmd("messages", "--data", data, "--admin-addr", p.admin, "replay", id); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("replaying a message that is not a dead letter: %d %q", code, errOut)
	}
}
