package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// populate writes some of everything: datastore entries (expiring, with
// and without sensitivity), queued messages in every state (ready, keyed,
// delayed, retried with an error, in flight), dead letters and message log
// entries with payloads.
func populate(t *testing.T, db *DB, clock *fakeClock) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	kv := db.KV()
	must(kv.Put(bg, "users", "u1", []byte(`{"access_token":"`+secret+`","scope":"activity"}`),
		PutOptions{TTL: time.Hour, Sensitive: Sensitivity{Paths: []string{"access_token"}}}))
	must(kv.Put(bg, "users", "u2", []byte(`{"scope":"sleep"}`), PutOptions{}))
	must(kv.Put(bg, "state", "s1", []byte("verifier"), PutOptions{Sensitive: Sensitivity{All: true}}))

	q := db.Queues()
	enq := func(queue string, m Message) string {
		t.Helper()
		id, err := q.Enqueue(bg, queue, m)
		must(err)
		return id
	}
	w1 := enq("work", Message{Key: "k", Body: []byte("w1 " + secret), Headers: map[string]string{"Authorization": "Bearer " + secret}, Meta: map[string]string{"flow": "f"}})
	enq("work", Message{Key: "k", Body: []byte("w2"), ContentType: "text/plain"})
	enq("work", Message{Body: []byte("later"), NotBefore: clock.Now().Add(time.Hour)})
	ms, err := q.Lease(bg, "work", 1, time.Minute)
	if err != nil || len(ms) != 1 || ms[0].ID != w1 {
		t.Fatalf("lease: %+v %v", ms, err)
	}
	must(q.Retry(bg, "work", w1, time.Time{}, "HTTP 503"))
	p1 := enq("poison", Message{Body: []byte("p1")})
	must(q.DeadLetter(bg, "poison", p1, "upstream said "+secret))
	enq("inflight", Message{Body: []byte("i1")})
	if _, err := q.Lease(bg, "inflight", 1, time.Minute); err != nil {
		t.Fatal(err)
	}

	lg := db.Log()
	for i, st := range []string{StatusCompleted, StatusFailed, StatusEscalated} {
		must(lg.Record(bg, LogEntry{ID: fmt.Sprintf("m%d", i), Flow: "f", FlowVersion: "v1", Trigger: "http", Attempt: 1, Status: st,
			Start: clock.Now().Add(time.Duration(i) * time.Second), End: clock.Now().Add(time.Duration(i)*time.Second + time.Millisecond),
			Error: "err " + secret, Trace: []TraceEntry{{Step: "s", Kind: "set", At: "f.yaml:3", Outcome: "ok"}}, Payload: []byte("payload " + secret)}))
	}
}

// state is everything a DB shows, for comparing two of them.
type state struct {
	Entries map[string][]Entry
	Queues  []string
	Stats   map[string]QueueStats
	Dead    map[string][]Message
	Leased  map[string][]Message // what a consumer receives, in order
	Log     []LogEntry
}

// snapshot reads db's state; it leases every ready message, so it is the
// last thing done with db.
func snapshot(t *testing.T, db *DB) state {
	t.Helper()
	s := state{Entries: map[string][]Entry{}, Stats: map[string]QueueStats{}, Dead: map[string][]Message{}, Leased: map[string][]Message{}}
	stores, err := db.KV().Stores(bg)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range stores {
		if s.Entries[name], err = db.KV().Select(bg, name, SelectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	q := db.Queues()
	if s.Queues, err = q.Names(bg); err != nil {
		t.Fatal(err)
	}
	for _, name := range s.Queues {
		if s.Stats[name], err = q.Stats(bg, name); err != nil {
			t.Fatal(err)
		}
		if s.Dead[name], err = q.DeadLetters(bg, name); err != nil {
			t.Fatal(err)
		}
	}
	list, err := db.Log().List(bg, Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		full, err := db.Log().Get(bg, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		s.Log = append(s.Log, full...)
	}
	for _, name := range s.Queues {
		if s.Leased[name], err = q.Lease(bg, name, 100, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestBackupRestore: a backup taken while the database is open, restored
// into a new directory, gives the same datastore entries (with their
// sensitivity and expiry), queued messages with their state, dead letters
// and message log; sealed values stay sealed in the file, and the restored
// store opens only with the key it was written with.
func TestBackupRestore(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  []byte
	}{{"plain", nil}, {"sealed", testKey(1)}} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock()
			opts := Options{Key: tc.key, Now: clock.Now}
			dir := t.TempDir()
			db := openAt(t, dir, opts)
			populate(t, db, clock)

			var buf bytes.Buffer
			info, err := db.Backup(bg, &buf)
			if err != nil {
				t.Fatal(err)
			}
			if info.Encrypted != (tc.key != nil) || info.Bytes != int64(buf.Len()) || !info.Created.Equal(clock.Now()) {
				t.Errorf("info = %+v (file %d bytes)", info, buf.Len())
			}
			if sealed := !bytes.Contains(buf.Bytes(), []byte(secret)); sealed != (tc.key != nil) {
				t.Errorf("the secret is sealed in the backup: %v, want %v", sealed, tc.key != nil)
			}
			// Written after the backup: not in it.
			if err := db.KV().Put(bg, "users", "late", []byte("{}"), PutOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := db.KV().Delete(bg, "users", "late"); err != nil {
				t.Fatal(err)
			}
			db.Close()
			want := snapshot(t, openAt(t, dir, opts)) // a reopen ends the leases, as a restore's open does

			restored := filepath.Join(t.TempDir(), "new", "data")
			rinfo, err := Restore(restored, bytes.NewReader(buf.Bytes()), Options{Key: tc.key})
			if err != nil {
				t.Fatal(err)
			}
			if rinfo.Encrypted != info.Encrypted || !rinfo.Created.Equal(info.Created) || rinfo.Bytes != info.Bytes {
				t.Errorf("restore info %+v, backup info %+v", rinfo, info)
			}
			if _, err := os.Stat(filepath.Join(restored, restoreMarker)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the restore marker is still there: %v", err)
			}
			rdb := openAt(t, restored, opts)
			got := snapshot(t, rdb)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("restored state differs\n got  %+v\n want %+v", got, want)
			}
			if len(got.Entries["users"]) != 2 || len(got.Dead["poison"]) != 1 || len(got.Leased["work"]) != 1 || got.Stats["work"].Delayed != 1 || len(got.Log) != 3 {
				t.Fatalf("the state compared is not the populated one: %+v", got)
			}
			if m := got.Leased["work"][0]; m.Attempts != 1 || m.LastError != "HTTP 503" || m.Headers["Authorization"] != "Bearer "+secret {
				t.Errorf("the retried message lost its state: %+v", m)
			}
			if e := got.Entries["users"][0]; e.Sensitive.Paths[0] != "access_token" || e.Expires.IsZero() {
				t.Errorf("u1 lost its sensitivity or expiry: %+v", e)
			}
			rdb.Close()

			if tc.key == nil {
				return
			}
			if _, err := Open(restored, Options{Key: testKey(2), GCInterval: -1}); !errors.Is(err, ErrDecrypt) {
				t.Errorf("restored store opened with another key: %v, want ErrDecrypt", err)
			}
			if _, err := Open(restored, Options{GCInterval: -1}); !errors.Is(err, ErrKeyRequired) {
				t.Errorf("restored store opened without a key: %v, want ErrKeyRequired", err)
			}
			// Restoring with a key the backup was not taken with undoes itself.
			other := filepath.Join(t.TempDir(), "other")
			if _, err := Restore(other, bytes.NewReader(buf.Bytes()), Options{Key: testKey(2)}); !errors.Is(err, ErrDecrypt) {
				t.Errorf("restore with another key: %v, want ErrDecrypt", err)
			}
			if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused restore left %s: %v", other, err)
			}
		})
	}
}

// TestRestoreRefuses: a non-empty directory, a file that is not a backup,
// one cut short (also exactly before its end marker) and one altered are
// refused, leaving the directory as it was.
func TestRestoreRefuses(t *testing.T) {
	clock := newClock()
	db := openAt(t, t.TempDir(), Options{Now: clock.Now})
	populate(t, db, clock)
	var buf bytes.Buffer
	if _, err := db.Backup(bg, &buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()

	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "keep.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Restore(full, bytes.NewReader(good), Options{})
	if !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), "keep.txt") {
		t.Errorf("restore into a non-empty directory: %v, want ErrNotEmpty naming a file", err)
	}
	if entries, _ := os.ReadDir(full); len(entries) != 1 {
		t.Errorf("the non-empty directory was changed: %d entries", len(entries))
	}

	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x01
	for name, data := range map[string][]byte{
		"not a backup":            []byte("hello, world\n"),
		"empty":                   nil,
		"header only":             good[:len(backupMagic)+5],
		"cut in the middle":       good[:len(good)/2],
		"cut before the trailer":  good[:len(good)-trailerLen],
		"cut inside the trailer":  good[:len(good)-10],
		"one byte altered":        flipped,
		"trailer of another size": append(bytes.Clone(good), 0),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := VerifyBackup(bytes.NewReader(data)); !errors.Is(err, ErrBadBackup) {
				t.Errorf("verify: %v, want ErrBadBackup", err)
			}
			empty := t.TempDir()
			if _, err := Restore(empty, bytes.NewReader(data), Options{}); !errors.Is(err, ErrBadBackup) {
				t.Errorf("restore into an empty directory: %v, want ErrBadBackup", err)
			}
			if entries, _ := os.ReadDir(empty); len(entries) != 0 {
				t.Errorf("a refused restore left %d files in the empty directory", len(entries))
			}
			missing := filepath.Join(t.TempDir(), "missing")
			if _, err := Restore(missing, bytes.NewReader(data), Options{}); !errors.Is(err, ErrBadBackup) {
				t.Errorf("restore into a new directory: %v, want ErrBadBackup", err)
			}
			if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused restore left the directory it created: %v", err)
			}
		})
	}
	if info, err := VerifyBackup(bytes.NewReader(good)); err != nil || info.Bytes != int64(len(good)) {
		t.Errorf("verify the good backup: %+v %v", info, err)
	}
}

// TestBackupDir: a closed data directory is backed up without its key; one
// another DB has open is ErrLocked; a directory without data is refused.
func TestBackupDir(t *testing.T) {
	clock := newClock()
	dir := t.TempDir()
	db := openAt(t, dir, Options{Key: testKey(6), Now: clock.Now})
	populate(t, db, clock)
	var buf bytes.Buffer
	if _, err := BackupDir(bg, dir, &buf, Options{}); !errors.Is(err, ErrLocked) {
		t.Errorf("backup of an open directory: %v, want ErrLocked", err)
	}
	db.Close()
	buf.Reset()
	info, err := BackupDir(bg, dir, &buf, Options{}) // no key needed
	if err != nil || !info.Encrypted {
		t.Fatalf("backup of a closed encrypted directory: %+v %v", info, err)
	}
	restored := filepath.Join(t.TempDir(), "r")
	if _, err := Restore(restored, &buf, Options{}); err != nil {
		t.Fatal(err)
	}
	rdb := openAt(t, restored, Options{Key: testKey(6), Now: clock.Now})
	if e, err := rdb.KV().Get(bg, "users", "u1"); err != nil || !strings.Contains(string(e.Value), secret) {
		t.Fatalf("restored entry: %q %v", e.Value, err)
	}
	if _, err := BackupDir(bg, t.TempDir(), &buf, Options{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("backup of an empty directory: %v, want ErrInvalid", err)
	}
	if _, err := BackupDir(bg, filepath.Join(dir, "missing"), &buf, Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("backup of a missing directory: %v", err)
	}
}

// TestBackupIsConsistent: while one writer puts entries one after the
// other, each backup holds exactly the first n of them — a snapshot at
// one moment, never a later entry without an earlier one.
func TestBackupIsConsistent(t *testing.T) {
	db, _ := openTest(t, Options{Durability: SurviveProcessCrash})
	var written atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			for _, s := range []string{"a", "b", "c"} { // three stores: keys far apart
				if err := db.KV().Put(bg, s, fmt.Sprintf("%08d", i), []byte(`{"n":1}`), PutOptions{}); err != nil {
					t.Error(err)
					return
				}
			}
			written.Store(int64(i + 1))
		}
	}()
	for written.Load() < 200 {
		time.Sleep(time.Millisecond)
	}
	var backups [][]byte
	for range 3 {
		var buf bytes.Buffer
		if _, err := db.Backup(bg, &buf); err != nil {
			t.Fatal(err)
		}
		backups = append(backups, buf.Bytes())
	}
	close(stop)
	wg.Wait()
	for i, b := range backups {
		dir := filepath.Join(t.TempDir(), "r")
		if _, err := Restore(dir, bytes.NewReader(b), Options{}); err != nil {
			t.Fatal(err)
		}
		rdb := openAt(t, dir, Options{})
		var counts []int
		for _, s := range []string{"a", "b", "c"} {
			es, err := rdb.KV().Select(bg, s, SelectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for j, e := range es {
				if e.ID != fmt.Sprintf("%08d", j) {
					t.Fatalf("backup %d, store %s: entry %d is %s: a gap", i, s, j, e.ID)
				}
			}
			counts = append(counts, len(es))
		}
		// Store a is written first: a snapshot holds n, n or n-1, n-1 or n-1.
		if !(counts[0] >= counts[1] && counts[1] >= counts[2] && counts[0]-counts[2] <= 1) {
			t.Errorf("backup %d: entries per store %v: not one moment's state", i, counts)
		}
		rdb.Close()
	}
}

// TestBackupStops: a cancelled context or a closing database ends a
// backup with an error.
func TestBackupStops(t *testing.T) {
	db, _ := openTest(t, Options{})
	if err := db.KV().Put(bg, "s", "a", []byte("x"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	var buf bytes.Buffer
	if _, err := db.Backup(ctx, &buf); !errors.Is(err, context.Canceled) {
		t.Errorf("backup with a cancelled context: %v", err)
	}
	db.Close()
	if _, err := db.Backup(bg, &buf); !errors.Is(err, ErrClosed) {
		t.Errorf("backup of a closed DB: %v", err)
	}
}

// TestOpenRefusesCorruptDir: damaged files and a restore that did not
// finish are ErrCorruptDir, the error whose remedy is a restore.
func TestOpenRefusesCorruptDir(t *testing.T) {
	dir := t.TempDir()
	db := openAt(t, dir, Options{})
	if err := db.KV().Put(bg, "s", "a", []byte("x"), PutOptions{}); err != nil {
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
	if _, err := Open(dir, Options{GCInterval: -1}); !errors.Is(err, ErrCorruptDir) {
		t.Errorf("open with a damaged MANIFEST: %v, want ErrCorruptDir", err)
	}

	half := t.TempDir()
	if err := os.WriteFile(filepath.Join(half, restoreMarker), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(half, Options{GCInterval: -1})
	if !errors.Is(err, ErrCorruptDir) || !strings.Contains(err.Error(), "restore") {
		t.Errorf("open of a directory a restore did not finish: %v", err)
	}
}
