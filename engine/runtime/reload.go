package runtime

import (
	"context"
	"errors"
	"fmt"
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
// on SIGHUP and on POST /admin/reload. Every reload reads the flow files
// and the variables (Env) again. A set with any error is never swapped
// in: the running set keeps serving and the errors are kept for GET
// /admin/flows (LoadErrors). Nor is a set that would stop a flow running
// now — one whose file is gone, or that would be disabled (a required
// variable unset) — unless the reload is forced (ReloadOptions.Force).
type Reloader struct {
	Dir string
	// Lookup finds the flows' variables when Env is nil.
	Lookup flow.Lookup
	// Env, when set, is called at every reload for the variables' lookup
	// (it reads the env file again, so an edit takes effect without a
	// restart). An error fails that reload; the running set keeps
	// serving. A *flow.Error says where (the env file, its line).
	Env func() (flow.Lookup, error)
	RT  *Runtime
	Log *slog.Logger
	// Debounce is how long the watcher waits for more changes before it
	// reloads (editors write a file in several steps). Default 50ms.
	Debounce time.Duration
	// OnResult, when set, is called after every reload attempt (metrics):
	// ok is false for a failed or refused reload.
	OnResult func(ok bool, took time.Duration)
	// OnOutcome, when set, is called after every reload attempt with its
	// result: ResultOK, ResultInvalid, ResultFailed or ResultRefused
	// (metrics: stride_reloads_total{result}).
	OnOutcome func(result string, took time.Duration)

	mu         sync.Mutex // one reload at a time
	errMu      sync.Mutex
	loadErrors flow.ErrorList
}

// The results of a reload (ReloadResult.Result), as metrics count them.
const (
	// ResultOK: the new set was swapped in.
	ResultOK = "ok"
	// ResultInvalid: flow files have errors.
	ResultInvalid = "invalid"
	// ResultFailed: the directory or the env file could not be read (or
	// the env file has a malformed line).
	ResultFailed = "failed"
	// ResultRefused: the new set would stop running flows and the reload
	// was not forced.
	ResultRefused = "refused"
)

// ErrWouldStopFlows is the error of a refused reload (ReloadResult.Err
// wraps it): the new set would stop flows that are running now.
var ErrWouldStopFlows = errors.New("reload refused: it would stop running flows")

// ForceHint says how to apply a refused reload anyway.
const ForceHint = "fix the cause, or force the reload to stop them: `stride reload --force` (POST /admin/reload?force=true); a flow file removed on purpose needs it"

// LoadErrors returns what stopped the last reload — the flow files'
// errors, the env file's or the directory's, or one entry per running
// flow a refused reload would have stopped — and nil after a good one.
func (r *Reloader) LoadErrors() flow.ErrorList {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.loadErrors
}

func (r *Reloader) setLoadErrors(el flow.ErrorList) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	r.loadErrors = el
}

// ReloadOptions are the options of one reload.
type ReloadOptions struct {
	// Force swaps the new set in even when it stops running flows (a flow
	// file removed on purpose). It never swaps in an invalid set.
	Force bool
	// By names what asked for the reload, for the log: "watch",
	// "SIGHUP", "admin API".
	By string
}

// StoppedFlow is a running flow that a reload stops (forced) or would
// have stopped (refused).
type StoppedFlow struct {
	ID   string
	File string // the file of the running version
	// Removed is true when no flow file of the new set declares the flow;
	// otherwise the new set has it disabled, for Reason.
	Removed bool
	Reason  string
}

func (s StoppedFlow) String() string { return s.ID + " (" + s.Reason + ")" }

// ReloadResult is what a reload did.
type ReloadResult struct {
	OK bool
	// Result is ResultOK, ResultInvalid, ResultFailed or ResultRefused.
	Result string
	// Forced is true when the reload was forced.
	Forced   bool
	Versions map[string]string // flow id → version, after a good reload
	// Errors says what stopped the reload, with positions: the flow
	// files' errors (invalid), the env file's or the directory's
	// (failed), one entry per flow that would stop (refused). LoadErrors
	// returns them until the next reload.
	Errors flow.ErrorList
	// Err is the reason of a failed reload that is not about flow files
	// (an unreadable directory or env file), or of a refused one (it
	// wraps ErrWouldStopFlows).
	Err error
	// WouldStop lists, for a refused reload, the running flows the new
	// set would stop; Stopped lists those a forced reload stopped.
	WouldStop []StoppedFlow
	Stopped   []StoppedFlow
	Took      time.Duration
}

// Reload loads and validates the whole directory and, if it is valid and
// stops no running flow, swaps it in. It is never forced.
func (r *Reloader) Reload() ReloadResult {
	return r.ReloadWith(ReloadOptions{})
}

// ReloadWith reloads as Reload does, with options: Force swaps in a valid
// set even when it stops running flows.
func (r *Reloader) ReloadWith(o ReloadOptions) ReloadResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	res := r.reload(o)
	res.Took = time.Since(start)
	r.setLoadErrors(res.Errors)
	by := o.By
	if by == "" {
		by = "call"
	}
	switch res.Result {
	case ResultOK:
		for _, s := range res.Stopped {
			r.Log.Warn("forced reload stopped a running flow", "flow", s.ID, "file", s.File, "reason", s.Reason, "by", by)
		}
		r.Log.Info("flows reloaded", "flows", len(res.Versions), "took", res.Took, "forced", res.Forced, "by", by)
	case ResultRefused:
		for _, s := range res.WouldStop {
			r.Log.Error("reload refused: it would stop a running flow; the running flows keep serving", "flow", s.ID, "file", s.File, "reason", s.Reason, "by", by)
		}
		r.Log.Error("reload refused; the running flows keep serving", "would_stop", len(res.WouldStop), "hint", ForceHint, "by", by)
	case ResultInvalid:
		for _, e := range res.Errors {
			r.Log.Error("flow file invalid; the running flows keep serving", "at", e.Pos.String(), "error", e.Msg, "by", by)
		}
	default:
		for _, e := range res.Errors {
			r.Log.Error("reload failed; the running flows keep serving", "at", e.Pos.String(), "error", e.Msg, "by", by)
		}
	}
	if r.OnResult != nil {
		r.OnResult(res.OK, res.Took)
	}
	if r.OnOutcome != nil {
		r.OnOutcome(res.Result, res.Took)
	}
	return res
}

// reload does the work of ReloadWith, under r.mu.
func (r *Reloader) reload(o ReloadOptions) ReloadResult {
	res := ReloadResult{Forced: o.Force}
	fail := func(result string, err error) ReloadResult {
		res.Result = result
		var el flow.ErrorList
		var fe *flow.Error
		switch {
		case errors.As(err, &el):
			res.Errors = el
		case errors.As(err, &fe):
			res.Errors = flow.ErrorList{fe}
			res.Err = err
		default:
			res.Errors = flow.ErrorList{{Pos: flow.Pos{File: r.Dir}, Msg: err.Error()}}
			res.Err = err
		}
		return res
	}
	set, err := flow.LoadPaths(r.Dir)
	if err != nil {
		var el flow.ErrorList
		if errors.As(err, &el) {
			return fail(ResultInvalid, err)
		}
		return fail(ResultFailed, err)
	}
	lookup := r.Lookup
	if r.Env != nil {
		if lookup, err = r.Env(); err != nil {
			return fail(ResultFailed, err)
		}
	}
	disabled := set.Bind(lookup)
	stops := r.wouldStop(set)
	if len(stops) > 0 && !o.Force {
		res.Result = ResultRefused
		res.WouldStop = stops
		names := make([]string, len(stops))
		for i, s := range stops {
			names[i] = s.String()
			res.Errors = append(res.Errors, &flow.Error{Pos: flow.Pos{File: s.File},
				Msg: fmt.Sprintf("reload refused: flow %s would stop (%s); it keeps running until the cause is fixed or the reload is forced (`stride reload --force`)", s.ID, s.Reason)})
		}
		res.Err = fmt.Errorf("%w: %s", ErrWouldStopFlows, strings.Join(names, ", "))
		return res
	}
	set.LogNotStarted(r.Log, disabled)
	r.RT.Swap(set)
	res.OK, res.Result, res.Stopped = true, ResultOK, stops
	res.Versions = map[string]string{}
	for _, f := range set.Flows() {
		res.Versions[f.ID] = f.Version
	}
	return res
}

// wouldStop lists the flows running now that next would stop: those it
// does not have, and those it has disabled. A flow not running now (it
// was disabled already) may stay disabled, and new flows may be added.
func (r *Reloader) wouldStop(next *flow.FlowSet) []StoppedFlow {
	var out []StoppedFlow
	for _, f := range r.RT.Set().Flows() {
		if r.RT.NotStarted(f.ID) != "" {
			continue
		}
		switch n := next.Flow(f.ID); {
		case n == nil:
			out = append(out, StoppedFlow{ID: f.ID, File: f.File, Removed: true,
				Reason: "removed: no flow file declares it any more"})
		case n.Disabled != "":
			out = append(out, StoppedFlow{ID: f.ID, File: f.File, Reason: "would be disabled: " + n.Disabled})
		}
	}
	return out
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
			r.ReloadWith(ReloadOptions{By: "watch"})
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
