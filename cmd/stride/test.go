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
	fs := newFlags("test", "[--run REGEX] [-v] [--parallel N] [PATH...]",
		"Runs the flow tests (*.test.yaml) under each PATH (default: $STRIDE_FLOWS or ./flows) against the\n"+
			"flows under that PATH, without network: outbound requests go to the tests' mocks. Cases run in\n"+
			"parallel; each failure prints a diff and the flow file:line where the run diverged. The last line\n"+
			"is `N passed, M failed`. Exit 0 when all pass, 1 on a failure or a file that does not load.", stderr)
	runRE := fs.String("run", "", "run only the cases whose `FILE/NAME` matches this regular expression (FILE: the test file's name without .test.yaml)")
	verbose := fs.Bool("v", false, "print every case, and the log lines of failing ones")
	parallel := fs.Int("parallel", 0, "cases run at once (default: the number of CPUs)")
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sum := flowtest.Run(ctx, paths, opts)
	fmt.Fprintf(stdout, "%d passed, %d failed\n", sum.Passed, sum.Failed)
	if !sum.OK() {
		return 1
	}
	return 0
}
