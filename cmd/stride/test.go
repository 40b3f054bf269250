package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"

	"github.com/stride-engine/stride/flowtest"
)

func cmdTest(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("test", "[--run REGEX] [-v] [--parallel N] [--junit FILE] [PATH...]",
		"Runs the flow tests (*.test.yaml) under each PATH (default: $STRIDE_FLOWS or ./flows) against the\n"+
			"flows under that PATH, without network: outbound requests go to the tests' mocks. Cases run in\n"+
			"parallel; each failure prints a diff and the flow file:line where the run diverged. The last line\n"+
			"is `N passed, M failed`. Exit 0 when all pass, 1 on a failure or a file that does not load.\n"+
			"--junit FILE also writes the results as JUnit XML for CI systems: a testsuite per test file, a\n"+
			"testcase per case, each failure with its message and file:line.", stderr)
	runRE := fs.String("run", "", "run only the cases whose `FILE/NAME` matches this regular expression (FILE: the test file's name without .test.yaml)")
	verbose := fs.Bool("v", false, "print every case, and the log lines of failing ones")
	parallel := fs.Int("parallel", 0, "cases run at once (default: the number of CPUs)")
	junit := fs.String("junit", "", "also write a JUnit XML report to `FILE`")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	opts := flowtest.Options{Verbose: *verbose, Parallel: *parallel, Out: stdout, Err: stderr}
	if *runRE != "" {
		re, err := regexp.Compile(*runRE)
		if err != nil {
			fmt.Fprintf(stderr, "stride test: --run %q: %v\n", *runRE, err)
			return 2
		}
		opts.Run = re
	}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{envOr("STRIDE_FLOWS", "./flows")}
	}
	var report *os.File
	if *junit != "" {
		// Created first: a report that cannot be written fails before the run.
		f, err := os.Create(*junit)
		if err != nil {
			fmt.Fprintln(stderr, "stride test: --junit:", err)
			return 1
		}
		defer f.Close() // on an early return; closed after writing below
		report = f
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sum := flowtest.Run(ctx, paths, opts)
	code := 0
	if report != nil {
		err := flowtest.WriteJUnit(report, sum)
		if cerr := report.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			fmt.Fprintf(stderr, "stride test: --junit %s: %v\n", *junit, err)
			code = 1
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", sum.Passed, sum.Failed)
	if !sum.OK() {
		return 1
	}
	return code
}
