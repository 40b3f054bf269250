package steps

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/mapping"
)

// mapConfig builds a JSON or XML document from a template (CPI's message
// mapping). The template language is package engine/mapping.
type mapConfig struct {
	File     string    `yaml:"file" doc:"A mapping template file (*.map.yaml, not a flow), relative to the flow file. It holds template: and may set output, root and schema; options of the step win."`
	Template yaml.Node `yaml:"template" doc:"The template written inline: a mapping is an object (keys in order), a list a list, a scalar a value or ${...}; keys starting with $ are directives ($for_each/$item, $if/$then, $value with $convert, $format, $map, $map_default, $default)."`
	Output   string    `yaml:"output" enum:"json,xml" doc:"json (default): compact JSON, keys in template order; xml: that JSON converted to XML (as json_to_xml does)."`
	Root     string    `yaml:"root" doc:"With output: xml, the root element that wraps the document."`
	Schema   string    `yaml:"schema" doc:"A JSON Schema file (relative to the flow file; in a template file, relative to that file) that every result must match, checked on the JSON before any conversion to XML. A violation fails the message, naming the paths of the result."`
	Into     string    `yaml:"into" default:"body" doc:"Where the result goes: body (default; content type application/json or application/xml) or property.NAME (the result as text)."`
}

type mapStep struct {
	m        *mapping.Mapping
	property string // into property.NAME; "" for the body
}

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

// buildMap checks the step's options, reads the template file if any, and
// compiles the template and the schema. The step's output, root and
// schema win over the template file's; every error is reported in one
// load.
func buildMap(b *flow.Builder, c *mapConfig) (flow.Step, error) {
	s := &mapStep{m: &mapping.Mapping{}}
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

	tmplFile, tmpl := b.Pos().File, &c.Template
	output, root, schema, schemaDir := c.Output, c.Root, c.Schema, b.Dir()
	var schemaPos flow.Pos
	if c.Schema != "" {
		schemaPos = b.FieldPos("schema")
	}
	if c.File != "" {
		path := c.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(b.Dir(), path)
		}
		f, err := mapping.ReadFile(b, path, b.FieldPos("file"))
		if err != nil {
			return nil, err
		}
		tmplFile, tmpl = path, f.Template
		if output == "" {
			output = f.Output
		}
		if root == "" {
			root = f.Root
		}
		if schema == "" && f.Schema != "" {
			schema, schemaDir, schemaPos = f.Schema, filepath.Dir(path), f.SchemaPos
		}
	}
	failed := false
	switch output {
	case "", "json":
	case "xml":
		s.m.XML, s.m.Root = true, root
	default:
		return nil, errorf("output %q: want json or xml", output)
	}
	if root != "" && !s.m.XML {
		b.Errorf(b.FieldPos("root"), "map: root %q is the root element of output: xml; this mapping writes JSON", root)
		failed = true
	}
	if schema != "" {
		if !filepath.IsAbs(schema) {
			schema = filepath.Join(schemaDir, schema)
		}
		sch, err := mapping.CompileSchema(schema)
		if err != nil {
			b.Errorf(schemaPos, "map: schema: %v", err)
			failed = true
		}
		s.m.Schema = sch
	}
	t, err := mapping.Compile(b, tmplFile, tmpl)
	if err != nil || failed {
		return nil, flow.ErrReported
	}
	s.m.Template = t
	return s, nil
}

func (s *mapStep) Run(_ context.Context, x *flow.Exchange) error {
	out, contentType, err := s.m.Run(x)
	if err != nil {
		return err
	}
	if s.property != "" {
		x.Msg.Property[s.property] = string(out)
		return nil
	}
	x.Msg.SetBody(out, contentType)
	return nil
}
