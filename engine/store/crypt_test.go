package store

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
)

func TestParseKey(t *testing.T) {
	key := testKey(7)
	tests := []struct {
		name string
		in   string
		ok   bool
		msg  string
	}{
		{"hex", hex.EncodeToString(key), true, ""},
		{"hex upper with spaces", "  " + strings.ToUpper(hex.EncodeToString(key)) + "\n", true, ""},
		{"base64 std", base64.StdEncoding.EncodeToString(key), true, ""},
		{"base64 raw std", base64.RawStdEncoding.EncodeToString(key), true, ""},
		{"base64 url", base64.URLEncoding.EncodeToString(key), true, ""},
		{"base64 raw url", base64.RawURLEncoding.EncodeToString(key), true, ""},
		{"empty", "", false, "empty"},
		{"short hex", hex.EncodeToString(key[:16]), false, "32 hex characters; want 64"},
		{"base64 of 16 bytes", base64.StdEncoding.EncodeToString(key[:16]), false, "16 bytes; want 32"},
		{"hex of 33 bytes", hex.EncodeToString(append(key, 1)), false, "66 hex characters"},
		{"garbage", "not a key at all!", false, "neither"},
	}
	for _, tc := range tests {
		got, err := ParseKey(tc.in)
		if tc.ok {
			if err != nil || !bytes.Equal(got, key) {
				t.Errorf("%s: ParseKey = %x, %v; want %x", tc.name, got, err, key)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.msg)
		}
		if err != nil && len(tc.in) > 8 && strings.Contains(err.Error(), strings.TrimSpace(tc.in)) {
			t.Errorf("%s: error echoes the key: %v", tc.name, err)
		}
	}
}

const secret = "tok_SECRET_abc123"

// writeSecrets puts the secret in a datastore value, a queued message (body
// and header), a dead letter's error and a log entry's payload and error.
func writeSecrets(t *testing.T, db *DB) {
	t.Helper()
	if err := db.KV().Put(bg, "tokens", "user-1", []byte(`{"access_token":"`+secret+`"}`), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	q := db.Queues()
	if _, err := q.Enqueue(bg, "webhooks", Message{Body: []byte("body " + secret), Headers: map[string]string{"Authorization": "Bearer " + secret}}); err != nil {
		t.Fatal(err)
	}
	id, err := q.Enqueue(bg, "webhooks", Message{Body: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.DeadLetter(bg, "webhooks", id, "upstream said "+secret); err != nil {
		t.Fatal(err)
	}
	err = db.Log().Record(bg, LogEntry{ID: "m1", Flow: "f", Attempt: 1, Status: StatusFailed, Error: "bad " + secret,
		Trace: []TraceEntry{{Step: "s", Error: "step " + secret}}, Payload: []byte("payload " + secret)})
	if err != nil {
		t.Fatal(err)
	}
}

// rawContains reports whether any file under dir holds s, and how many
// files it read. While badger is open its write-ahead log (.mem) and value
// log are mmap'd files hundreds of MB long, written from the start and
// sparse after: reading stops at the first 1 MB of zeros (the control run
// without a key shows the data is found before it).
func rawContains(t *testing.T, dir, s string) (bool, int) {
	t.Helper()
	found, files := false, 0
	zero := make([]byte, 1<<20+len(s))
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		files++
		buf := make([]byte, 1<<20+len(s))
		carry := 0
		for {
			n, err := io.ReadFull(f, buf[carry:])
			chunk := buf[:carry+n]
			if bytes.Contains(chunk, []byte(s)) {
				found = true
				return nil
			}
			if err != nil || bytes.Equal(buf[carry:carry+n], zero[:n]) {
				return nil // end of file, or of what was written
			}
			carry = copy(buf, chunk[len(chunk)-len(s):])
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return found, files
}

// TestEncryptionAtRest reads every file of the data directory raw: with a
// key the secret never appears; without one it does (so the check works).
func TestEncryptionAtRest(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  []byte
	}{{"with key", testKey(1)}, {"without key", nil}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := openAt(t, dir, Options{Key: tc.key})
			if db.Encrypted() != (tc.key != nil) {
				t.Fatalf("Encrypted() = %v", db.Encrypted())
			}
			writeSecrets(t, db)
			// Check before Close too: the write-ahead log is on disk.
			foundOpen, _ := rawContains(t, dir, secret)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			found, files := rawContains(t, dir, secret)
			if files == 0 {
				t.Fatal("no files in the data dir")
			}
			if tc.key != nil && (found || foundOpen) {
				t.Fatalf("plaintext secret found in the raw files (open: %v, closed: %v)", foundOpen, found)
			}
			if tc.key == nil && !(found && foundOpen) {
				t.Fatalf("control: plaintext not found without a key (open: %v, closed: %v); the scan proves nothing", foundOpen, found)
			}

			// Everything reads back through the API after reopening.
			db2 := openAt(t, dir, Options{Key: tc.key})
			e, err := db2.KV().Get(bg, "tokens", "user-1")
			if err != nil || !strings.Contains(string(e.Value), secret) {
				t.Fatalf("KV after reopen: %q, %v", e.Value, err)
			}
			msgs, err := db2.Queues().Lease(bg, "webhooks", 10, 60e9)
			if err != nil || len(msgs) != 1 || !strings.Contains(string(msgs[0].Body), secret) || msgs[0].Headers["Authorization"] != "Bearer "+secret {
				t.Fatalf("queue after reopen: %+v, %v", msgs, err)
			}
			dead, err := db2.Queues().DeadLetters(bg, "webhooks")
			if err != nil || len(dead) != 1 || dead[0].LastError != "upstream said "+secret {
				t.Fatalf("dead letters after reopen: %+v, %v", dead, err)
			}
			les, err := db2.Log().Get(bg, "m1")
			if err != nil || len(les) != 1 || string(les[0].Payload) != "payload "+secret || les[0].Error != "bad "+secret || les[0].Trace[0].Error != "step "+secret {
				t.Fatalf("log after reopen: %+v, %v", les, err)
			}
		})
	}
}

func TestWrongKey(t *testing.T) {
	dir := t.TempDir()
	db := openAt(t, dir, Options{Key: testKey(1)})
	if err := db.KV().Put(bg, "s", "a", []byte("v"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	_, err := Open(dir, Options{Key: testKey(2), GCInterval: -1})
	if !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), "wrong STRIDE_DATA_KEY?") {
		t.Fatalf("Open with another key: err = %v, want ErrDecrypt mentioning the key", err)
	}
	_, err = Open(dir, Options{GCInterval: -1})
	if !errors.Is(err, ErrKeyRequired) || !strings.Contains(err.Error(), "STRIDE_DATA_KEY") {
		t.Fatalf("Open without key: err = %v, want ErrKeyRequired", err)
	}
	if _, err := Open(t.TempDir(), Options{Key: []byte("short")}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Open with a 5-byte key: err = %v, want ErrInvalid", err)
	}
	// The right key still works after the failed attempts.
	db = openAt(t, dir, Options{Key: testKey(1)})
	if e, err := db.KV().Get(bg, "s", "a"); err != nil || string(e.Value) != "v" {
		t.Fatalf("right key: %q, %v", e.Value, err)
	}
}

// TestSealedValueWithOtherKey: a value sealed under another key (written
// raw, past Open's key check) is a clear error, never garbage.
func TestSealedValueWithOtherKey(t *testing.T) {
	db, _ := openTest(t, Options{Key: testKey(1)})
	other, err := Open("", Options{Key: testKey(2), InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	rec := other.kv.encode("s", "a", []byte("sealed elsewhere"), other.now(), Sensitivity{})
	if err := db.bdb.Update(func(txn *badger.Txn) error { return txn.Set(kvKey("s", "a"), rec) }); err != nil {
		t.Fatal(err)
	}
	_, err = db.KV().Get(bg, "s", "a")
	if !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), "wrong STRIDE_DATA_KEY?") || !strings.Contains(err.Error(), `"a"`) {
		t.Fatalf("Get = %v; want ErrDecrypt naming the id", err)
	}
	if _, err := db.KV().Select(bg, "s", SelectOptions{}); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("Select = %v; want ErrDecrypt", err)
	}
}

// TestAADBindsValuesToTheirPlace copies sealed records raw to another id:
// they must not open there.
func TestAADBindsValuesToTheirPlace(t *testing.T) {
	db, _ := openTest(t, Options{Key: testKey(1)})
	if err := db.KV().Put(bg, "tokens", "alice", []byte("alice's token"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	copyRaw := func(from, to []byte) {
		t.Helper()
		err := db.bdb.Update(func(txn *badger.Txn) error {
			item, err := txn.Get(from)
			if err != nil {
				return err
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			return txn.Set(to, v)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	copyRaw(kvKey("tokens", "alice"), kvKey("tokens", "mallory"))
	copyRaw(kvKey("tokens", "alice"), kvKey("tokens2", "alice"))
	if _, err := db.KV().Get(bg, "tokens", "mallory"); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("value moved to another id: err = %v, want ErrDecrypt", err)
	}
	if _, err := db.KV().Get(bg, "tokens2", "alice"); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("value moved to another store: err = %v, want ErrDecrypt", err)
	}
	if e, err := db.KV().Get(bg, "tokens", "alice"); err != nil || string(e.Value) != "alice's token" {
		t.Fatalf("original: %q, %v", e.Value, err)
	}

	// A queued message copied under another id does not open: the lease
	// moves it to the dead letters instead of delivering it or blocking.
	q := db.Queues()
	id, err := q.Enqueue(bg, "in", Message{Body: []byte("real")})
	if err != nil {
		t.Fatal(err)
	}
	fake := db.q.ids.Next(db.now())
	copyRaw(queueKey("in", 'm', id), queueKey("in", 'm', fake))
	db.Close()
	db = openAt(t, db.bdb.Opts().Dir, Options{Key: testKey(1)})
	q = db.Queues()
	msgs, err := q.Lease(bg, "in", 10, 60e9)
	if err != nil || len(msgs) != 1 || msgs[0].ID != id || string(msgs[0].Body) != "real" {
		t.Fatalf("Lease = %+v, %v; want only the real message", msgs, err)
	}
	dead, err := q.DeadLetters(bg, "in")
	if err != nil || len(dead) != 1 || dead[0].ID != fake || dead[0].Body != nil || !strings.Contains(dead[0].LastError, "wrong STRIDE_DATA_KEY?") {
		t.Fatalf("DeadLetters = %+v, %v; want the copy, unreadable", dead, err)
	}

	// A log payload copied to another entry does not open either.
	lg := db.Log()
	for _, id := range []string{"m1", "m2"} {
		if err := lg.Record(bg, LogEntry{ID: id, Attempt: 1, Status: StatusCompleted, Payload: []byte("payload of " + id)}); err != nil {
			t.Fatal(err)
		}
	}
	copyRaw(logIDKey(logPay, "m1", 1), logIDKey(logPay, "m2", 1))
	if _, err := lg.Get(bg, "m2"); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("moved payload: err = %v, want ErrDecrypt", err)
	}
}

// TestPlainDirGainsKey: a directory written without a key can be opened
// with one; old values stay readable, new ones are sealed, and from then on
// the key is required.
func TestPlainDirGainsKey(t *testing.T) {
	dir := t.TempDir()
	db := openAt(t, dir, Options{})
	if err := db.KV().Put(bg, "s", "old", []byte("plain"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openAt(t, dir, Options{Key: testKey(3)})
	if e, err := db.KV().Get(bg, "s", "old"); err != nil || string(e.Value) != "plain" {
		t.Fatalf("old plain value: %q, %v", e.Value, err)
	}
	if err := db.KV().Put(bg, "s", "new", []byte(secret), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if found, _ := rawContains(t, dir, secret); found {
		t.Fatal("value written with a key is in plain text")
	}
	if _, err := Open(dir, Options{GCInterval: -1}); !errors.Is(err, ErrKeyRequired) {
		t.Fatalf("Open without key after encryption began: %v", err)
	}
}
