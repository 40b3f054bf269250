package mapping

// Template files: a *.map.yaml file beside the flow holds a template and
// the options of its output. They are never loaded as flows.

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/stride-engine/stride/engine/flow"
)

// fileSpec is the top level of a template file as the flow language's
// decoder reads it: the same rules and words as for flows and flow tests
// (unknown keys with a suggestion, wrong kinds, enums, aliases, a missing
// template, syntax errors).
type fileSpec struct {
	Description string      `yaml:"description" doc:"What the mapping makes of what."`
	Output      string      `yaml:"output" enum:"json,xml" doc:"json (default) or xml."`
	Root        string      `yaml:"root" doc:"The root element of XML output."`
	Schema      string      `yaml:"schema" doc:"A JSON Schema file, relative to this file, that every result must match."`
	Template    yaml.Node   `yaml:"template" required:"true" doc:"The shape of the result, with ${...} values and $-directives."`
	Keys        flow.KeyPos `yaml:"-"`
}

// File is the top level of a template file: its template, not compiled
// yet, and the options it sets. The options of a map step win over them.
type File struct {
	Path     string
	Template *yaml.Node
	Output   string // json, xml, or "" when the file does not say
	Root     string // the root element of XML output, or ""
	Schema   string // a JSON Schema file, relative to the template file, or ""

	RootPos, SchemaPos flow.Pos // where Root and Schema are written
}

// ReadFile reads the template file at path and checks its top level; the
// template is compiled by Compile. at is where the file is named (a map
// step's file:), for the error when it cannot be read. Errors are
// reported through b; ReadFile then returns flow.ErrReported.
func ReadFile(b *flow.Builder, path string, at flow.Pos) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			b.Errorf(at, "map: template file %s not found", path)
		} else {
			b.Errorf(at, "map: template file: %v", err)
		}
		return nil, flow.ErrReported
	}
	return parseFile(b, path, data)
}

// parseFile checks the top level of a template file's content. Its
// errors are the decoder's, prefixed "map: " as the map step's are.
func parseFile(b *flow.Builder, path string, data []byte) (*File, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		b.Errorf(flow.Pos{File: path, Line: 1, Col: 1}, "map: the template file is empty; it holds template: (and optionally output, root, schema)")
		return nil, flow.ErrReported
	}
	var spec fileSpec
	d := flow.NewDecoder(path)
	root, err := flow.ParseYAML(path, data)
	var el flow.ErrorList
	if errors.As(err, &el) {
		for _, e := range el {
			d.ErrorAt(e.Pos, "%s", e.Msg)
		}
	}
	if root != nil {
		d.Decode(root, &spec, "")
	}
	if errs := d.Errors(); len(errs) > 0 {
		for _, e := range errs {
			b.Errorf(e.Pos, "map: %s", e.Msg)
		}
		return nil, flow.ErrReported
	}
	return &File{Path: path, Template: &spec.Template, Output: spec.Output, Root: spec.Root, Schema: spec.Schema,
		RootPos: valuePos(path, root, "root"), SchemaPos: valuePos(path, root, "schema")}, nil
}

// valuePos is where the value of a top-level key is written.
func valuePos(path string, root *yaml.Node, key string) flow.Pos {
	root = flow.Resolve(root)
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == key {
			v := root.Content[i+1]
			return flow.Pos{File: path, Line: v.Line, Col: v.Column}
		}
	}
	return flow.Pos{File: path}
}

// join resolves a file named in a template file relative to that file's
// directory.
func join(dir, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}
