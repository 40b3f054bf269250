package main

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"slices"
	"strings"

	"github.com/stride-engine/stride/engine/flow"
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", "[--env] [--env-file FILE] [--format text|json|github] [PATH...]",
		"Loads the flow files under each PATH (default: $STRIDE_FLOWS or ./flows) as `stride run` would,\n"+
			"and prints every error as file:line:col: message. Exit 0 when all are valid, 1 otherwise.\n"+
			"--format json prints {ok, flows, paths, errors: [{file, line, col, message}]} on stdout instead;\n"+
			"--format github prints each error as a GitHub Actions annotation (::error file=F,line=L,col=C::message)\n"+
			"on stdout, for a workflow step that shows them on the pull request.", stderr)
	checkEnv := fs.Bool("env", false, "also report variables that the current environment leaves unset")
	envFile := fs.String("env-file", "", "read variables from this KEY=VALUE file (with --env)")
	format := fs.String("format", "text", "output: text, json or github")
	rootFlag := fs.String("root", "", "the flows root to resolve calls and queues against (default: the nearest enclosing directory named flows)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	formats := []string{"text", "json", "github"}
	if !slices.Contains(formats, *format) {
		fmt.Fprintf(stderr, "stride validate: --format %q: want text, json or github%s\n", *format, flow.DidYouMean(*format, formats))
		return 2
	}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{envOr("STRIDE_FLOWS", "./flows")}
	}
	r := validation{paths: paths}
	// A subfolder or one file is checked in the context of the flows root
	// the server loads, so a call to a flow in another folder resolves;
	// only the errors of the given paths are reported.
	load := paths
	root := *rootFlag
	if root == "" && len(paths) == 1 {
		if rt, ok := flow.RootOf(paths[0]); ok && !flow.Within(rt, paths[0]) {
			root = rt
		}
	}
	if root != "" {
		load = []string{root}
	}
	within := func(file string) bool {
		if root == "" {
			return true
		}
		for _, p := range paths {
			if flow.Within(file, p) {
				return true
			}
		}
		return false
	}
	if set, err := flow.LoadPaths(load...); err != nil {
		var el flow.ErrorList
		if errors.As(err, &el) {
			r.countLine = true
			for _, e := range el {
				if within(e.Pos.File) {
					r.errs = append(r.errs, problemOf(e.Pos, e.Msg))
				}
			}
			if len(r.errs) == 0 { // the errors are elsewhere in the root: these files are fine
				files, _ := flow.FindFlowFiles(paths...)
				r.flows, r.countLine = len(files), false
			}
		} else {
			p := problem{Message: err.Error(), text: "stride validate: " + err.Error()}
			var pe *iofs.PathError
			if errors.As(err, &pe) {
				p.File = pe.Path
			}
			r.errs = append(r.errs, p)
		}
	} else {
		var flows []*flow.Flow
		for _, f := range set.Flows() {
			if within(f.File) {
				flows = append(flows, f)
			}
		}
		r.flows = len(flows)
		if *checkEnv {
			lookup, err := envLookup(*envFile)
			if err != nil {
				r.errs = append(r.errs, problem{Message: err.Error(), text: "stride validate: " + err.Error()})
			} else if disabled := set.Bind(lookup); len(disabled) > 0 {
				for _, f := range flows {
					if f.Disabled != "" {
						r.errs = append(r.errs, problemOf(f.Pos, fmt.Sprintf("flow %s would not start: %s", f.ID, f.Disabled)))
					}
				}
			}
		}
	}
	switch *format {
	case "json":
		r.writeJSON(stdout)
	case "github":
		r.writeGitHub(stdout, stderr)
	default:
		r.writeText(stdout, stderr)
	}
	if len(r.errs) > 0 {
		return 1
	}
	return 0
}

// validation is what stride validate found.
type validation struct {
	paths     []string
	flows     int       // flows loaded (when they all load)
	errs      []problem // in the order found
	countLine bool      // load errors: the text output ends with their count
}

// problem is one error of stride validate, as --format json writes it.
type problem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Message string `json:"message"`

	text string // the line of the text output
}

func problemOf(p flow.Pos, msg string) problem {
	return problem{File: p.File, Line: p.Line, Col: p.Col, Message: msg, text: p.String() + ": " + msg}
}

func (r *validation) writeText(stdout, stderr io.Writer) {
	if len(r.errs) == 0 {
		fmt.Fprintf(stdout, "ok: %d %s in %s valid\n", r.flows, plural(r.flows, "flow", "flows"), strings.Join(r.paths, ", "))
		return
	}
	for _, e := range r.errs {
		fmt.Fprintln(stderr, e.text)
	}
	if r.countLine {
		fmt.Fprintf(stderr, "%d %s\n", len(r.errs), plural(len(r.errs), "error", "errors"))
	}
}

func (r *validation) writeJSON(stdout io.Writer) {
	out := struct {
		OK     bool      `json:"ok"`
		Flows  int       `json:"flows"`
		Paths  []string  `json:"paths"`
		Errors []problem `json:"errors"`
	}{len(r.errs) == 0, r.flows, r.paths, r.errs}
	if out.Errors == nil {
		out.Errors = []problem{}
	}
	printJSON(stdout, out)
}

// writeGitHub prints the errors as GitHub Actions workflow commands, which
// the runner turns into annotations on the files, and the usual last line.
func (r *validation) writeGitHub(stdout, stderr io.Writer) {
	if len(r.errs) == 0 {
		r.writeText(stdout, stderr)
		return
	}
	for _, e := range r.errs {
		var props []string
		if e.File != "" {
			props = append(props, "file="+ghProperty(e.File))
		}
		if e.Line > 0 {
			props = append(props, fmt.Sprintf("line=%d", e.Line))
		}
		if e.Col > 0 {
			props = append(props, fmt.Sprintf("col=%d", e.Col))
		}
		cmd := "::error"
		if len(props) > 0 {
			cmd += " " + strings.Join(props, ",")
		}
		fmt.Fprintf(stdout, "%s::%s\n", cmd, ghData(e.Message))
	}
	fmt.Fprintf(stderr, "%d %s\n", len(r.errs), plural(len(r.errs), "error", "errors"))
}

// ghData escapes the message of a workflow command.
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// ghProperty escapes a property value of a workflow command.
func ghProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
