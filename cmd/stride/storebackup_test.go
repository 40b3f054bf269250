package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/store"
)

// post sends a POST with a body and returns the status and the message id
// the flow answered with.
func post(t *testing.T, url, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Stride-Message-Id")
}

// storedBody decodes what `stride store get` prints of an entry
// datastore_put wrote: the envelope, then its text as JSON.
func storedBody(t *testing.T, out string) map[string]any {
	t.Helper()
	var env struct{ Text string }
	if err := json.Unmarshal([]byte(out), &env); err != nil || env.Text == "" {
		t.Fatalf("not a stored message: %v\n%s", err, out)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(env.Text), &body); err != nil {
		t.Fatalf("stored text is not JSON: %v\n%s", err, env.Text)
	}
	return body
}

// TestStoreGetMasksAndRevealsLocally: on the data directory, get shows
// sensitive fields as *** and get --reveal shows them (options before or
// after the arguments); --reveal is get's alone.
func TestStoreGetMasksAndRevealsLocally(t *testing.T) {
	dir := t.TempDir()
	key, _ := store.ParseKey(testDataKey)
	db, err := store.Open(dir, store.Options{Key: key, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	v := `{"text":"{\"user_id\":\"ADA1\",\"access_token\":\"at-SECRET\",\"refresh_token\":\"rt-SECRET\"}","content_type":"application/json"}`
	sens := store.Sensitivity{Paths: []string{"data", "text.access_token", "text.refresh_token"}}
	if err := db.KV().Put(context.Background(), "fitbit-users", "ADA1", []byte(v), store.PutOptions{Sensitive: sens}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	t.Setenv("STRIDE_DATA_KEY", testDataKey)

	code, out, errOut := runCmd("store", "--data", dir, "get", "fitbit-users", "ADA1")
	if code != 0 || strings.Contains(out, "SECRET") {
		t.Fatalf("get: %d %q %q", code, out, errOut)
	}
	if b := storedBody(t, out); b["access_token"] != "***" || b["refresh_token"] != "***" || b["user_id"] != "ADA1" {
		t.Errorf("get shows %v", b)
	}
	for _, args := range [][]string{
		{"store", "get", "--reveal", "fitbit-users", "ADA1", "--data", dir},
		{"store", "--data", dir, "get", "fitbit-users", "ADA1", "--reveal"},
	} {
		code, out, errOut := runCmd(args...)
		if code != 0 {
			t.Fatalf("%v: %d %q", args, code, errOut)
		}
		if b := storedBody(t, out); b["access_token"] != "at-SECRET" || b["refresh_token"] != "rt-SECRET" {
			t.Errorf("%v shows %v", args, b)
		}
	}
	if code, _, errOut := runCmd("store", "get", "--reveal", "fitbit-users", "NOBODY", "--data", dir); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("reveal of a missing entry: %d %q", code, errOut)
	}
	if code, _, errOut := runCmd("store", "ls", "--reveal", "--data", dir); code != 2 || !strings.Contains(errOut, "--reveal") {
		t.Errorf("ls --reveal: %d %q, want 2 (usage)", code, errOut)
	}
}

func TestStoreBackupRestoreUsage(t *testing.T) {
	for _, args := range [][]string{{"store", "backup"}, {"store", "restore"}, {"store", "backup", "a", "b"}, {"store", "restore", "a", "b"}} {
		if code, _, _ := runCmd(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)", args, code)
		}
	}
	code, out, _ := runCmd("store", "--help") // help asked for goes to stdout
	if code != 0 || !strings.Contains(out, "backup FILE") || !strings.Contains(out, "restore FILE") || !strings.Contains(out, "--reveal") {
		t.Errorf("store --help: %d\n%s", code, out)
	}
	empty := t.TempDir()
	file := filepath.Join(t.TempDir(), "b.backup")
	if code, _, errOut := runCmd("store", "backup", file, "--data", empty); code != 1 || !strings.Contains(errOut, "no Stride data") {
		t.Errorf("backup of an empty directory: %d %q", code, errOut)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("a failed backup left %s: %v", file, err)
	}
	if code, _, errOut := runCmd("store", "restore", filepath.Join(empty, "missing"), "--data", filepath.Join(empty, "d")); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("restore of a missing file: %d %q", code, errOut)
	}
	notBackup := filepath.Join(t.TempDir(), "x")
	if err := os.WriteFile(notBackup, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCmd("store", "restore", notBackup, "--data", filepath.Join(empty, "d"))
	if code != 1 || !strings.Contains(errOut, "is not a complete Stride backup") || !strings.Contains(errOut, "nothing was restored") {
		t.Errorf("restore of a file that is not a backup: %d %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(empty, "d")); !os.IsNotExist(err) {
		t.Errorf("a refused restore created the directory: %v", err)
	}
}

// TestCorruptStoreNamesRestore: a data directory store.Open refuses as
// corrupt makes stride run and stride store say how to get back: restore
// a backup.
func TestCorruptStoreNamesRestore(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(dir, store.Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.KV().Put(context.Background(), "s", "a", []byte("x"), store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	manifest := filepath.Join(dir, "MANIFEST")
	data, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	for i := range min(len(data), 64) {
		data[i] ^= 0x5a
	}
	if err := os.WriteFile(manifest, data, 0o600); err != nil {
		t.Fatal(err)
	}
	const way = "restore a backup with `stride store restore FILE --data DIR`"
	if code, _, errOut := runCmd("store", "ls", "--data", dir); code != 1 || !strings.Contains(errOut, "corrupt") || !strings.Contains(errOut, way) {
		t.Errorf("store ls on a corrupt directory: %d %q", code, errOut)
	}
	flows := t.TempDir()
	writeFiles(t, flows, map[string]string{"a.yaml": httpFlow("a", "/a")})
	p := startStride(t, flows, nil, "--data", dir)
	if code := p.wait(t, startTimeout); code != 1 {
		t.Errorf("stride run on a corrupt directory: exit %d, want 1", code)
	}
	if last := lastLine(p.stderr.String()); !strings.HasPrefix(last, "stride run: ") || !strings.Contains(last, way) || !strings.Contains(last, dir) {
		t.Errorf("last line = %q, want the reason and %q", last, way)
	}
}

// TestBackupWhileServingThenRestore: stride serves flows that write a
// datastore, queue messages (some left for a consumer that is not
// started, one dead-lettered) and the message log; `stride store backup`
// takes a backup through the admin API while a client keeps writing;
// stride stops; the backup restores into a new directory (never into the
// old one) and a stride started on it serves the data: the entries
// (masked), a consistent set of the concurrent writes, the queued messages
// (now consumed), the dead letter (replayed) and the message log.
func TestBackupWhileServingThenRestore(t *testing.T) {
	const token = "backup-test-token"
	flows := t.TempDir()
	writeFiles(t, flows, map[string]string{
		"put.yaml": "flow: put\ntrigger: {http: {path: '/put/{id}', methods: [POST]}}\nsteps:\n" +
			"  - datastore_put: {store: notes, id: '${request.params.id}', overwrite: true, sensitive: [secret]}\n  - respond: {status: 204}\n",
		"ingest.yaml":        "flow: ingest\ntrigger: {http: {path: /in/work, methods: [POST]}}\nsteps:\n  - enqueue: {queue: work}\n  - respond: {status: 202}\n",
		"ingest-poison.yaml": "flow: ingest-poison\ntrigger: {http: {path: /in/poison, methods: [POST]}}\nsteps:\n  - enqueue: {queue: poison}\n  - respond: {status: 202}\n",
		"poison.yaml":        "flow: poison\ntrigger: {queue: {name: poison}}\nsteps:\n  - fail: {message: poisoned on purpose, retry: false}\n",
		// Disabled (WORKER_ON unset) until the restored instance starts.
		"worker.yaml": "flow: worker\nenv: {WORKER_ON: }\ntrigger: {queue: {name: work}}\nsteps:\n" +
			"  - datastore_put: {store: done, id: '${json.job}', overwrite: true}\n",
	})
	env := []string{"STRIDE_ADMIN_TOKEN=" + token, "STRIDE_DATA_KEY=" + testDataKey}
	auth := []string{"Authorization", "Bearer " + token}
	data := t.TempDir()
	first := startStride(t, flows, env, "--data", data)
	first.waitHealthy(t)
	app := "http://" + first.addr

	status, putID := post(t, app+"/put/a", `{"secret":"s-a","n":1}`)
	if status != http.StatusNoContent {
		t.Fatalf("put a: %d", status)
	}
	for i := 1; i <= 3; i++ {
		if status, _ := post(t, app+"/in/work", fmt.Sprintf(`{"job":"job-%d"}`, i)); status != http.StatusAccepted {
			t.Fatalf("enqueue: %d", status)
		}
	}
	if status, _ := post(t, app+"/in/poison", `{"job":"p"}`); status != http.StatusAccepted {
		t.Fatalf("enqueue poison: %d", status)
	}
	var deadID string
	deadline := time.Now().Add(10 * time.Second)
	for deadID == "" {
		_, _, body := get(t, "http://"+first.admin+"/admin/messages?flow=poison", auth...)
		var ans struct{ Messages []struct{ ID, Flow string } }
		_ = json.Unmarshal(body, &ans)
		for _, m := range ans.Messages {
			if m.Flow == "poison" {
				deadID = m.ID
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the poison message was not dead-lettered: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The backup endpoint is behind the token.
	if status, _, _ := get(t, "http://"+first.admin+"/admin/backup"); status != http.StatusUnauthorized {
		t.Errorf("GET /admin/backup without the token: %d, want 401", status)
	}

	// A client writes seq-00000, seq-00001, ... one after the other while
	// the backup is taken.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	acked := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if status, _ := post(t, fmt.Sprintf("%s/put/seq-%05d", app, i), `{"n":2}`); status != http.StatusNoContent {
				t.Errorf("put seq-%05d: %d", i, status)
				return
			}
			acked = i + 1
		}
	}()
	time.Sleep(100 * time.Millisecond)
	t.Setenv("STRIDE_ADMIN_TOKEN", token)
	t.Setenv("STRIDE_DATA_KEY", "") // a backup needs no key
	file := filepath.Join(t.TempDir(), "stride.backup")
	code, out, errOut := runCmd("store", "backup", file, "--data", data, "--admin-addr", first.admin)
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	if code != 0 || !strings.Contains(errOut, "asking its admin API") || !strings.Contains(out, "written to "+file) || !strings.Contains(out, "sealed") {
		t.Fatalf("backup: %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if raw, err := os.ReadFile(file); err != nil || strings.Contains(string(raw), "s-a") {
		t.Errorf("the backup file is missing or holds a sealed value in clear: %v", err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file mode: %v %v, want 0600", fi.Mode(), err)
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".*tmp*")); len(matches) != 0 {
		t.Errorf("temporary files left: %v", matches)
	}

	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := first.wait(t, exitTimeout); code != 0 {
		t.Fatalf("first stride: exit %d", code)
	}

	// Never into a directory that holds data.
	t.Setenv("STRIDE_DATA_KEY", testDataKey)
	if code, _, errOut := runCmd("store", "restore", file, "--data", data); code != 1 || !strings.Contains(errOut, "not empty") {
		t.Fatalf("restore into the old directory: %d %q", code, errOut)
	}
	// Not with another key.
	t.Setenv("STRIDE_DATA_KEY", strings.Repeat("ab", 32))
	wrong := filepath.Join(t.TempDir(), "wrong")
	if code, _, errOut := runCmd("store", "restore", file, "--data", wrong); code != 1 || !strings.Contains(errOut, "another key") {
		t.Fatalf("restore with another key: %d %q", code, errOut)
	}
	if _, err := os.Stat(wrong); !os.IsNotExist(err) {
		t.Errorf("a refused restore left %s", wrong)
	}
	t.Setenv("STRIDE_DATA_KEY", testDataKey)
	restored := filepath.Join(t.TempDir(), "restored")
	if code, out, errOut := runCmd("store", "restore", file, "--data", restored); code != 0 || !strings.Contains(out, "restored "+file) {
		t.Fatalf("restore: %d %q %q", code, out, errOut)
	}

	second := startStride(t, flows, append(env, "WORKER_ON=1"), "--data", restored)
	second.waitHealthy(t)
	admin := "http://" + second.admin

	// The datastore, masked by the admin API and by stride store get.
	status, _, body := get(t, admin+"/admin/stores/notes/a", auth...)
	if status != http.StatusOK || strings.Contains(string(body), "s-a") || !strings.Contains(string(body), `\"secret\":\"***\"`) {
		t.Errorf("restored notes/a: %d %s", status, body)
	}
	code, out, _ = runCmd("store", "get", "notes", "a", "--data", restored, "--admin-addr", second.admin)
	if b := storedBody(t, out); code != 0 || b["secret"] != "***" || b["n"] != 1.0 {
		t.Errorf("store get notes a: %d %v", code, b)
	}
	// The concurrent writes: the first n of them, n at most one more than
	// were acknowledged before the backup ended.
	code, out, errOut = runCmd("store", "ls", "notes", "--prefix", "seq-", "--data", restored, "--admin-addr", second.admin)
	if code != 0 {
		t.Fatalf("ls: %d %q", code, errOut)
	}
	seq := lines(out)
	for i, id := range seq {
		if id != fmt.Sprintf("seq-%05d", i) {
			t.Fatalf("the backup has %s at place %d: not one moment's state (%v)", id, i, seq)
		}
	}
	if len(seq) > acked+1 {
		t.Errorf("the backup has %d of the concurrent writes, more than the %d written", len(seq), acked)
	}
	t.Logf("concurrent writes: %d in the backup, %d acknowledged by the end", len(seq), acked)

	// The queued messages are there and are now consumed.
	deadline = time.Now().Add(15 * time.Second)
	for {
		code, out, _ := runCmd("store", "ls", "done", "--data", restored, "--admin-addr", second.admin)
		if code == 0 && out == "job-1\njob-2\njob-3\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queued messages were not delivered after the restore: %q", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The message log.
	if status, _, body := get(t, admin+"/admin/messages/"+putID, auth...); status != http.StatusOK || !strings.Contains(string(body), `"flow": "put"`) {
		t.Errorf("the message log entry of the first put: %d %s", status, body)
	}
	// The dead letter: replayed back onto its restored queue.
	code, out, errOut = runCmd("messages", "--data", restored, "--admin-addr", second.admin, "replay", deadID)
	if code != 0 || !strings.Contains(out, "back on queue poison") {
		t.Errorf("replay of the restored dead letter: %d %q %q", code, out, errOut)
	}
}
