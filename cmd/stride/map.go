package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/mapping"
)

// propertyFlags collects repeated --property NAME=VALUE flags.
type propertyFlags [][2]string

func (p *propertyFlags) String() string { return "" }

func (p *propertyFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return errors.New("want NAME=VALUE")
	}
	*p = append(*p, [2]string{strings.TrimSpace(k), v})
	return nil
}

// mapExchangeID names the exchange stride map runs the template in.
const mapExchangeID = "stride-map"

func cmdMap(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("map", "--template FILE --input FILE [--env-file FILE] [--property NAME=VALUE ...] [options]",
		"Runs a mapping template (a *.map.yaml file, as the map step's file:) on a payload file and prints\n"+
			"the result: JSON indented for reading, or XML. For iterating on a mapping without running a flow.\n"+
			"Expressions see env.NAME and secret.NAME from the environment and --env-file, property.NAME from\n"+
			"--property, and the body read from --input (its content type from the extension .json or .xml,\n"+
			"else from its first character). The template's schema:, if any, is checked.\n"+
			"Exit 0 on success; 1 when the template does not load or the mapping fails (errors name the\n"+
			"template's file:line); 2 on bad usage.", stderr)
	tmpl := fs.String("template", "", "the mapping template file (required)")
	input := fs.String("input", "", "the payload file to map (required; - reads standard input)")
	envFile := fs.String("env-file", "", "read variables from this KEY=VALUE file (the process environment wins)")
	var props propertyFlags
	fs.Var(&props, "property", "set property NAME to the text VALUE, as NAME=VALUE (repeatable)")
	output := fs.String("output", "", "json or xml, instead of the template's output")
	root := fs.String("root", "", "the root element of XML output, instead of the template's root")
	now := fs.String("now", "", "the time now() gives, RFC 3339 (default: the current time), for repeatable results")
	compact := fs.Bool("compact", false, "print JSON exactly as the step writes it, on one line")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *tmpl == "" || *input == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if *output != "" && *output != "json" && *output != "xml" {
		fmt.Fprintf(stderr, "stride map: --output %q: want json or xml\n", *output)
		return 2
	}
	clock := time.Now
	if *now != "" {
		t, err := time.Parse(time.RFC3339Nano, *now)
		if err != nil {
			fmt.Fprintf(stderr, "stride map: --now %q: want an RFC 3339 time such as 2025-11-23T00:00:00Z\n", *now)
			return 2
		}
		clock = func() time.Time { return t }
	}

	tmplPath, err := filepath.Abs(*tmpl)
	if err != nil {
		fmt.Fprintln(stderr, "stride map:", err)
		return 1
	}
	tmplText, err := os.ReadFile(tmplPath)
	if err != nil {
		fmt.Fprintln(stderr, "stride map: template:", describeFileErr(*tmpl, err))
		return 1
	}
	body, err := readInput(*input)
	if err != nil {
		fmt.Fprintln(stderr, "stride map: input:", describeFileErr(*input, err))
		return 1
	}
	fileVars := map[string]string{}
	if *envFile != "" {
		if fileVars, err = readEnvFile(*envFile); err != nil {
			fmt.Fprintln(stderr, "stride map: --env-file:", err)
			return 1
		}
	}
	defaults := flowDefaults(tmplPath)
	lookup := func(name string) (string, bool) { // the process environment wins, as in stride run
		if v, ok := os.LookupEnv(name); ok {
			return v, true
		}
		if v, ok := fileVars[name]; ok {
			return v, true
		}
		v, ok := defaults[name] // what the flows beside the template declare
		return v, ok
	}

	m, err := mapping.CompileFile(tmplPath, tmplText, mapping.Options{Output: *output, Root: *root})
	if err != nil {
		printLoadErrors(stderr, err)
		return 1
	}
	msg := flow.NewMessage(body, inputContentType(*input, body))
	for _, p := range props {
		msg.Property[p[0]] = p[1]
	}
	env, secrets := m.Template.Vars()
	x, missing := flow.NewStandaloneExchange(mapExchangeID, msg, env, secrets, lookup, clock)
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "stride map: the template reads variables that are not set: %s (set them in the environment or in --env-file)\n", strings.Join(missing, ", "))
		return 1
	}
	out, contentType, err := m.Run(x)
	if err != nil {
		// The error names the template's file:line; "map: " adds nothing here.
		fmt.Fprintln(stderr, "stride map:", strings.TrimPrefix(x.Redact(err.Error()), "map: "))
		return 1
	}
	if contentType == "application/json" && !*compact {
		var b bytes.Buffer
		if err := json.Indent(&b, out, "", "  "); err == nil {
			out = b.Bytes()
		}
	}
	stdout.Write(out)
	fmt.Fprintln(stdout)
	return 0
}

// printLoadErrors prints the errors of a template that does not compile,
// one a line with its file:line:col relative to the working directory,
// and their count.
func printLoadErrors(stderr io.Writer, err error) {
	var el flow.ErrorList
	if !errors.As(err, &el) {
		fmt.Fprintln(stderr, "stride map:", err)
		return
	}
	cwd, _ := os.Getwd()
	for _, e := range el {
		e.Pos.File = relPath(cwd, e.Pos.File)
		fmt.Fprintln(stderr, e)
	}
	fmt.Fprintf(stderr, "%d %s\n", len(el), plural(len(el), "error", "errors"))
}

func readInput(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

// inputContentType guesses the payload's content type: from the file's
// extension, else from its first character.
func inputContentType(path string, body []byte) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return "application/json"
	case ".xml":
		return "application/xml"
	}
	switch t := bytes.TrimSpace(body); {
	case len(t) > 0 && (t[0] == '{' || t[0] == '['):
		return "application/json"
	case len(t) > 0 && t[0] == '<':
		return "application/xml"
	}
	return "text/plain"
}

func describeFileErr(path string, err error) string {
	if errors.Is(err, os.ErrNotExist) {
		return path + " not found"
	}
	return err.Error()
}

// relPath shows a path relative to the working directory when that is
// shorter, so errors name the template as the user typed it.
func relPath(cwd, path string) string {
	if cwd == "" || !filepath.IsAbs(path) {
		return path
	}
	if rel, err := filepath.Rel(cwd, path); err == nil && len(rel) < len(path) {
		return rel
	}
	return path
}

// flowDefaults returns the defaults of the env variables that the flows
// using a template declare, as stride run would bind them: the flows of
// the nearest folder above the template that holds flows, loaded with
// their flows root. Nil when the template is in no flows root or the
// flows do not load.
func flowDefaults(tmplPath string) map[string]string {
	root, ok := flow.RootOf(tmplPath)
	if !ok {
		return nil
	}
	set, err := flow.LoadPaths(root)
	if err != nil {
		return nil
	}
	for dir := filepath.Dir(tmplPath); flow.Within(dir, root); dir = filepath.Dir(dir) {
		out := map[string]string{}
		found := false
		for _, f := range set.Flows() {
			if !flow.Within(f.File, dir) {
				continue
			}
			found = true
			for _, d := range f.Env {
				if d.HasDefault {
					out[d.Name] = d.Default
				}
			}
		}
		if found {
			return out
		}
		if dir == root {
			break
		}
	}
	return nil
}
