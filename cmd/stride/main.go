// Command stride runs integration flows written in YAML.
//
// See `stride help` and README.md.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/stride-engine/stride/engine/flow"
	_ "github.com/stride-engine/stride/steps" // registers every step kind
)

// version and commit are set by the build (-ldflags "-X main.version=...
// -X main.commit=..."; make build and make release do).
var (
	version = "dev"
	commit  = "unknown"
)

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "run flows: HTTP listener, admin API, triggers", cmdRun},
		{"validate", "check flow files and report every error with file:line:col", cmdValidate},
		{"test", "run the flow tests (*.test.yaml)", cmdTest},
		{"messages", "read the message processing log; replay escalated messages", cmdMessages},
		{"sandbox", "run local fakes of the Fitbit API and Marketing Cloud", cmdSandbox},
		{"status", "show the flows a running stride serves", cmdStatus},
		{"ready", "exit 0 when a running stride is ready (for health checks)", cmdReady},
		{"reload", "reload a running stride's flows now", cmdReload},
		{"trigger", "run a timer flow now, through the admin API", cmdTrigger},
		{"store", "list, read and delete data store entries", cmdStore},
		{"map", "run a mapping template on a payload file and print the result", cmdMap},
		{"steps", "list step and trigger kinds, or describe one", cmdSteps},
		{"functions", "list the expression functions", cmdFunctions},
		{"schema", "print a JSON Schema for editors: flow, test or mapping files", cmdSchema},
		{"version", "print the version", cmdVersion},
	}
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("version", "", "Prints the version of this stride binary.", stderr)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fmt.Fprintln(stdout, "stride", version)
	fmt.Fprintln(stdout, "commit", commit)
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "stride — a declarative integration engine\n\nUsage: stride COMMAND [options]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun `stride COMMAND --help` for a command's options.")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "help", "-h", "--help", "-help":
		if args[0] == "help" && len(args) > 1 {
			if findCommand(args[1]) == nil {
				return unknownCommand(args[1], stderr)
			}
			// stride help COMMAND is stride COMMAND --help.
			return run([]string{args[1], "--help"}, stdout, stderr)
		}
		usage(stdout)
		return 0
	}
	if c := findCommand(args[0]); c != nil {
		// The command's flags print --help on stdout, errors on stderr.
		return c.run(args[1:], stdout, withStdout(stdout, stderr))
	}
	return unknownCommand(args[0], stderr)
}

// unknownCommand reports a command stride does not have, with the
// nearest one when it looks like a typo, and the usage; it returns 2.
func unknownCommand(name string, stderr io.Writer) int {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	fmt.Fprintf(stderr, "stride: unknown command %q%s\n\n", name, flow.DidYouMean(name, names))
	usage(stderr)
	return 2
}

// findCommand returns the command called name, or nil.
func findCommand(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return &c
		}
	}
	return nil
}
