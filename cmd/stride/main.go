// Command stride runs integration flows written in YAML.
//
// See `stride help` and README.md.
package main

import (
	"fmt"
	"io"
	"os"

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
		{"schema", "print the flow JSON Schema (for editors)", cmdSchema},
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
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "stride: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}
