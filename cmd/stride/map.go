package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stride-engine/stride/engine/flow"
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

const mapFlowID = "stride-map"

var (
	varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// env.NAME, env["NAME"], secret.NAME and secret["NAME"] in a template.
	varRef = regexp.MustCompile(`\b(env|secret)(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*["']([A-Za-z_][A-Za-z0-9_]*)["']\s*\])`)
)

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
	lookup := func(name string) (string, bool) { // the process environment wins, as in stride run
		if v, ok := os.LookupEnv(name); ok {
			return v, true
		}
		v, ok := fileVars[name]
		return v, ok
	}

	flowSrc := mapFlowSource(tmplPath, string(tmplText), fileVars, *output, *root)
	cwd, _ := os.Getwd()
	set, err := flow.Load([]flow.Source{{Name: filepath.Join(cwd, mapFlowID+".yaml"), Data: []byte(flowSrc)}})
	if err != nil {
		var el flow.ErrorList
		if errors.As(err, &el) {
			for _, e := range el {
				e.Pos.File = relPath(cwd, e.Pos.File)
				fmt.Fprintln(stderr, e)
			}
			fmt.Fprintf(stderr, "%d %s\n", len(el), plural(len(el), "error", "errors"))
		} else {
			fmt.Fprintln(stderr, "stride map:", err)
		}
		return 1
	}
	if disabled := set.Bind(lookup); len(disabled) > 0 {
		reason := strings.TrimPrefix(set.Flow(mapFlowID).Disabled, "missing variables: ")
		fmt.Fprintf(stderr, "stride map: the template reads variables that are not set: %s (set them in the environment or in --env-file)\n", reason)
		return 1
	}

	msg := flow.NewMessage(body, inputContentType(*input, body))
	for _, p := range props {
		msg.Property[p[0]] = p[1]
	}
	x := flow.NewExchange(mapFlowID, msg, set, clock)
	if err := set.Run(context.Background(), mapFlowID, x); err != nil {
		var se *flow.StepError
		if errors.As(err, &se) {
			err = se.Err // the map error names the template's file:line; the in-memory flow means nothing here
		}
		fmt.Fprintln(stderr, "stride map:", strings.TrimPrefix(set.Redact(err.Error()), "map: "))
		return 1
	}
	out := x.Msg.Body()
	if x.Msg.ContentType() == "application/json" && !*compact {
		var b bytes.Buffer
		if err := json.Indent(&b, out, "", "  "); err == nil {
			out = b.Bytes()
		}
	}
	stdout.Write(out)
	fmt.Fprintln(stdout)
	return 0
}

// mapFlowSource writes the in-memory flow that runs the template: a call
// trigger, every variable of the env file and the process environment
// declared (and every one the template names, so that an unset one is
// reported as unset), and one map step.
func mapFlowSource(tmplPath, tmplText string, fileVars map[string]string, output, root string) string {
	env := map[string]bool{}
	secrets := map[string]bool{}
	for name := range fileVars {
		if varName.MatchString(name) {
			env[name] = true
		}
	}
	for _, kv := range os.Environ() {
		if name, _, ok := strings.Cut(kv, "="); ok && varName.MatchString(name) {
			env[name] = true
		}
	}
	for _, text := range yamlScalars(tmplText) {
		for _, m := range varRef.FindAllStringSubmatch(text, -1) {
			name := m[2] + m[3]
			if m[1] == "env" {
				env[name] = true
			} else {
				secrets[name] = true
			}
		}
	}
	var b strings.Builder
	b.WriteString("flow: " + mapFlowID + "\ntrigger: {call: {}}\n")
	writeNames := func(section string, names map[string]bool) {
		if len(names) == 0 {
			return
		}
		list := make([]string, 0, len(names))
		for n := range names {
			list = append(list, n)
		}
		sort.Strings(list)
		b.WriteString(section + ": [" + strings.Join(list, ", ") + "]\n")
	}
	writeNames("env", env)
	writeNames("secrets", secrets)
	quoted, _ := json.Marshal(tmplPath) // a JSON string is a YAML double-quoted scalar
	b.WriteString("steps:\n  - map:\n      file: " + string(quoted) + "\n")
	if output != "" {
		b.WriteString("      output: " + output + "\n")
	}
	if root != "" {
		q, _ := json.Marshal(root)
		b.WriteString("      root: " + string(q) + "\n")
	}
	return b.String()
}

// yamlScalars returns the text of every scalar of a YAML document (not
// its comments); nothing when it does not parse (the load says why).
func yamlScalars(text string) []string {
	var doc yaml.Node
	if yaml.Unmarshal([]byte(text), &doc) != nil {
		return nil
	}
	var out []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			out = append(out, n.Value)
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	return out
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
