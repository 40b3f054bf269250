package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/admin"
	"github.com/stride-engine/stride/engine/runtime"
)

// versionFlow answers {"a": V, "b": V} from two steps: a reply mixing two
// versions would show a != b.
func versionFlow(id, path, v string) string {
	return fmt.Sprintf(`flow: %s
trigger: {http: {path: %s, methods: [GET]}}
steps:
  - set: {properties: {a: "%s"}}
  - set: {body: '${ {"a": property.a, "b": "%s"} }'}
`, id, path, v, v)
}

func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func startReloader(t *testing.T, dir string) (*httptest.Server, *runtime.Reloader) {
	t.Helper()
	rt := newRuntime(t, runtime.Options{})
	r := &runtime.Reloader{Dir: dir, Lookup: func(string) (string, bool) { return "", false }, RT: rt, Log: slog.New(slog.DiscardHandler)}
	if res := r.Reload(); !res.OK {
		t.Fatalf("initial load: %v %v", res.Errors, res.Err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done, err := r.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rt)
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	return srv, r
}

type reply struct{ A, B string }

// TestHotReloadUnderLoadDropsNothing rewrites the flows 50 times while
// clients call them continuously.
func TestHotReloadUnderLoadDropsNothing(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "main.yaml")
	extra := filepath.Join(dir, "extra.yaml")
	writeAtomic(t, main, versionFlow("main", "/main", "v0"))
	writeAtomic(t, extra, versionFlow("extra", "/extra", "e0"))
	srv, reloader := startReloader(t, dir)

	var (
		stop               atomic.Bool
		requests, failures atomic.Int64
		extraGone          atomic.Bool // 404 on /extra allowed while it is removed
		mu                 sync.Mutex
		problems           []string
		wg                 sync.WaitGroup
	)
	client := &http.Client{Timeout: 5 * time.Second}
	problem := func(format string, args ...any) {
		failures.Add(1)
		mu.Lock()
		if len(problems) < 10 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
		mu.Unlock()
	}
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := "/main"
			if c%2 == 1 {
				path = "/extra"
			}
			for !stop.Load() {
				gone := extraGone.Load()
				resp, err := client.Get(srv.URL + path)
				requests.Add(1)
				if err != nil {
					problem("%s: %v", path, err)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 404 && path == "/extra" && (gone || extraGone.Load()) {
					continue
				}
				var r reply
				if resp.StatusCode != 200 || json.Unmarshal(body, &r) != nil || r.A != r.B || r.A == "" {
					problem("%s: %d %s", path, resp.StatusCode, body)
				}
			}
		}()
	}

	var latencies []time.Duration
	waitServing := func(path, want string) {
		start := time.Now()
		deadline := start.Add(10 * time.Second)
		for {
			resp, err := client.Get(srv.URL + path)
			if err == nil {
				var r reply
				_ = json.NewDecoder(resp.Body).Decode(&r)
				resp.Body.Close()
				if r.A == want {
					latencies = append(latencies, time.Since(start))
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never served %s", path, want)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	renamed := main
	for i := 1; i <= 50; i++ {
		v := fmt.Sprintf("v%d", i)
		switch {
		case i%10 == 3: // an invalid edit: the old version keeps serving
			writeAtomic(t, renamed, "flow: main\ntrigger: {http: {path: /main, methods: [GET]}}\nsteps:\n  - sett: {}\n")
			time.Sleep(80 * time.Millisecond) // let the watcher see it (correctness does not depend on it)
			writeAtomic(t, renamed, versionFlow("main", "/main", v))
		case i == 25: // a rename: same flow, new file name
			next := filepath.Join(dir, "main-renamed.yaml")
			if err := os.Rename(renamed, next); err != nil {
				t.Fatal(err)
			}
			renamed = next
			writeAtomic(t, renamed, versionFlow("main", "/main", v))
		case i == 30: // delete /extra: the watcher refuses to stop a running flow, a forced reload does
			extraGone.Store(true)
			if err := os.Remove(extra); err != nil {
				t.Fatal(err)
			}
			if res := reloader.ReloadWith(runtime.ReloadOptions{Force: true}); !res.OK || len(res.Stopped) != 1 {
				t.Fatalf("forced reload removing extra: %+v", res)
			}
			writeAtomic(t, renamed, versionFlow("main", "/main", v))
		case i == 35: // re-add /extra
			writeAtomic(t, extra, versionFlow("extra", "/extra", "e35"))
			waitServing("/extra", "e35")
			extraGone.Store(false)
			writeAtomic(t, renamed, versionFlow("main", "/main", v))
		case i%2 == 0: // a plain in-place write
			if err := os.WriteFile(renamed, []byte(versionFlow("main", "/main", v)), 0o644); err != nil {
				t.Fatal(err)
			}
		default:
			writeAtomic(t, renamed, versionFlow("main", "/main", v))
		}
		waitServing("/main", v)
	}
	stop.Store(true)
	wg.Wait()
	if failures.Load() > 0 {
		t.Fatalf("%d of %d requests failed during 50 edits:\n%v", failures.Load(), requests.Load(), problems)
	}
	slices.Sort(latencies)
	t.Logf("%d requests, 0 failed; edit-to-serving latency: median %v, p90 %v, max %v (50ms debounce included)",
		requests.Load(), latencies[len(latencies)/2], latencies[len(latencies)*9/10], latencies[len(latencies)-1])
}

func TestReloadKeepsTheOldSetOnErrorsAndReportsThem(t *testing.T) {
	dir := t.TempDir()
	writeAtomic(t, filepath.Join(dir, "a.yaml"), versionFlow("a", "/a", "good"))
	rt := newRuntime(t, runtime.Options{})
	admin := admin.NewAdmin(rt, "", nil)
	r := &runtime.Reloader{Dir: dir, Lookup: func(string) (string, bool) { return "", false }, RT: rt, Log: slog.New(slog.DiscardHandler)}
	admin.AddReload(r)
	if !r.Reload().OK {
		t.Fatal("initial load")
	}
	adminSrv := httptest.NewServer(admin)
	defer adminSrv.Close()
	writeAtomic(t, filepath.Join(dir, "a.yaml"), "flow: a\ntrigger: {http: {path: /a, methods: [GET]}}\nsteps:\n  - rout: []\n")
	resp, body := do(t, "POST", adminSrv.URL+"/admin/reload", "")
	if resp.StatusCode != 422 || !strings.Contains(body, `"line": 4`) || !strings.Contains(body, `did you mean \"route\"`) {
		t.Fatalf("reload of a broken file: %d %s", resp.StatusCode, body)
	}
	_, body = do(t, "GET", adminSrv.URL+"/admin/flows", "")
	if !strings.Contains(body, `"id": "a"`) || !strings.Contains(body, `"errors": [`) || !strings.Contains(body, "a.yaml") {
		t.Fatalf("flows listing keeps the running flow and names the broken file: %s", body)
	}
	writeAtomic(t, filepath.Join(dir, "a.yaml"), versionFlow("a", "/a", "fixed"))
	if resp, body := do(t, "POST", adminSrv.URL+"/admin/reload", ""); resp.StatusCode != 200 || !strings.Contains(body, `"a":`) {
		t.Fatalf("reload after the fix: %d %s", resp.StatusCode, body)
	}
	if _, body := do(t, "GET", adminSrv.URL+"/admin/flows", ""); !strings.Contains(body, `"errors": []`) {
		t.Fatalf("errors not cleared: %s", body)
	}
}

// BenchmarkReload measures a reload (load, validate, bind, swap) of 1 and
// 100 flow files: edit-to-serving is this plus the watcher's debounce.
func BenchmarkReload(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("flows=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			for i := range n {
				content := versionFlow(fmt.Sprintf("f%d", i), fmt.Sprintf("/f/%d", i), "v")
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.yaml", i)), []byte(content), 0o644); err != nil {
					b.Fatal(err)
				}
			}
			r := &runtime.Reloader{Dir: dir, Lookup: func(string) (string, bool) { return "", false }, RT: newRuntime(b, runtime.Options{}), Log: slog.New(slog.DiscardHandler)}
			b.ReportAllocs()
			for b.Loop() {
				if !r.Reload().OK {
					b.Fatal("reload failed")
				}
			}
		})
	}
}
