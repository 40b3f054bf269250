package main

// The "soak" case runs what an operator sizing a container would: the
// real `stride run` binary with the shipped Fitbit flows against the
// sandbox, a fixed rate of unique signed notifications (every one a
// distinct user and day, so none is a duplicate) from a separate load
// process, for minutes. Every interval it prints a line: what was sent,
// the answers other than 204, p50/p99 of the answers of that interval,
// RSS and anonymous RSS, goroutines, bytes on disk, queue depth. At the
// end: whether the queue drained, and the bytes on disk per
// notification, as the directory grew while it ran and after the store
// was compacted.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/stride-engine/stride/engine/store"
	"github.com/stride-engine/stride/internal/demo"
	"github.com/stride-engine/stride/internal/loadgen"
	"github.com/stride-engine/stride/sandbox"
)

// soakConfig is the soak case's flags.
type soakConfig struct {
	rate        int           // notifications a second
	d           time.Duration // how long the load runs
	every       time.Duration // one line per interval
	users       int           // 0: enough that no user passes the sandbox's rate limit
	memoryLimit string        // stride run --memory-limit ("" : its default)
	drain       time.Duration // how long to wait for the queue to empty after the load
}

// soakSecretEnv passes the Fitbit client secret to the load process (in
// its environment, never on a command line).
const soakSecretEnv = "STRIDE_BENCH_FITBIT_SECRET"

// soakInterval is one line of the load process: the answers of one
// interval.
type soakInterval struct {
	Sent   int   `json:"sent"`
	Non204 int   `json:"non204"`
	Errors int   `json:"errors"` // no answer at all (counted in Non204 too)
	Late   int   `json:"late"`   // sent more than 10 ms after their time: the pool was busy
	P50US  int64 `json:"p50_us"`
	P99US  int64 `json:"p99_us"`
	Last   bool  `json:"last"`
}

// soakLoad is the load process: rate notifications a second for d, each
// for the next (user, day) pair, latencies measured from when each was
// due (a slow answer delays no later one's clock), one JSON line per
// interval on stdout.
func soakLoad(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("soak-load", flag.ExitOnError)
	url := fs.String("url", "", "the webhook")
	rate := fs.Int("rate", 200, "notifications a second")
	d := fs.Duration("d", time.Minute, "duration")
	every := fs.Duration("every", time.Minute, "interval of the lines")
	users := fs.Int("users", 200, "users (U00000…)")
	conc := fs.Int("c", 64, "senders")
	_ = fs.Parse(args)
	secret := os.Getenv(soakSecretEnv)
	if *url == "" || secret == "" || *rate <= 0 || *users <= 0 {
		return fmt.Errorf("soak-load: -url, -rate, -users and $%s are needed", soakSecretEnv)
	}
	ids := userIDs(*users)
	// Notification i is for user i % users and the day i / users days
	// before yesterday: distinct pairs, so distinct bodies.
	yesterday := time.Now().UTC().AddDate(0, 0, -1)
	client := loadgen.Client(*conc)

	var mu sync.Mutex
	var cur soakInterval
	var lat []time.Duration
	flush := func(last bool) {
		mu.Lock()
		out := cur
		l := lat
		cur, lat = soakInterval{}, nil
		mu.Unlock()
		slices.Sort(l)
		if n := len(l); n > 0 {
			out.P50US = l[n/2].Microseconds()
			out.P99US = l[min(n-1, n*99/100)].Microseconds()
		}
		out.Last = last
		_ = json.NewEncoder(stdout).Encode(out)
	}

	type job struct {
		i   int
		due time.Time
	}
	jobs := make(chan job, *conc)
	var wg sync.WaitGroup
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				u, day := soakPair(j.i, ids, yesterday)
				body := sandbox.NotificationBody([]sandbox.Update{demo.Update(u, day, "activities")})
				late := time.Since(j.due) > 10*time.Millisecond
				code := 0
				req, err := http.NewRequest(http.MethodPost, *url, strings.NewReader(string(body)))
				if err == nil {
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("X-Fitbit-Signature", sandbox.SignNotification(secret, body))
					var resp *http.Response
					if resp, err = client.Do(req); err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						code = resp.StatusCode
					}
				}
				took := time.Since(j.due)
				mu.Lock()
				cur.Sent++
				if code != 204 {
					cur.Non204++
				}
				if err != nil {
					cur.Errors++
				}
				if late {
					cur.Late++
				}
				lat = append(lat, took)
				mu.Unlock()
			}
		}()
	}
	period := time.Second / time.Duration(*rate)
	start := time.Now()
	next := start.Add(*every)
	total := int(d.Seconds() * float64(*rate))
	for i := range total {
		due := start.Add(time.Duration(i) * period)
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		jobs <- job{i, due}
		if time.Now().After(next) {
			flush(false)
			next = next.Add(*every)
		}
	}
	close(jobs)
	wg.Wait()
	flush(true)
	return nil
}

// soakPair is notification i's user and day: user i % users, i / users
// days before yesterday.
func soakPair(i int, ids []string, yesterday time.Time) (user, day string) {
	return ids[i%len(ids)], yesterday.AddDate(0, 0, -i/len(ids)).Format("2006-01-02")
}

// dirBytes is the disk blocks in use under dir (badger's files are
// sparse and preallocated: their sizes overstate them).
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				if st, ok := info.Sys().(*syscall.Stat_t); ok {
					n += st.Blocks * 512
				} else {
					n += info.Size()
				}
			}
		}
		return nil
	})
	return n
}

// scrape reads some of stride's metrics: goroutines and the messages in
// its queues that are not dead (ready, in flight, delayed).
func scrape(admin string) (goroutines, queued int, err error) {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		v, _ := strconv.ParseFloat(strings.TrimSpace(value), 64)
		switch {
		case name == "go_goroutines":
			goroutines = int(v)
		case strings.HasPrefix(name, "stride_queue_messages{") && !strings.Contains(name, `state="dead"`):
			queued += int(v)
		}
	}
	return goroutines, queued, sc.Err()
}

// storeParts reads GET /admin/store.
func storeParts(admin string) (store.Parts, error) {
	resp, err := http.Get("http://" + admin + "/admin/store")
	if err != nil {
		return store.Parts{}, err
	}
	defer resp.Body.Close()
	var out struct {
		Parts store.Parts `json:"parts"`
	}
	return out.Parts, json.NewDecoder(resp.Body).Decode(&out)
}

func benchSoak(w io.Writer, bin, flows string, c soakConfig) error {
	total := int(c.d.Seconds() * float64(c.rate))
	if c.users <= 0 {
		// The sandbox allows 150 API calls per user and clock hour.
		c.users = max(100, (total+99)/100)
	}
	data, err := demo.TempData()
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	var args []string
	if c.memoryLimit != "" {
		args = append(args, "--memory-limit", c.memoryLimit)
	}
	e, err := demo.StartWith(bin, flows, data, nil, args...)
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			e.Stop()
		}
	}()
	if _, err := connectAll(e, userIDs(c.users)); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	pid := e.Pid()
	idleRSS, idleAnon := procKB(pid, "VmRSS"), procKB(pid, "RssAnon")
	before := dirBytes(data)
	beforeParts, err := storeParts(e.Admin)
	if err != nil {
		return err
	}
	// Interactions already imported (none: connecting imports nothing,
	// but count rather than assume).
	mkcBefore := len(e.MKC.Interactions())

	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "soak-load", "-url", "http://"+e.Addr+"/fitbit/webhook", "-rate", fmt.Sprint(c.rate),
		"-d", c.d.String(), "-every", c.every.String(), "-users", fmt.Sprint(c.users))
	cmd.Env = append(os.Environ(), soakSecretEnv+"="+e.Fitbit.ClientSecret())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	limit := c.memoryLimit
	if limit == "" {
		limit = "default"
	}
	fmt.Fprintf(w, "### Soak: %d notifications/s for %v, shipped Fitbit flows against the sandbox (memory limit %s)\n\n", c.rate, c.d, limit)
	fmt.Fprintf(w, "The real `stride run` (log level info, fsync on) with `flows/`; %d users connected through the redirect chain first; every notification a distinct user and day, signed, from a separate load process, latency counted from when each was due. Idle before the load: RSS %s, anonymous %s.\n\n", c.users, mb(idleRSS), mb(idleAnon))
	fmt.Fprintln(w, "| t | sent | not 204 | p50 | p99 | RSS | anon RSS | goroutines | data dir | queued |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	// Peaks, sampled every second besides the lines.
	var peakRSS, peakAnon atomic.Int64
	sampleDone := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-sampleDone:
				return
			case <-t.C:
				peakRSS.Store(max(peakRSS.Load(), int64(procKB(pid, "VmRSS"))))
				peakAnon.Store(max(peakAnon.Load(), int64(procKB(pid, "RssAnon"))))
			}
		}
	}()
	var sent, non204 int
	var worstP99 int64
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var iv soakInterval
		if err := json.Unmarshal(sc.Bytes(), &iv); err != nil {
			continue
		}
		sent += iv.Sent
		non204 += iv.Non204
		worstP99 = max(worstP99, iv.P99US)
		rss, anon := procKB(pid, "VmRSS"), procKB(pid, "RssAnon")
		peakRSS.Store(max(peakRSS.Load(), int64(rss)))
		peakAnon.Store(max(peakAnon.Load(), int64(anon)))
		g, q, _ := scrape(e.Admin)
		fmt.Fprintf(w, "| %.0f s | %d | %d | %.1f ms | %.1f ms | %s | %s | %d | %s | %d |\n", time.Since(start).Seconds(), iv.Sent, iv.Non204,
			float64(iv.P50US)/1000, float64(iv.P99US)/1000, mb(rss), mb(anon), g, mib(dirBytes(data)), q)
	}
	if err := cmd.Wait(); err != nil {
		close(sampleDone)
		return fmt.Errorf("load process: %w", err)
	}
	loadEnd := time.Now()
	drained := demo.WaitFor(c.drain, func() bool {
		_, q, err := scrape(e.Admin)
		return err == nil && q == 0
	})
	drainTook := time.Since(loadEnd)
	close(sampleDone)
	imported := len(e.MKC.Interactions()) - mkcBefore
	after := dirBytes(data)
	// The parts are counted at most every 30 s: wait out the cache.
	time.Sleep(31 * time.Second)
	afterParts, err := storeParts(e.Admin)
	if err != nil {
		return err
	}
	running := dirBytes(data)
	hwm := procKB(pid, "VmHWM")
	e.Stop()
	stopped = true
	closed := dirBytes(data)
	// Where the bytes are: live keys and values by key area.
	areas, err := keyAreas(data)
	if err != nil {
		return err
	}
	// Compacted: the store opened alone, its LSM tree flattened and its
	// value log collected, as the background GC and badger's compactions
	// would in time.
	key, err := store.ParseKey(e.Key)
	if err != nil {
		return err
	}
	db, err := store.Open(data, store.Options{Key: key, GCInterval: -1})
	if err != nil {
		return err
	}
	reclaimed, cerr := db.Compact(context.Background())
	// Rewritten: the live data only, a backup restored into a new
	// directory (what the store costs once every deleted and expired key
	// has been compacted away).
	var backup bytes.Buffer
	if cerr == nil {
		_, cerr = db.Backup(context.Background(), &backup)
	}
	if err := db.Close(); cerr == nil {
		cerr = err
	}
	if cerr != nil {
		return cerr
	}
	compacted := dirBytes(data)
	restored, err := os.MkdirTemp("", "stride-soak-restored-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(restored)
	backupBytes := int64(backup.Len())
	if _, err := store.Restore(filepath.Join(restored, "data"), &backup, store.Options{Key: key}); err != nil {
		return err
	}
	rewritten := dirBytes(restored)
	baseline := before // the connected users' data: subtracted from every figure

	per := func(b int64) string {
		if sent == 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f B", float64(b)/float64(sent))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| at the end | value |")
	fmt.Fprintln(w, "|---|---:|")
	fmt.Fprintf(w, "| sent / answers other than 204 | %d / %d |\n", sent, non204)
	fmt.Fprintf(w, "| worst interval's p99 | %.1f ms |\n", float64(worstP99)/1000)
	fmt.Fprintf(w, "| peak RSS / anonymous RSS (sampled every second) / process peak (VmHWM) | %s / %s / %s |\n", mb(int(peakRSS.Load())), mb(int(peakAnon.Load())), mb(hwm))
	if drained {
		fmt.Fprintf(w, "| queue drained | **yes**, %.1f s after the load stopped |\n", drainTook.Seconds())
	} else {
		fmt.Fprintf(w, "| queue drained | **no**, not within %v |\n", c.drain)
	}
	fmt.Fprintf(w, "| interactions imported into Marketing Cloud | %d |\n", imported)
	fmt.Fprintf(w, "| data dir growth per notification: drained / +30 s / stride stopped / compacted (flatten + value-log GC) / live data only (a backup restored into a new directory) | %s / %s / %s / %s / **%s** |\n",
		per(after-baseline), per(running-baseline), per(closed-baseline), per(compacted-baseline), per(rewritten-baseline))
	fmt.Fprintf(w, "| data dir before the load / after, compacted / live data only; backup file | %s / %s / %s; %s (value-log GC reclaimed %s) |\n", mib(before), mib(compacted), mib(rewritten), mib(backupBytes), mib(reclaimed))
	fmt.Fprintf(w, "| live keys and values per notification (`GET /admin/store`): log / queues / data stores | %s / %s / %s |\n\n",
		per(afterParts.Log-beforeParts.Log), per(afterParts.Queues-beforeParts.Queues), per(afterParts.DataStores-beforeParts.DataStores))
	fmt.Fprintln(w, "| key area (after the soak, stride stopped) | keys | keys and values per notification |")
	fmt.Fprintln(w, "|---|---:|---:|")
	for _, a := range areas {
		fmt.Fprintf(w, "| `%s` | %d | %s |\n", a.name, a.keys, per(a.bytes))
	}
	fmt.Fprintln(w)
	return nil
}

// keyArea is the live keys under a prefix of the store's keyspace.
type keyArea struct {
	name        string
	keys, bytes int64
}

// keyAreas counts the live keys and values of a closed data directory by
// area: the log's entries and indexes (l/t/, l/i/, l/s/, l/p/; l/f/ before 2026-12-05), queues
// (q/<queue>), data stores (k/<store>), reading keys only.
func keyAreas(dir string) ([]keyArea, error) {
	bdb, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithReadOnly(true))
	if err != nil {
		return nil, err
	}
	defer bdb.Close()
	by := map[string]*keyArea{}
	err = bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			name := string(k[:min(len(k), 4)])
			if len(k) > 2 && (k[0] == 'q' || k[0] == 'k') && k[1] == '/' {
				name, _, _ = strings.Cut(string(k), "\x00")
			}
			a := by[name]
			if a == nil {
				a = &keyArea{name: name}
				by[name] = a
			}
			a.keys++
			a.bytes += int64(len(k)) + item.ValueSize()
		}
		return nil
	})
	var out []keyArea
	for _, a := range by {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b keyArea) int { return strings.Compare(a.name, b.name) })
	return out, err
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
