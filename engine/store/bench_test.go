package store

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Run with, for example:
//
//	go test -run '^$' -bench . -benchtime 2s ./engine/store/
//
// BenchmarkEnqueue and BenchmarkEnqueueAck are meant to be read against
// BenchmarkBadgerWriteBaseline: the same bytes, the same sync setting, one
// bare badger Update per operation.

var benchBody = bytes.Repeat([]byte("x"), 256)

var durabilities = []Durability{SurvivePowerLoss, SurviveProcessCrash}

func perSecond(b *testing.B, unit string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

// parallel32 runs fn from 32 goroutines (16 × GOMAXPROCS on this 2-core
// machine), as concurrent webhook requests would.
func parallel32(b *testing.B, fn func() error) {
	b.SetParallelism(32 / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := fn(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkEnqueue: durable enqueues from one goroutine and from 32.
func BenchmarkEnqueue(b *testing.B) {
	for _, d := range durabilities {
		enq := func(q Queues) func() error {
			return func() error {
				_, err := q.Enqueue(bg, "bench", Message{Body: benchBody})
				return err
			}
		}
		b.Run(d.String()+"/serial", func(b *testing.B) {
			db, _ := openTest(b, Options{Durability: d})
			f := enq(db.Queues())
			for b.Loop() {
				if err := f(); err != nil {
					b.Fatal(err)
				}
			}
			perSecond(b, "msgs/s")
		})
		b.Run(d.String()+"/parallel32", func(b *testing.B) {
			db, _ := openTest(b, Options{Durability: d})
			parallel32(b, enq(db.Queues()))
			perSecond(b, "msgs/s")
		})
	}
}

// BenchmarkEnqueueAck: a message's whole life from one goroutine: durable
// enqueue, lease, ack (three badger commits, one fsync with SurvivePowerLoss).
func BenchmarkEnqueueAck(b *testing.B) {
	for _, d := range durabilities {
		b.Run(d.String(), func(b *testing.B) {
			db, _ := openTest(b, Options{Durability: d})
			q := db.Queues()
			for b.Loop() {
				if _, err := q.Enqueue(bg, "bench", Message{Body: benchBody}); err != nil {
					b.Fatal(err)
				}
				ms, err := q.Lease(bg, "bench", 1, time.Minute)
				if err != nil || len(ms) != 1 {
					b.Fatal(len(ms), err)
				}
				if err := q.Ack(bg, "bench", ms[0].ID); err != nil {
					b.Fatal(err)
				}
			}
			perSecond(b, "msgs/s")
		})
	}
}

// BenchmarkBadgerWriteBaseline: one bare badger Update per operation with
// a key and value of the size an Enqueue writes, with the sync settings to
// compare against:
//
//	nosync      — what SurviveProcessCrash does;
//	update+sync — Update then badger's Sync, per writer (SurvivePowerLoss
//	              without group commit);
//	syncwrites  — badger's own SyncWrites option.
func BenchmarkBadgerWriteBaseline(b *testing.B) {
	val := (&qrec{enqueued: time.Now(), content: encodeContent(&Message{Body: benchBody})}).encode()
	var n atomic.Int64
	for _, mode := range []string{"nosync", "update+sync", "syncwrites"} {
		open := func(b *testing.B) func() error {
			bo := badger.DefaultOptions(b.TempDir()).WithLogger(nil).WithMetricsEnabled(false).
				WithSyncWrites(mode == "syncwrites").WithNumCompactors(2).WithBlockCacheSize(64 << 20).WithValueLogFileSize(256 << 20)
			bdb, err := badger.Open(bo)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { bdb.Close() })
			return func() error {
				key := queueKey("bench", 'm', fmt.Sprintf("%032x", n.Add(1)))
				if err := bdb.Update(func(txn *badger.Txn) error { return txn.Set(key, val) }); err != nil {
					return err
				}
				if mode == "update+sync" {
					return bdb.Sync()
				}
				return nil
			}
		}
		b.Run(mode+"/serial", func(b *testing.B) {
			f := open(b)
			for b.Loop() {
				if err := f(); err != nil {
					b.Fatal(err)
				}
			}
			perSecond(b, "writes/s")
		})
		b.Run(mode+"/parallel32", func(b *testing.B) {
			parallel32(b, open(b))
			perSecond(b, "writes/s")
		})
	}
}

// fillUsers writes n users of about 300 bytes through a badger write batch
// (fast setup; the records are the ones KV.Put writes).
func fillUsers(b *testing.B, db *DB, n int) {
	b.Helper()
	wb := db.bdb.NewWriteBatch()
	defer wb.Cancel()
	now := time.Now()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("u%06d", i)
		if err := wb.Set(kvKey("users", id), db.kv.encode("users", id, userJSON(i), now, Sensitivity{})); err != nil {
			b.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		b.Fatal(err)
	}
}

func userJSON(i int) []byte {
	return []byte(fmt.Sprintf(`{"user_id":"%06d","access_token":"%s","refresh_token":"%s","expires_at":"2026-01-01T00:00:00Z","scope":"activity heartrate sleep"}`,
		i, strings.Repeat("a", 100), strings.Repeat("r", 64)))
}

func BenchmarkSelect100k(b *testing.B) {
	db, _ := openTest(b, Options{Key: testKey(9)})
	fillUsers(b, db, 100_000)
	kv := db.KV()
	b.ResetTimer()
	b.Run("first100", func(b *testing.B) {
		for b.Loop() {
			es, err := kv.Select(bg, "users", SelectOptions{Limit: 100})
			if err != nil || len(es) != 100 {
				b.Fatal(len(es), err)
			}
		}
	})
	b.Run("page100-after-50k", func(b *testing.B) {
		for b.Loop() {
			es, err := kv.Select(bg, "users", SelectOptions{After: "u050000", Limit: 100})
			if err != nil || len(es) != 100 {
				b.Fatal(len(es), err)
			}
		}
	})
	b.Run("fullscan", func(b *testing.B) {
		for b.Loop() {
			es, err := kv.Select(bg, "users", SelectOptions{})
			if err != nil || len(es) != 100_000 {
				b.Fatal(len(es), err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100_000, "ns/entry")
	})
	b.Run("count", func(b *testing.B) {
		for b.Loop() {
			if n, err := kv.Count(bg, "users"); err != nil || n != 100_000 {
				b.Fatal(n, err)
			}
		}
	})
}

// BenchmarkMemory100kUsers puts 100k users of ~300 bytes through KV.Put
// (sealed, power-loss durable, from 32 goroutines) and reports the Go heap
// after Open and after the puts, and the process RSS. Run it with
// -benchtime 1x.
func BenchmarkMemory100kUsers(b *testing.B) {
	const users = 100_000
	heap := func() float64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return float64(m.HeapAlloc) / (1 << 20)
	}
	for b.Loop() {
		before := heap()
		db, _ := openTest(b, Options{Key: testKey(9)})
		opened := heap()
		kv := db.KV()
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1) - 1; i < users; i = next.Add(1) - 1 {
					if err := kv.Put(bg, "users", fmt.Sprintf("u%06d", i), userJSON(int(i)), PutOptions{}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		took := time.Since(start)
		after := heap()
		b.ReportMetric(opened-before, "heap-open-MB")
		b.ReportMetric(after-before, "heap-100k-MB")
		if rss := vmRSS(); rss > 0 {
			b.ReportMetric(float64(rss)/(1<<20), "rss-MB")
		}
		b.ReportMetric(users/took.Seconds(), "puts/s")
		db.Close()
		b.ReportMetric(float64(dirSize(b, db.dir))/(1<<20), "disk-MB")
	}
}

// dirSize sums the sizes of the files under dir.
func dirSize(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// vmRSS reads the resident set size on Linux; 0 elsewhere.
func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
