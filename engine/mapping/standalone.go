package mapping

// Compiling a template file outside any flow, for tools that run a
// template on its own (stride map), with no flow YAML to write.

import (
	"path/filepath"

	"github.com/stride-engine/stride/engine/flow"
)

// Options are what a tool gives beside a template file; each option given
// wins over the file's, as a map step's options do.
type Options struct {
	Output string // json or xml; "" keeps the file's (json by default)
	Root   string // the root element of XML output; "" keeps the file's
}

// CompileFile compiles the template file at path, with its output, root
// and schema, outside any flow. src is the file's content, or nil to read
// path. No flow declares variables here, so the template may read any
// env.NAME and secret.NAME: Template.Vars lists them, for the caller to
// bind with flow.NewStandaloneExchange before Run. The error is a
// flow.ErrorList of every problem, each at its file:line:col.
func CompileFile(path string, src []byte, opts Options) (*Mapping, error) {
	b := flow.NewBuilder(path)
	m := compileFile(b, path, src, opts)
	if err := b.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

func compileFile(b *flow.Builder, path string, src []byte, opts Options) *Mapping {
	var f *File
	var err error
	if src == nil {
		f, err = ReadFile(b, path, flow.Pos{File: path})
	} else {
		f, err = parseFile(b, path, src)
	}
	if err != nil {
		return nil
	}
	m := &Mapping{}
	output, root, rootPos := f.Output, f.Root, f.RootPos
	if opts.Output != "" {
		output = opts.Output
	}
	if opts.Root != "" {
		root, rootPos = opts.Root, flow.Pos{File: path}
	}
	switch output {
	case "", "json":
		if root != "" {
			b.Errorf(rootPos, "map: root %q is the root element of output: xml; this mapping writes JSON", root)
		}
	case "xml":
		m.XML, m.Root = true, root
	default:
		b.Errorf(flow.Pos{File: path}, "map: output %q: want json or xml", output)
	}
	if f.Schema != "" {
		s, err := CompileSchema(join(filepath.Dir(path), f.Schema))
		if err != nil {
			b.Errorf(f.SchemaPos, "map: schema: %v", err)
		}
		m.Schema = s
	}
	m.Template, _ = Compile(b, path, f.Template)
	return m
}
