// Package flowtest runs flow tests: *.test.yaml files that give a flow
// set a trigger input (an HTTP request, a queue message, a timer tick or
// a call), datastore fixtures and mocks of the APIs it calls, and check
// what came out (status, body, JSONPath/XPath, properties, datastore,
// queued messages, the message's final status).
//
// Every case runs in isolation and without network: a fresh compile of
// the flows bound to the case's variables, an in-memory store, a runtime
// whose outbound requests all go to the case's mocks (Services.Transport),
// and no queue consumers or timers of its own. Cases run in parallel.
//
// The package imports the engine only; the step kinds are registered by
// whoever imports it with the steps package (cmd/stride).
package flowtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"strings"
	"sync"
	"time"

	"github.com/stride-engine/stride/engine/flow"
)

// Options configure Run.
type Options struct {
	// Run selects the cases whose ID (file name without .test.yaml, a
	// slash, the case name) or whose file path and name (flows/fitbit/
	// webhook.test.yaml/NAME) it matches; nil runs all.
	Run *regexp.Regexp
	// Verbose prints every case, and the log lines of failing ones.
	Verbose bool
	// Parallel is the number of cases run at once; 0 means GOMAXPROCS.
	Parallel int
	// Out receives the results; Err the errors that stop files or flow
	// sets from running (test file and flow load errors).
	Out, Err io.Writer
}

// Summary counts the cases. Errors counts the test files and flow sets
// that could not be loaded. Files has the results by test file, for
// reports such as WriteJUnit.
type Summary struct {
	Passed, Failed, Errors int
	Duration               time.Duration
	Files                  []*FileResult
}

// FileResult is what became of one test file: the results of its cases
// that ran, in file order, or why they did not run.
type FileResult struct {
	// Path is the test file; for a PATH argument that could not be read,
	// that PATH.
	Path string
	// Results are the cases that ran (those --run selects).
	Results []*Result
	// Err is why the file, or the flows its cases run against, did not
	// load; NotRun are the cases that therefore did not run.
	Err    error
	NotRun []*Case
}

// OK reports whether everything loaded and passed.
func (s Summary) OK() bool { return s.Failed == 0 && s.Errors == 0 }

type job struct {
	suite *suite
	c     *Case
	pre   *flow.Error // a case that cannot run: the reason
	res   *Result
	done  chan struct{}
}

// Run finds the test files under paths, runs their cases and prints the
// results. It does not print the summary line; the caller does.
func Run(ctx context.Context, paths []string, opts Options) Summary {
	start := time.Now()
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Err == nil {
		opts.Err = opts.Out
	}
	var sum Summary
	suites, errs := discover(paths)
	for _, err := range errs {
		printError(opts.Err, err)
		sum.Errors++
		sum.Files = append(sum.Files, &FileResult{Path: errorFile(err), Err: err})
	}
	var jobs []*job
	byFile := map[*File]*FileResult{}
	for _, s := range suites {
		var setErr error
		var caseErrs map[*Case]*flow.Error
		if set, err := flow.Load(s.srcs); err != nil {
			printError(opts.Err, err)
			fmt.Fprintf(opts.Err, "the flows under %s did not load: their tests do not run\n", s.root)
			sum.Errors++
			setErr = &flowsNotLoaded{root: s.root, err: err}
		} else {
			caseErrs = s.checkAgainst(set)
		}
		for _, f := range s.files {
			fr := &FileResult{Path: f.Path, Err: setErr}
			sum.Files = append(sum.Files, fr)
			byFile[f] = fr
			notRun := 0
			for _, c := range f.Cases {
				if opts.Run != nil && !opts.Run.MatchString(c.ID()) && !opts.Run.MatchString(filepath.ToSlash(c.Path())+"/"+c.Name) {
					continue
				}
				if setErr != nil {
					notRun++
					fr.NotRun = append(fr.NotRun, c)
					continue
				}
				jobs = append(jobs, &job{suite: s, c: c, pre: caseErrs[c], done: make(chan struct{})})
			}
			if notRun > 0 {
				fmt.Fprintf(opts.Out, "--- FAIL: %s: %d %s not run: the flows under %s did not load\n", f.Path, notRun, plural(notRun, "case", "cases"), s.root)
				sum.Failed += notRun
			}
		}
	}
	if opts.Run != nil && len(jobs) == 0 && sum.Failed == 0 && sum.Errors == 0 {
		fmt.Fprintf(opts.Err, "no case matches --run %q\n", opts.Run.String())
	}
	if len(suites) == 0 && sum.Errors == 0 {
		fmt.Fprintf(opts.Err, "no test files (*.test.yaml) under %s\n", strings.Join(paths, ", "))
	}

	workers := opts.Parallel
	if workers <= 0 {
		workers = goruntime.GOMAXPROCS(0)
	}
	queue := make(chan *job)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				j.res = runJob(ctx, j)
				close(j.done)
			}
		}()
	}
	go func() {
		for _, j := range jobs {
			queue <- j
		}
		close(queue)
	}()
	// Results are printed in file order, each as soon as it and those
	// before it are done.
	for _, j := range jobs {
		<-j.done
		j.res.write(opts.Out, opts.Verbose)
		if fr := byFile[j.c.file]; fr != nil {
			fr.Results = append(fr.Results, j.res)
		}
		if j.res.Passed() {
			sum.Passed++
		} else {
			sum.Failed++
		}
	}
	wg.Wait()
	sum.Duration = time.Since(start)
	return sum
}

func runJob(ctx context.Context, j *job) *Result {
	start := time.Now()
	res := &Result{Case: j.c}
	if j.pre != nil {
		res.Failures = []failure{{What: "not run", At: j.c.At, Detail: j.pre.Error()}}
		res.Duration = time.Since(start)
		return res
	}
	logs := &lockedBuffer{}
	out, mocks, db := execute(ctx, j.suite.srcs, j.c, logs)
	if db != nil {
		defer db.Close()
	}
	res.out = out
	res.Failures = evaluate(ctx, j.c, out, mocks, db)
	res.Duration = time.Since(start)
	res.Log = logs.String()
	return res
}

// flowsNotLoaded is why a test file's cases did not run: the flows
// under root did not load.
type flowsNotLoaded struct {
	root string
	err  error
}

func (e *flowsNotLoaded) Error() string {
	return fmt.Sprintf("the flows under %s did not load: %v", e.root, e.err)
}

func (e *flowsNotLoaded) Unwrap() error { return e.err }

// errorFile is the file an error of discover is about, or "".
func errorFile(err error) string {
	var fl flow.ErrorList
	var pe *fs.PathError
	var short *pathError
	switch {
	case errors.As(err, &fl) && len(fl) > 0:
		return fl[0].Pos.File
	case errors.As(err, &short):
		return short.path
	case errors.As(err, &pe):
		return pe.Path
	}
	return ""
}

func printError(w io.Writer, err error) {
	var fl flow.ErrorList
	switch {
	case errors.As(err, &fl):
		for _, e := range fl {
			fmt.Fprintln(w, e)
		}
	default:
		fmt.Fprintln(w, err)
	}
}
