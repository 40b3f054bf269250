package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/stride-engine/stride/engine/flow"
)

func newFlags(name, args, doc string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: stride %s %s\n\n%s\n", name, args, doc)
		if hasFlags(fs) {
			fmt.Fprintln(stderr, "\nOptions:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parseFlags parses args; it returns an exit code and false when the
// command should stop (help asked, or a bad flag).
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	return 0, true
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", "[--env] [--env-file FILE] [PATH...]",
		"Loads the flow files under each PATH (default: $STRIDE_FLOWS or ./flows) as `stride run` would,\n"+
			"and prints every error as file:line:col: message. Exit 0 when all are valid, 1 otherwise.", stderr)
	checkEnv := fs.Bool("env", false, "also report variables that the current environment leaves unset")
	envFile := fs.String("env-file", "", "read variables from this KEY=VALUE file (with --env)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{envOr("STRIDE_FLOWS", "./flows")}
	}
	set, err := flow.LoadPaths(paths...)
	if err != nil {
		var el flow.ErrorList
		if errors.As(err, &el) {
			for _, e := range el {
				fmt.Fprintln(stderr, e)
			}
			fmt.Fprintf(stderr, "%d %s\n", len(el), plural(len(el), "error", "errors"))
		} else {
			fmt.Fprintln(stderr, "stride validate:", err)
		}
		return 1
	}
	flows := set.Flows()
	if *checkEnv {
		lookup, err := envLookup(*envFile)
		if err != nil {
			fmt.Fprintln(stderr, "stride validate:", err)
			return 1
		}
		if disabled := set.Bind(lookup); len(disabled) > 0 {
			for _, f := range flows {
				if f.Disabled != "" {
					fmt.Fprintf(stderr, "%s: flow %s would not start: %s\n", f.Pos, f.ID, f.Disabled)
				}
			}
			return 1
		}
	}
	fmt.Fprintf(stdout, "ok: %d %s in %s valid\n", len(flows), plural(len(flows), "flow", "flows"), strings.Join(paths, ", "))
	return 0
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
