package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/mapping"
	"github.com/stride-engine/stride/flowtest"
)

func cmdSteps(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("steps", "[KIND]", "Lists the step and trigger kinds, or describes one kind: its options, defaults and an example.", stderr)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stdout, "Steps:")
		for _, k := range flow.StepKinds() {
			fmt.Fprintf(stdout, "  %-18s %s\n", k.Name, k.Summary)
		}
		fmt.Fprintln(stdout, "\nTriggers:")
		for _, k := range flow.TriggerKinds() {
			fmt.Fprintf(stdout, "  %-18s %s\n", k.Name, k.Summary)
		}
		fmt.Fprintln(stdout, "\n`stride steps KIND` shows a kind's options; `stride functions` lists expression functions.")
		return 0
	}
	name := fs.Arg(0)
	for _, group := range []struct {
		what  string
		kinds []*flow.KindInfo
	}{{"step", flow.StepKinds()}, {"trigger", flow.TriggerKinds()}} {
		for _, k := range group.kinds {
			if k.Name == name {
				describeKind(stdout, group.what, k)
				return 0
			}
		}
	}
	fmt.Fprintf(stderr, "stride steps: no step or trigger kind %q\n", name)
	return 1
}

func describeKind(w io.Writer, what string, k *flow.KindInfo) {
	fmt.Fprintf(w, "%s (%s)\n  %s\n\n", k.Name, what, k.Summary)
	if k.Doc != "" {
		fmt.Fprintf(w, "  %s\n\n", k.Doc)
	}
	if len(k.Fields) > 0 {
		fmt.Fprintln(w, "Options:")
		for _, f := range k.Fields {
			var extra []string
			if f.Required {
				extra = append(extra, "required")
			}
			if f.Default != "" {
				extra = append(extra, "default "+f.Default)
			}
			if len(f.Enum) > 0 {
				extra = append(extra, "one of "+strings.Join(f.Enum, ", "))
			}
			note := ""
			if len(extra) > 0 {
				note = " (" + strings.Join(extra, "; ") + ")"
			}
			fmt.Fprintf(w, "  %-18s %s%s\n  %-18s %s\n", f.Name, f.Type, note, "", f.Doc)
		}
		fmt.Fprintln(w)
	}
	if k.Example != "" {
		fmt.Fprintln(w, "Example:")
		for _, line := range strings.Split(k.Example, "\n") {
			fmt.Fprintln(w, "  "+line)
		}
	}
}

func cmdFunctions(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("functions", "", "Lists the functions of the expression language, usable inside ${...}.", stderr)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	for _, f := range flow.Functions() {
		fmt.Fprintf(stdout, "%s\n    %s\n", f.Signature, f.Doc)
	}
	fmt.Fprintln(stdout, "\nexpr-lang's built-ins (len, upper, lower, trim, int, float, string, toJSON, fromJSON, ...) work too.")
	return 0
}

// schemaKinds are the JSON Schemas stride schema prints, by --kind.
var schemaKinds = []struct {
	name, file string
	schema     func() []byte
}{
	{"flow", "schemas/flow.schema.json", flow.FlowSchema},
	{"flowtest", "schemas/flowtest.schema.json", flowtest.Schema},
	{"mapping", "schemas/mapping.schema.json", mapping.FileSchema},
}

func cmdSchema(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("schema", "[--kind flow|flowtest|mapping]",
		"Prints a JSON Schema for editors, generated from the types that read the files:\n"+
			"  flow      a flow file, from the registered kinds (schemas/flow.schema.json)\n"+
			"  flowtest  a flow test file, *.test.yaml (schemas/flowtest.schema.json)\n"+
			"  mapping   a mapping template file, *.map.yaml (schemas/mapping.schema.json)\n"+
			"Put `# yaml-language-server: $schema=PATH` (relative to the file) first in a file to use one.", stderr)
	kind := fs.String("kind", "flow", "which schema: flow, flowtest or mapping")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "stride schema: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var names []string
	for _, k := range schemaKinds {
		if k.name == *kind {
			_, _ = stdout.Write(k.schema())
			return 0
		}
		names = append(names, k.name)
	}
	fmt.Fprintf(stderr, "stride schema: --kind %q: want %s%s\n", *kind, strings.Join(names, ", "), flow.DidYouMean(*kind, names))
	return 2
}
