package main

// The flag helpers every command uses: help on standard output (exit 0),
// usage errors on standard error (exit 2), flags anywhere among the
// arguments, and a suggestion for a mistyped flag.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/stride-engine/stride/engine/flow"
)

// errOutput is the standard error the dispatcher gives a command: it
// writes to standard error and carries standard output along, so that
// newFlags, which is given only the error output, can print the help a
// user asked for on standard output.
type errOutput struct {
	io.Writer
	stdout io.Writer
}

// withStdout wraps stderr so that the flag helpers find stdout.
func withStdout(stdout, stderr io.Writer) io.Writer {
	if _, ok := stderr.(*errOutput); ok {
		return stderr
	}
	return &errOutput{Writer: stderr, stdout: stdout}
}

// newFlags is the flag set of `stride name`: args is the synopsis after
// the command's name, doc what it does. Usage errors are written to
// stderr; --help and -h print the same text on standard output.
func newFlags(name, args, doc string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: stride %s %s\n\n%s\n", name, args, doc)
		if hasFlags(fs) {
			fmt.Fprintln(w, "\nOptions:")
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

// printHelp prints the usage of fs on standard output when the command
// was started by the dispatcher (else on fs's output).
func printHelp(fs *flag.FlagSet) {
	out := fs.Output()
	if eo, ok := out.(*errOutput); ok {
		fs.SetOutput(eo.stdout)
		defer fs.SetOutput(out)
	}
	fs.Usage()
}

// parseFlags parses args; it returns an exit code and false when the
// command should stop: 0 after printing the help (-h, --help), 2 after
// a usage error. Flags may stand anywhere among the arguments (`messages
// replay ID --data D`); after "--" every argument is positional. The
// positional arguments, in order, are fs.Args() afterwards.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	var positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		if name == "" || name[0] == '-' {
			_ = fs.Parse([]string{a}) // bad flag syntax: reported with the usage
			return 2, false
		}
		f := fs.Lookup(name)
		if f == nil {
			if name == "h" || name == "help" {
				printHelp(fs)
				return 0, false
			}
			unknownFlag(fs, a)
			return 2, false
		}
		group := []string{a}
		if !hasValue && !isBoolFlag(f) && i+1 < len(args) {
			group = append(group, args[i+1]) // the value, whatever it looks like
			i++
		}
		if err := fs.Parse(group); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0, false
			}
			return 2, false
		}
	}
	// Leave the positional arguments in fs.Args().
	if err := fs.Parse(append([]string{"--"}, positional...)); err != nil {
		return 2, false
	}
	return 0, true
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// unknownFlag reports a flag fs does not define, with the nearest one
// when it looks like a typo, and the usage.
func unknownFlag(fs *flag.FlagSet, arg string) {
	typed, _, _ := strings.Cut(arg, "=")
	name := strings.TrimLeft(typed, "-")
	fmt.Fprintf(fs.Output(), "flag provided but not defined: %s%s\n", typed, suggestFlag(fs, name))
	fs.Usage()
}

// suggestFlag returns "; did you mean --name?" for the flag of fs nearest
// to name, or "" when none is close.
func suggestFlag(fs *flag.FlagSet, name string) string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	hint := flow.DidYouMean(name, names)
	if hint == "" {
		return ""
	}
	for _, n := range names {
		if hint == flow.DidYouMean(name, []string{n}) {
			return "; did you mean " + flagName(n) + "?"
		}
	}
	return ""
}

// flagName is a flag as the documentation writes it: -v, --addr.
func flagName(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// unknownSubcommand reports a subcommand cmd does not have, with the
// nearest one when it looks like a typo, and the usage; it returns 2.
func unknownSubcommand(fs *flag.FlagSet, cmd, sub string, subs []string) int {
	fmt.Fprintf(fs.Output(), "stride %s: unknown subcommand %q%s\n\n", cmd, sub, flow.DidYouMean(sub, subs))
	fs.Usage()
	return 2
}
