package runtime

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/stride-engine/stride/engine/flow"
)

// Reloader loads the flow set from a directory and swaps it into a
// runtime: at start, on file changes (watched with fsnotify, debounced),
// on SIGHUP and on POST /admin/reload. A set with any error is never
// swapped in: the running set keeps serving and the errors are kept for
// GET /admin/flows (LoadErrors).
type Reloader struct {
	Dir    string
	Lookup flow.Lookup
	RT     *Runtime
	Log    *slog.Logger
	// Debounce is how long the watcher waits for more changes before it
	// reloads (editors write a file in several steps). Default 50ms.
	Debounce time.Duration
	// OnResult, when set, is called after every reload attempt (metrics).
	OnResult func(ok bool, took time.Duration)

	mu         sync.Mutex // one reload at a time
	errMu      sync.Mutex
	loadErrors flow.ErrorList
}

// LoadErrors returns the errors of the last failed reload, nil after a
// good one.
func (r *Reloader) LoadErrors() flow.ErrorList {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.loadErrors
}

func (r *Reloader) setLoadErrors(err error) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	r.loadErrors = nil
	var el flow.ErrorList
	if errors.As(err, &el) {
		r.loadErrors = el
	}
}

// ReloadResult is what a reload did.
type ReloadResult struct {
	OK       bool
	Versions map[string]string // flow id → version, after a good reload
	Errors   flow.ErrorList
	Err      error // an error that is not a load error (unreadable directory)
	Took     time.Duration
}

// Reload loads and validates the whole directory and, if it is valid,
// swaps it in.
func (r *Reloader) Reload() ReloadResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	set, err := flow.LoadPaths(r.Dir)
	res := ReloadResult{Took: time.Since(start)}
	if err != nil {
		if !errors.As(err, &res.Errors) {
			res.Err = err
		}
		r.setLoadErrors(err)
		for _, e := range res.Errors {
			r.Log.Error("flow file invalid; the running flows keep serving", "at", e.Pos.String(), "error", e.Msg)
		}
		if res.Err != nil {
			r.Log.Error("reload failed; the running flows keep serving", "error", err)
		}
		r.report(false, time.Since(start))
		return res
	}
	for _, id := range set.Bind(r.Lookup) {
		r.Log.Warn("flow not started", "flow", id, "reason", set.Flow(id).Disabled)
	}
	r.RT.Swap(set)
	r.setLoadErrors(nil)
	res.OK = true
	res.Took = time.Since(start)
	res.Versions = map[string]string{}
	for _, f := range set.Flows() {
		res.Versions[f.ID] = f.Version
	}
	r.Log.Info("flows reloaded", "flows", len(res.Versions), "took", res.Took)
	r.report(true, res.Took)
	return res
}

func (r *Reloader) report(ok bool, took time.Duration) {
	if r.OnResult != nil {
		r.OnResult(ok, took)
	}
}

// Watch starts watching Dir and returns once the watches are in place (so
// no edit made after it returns is missed); it then reloads on changes
// until ctx ends, and closes done. New, removed and renamed files and
// directories count, and so do editors' atomic saves (write a temporary
// file, rename it over the flow).
func (r *Reloader) Watch(ctx context.Context) (done <-chan struct{}, err error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := addTree(w, r.Dir); err != nil {
		w.Close()
		return nil, err
	}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer w.Close()
		r.watch(ctx, w)
	}()
	return finished, nil
}

func (r *Reloader) watch(ctx context.Context, w *fsnotify.Watcher) {
	debounce := r.Debounce
	if debounce <= 0 {
		debounce = 50 * time.Millisecond
	}
	var timer *time.Timer
	fire := make(chan struct{}, 1)
	for {
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Has(fsnotify.Create) {
				if st, err := os.Stat(ev.Name); err == nil && st.IsDir() {
					_ = addTree(w, ev.Name) // a new directory of flows
				}
			}
			if !relevant(ev.Name) {
				continue
			}
			if timer == nil {
				timer = time.AfterFunc(debounce, func() {
					select {
					case fire <- struct{}{}:
					default:
					}
				})
			} else {
				timer.Reset(debounce)
			}
		case <-fire:
			r.Reload()
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			r.Log.Error("watching flows failed", "dir", r.Dir, "error", err)
		}
	}
}

// relevant reports whether a changed path can change the flow set: a
// flow file, a mapping template, or a directory (a removed directory of
// flows). Editor swap and backup files are not.
func relevant(path string) bool {
	base := filepath.Base(path)
	if strings.HasPrefix(base, ".") || strings.HasSuffix(base, "~") || strings.HasSuffix(base, ".swp") {
		return false
	}
	return strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".json") || !strings.Contains(base, ".")
}

func addTree(w *fsnotify.Watcher, root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // vanished meanwhile
		}
		if d.IsDir() {
			if p != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return w.Add(p)
		}
		return nil
	})
}
