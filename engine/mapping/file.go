package mapping

// Template files: a *.map.yaml file beside the flow holds a template and
// the options of its output. They are never loaded as flows.

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stride-engine/stride/engine/flow"
)

// fileKeys are the keys of the top level of a template file.
var fileKeys = []string{"description", "output", "root", "schema", "template"}

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

// parseFile checks the top level of a template file's content.
func parseFile(b *flow.Builder, path string, data []byte) (*File, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		b.Errorf(yamlErrorPos(path, err), "map: invalid YAML in template file: %s", yamlErrorMsg(err))
		return nil, flow.ErrReported
	}
	if len(doc.Content) == 0 {
		b.Errorf(flow.Pos{File: path, Line: 1, Col: 1}, "map: the template file is empty; it holds template: (and optionally output, root, schema)")
		return nil, flow.ErrReported
	}
	top := resolve(doc.Content[0])
	pos := func(n *yaml.Node) flow.Pos { return flow.Pos{File: path, Line: n.Line, Col: n.Column} }
	if top.Kind != yaml.MappingNode {
		b.Errorf(pos(top), "map: a template file is a mapping with template: (and optionally output, root, schema), found %s", nodeKind(top))
		return nil, flow.ErrReported
	}
	f := &File{Path: path}
	ok := true
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], resolve(top.Content[i+1])
		text := func() string {
			if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
				b.Errorf(pos(v), "map: %s: expected text, found %s", k.Value, nodeKind(v))
				ok = false
				return ""
			}
			return v.Value
		}
		switch k.Value {
		case "template":
			f.Template = v
		case "output":
			f.Output = text()
			if f.Output != "" && f.Output != "json" && f.Output != "xml" {
				b.Errorf(pos(v), "map: output %q is not one of json, xml%s", f.Output, flow.DidYouMean(f.Output, []string{"json", "xml"}))
				ok = false
			}
		case "root":
			f.Root, f.RootPos = text(), pos(v)
		case "schema":
			f.Schema, f.SchemaPos = text(), pos(v)
		case "description":
		default:
			b.Errorf(pos(k), "map: unknown key %q in a template file%s (valid keys: %s)", k.Value, flow.DidYouMean(k.Value, fileKeys), strings.Join(fileKeys, ", "))
			ok = false
		}
	}
	if f.Template == nil {
		b.Errorf(pos(top), "map: the template file has no template:")
		ok = false
	}
	if !ok {
		return nil, flow.ErrReported
	}
	return f, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlErrorPos is the position of a YAML syntax error: its line, when
// the parser names one.
func yamlErrorPos(path string, err error) flow.Pos {
	p := flow.Pos{File: path, Line: 1, Col: 1}
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
	}
	return p
}

// yamlErrorMsg is a YAML syntax error without its "yaml: line N:" prefix,
// which the position says.
func yamlErrorMsg(err error) string {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		return m[2]
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// join resolves a file named in a template file relative to that file's
// directory.
func join(dir, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}
