package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stride-engine/stride/engine/runtime"
)

func versionedFlow(id, path, v string) string {
	return fmt.Sprintf("flow: %s\ntrigger: {http: {path: %s, methods: [GET]}}\nsteps:\n  - respond: {body: %s}\n", id, path, v)
}

// benchReload rewrites a flow file while clients call it, with 1 and 100
// flows in the set: failed requests (goal 0) and edit-to-serving latency
// (watcher debounce included; goal < 100 ms for 100 flows).
func benchReload(w io.Writer, edits int) error {
	fmt.Fprintf(w, "### Hot reload under load (%d edits, one in five invalid, 8 clients)\n\n", edits)
	fmt.Fprintln(w, "| flows | requests | failed | edit-to-serving median | p90 | max |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|")
	for _, n := range []int{1, 100} {
		if err := reloadRun(w, n, edits); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	return nil
}

func reloadRun(w io.Writer, n, edits int) error {
	dir, err := os.MkdirTemp("", "stride-bench-reload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	write := func(name, content string) error {
		tmp := filepath.Join(dir, ".tmp-"+name)
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			return err
		}
		return os.Rename(tmp, filepath.Join(dir, name)) // an editor's atomic save
	}
	for i := range n {
		if err := write(fmt.Sprintf("f%03d.yaml", i), versionedFlow(fmt.Sprintf("f%d", i), fmt.Sprintf("/f/%d", i), "v0")); err != nil {
			return err
		}
	}
	rt := runtime.New(runtime.Options{})
	if err := rt.Start(context.Background()); err != nil {
		return err
	}
	defer rt.Stop(context.Background())
	r := &runtime.Reloader{Dir: dir, Lookup: func(string) (string, bool) { return "", false }, RT: rt, Log: slog.New(slog.DiscardHandler)}
	if res := r.Reload(); !res.OK {
		return fmt.Errorf("initial load failed: %v", res.Errors)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done, err := r.Watch(ctx)
	if err != nil {
		cancel()
		return err
	}
	defer func() { cancel(); <-done }()
	srv := httptest.NewServer(rt)
	defer srv.Close()

	var stop atomic.Bool
	var requests, failed atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				resp, err := client.Get(srv.URL + "/f/0")
				requests.Add(1)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	var lat []time.Duration
	for e := 1; e <= edits; e++ {
		if e%5 == 0 { // an invalid edit: the running version keeps serving
			if err := write("f000.yaml", "flow: f0\ntrigger: {http: {path: /f/0}}\nsteps:\n  - sett: {}\n"); err != nil {
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
		v := fmt.Sprintf("v%d", e)
		start := time.Now()
		if err := write("f000.yaml", versionedFlow("f0", "/f/0", v)); err != nil {
			return err
		}
		for {
			resp, err := client.Get(srv.URL + "/f/0")
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) == v {
					break
				}
			}
			if time.Since(start) > 10*time.Second {
				return fmt.Errorf("%d flows: edit %d never served", n, e)
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	stop.Store(true)
	wg.Wait()
	slices.Sort(lat)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	fmt.Fprintf(w, "| %d | %d | %d | %s | %s | %s |\n", n, requests.Load(), failed.Load(), ms(lat[len(lat)/2]), ms(lat[len(lat)*9/10]), ms(lat[len(lat)-1]))
	return nil
}
