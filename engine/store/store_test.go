package store

import (
	"bytes"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// TestGroupSync: every caller returns only after a sync that started after
// it called, and concurrent callers share syncs.
func TestGroupSync(t *testing.T) {
	var started, finished atomic.Int64
	g := newGroupSync(func() error {
		n := started.Add(1)
		time.Sleep(2 * time.Millisecond)
		finished.Store(n)
		return nil
	})
	const callers = 64
	var wg sync.WaitGroup
	var bad atomic.Int64
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			entry := started.Load() // syncs started before this call
			if err := g.sync(); err != nil {
				t.Error(err)
			}
			if finished.Load() <= entry {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%d callers returned without a sync that started after their call", bad.Load())
	}
	if n := started.Load(); n >= callers || n < 1 {
		t.Fatalf("%d syncs for %d concurrent callers; want fewer (grouped)", n, callers)
	}
	failing := newGroupSync(func() error { return errors.New("disk gone") })
	if err := failing.sync(); err == nil || !strings.Contains(err.Error(), "disk gone") {
		t.Fatalf("sync error not returned: %v", err)
	}
}

func TestDurabilityOption(t *testing.T) {
	db, _ := openTest(t, Options{})
	if db.gsync == nil {
		t.Fatal("default durability does not sync")
	}
	if err := db.syncFiles(); err != nil {
		t.Fatalf("syncFiles: %v", err)
	}
	db2, _ := openTest(t, Options{Durability: SurviveProcessCrash})
	if db2.gsync != nil {
		t.Fatal("SurviveProcessCrash syncs")
	}
	if _, err := Open(t.TempDir(), Options{Durability: 7}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown durability: %v", err)
	}
	db.Close()
	if err := db.syncFiles(); err != nil {
		t.Fatalf("syncFiles after Close: %v", err)
	}
}

func TestOpenTwiceFails(t *testing.T) {
	db, dir := openTest(t, Options{})
	_ = db
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second Open of one dir: %v; want ErrLocked naming the dir", err)
	}
	if _, err := Open("", Options{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Open without dir: %v", err)
	}
}

// TestLockEndsWithClose: ErrLocked means a live holder. Once the holder
// closes, the directory opens again (what `stride messages` relies on to
// read --data directly after `stride run` exits).
func TestLockEndsWithClose(t *testing.T) {
	dir := t.TempDir()
	first, err := Open(dir, Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{GCInterval: -1}); !errors.Is(err, ErrLocked) {
		first.Close()
		t.Fatalf("second Open while the first is open: %v; want ErrLocked", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	openAt(t, dir, Options{})
}

func TestInMemory(t *testing.T) {
	db, err := Open("", Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.KV().Put(bg, "s", "a", []byte("v"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Queues().Enqueue(bg, "q", Message{Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if ms, err := db.Queues().Lease(bg, "q", 1, time.Minute); err != nil || len(ms) != 1 {
		t.Fatalf("Lease = %v, %v", ms, err)
	}
}

// TestCorruptQueueRecord: an unreadable queued message neither blocks the
// queue nor breaks the listing of dead letters.
func TestCorruptQueueRecord(t *testing.T) {
	dir := t.TempDir()
	db := openAt(t, dir, Options{})
	q := db.Queues()
	bad := db.q.ids.Next(db.now())
	if err := db.bdb.Update(func(txn *badger.Txn) error {
		return txn.Set(queueKey("in", 'm', bad), []byte{recordVersion, 0, 0xff})
	}); err != nil {
		t.Fatal(err)
	}
	good := enqueue(t, q, "in", "", "good")
	db.Close()

	var logged strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logged.Write(p)
	}), nil))
	db = openAt(t, dir, Options{Logger: logger})
	q = db.Queues()
	ms := lease(t, q, "in", 10)
	if len(ms) != 1 || ms[0].ID != good {
		t.Fatalf("Lease = %+v; want only the good message", ms)
	}
	dead, err := q.DeadLetters(bg, "in")
	if err != nil || len(dead) != 1 || dead[0].ID != bad || !strings.Contains(dead[0].LastError, "corrupt") {
		t.Fatalf("DeadLetters = %+v, %v", dead, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logged.String(), bad) {
		t.Fatalf("the corrupt record was not logged; log:\n%s", logged.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// logKeyForTest is a primary log key (start, id m, attempt 1).
var logKeyForTest = append(bytes.Clone(logByTime), logSuffix(time.Now(), "m", 1)...)

// TestDecodeNeverPanics feeds truncated and mangled records to every
// decoder.
func TestDecodeNeverPanics(t *testing.T) {
	db, _ := openTest(t, Options{})
	recs := [][]byte{
		(&qrec{key: "k", attempts: 2, content: encodeContent(&Message{Body: []byte("body"), Headers: map[string]string{"a": "b"}})}).encode(),
		db.lg.encode(&LogEntry{ID: "m", Flow: "f", Status: "OK", Trace: []TraceEntry{{Step: "s"}}}),
		db.kv.encode("s", "a", []byte("value"), time.Now(), Sensitivity{}),
		db.kv.encode("s", "a", []byte("value"), time.Now(), Sensitivity{Paths: []string{"a.b"}}),
	}
	for _, rec := range recs {
		for i := 0; i <= len(rec); i++ {
			for _, b := range [][]byte{rec[:i], append(append([]byte{}, rec[:i]...), 0xff, 0xff, 0xff)} {
				if r, err := decodeQrec(b); err == nil {
					db.q.message("id", &r)
				}
				if h, err := decodeLogHead(b, logKeyForTest); err == nil {
					db.lg.decode("m", 1, &h)
				}
				db.kv.decode("s", "a", b, 0)
				var m Message
				decodeContent(b, &m)
			}
		}
	}
}

func TestBadgerLoggerAndGC(t *testing.T) {
	var out strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return out.Write(p)
	}), nil))
	bl := badgerLogger{logger}
	bl.Infof("compaction %d\n", 1)
	bl.Debugf("noise")
	bl.Warningf("disk %s\n", "slow")
	bl.Errorf("broken %d", 2)
	mu.Lock()
	got := out.String()
	mu.Unlock()
	if strings.Contains(got, "compaction") || strings.Contains(got, "noise") {
		t.Fatalf("info/debug chatter passed through:\n%s", got)
	}
	if !strings.Contains(got, "level=WARN") || !strings.Contains(got, "badger: disk slow") || !strings.Contains(got, "level=ERROR") {
		t.Fatalf("warning or error missing:\n%s", got)
	}

	// A GC round on a live database returns (badger finds nothing to
	// rewrite) and logs nothing.
	db, _ := openTest(t, Options{Logger: logger})
	for i := 0; i < 100; i++ {
		if err := db.KV().Put(bg, "s", strconv.Itoa(i), []byte("v"), PutOptions{Overwrite: true}); err != nil {
			t.Fatal(err)
		}
	}
	before := len(got)
	db.runGC("test")
	mu.Lock()
	defer mu.Unlock()
	if len(out.String()) != before {
		t.Fatalf("GC logged: %s", out.String()[before:])
	}
}
