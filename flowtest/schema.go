package flowtest

// The JSON Schema of a test file, for editors: generated from the types
// the strict decoder reads a test file into (their yaml, doc, required,
// enum and default tags), with the schemas of the types that decode
// themselves written here beside them.

import (
	"encoding/json"
	"reflect"

	"github.com/stride-engine/stride/engine/flow"
)

// SchemaID is the $id of the test file JSON Schema.
const SchemaID = "https://stride.dev/schemas/flowtest.schema.json"

// Schema returns the JSON Schema (draft 2020-12) of a *.test.yaml file
// (schemas/flowtest.schema.json).
func Schema() []byte {
	root := flow.TypeSchema(reflect.TypeFor[File](), customSchema)
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaID
	root["title"] = "Stride flow test"
	root["description"] = "A flow test file (*.test.yaml): variables shared by its cases, and the cases, each with one trigger input, data store entries, mocks of the systems the flows call, and what must come out. Run with stride test."
	// A case has exactly one trigger input.
	if c, ok := dig(root, "properties", "cases", "items"); ok {
		var one []any
		for _, in := range []string{"request", "queue", "timer", "call"} {
			one = append(one, map[string]any{"required": []string{in}})
		}
		c["oneOf"] = one
	}
	root["$defs"] = map[string]any{
		"text":  textMatcherSchema(),
		"value": valueMatcherSchema(),
	}
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		panic(err) // a map of plain values always marshals
	}
	return append(out, '\n')
}

// dig follows keys through nested objects of a schema.
func dig(s map[string]any, keys ...string) (map[string]any, bool) {
	for _, k := range keys {
		next, ok := s[k].(map[string]any)
		if !ok {
			return nil, false
		}
		s = next
	}
	return s, true
}

// scalarSchema is a value the decoder reads as text: YAML writes
// numbers and booleans without quotes (PORT: 8080), and they are text too.
func scalarSchema() map[string]any {
	return map[string]any{"type": []string{"string", "number", "boolean"}}
}

func textMatcherSchema() map[string]any {
	return map[string]any{
		"description": "A text: the value it equals, or {equals, contains, matches, absent}.",
		"anyOf": []any{
			map[string]any{"type": []string{"string", "number", "boolean", "null"}},
			textMatcherObject(nil),
		},
	}
}

// textMatcherObject is the mapping form of a text matcher, with extra
// keys.
func textMatcherObject(extra map[string]any) map[string]any {
	props := map[string]any{
		"equals":   withDoc(scalarSchema(), "The text equals this."),
		"contains": withDoc(map[string]any{"anyOf": []any{scalarSchema(), map[string]any{"type": "array", "items": scalarSchema()}}}, "Texts it contains."),
		"matches":  map[string]any{"type": "string", "description": "A regular expression it matches."},
		"absent":   map[string]any{"type": "boolean", "description": "true: there is no such value."},
	}
	for k, v := range extra {
		props[k] = v
	}
	return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
}

func valueMatcherSchema() map[string]any {
	return map[string]any{"description": "The expected value, compared as JSON (15720 is a number, '15720' text), or {equals, contains, matches, absent}."}
}

func withDoc(s map[string]any, doc string) map[string]any {
	s["description"] = doc
	return s
}

func ref(def string) map[string]any { return map[string]any{"$ref": "#/$defs/" + def} }

// customSchema is the schema of the types with a YAML form of their own;
// nil for the others.
func customSchema(t reflect.Type, schema func(reflect.Type) map[string]any) map[string]any {
	switch t {
	case reflect.TypeFor[Time]():
		return map[string]any{"type": "string", "pattern": `^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}.*)?$`}
	case reflect.TypeFor[Body]():
		return map[string]any{}
	case reflect.TypeFor[namedTexts]():
		return map[string]any{"type": "object", "additionalProperties": scalarSchema()}
	case reflect.TypeFor[textMatchers]():
		return map[string]any{"type": "object", "additionalProperties": ref("text")}
	case reflect.TypeFor[valueMatchers]():
		return map[string]any{"type": "object", "additionalProperties": ref("value")}
	case reflect.TypeFor[responses]():
		answer := schema(reflect.TypeFor[MockResponse]())
		return map[string]any{"anyOf": []any{answer, map[string]any{"type": "array", "items": schema(reflect.TypeFor[MockResponse]()), "minItems": 1}}}
	case reflect.TypeFor[Fixtures]():
		entry := schema(reflect.TypeFor[Fixture]())
		entry["anyOf"] = []any{map[string]any{"required": []string{"value"}}, map[string]any{"required": []string{"value_file"}}}
		return map[string]any{"type": "object", "additionalProperties": map[string]any{
			"type":                 "object",
			"description":          "The store's entries: {ID: VALUE or {value, value_file, content_type, expires}}.",
			"additionalProperties": map[string]any{"anyOf": []any{map[string]any{"type": []string{"string", "number", "boolean", "null"}}, entry}},
		}}
	case reflect.TypeFor[storeExpects]():
		entry := map[string]any{"anyOf": []any{
			map[string]any{"enum": []string{"absent", "present"}},
			textMatcherObject(map[string]any{"jsonpath": map[string]any{
				"type": "object", "additionalProperties": ref("value"),
				"description": "{path: value} on the entry's JSON value.",
			}}),
		}}
		return map[string]any{"type": "object", "additionalProperties": map[string]any{
			"description": "empty, a number of entries, or {ID: absent | present | {equals, contains, matches, jsonpath}}; ID * is some entry.",
			"anyOf": []any{
				map[string]any{"const": "empty"},
				map[string]any{"type": "integer", "minimum": 0},
				map[string]any{"type": "object", "additionalProperties": entry},
			},
		}}
	}
	if t.Kind() == reflect.String {
		return scalarSchema()
	}
	return nil
}
