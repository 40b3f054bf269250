package mapping

// The JSON Schema of a template file (*.map.yaml), for editors: the top
// level generated from fileSpec, the type the decoder reads it into; the
// template itself is free-form, so its schema describes the directives
// where they may stand and what they take.

import (
	"encoding/json"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stride-engine/stride/engine/flow"
)

// FileSchemaID is the $id of the template file JSON Schema.
const FileSchemaID = "https://stride.dev/schemas/mapping.schema.json"

// FileSchema returns the JSON Schema (draft 2020-12) of a *.map.yaml
// template file (schemas/mapping.schema.json).
func FileSchema() []byte {
	root := flow.TypeSchema(reflect.TypeFor[fileSpec](), func(t reflect.Type, _ func(reflect.Type) map[string]any) map[string]any {
		if t == reflect.TypeFor[yaml.Node]() {
			return map[string]any{"$ref": "#/$defs/template"}
		}
		return nil
	})
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = FileSchemaID
	root["title"] = "Stride mapping template"
	root["description"] = "A mapping template file (*.map.yaml) of the map step: the template, the shape of the result with ${...} values and $-directives, and the options of its output."
	root["$defs"] = templateDefs()
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		panic(err) // a map of plain values always marshals
	}
	return append(out, '\n')
}

// templateDefs are the schemas of a template's values: a value, a list
// of templates, or a mapping, which is an object of fields (any key that
// does not start with $, or $$key for the key $key) or has directives.
func templateDefs() map[string]any {
	scalar := func() map[string]any {
		return map[string]any{"type": []string{"string", "number", "boolean", "null"}}
	}
	text := func(doc string) map[string]any {
		return map[string]any{"type": []string{"string", "number", "boolean"}, "description": doc}
	}
	tmpl := map[string]any{"$ref": "#/$defs/template"}
	with := func(s map[string]any, doc string) map[string]any {
		c := map[string]any{}
		for k, v := range s {
			c[k] = v
		}
		c["description"] = doc
		return c
	}
	directives := map[string]any{
		"$for_each":    map[string]any{"type": "string", "description": "Build a list, one $item per item of a selection: a JSONPath ($.items[*]) over the JSON body, an XPath (/a/b) over the XML body, or ${expr} giving a list."},
		"$item":        with(tmpl, "The template of each item of $for_each; item is the current item."),
		"$if":          map[string]any{"type": []string{"string", "boolean"}, "description": "A condition (${...} or a bare expression): the value is left out when it is false. Takes $then, or the other keys of the mapping."},
		"$then":        with(tmpl, "With $if: the template written when the condition holds."),
		"$value":       text("A value or a ${...} template, converted by $convert, $map and $default."),
		"$convert":     map[string]any{"enum": conversions, "description": "Convert $value: " + strings.Join(conversions, ", ") + " (date needs $format)."},
		"$format":      map[string]any{"type": "string", "description": "The date pattern of $convert: date (Java style, e.g. dd.MM.yyyy)."},
		"$map":         map[string]any{"type": "object", "additionalProperties": scalar(), "description": "A value-mapping table for $value: {from: to}."},
		"$map_default": with(scalar(), "With $map: the value for a source value the table does not list."),
		"$default":     with(tmpl, "The value when $value has none (else the message fails)."),
	}
	var names []any
	for _, n := range directiveNames {
		names = append(names, n)
	}
	return map[string]any{
		"template": map[string]any{
			"description": "The shape of the result: values (a lone ${...} keeps its type), lists, and mappings with fields or $-directives.",
			"anyOf": []any{
				scalar(),
				map[string]any{"type": "array", "items": tmpl},
				map[string]any{"$ref": "#/$defs/mapping"},
			},
		},
		"mapping": map[string]any{
			"type":       "object",
			"properties": directives,
			// Keys starting with one $ are directives; $$key writes $key.
			"propertyNames": map[string]any{"anyOf": []any{
				map[string]any{"enum": names},
				map[string]any{"pattern": `^([^$]|\$\$|$)`},
			}},
			"additionalProperties": tmpl,
			"dependentRequired": map[string]any{
				"$for_each":    []string{"$item"},
				"$item":        []string{"$for_each"},
				"$then":        []string{"$if"},
				"$convert":     []string{"$value"},
				"$format":      []string{"$convert"},
				"$map":         []string{"$value"},
				"$map_default": []string{"$map"},
				"$default":     []string{"$value"},
			},
		},
	}
}
