package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/stride-engine/stride/engine/convert"
	"github.com/stride-engine/stride/engine/flow"
)

// mapConfig builds a JSON or XML document from a template (CPI's message
// mapping). The template language is in maptemplate.go.
type mapConfig struct {
	File     string    `yaml:"file" doc:"A mapping template file (*.map.yaml, not a flow), relative to the flow file. It holds template: and may set output, root and schema; options of the step win."`
	Template yaml.Node `yaml:"template" doc:"The template written inline: a mapping is an object (keys in order), a list a list, a scalar a value or ${...}; keys starting with $ are directives ($for_each/$item, $if/$then, $value with $convert, $format, $map, $map_default, $default)."`
	Output   string    `yaml:"output" enum:"json,xml" doc:"json (default): compact JSON, keys in template order; xml: that JSON converted to XML (as json_to_xml does)."`
	Root     string    `yaml:"root" doc:"With output: xml, the root element that wraps the document."`
	Schema   string    `yaml:"schema" doc:"A JSON Schema file (relative to the flow file; in a template file, relative to that file) that every result must match, checked on the JSON before any conversion to XML. A violation fails the message, naming the paths of the result."`
	Into     string    `yaml:"into" default:"body" doc:"Where the result goes: body (default; content type application/json or application/xml) or property.NAME (the result as text)."`
}

type mapStep struct {
	root     mapNode
	xml      bool
	xmlOpt   convert.JSONToXMLOptions
	schema   *jsonschema.Schema
	schemaAt string // the schema file's name, for errors
	property string // into property.NAME; "" for the body
	sizeHint atomic.Int64
}

// mapFile is the top level of a template file.
var mapFileKeys = []string{"description", "output", "root", "schema", "template"}

var propertyName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

func init() {
	flow.RegisterStep(flow.StepKind[mapConfig]{
		Name:    "map",
		Summary: "Builds a JSON or XML document from a template of expressions (CPI's message mapping), optionally checked against a JSON Schema.",
		Doc: "The template, inline or in a *.map.yaml file beside the flow, is the shape of the result: mappings are objects with their keys in template order, " +
			"lists are lists, scalars are values or ${...} (a lone ${...} keeps its type). Directives: $for_each (a JSONPath $.., an XPath /.. or ${expr}) with $item (item in scope); " +
			"$if with $then or the other fields (omitted when false); $value with $convert (number, int, bool, string, odata_date, iso_date, date with $format), " +
			"$map (value table) with $map_default, and $default for a missing value. A missing value without $default fails the message, naming the target path and the template's file:line. " +
			"Everything is compiled when the flow loads. Write $$key for an output key that starts with $.",
		Example: "- map:\n    file: mappings/profile-contact.map.yaml\n    schema: ../../schemas/mkc-import-headers.schema.json\n" +
			"- map:\n    template:\n      userId: ${json.user.encodedId}\n      gender: {$value: '${json.user.gender}', $map: {MALE: M, FEMALE: F}, $map_default: U}\n" +
			"      days:\n        $for_each: $.activities[*]\n        $item: {name: '${item.name}', minutes: {$value: '${item.duration / 60000}', $convert: int}}",
		Build: buildMap,
	})
}

func buildMap(b *flow.Builder, c *mapConfig) (flow.Step, error) {
	s := &mapStep{}
	hasInline := c.Template.Kind != 0
	if c.File != "" && hasInline {
		return nil, errorf("give file or template, not both")
	}
	if c.File == "" && !hasInline {
		return nil, errorf("give the template: inline (template:) or in a file (file: mappings/x.map.yaml)")
	}
	switch {
	case c.Into == "body":
	case strings.HasPrefix(c.Into, "property.") && propertyName.MatchString(strings.TrimPrefix(c.Into, "property.")):
		s.property = strings.TrimPrefix(c.Into, "property.")
	default:
		b.Errorf(b.FieldPos("into"), "map: into %q: write body or property.NAME", c.Into)
		return nil, flow.ErrReported
	}

	comp := &mapCompiler{}
	var tmpl *yaml.Node
	output, root, schema, schemaDir := c.Output, c.Root, c.Schema, b.Dir()
	var schemaPos flow.Pos
	if c.Schema != "" {
		schemaPos = b.FieldPos("schema")
	}
	tb := b
	if c.File != "" {
		path := c.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(b.Dir(), path)
		}
		f, ok := readMapFile(b, path, b.FieldPos("file"))
		if !ok {
			return nil, flow.ErrReported
		}
		comp.file, tmpl, tb = path, f.template, b.InFile(path)
		if output == "" {
			output = f.output
		}
		if root == "" {
			root = f.root
		}
		if schema == "" && f.schema != "" {
			schema, schemaDir, schemaPos = f.schema, filepath.Dir(path), f.schemaPos
		}
	} else {
		tmpl = &c.Template
		comp.file = b.Pos().File
	}
	switch output {
	case "", "json":
	case "xml":
		s.xml = true
		s.xmlOpt = convert.JSONToXMLOptions{Root: root}
	default:
		return nil, errorf("output %q: want json or xml", output)
	}
	if root != "" && !s.xml {
		b.Errorf(b.FieldPos("root"), "map: root %q is the root element of output: xml; this mapping writes JSON", root)
		comp.failed = true
	}
	if schema != "" {
		sch, err := compileMapSchema(schema, schemaDir)
		if err != nil {
			b.Errorf(schemaPos, "map: schema: %v", err)
			comp.failed = true
		}
		s.schema, s.schemaAt = sch, filepath.Base(schema)
	}
	if t := mapResolve(tmpl); t == nil || t.Kind == yaml.ScalarNode && t.Tag == "!!null" {
		b.Errorf(flow.Pos{File: comp.file, Line: tmpl.Line, Col: tmpl.Column}, "map: the template is empty; write the shape of the result under template:")
		return nil, flow.ErrReported
	}
	s.root = comp.compile(tb, tmpl, nil)
	if comp.failed {
		return nil, flow.ErrReported
	}
	return s, nil
}

// mapFileContent is a template file: the template and its own options.
type mapFileContent struct {
	template             *yaml.Node
	output, root, schema string
	schemaPos            flow.Pos
}

// readMapFile reads and checks the top level of a template file; the
// template itself is compiled by the caller.
func readMapFile(b *flow.Builder, path string, at flow.Pos) (*mapFileContent, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			b.Errorf(at, "map: template file %s not found", path)
		} else {
			b.Errorf(at, "map: template file: %v", err)
		}
		return nil, false
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		b.Errorf(yamlErrorPos(path, err), "map: invalid YAML in template file: %s", yamlErrorMsg(err))
		return nil, false
	}
	if len(doc.Content) == 0 {
		b.Errorf(flow.Pos{File: path, Line: 1, Col: 1}, "map: the template file is empty; it holds template: (and optionally output, root, schema)")
		return nil, false
	}
	top := mapResolve(doc.Content[0])
	pos := func(n *yaml.Node) flow.Pos { return flow.Pos{File: path, Line: n.Line, Col: n.Column} }
	if top.Kind != yaml.MappingNode {
		b.Errorf(pos(top), "map: a template file is a mapping with template: (and optionally output, root, schema), found %s", mapNodeKind(top))
		return nil, false
	}
	f := &mapFileContent{}
	ok := true
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], mapResolve(top.Content[i+1])
		text := func() string {
			if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
				b.Errorf(pos(v), "map: %s: expected text, found %s", k.Value, mapNodeKind(v))
				ok = false
				return ""
			}
			return v.Value
		}
		switch k.Value {
		case "template":
			f.template = v
		case "output":
			f.output = text()
			if f.output != "" && f.output != "json" && f.output != "xml" {
				b.Errorf(pos(v), "map: output %q is not one of json, xml%s", f.output, mapDidYouMean(f.output, []string{"json", "xml"}))
				ok = false
			}
		case "root":
			f.root = text()
		case "schema":
			f.schema, f.schemaPos = text(), pos(v)
		case "description":
		default:
			b.Errorf(pos(k), "map: unknown key %q in a template file%s (valid keys: %s)", k.Value, mapDidYouMean(k.Value, mapFileKeys), strings.Join(mapFileKeys, ", "))
			ok = false
		}
	}
	if f.template == nil {
		b.Errorf(pos(top), "map: the template file has no template:")
		ok = false
	}
	return f, ok
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlErrorPos(path string, err error) flow.Pos {
	p := flow.Pos{File: path, Line: 1, Col: 1}
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
	}
	return p
}

func yamlErrorMsg(err error) string {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		return m[2]
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// compileMapSchema compiles a JSON Schema file at load.
func compileMapSchema(file, dir string) (*jsonschema.Schema, error) {
	path := file
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("file %s not found", path)
		}
		return nil, err
	}
	c := jsonschema.NewCompiler()
	sch, err := c.Compile(abs)
	if err != nil {
		msg := err.Error()
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i] + " …"
		}
		return nil, fmt.Errorf("%s is not a valid JSON Schema: %s", path, strings.ReplaceAll(msg, "file://"+filepath.ToSlash(abs), filepath.Base(path)))
	}
	return sch, nil
}

func (s *mapStep) Run(_ context.Context, x *flow.Exchange) error {
	r := &mapRun{x: x, buf: make([]byte, 0, s.sizeHint.Load()+64)}
	omitted, err := s.root.emit(r)
	if err != nil {
		return err
	}
	if omitted {
		return errorf("map: the template's $if is false, so there is no result")
	}
	out := r.buf
	if n := int64(len(out)); n > s.sizeHint.Load() {
		s.sizeHint.Store(n)
	}
	if s.schema != nil {
		if err := s.validate(out); err != nil {
			return err
		}
	}
	ct := "application/json"
	if s.xml {
		var xb bytes.Buffer
		if err := convert.JSONToXML(&xb, out, s.xmlOpt); err != nil {
			return errorf("map: converting the result to XML: %w", err)
		}
		out, ct = xb.Bytes(), "application/xml"
	}
	if s.property != "" {
		x.Msg.Property[s.property] = string(out)
		return nil
	}
	x.Msg.SetBody(out, ct)
	return nil
}

// validate checks a result against the schema; the error lists every
// violation by its path in the result.
func (s *mapStep) validate(out []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		return errorf("map: the result is not valid JSON: %w", err)
	}
	err = s.schema.Validate(inst)
	if err == nil {
		return nil
	}
	return errorf("map: the result does not match %s: %s", s.schemaAt, strings.Join(schemaViolations(err), "; "))
}

// schemaViolations lists the leaf errors of a JSON Schema validation as
// "/instance/path: message", sorted and without duplicates.
func schemaViolations(err error) []string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []string{err.Error()}
	}
	var out []string
	seen := map[string]bool{}
	// names is set below a propertyNames check, whose errors are about
	// a key of the object at names and have no location of their own.
	var walk func(u *jsonschema.OutputUnit, names string)
	walk = func(u *jsonschema.OutputUnit, names string) {
		if strings.HasSuffix(u.KeywordLocation, "/propertyNames") && names == "" {
			names = u.InstanceLocation
			if names == "" {
				names = "/"
			}
		}
		if len(u.Errors) == 0 && u.Error != nil {
			msg := u.Error.String()
			if msg == "false schema" {
				msg = "not allowed by the schema"
			}
			var line string
			switch loc := u.InstanceLocation; {
			case names != "":
				line = names + ": property name " + msg
			case loc == "":
				line = "/: " + msg
			default:
				line = loc + ": " + msg
			}
			if !seen[line] {
				seen[line] = true
				out = append(out, line)
			}
		}
		for i := range u.Errors {
			walk(&u.Errors[i], names)
		}
	}
	walk(ve.DetailedOutput(), "")
	if len(out) == 0 {
		out = append(out, ve.Error())
	}
	sort.Strings(out)
	return out
}
