package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stride-engine/stride/engine/store"
	"github.com/stride-engine/stride/internal/demo"
	"github.com/stride-engine/stride/internal/loadgen"
)

// procKB reads a field (VmRSS, VmHWM) of /proc/PID/status in KiB.
func procKB(pid int, field string) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

func mb(kb int) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }

// connectAll connects users through the real redirect chain, one at a
// time: the consent's state cookie lives in the Env's one cookie jar, so
// concurrent consents overwrite each other's (most of them then fail).
func connectAll(e *demo.Env, users []string) (time.Duration, error) {
	start := time.Now()
	for _, u := range users {
		if status, _, err := e.Connect(u, "", false); err != nil || status != 200 {
			return 0, fmt.Errorf("connecting %s: status %d, %v", u, status, err)
		}
	}
	return time.Since(start), nil
}

func userIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("U%05d", i)
	}
	return out
}

// strideMemoryLimit is the --memory-limit the e2e and daily cases give
// stride run ("" for its default); set from the command line.
var strideMemoryLimit string

func startEnv(bin, flows string) (*demo.Env, func(), error) {
	data, err := demo.TempData()
	if err != nil {
		return nil, nil, err
	}
	var args []string
	if strideMemoryLimit != "" {
		args = append(args, "--memory-limit", strideMemoryLimit)
	}
	e, err := demo.StartWith(bin, flows, data, nil, args...)
	if err != nil {
		os.RemoveAll(data)
		return nil, nil, err
	}
	return e, func() { e.Stop(); os.RemoveAll(data) }, nil
}

// benchE2E: notifications for n users through the real binary until
// Marketing Cloud holds every interaction.
func benchE2E(w io.Writer, bin, flows string, n int) error {
	e, stop, err := startEnv(bin, flows)
	if err != nil {
		return err
	}
	defer stop()
	users := userIDs(n)
	took, err := connectAll(e, users)
	if err != nil {
		return err
	}
	day := time.Now().UTC().AddDate(0, 0, -2).Format("2006-01-02")
	start := time.Now()
	var wg sync.WaitGroup
	ch := make(chan string)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range ch {
				for {
					if code, err := e.Notify(demo.Update(u, day, "activities")); err == nil && code == 204 {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	for _, u := range users {
		ch <- u
	}
	close(ch)
	wg.Wait()
	accepted := time.Since(start)
	if !demo.WaitFor(5*time.Minute, func() bool { return len(e.MKC.Interactions()) >= n }) {
		return fmt.Errorf("only %d of %d interactions arrived", len(e.MKC.Interactions()), n)
	}
	all := time.Since(start)
	fmt.Fprintf(w, "### End to end: %d users, one notification each, real binary against the sandbox\n\n", n)
	fmt.Fprintln(w, "| measure | value |")
	fmt.Fprintln(w, "|---|---:|")
	fmt.Fprintf(w, "| users connected through the redirect chain | %d in %.1f s (%.0f/s) |\n", n, took.Seconds(), float64(n)/took.Seconds())
	fmt.Fprintf(w, "| notifications accepted (204) | %.0f/s |\n", float64(n)/accepted.Seconds())
	fmt.Fprintf(w, "| notifications until Marketing Cloud holds every interaction | **%.0f/s** (%.1f s for %d) |\n", float64(n)/all.Seconds(), all.Seconds(), n)
	fmt.Fprintf(w, "| stride RSS after / peak | %s / %s |\n", mb(procKB(e.Pid(), "VmRSS")), mb(procKB(e.Pid(), "VmHWM")))
	// Bytes per notification: the store, opened after stride stopped.
	e.Stop()
	key, err := store.ParseKey(e.Key)
	if err != nil {
		return err
	}
	db, err := store.Open(e.Data, store.Options{Key: key, GCInterval: -1})
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := db.BytesByPart(context.Background())
	if err != nil {
		return err
	}
	var files int64
	_ = filepath.WalkDir(e.Data, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				if st, ok := info.Sys().(*syscall.Stat_t); ok {
					files += st.Blocks * 512 // blocks in use: badger's files are sparse
				} else {
					files += info.Size()
				}
			}
		}
		return nil
	})
	per := func(b int64) string { return fmt.Sprintf("%.0f B", float64(b)/float64(n)) }
	fmt.Fprintf(w, "| store per user (connect, callback, one notification end to end), live keys and values: message log / queues / data stores | %s / %s / %s |\n", per(p.Log), per(p.Queues), per(p.DataStores))
	fmt.Fprintf(w, "| data directory per user, blocks in use, before compaction | %s |\n\n", per(files))
	return nil
}

// benchDaily: the daily collection of n stored users.
func benchDaily(w io.Writer, bin, flows string, n int) error {
	e, stop, err := startEnv(bin, flows)
	if err != nil {
		return err
	}
	defer stop()
	took, err := connectAll(e, userIDs(n))
	if err != nil {
		return err
	}
	before := procKB(e.Pid(), "VmRSS")
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")
	count := func() int {
		c := 0
		for _, in := range e.MKC.Interactions() {
			if strings.HasSuffix(in.SourceObjectID, yesterday) {
				c++
			}
		}
		return c
	}
	start := time.Now()
	if _, err := e.RunDaily(); err != nil {
		return err
	}
	peak := 0
	if !demo.WaitFor(15*time.Minute, func() bool {
		peak = max(peak, procKB(e.Pid(), "VmRSS"))
		return count() >= n
	}) {
		return fmt.Errorf("daily: only %d of %d interactions", count(), n)
	}
	wall := time.Since(start)
	// The same calls by a plain Go loop, to the same fakes.
	plain, err := newPlainDaily(e, userIDs(n))
	if err != nil {
		return err
	}
	plainWall, err := plain.run(yesterday)
	if err != nil {
		return err
	}
	limit := strideMemoryLimit
	if limit == "" {
		limit = "default"
	}
	fmt.Fprintf(w, "### Daily collection of %d users (real binary, sandbox, memory limit %s)\n\n", n, limit)
	fmt.Fprintln(w, "| measure | value |")
	fmt.Fprintln(w, "|---|---:|")
	fmt.Fprintf(w, "| setup: users connected | %d in %.1f s |\n", n, took.Seconds())
	fmt.Fprintf(w, "| wall time of the daily run (refresh + read + import per user) | **%.1f s** (%.0f users/s) |\n", wall.Seconds(), float64(n)/wall.Seconds())
	fmt.Fprintf(w, "| a plain Go loop making the same calls (4 at a time, as the flow) | %.1f s (%.0f users/s): Stride takes **%.2f×** its time |\n", plainWall.Seconds(), float64(n)/plainWall.Seconds(), wall.Seconds()/plainWall.Seconds())
	fmt.Fprintf(w, "| RSS before the run / peak during it (sampled) / process peak (VmHWM) | %s / %s / %s |\n", mb(before), mb(peak), mb(procKB(e.Pid(), "VmHWM")))
	fmt.Fprintf(w, "| RSS after the run: anonymous (Go heap, badger's arenas and caches) / file-backed (badger's mapped files) | %s / %s |\n\n", mb(procKB(e.Pid(), "RssAnon")), mb(procKB(e.Pid(), "RssFile")))
	return nil
}

// benchRSS: idle RSS with the shipped flows loaded, then RSS under
// webhook load.
func benchRSS(w io.Writer, bin, flows string, d time.Duration) error {
	e, stop, err := startEnv(bin, flows)
	if err != nil {
		return err
	}
	defer stop()
	time.Sleep(2 * time.Second) // let start-up garbage be collected
	idle := procKB(e.Pid(), "VmRSS")
	body := []byte(`[{"collectionType":"sleep","date":"2026-11-22","ownerId":"NOBODY","ownerType":"user","subscriptionId":"x"}]`)
	res := loadgen.Run(context.Background(), loadgen.Config{
		URL: "http://" + e.Addr + "/fitbit/webhook", Method: "POST", Body: body,
		Header: http.Header{"X-Fitbit-Signature": {e.Fitbit.Sign(body)}, "Content-Type": {"application/json"}}, Concurrency: 32, Duration: d,
		Check: func(status int, _ []byte) bool { return status == 204 },
	})
	loaded := procKB(e.Pid(), "VmRSS")
	fmt.Fprintln(w, "### Memory of the stride process (shipped flows loaded)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| measure | value |")
	fmt.Fprintln(w, "|---|---:|")
	fmt.Fprintf(w, "| idle RSS (goal < 40 MB) | **%s** |\n", mb(idle))
	fmt.Fprintf(w, "| RSS after %v of webhook load (32 clients, %.0f req/s, %d failed) / peak | %s / %s |\n\n", d, res.RPS(), res.Failed, mb(loaded), mb(procKB(e.Pid(), "VmHWM")))
	return nil
}
