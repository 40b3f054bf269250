package flow

import (
	"encoding/json"
	"reflect"
)

// SchemaID is the $id of the flow JSON Schema.
const SchemaID = "https://stride.dev/schemas/flow.schema.json"

// FlowSchema returns the JSON Schema (draft 2020-12) of a flow file,
// generated from the registered step and trigger kinds: the schema an
// editor uses for completion and the loader's rules are one source.
func FlowSchema() []byte {
	g := &schemaGen{defs: map[string]any{}}
	root := g.object(specOf(reflect.TypeFor[flowFile](), ""), "")
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaID
	root["title"] = "Stride flow"
	root["description"] = "One flow of the Stride integration engine: a trigger and the steps it runs."

	var kinds []any
	var bare []any
	for _, k := range StepKinds() {
		ref := "step." + k.Name
		g.defs[ref] = map[string]any{
			"type":                 "object",
			"description":          k.Summary,
			"properties":           map[string]any{"name": map[string]any{"type": "string", "description": "The step's name, shown in traces and errors; retry: {from: NAME} refers to it."}, k.Name: g.config(k)},
			"required":             []string{k.Name},
			"additionalProperties": false,
		}
		kinds = append(kinds, map[string]any{"$ref": "#/$defs/" + ref})
		if !hasRequired(k.spec) {
			bare = append(bare, k.Name)
		}
	}
	if len(bare) > 0 {
		kinds = append(kinds, map[string]any{"type": "string", "enum": bare})
	}
	g.defs["step"] = map[string]any{"anyOf": kinds}
	g.defs["steps"] = map[string]any{"type": "array", "items": map[string]any{"$ref": "#/$defs/step"}}
	root["$defs"] = g.defs
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		panic(err) // a map of plain values always marshals
	}
	return append(out, '\n')
}

type schemaGen struct {
	defs map[string]any
	// custom, when set, gives the schema of the types it knows first.
	custom func(t reflect.Type) map[string]any
}

// TypeSchema returns the JSON Schema of a value of type t as the strict
// decoder (Decoder.Decode) reads it: a struct is an object of its
// yaml-tagged fields, with their doc, required, enum and default tags,
// and no other keys. It lets other file formats decoded by that decoder
// (flow tests, mapping templates) generate their editor schemas from the
// same types. custom, when not nil, is asked first for every type: it
// returns the schema of a type with a YAML form of its own (a YAMLValue),
// or nil for the default; its second argument is TypeSchema itself, for
// the parts of such a type that are plain.
func TypeSchema(t reflect.Type, custom func(t reflect.Type, schema func(reflect.Type) map[string]any) map[string]any) map[string]any {
	g := &schemaGen{defs: map[string]any{}}
	if custom != nil {
		g.custom = func(t reflect.Type) map[string]any { return custom(t, g.typeSchema) }
	}
	return g.typeSchema(t)
}

func hasRequired(s *configSpec) bool {
	for _, f := range s.fields {
		if f.required {
			return true
		}
	}
	return false
}

// config is the schema of a kind's config: its object form, plus the
// shorthand value and null when the kind allows them.
func (g *schemaGen) config(k *KindInfo) any {
	obj := g.object(k.spec, k.Summary)
	alts := []any{obj}
	if k.spec.shorthand != nil {
		alts = append(alts, g.field(k.spec.shorthand))
	}
	if !hasRequired(k.spec) {
		alts = append(alts, map[string]any{"type": "null"})
	}
	if len(alts) == 1 {
		return obj
	}
	return map[string]any{"anyOf": alts}
}

func (g *schemaGen) object(s *configSpec, doc string) map[string]any {
	props := map[string]any{}
	var required []string
	for _, f := range s.fields {
		props[f.name] = g.field(f)
		if f.required {
			required = append(required, f.name)
		}
	}
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	if doc != "" {
		o["description"] = doc
	}
	return o
}

func (g *schemaGen) field(f *fieldSpec) map[string]any {
	s := g.typeSchema(f.typ)
	if f.doc != "" {
		s["description"] = f.doc
	}
	if len(f.enum) > 0 {
		if f.typ.Kind() == reflect.Slice {
			enum := map[string]any{"type": "string", "enum": f.enum}
			s = map[string]any{"description": f.doc, "anyOf": []any{enum, map[string]any{"type": "array", "items": enum}}}
		} else {
			s["enum"] = f.enum
		}
	}
	if f.hasDef {
		s["default"] = f.def
	}
	return s
}

var templateSchema = map[string]any{"type": []string{"string", "number", "boolean"}}

func (g *schemaGen) typeSchema(t reflect.Type) map[string]any {
	if g.custom != nil {
		if s := g.custom(t); s != nil {
			return s
		}
	}
	switch t {
	case templateType:
		return map[string]any{"type": []string{"string", "number", "boolean"}}
	case conditionType:
		return map[string]any{"type": "string"}
	case stepsType:
		return map[string]any{"anyOf": []any{map[string]any{"$ref": "#/$defs/steps"}, map[string]any{"type": "null"}}}
	case templateMapType:
		return map[string]any{"type": "object", "additionalProperties": templateSchema}
	case durationType:
		return map[string]any{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`}
	case reflect.TypeFor[ByteSize]():
		return map[string]any{"type": []string{"string", "integer"}, "pattern": `^[0-9]+ ?(B|KB|MB|GB|KiB|MiB|GiB)?$`}
	case nodeType:
		return map[string]any{}
	case varDeclsType:
		return map[string]any{"anyOf": []any{
			map[string]any{"type": "array", "items": map[string]any{"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}},
			map[string]any{"type": "object", "propertyNames": map[string]any{"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}, "additionalProperties": map[string]any{"anyOf": []any{
				map[string]any{"type": []string{"null", "string", "number", "boolean"}},
				map[string]any{"type": "object", "properties": map[string]any{"default": templateSchema, "doc": map[string]any{"type": "string"}}, "additionalProperties": false},
			}}},
		}}
	case triggerType:
		var alts []any
		for _, k := range TriggerKinds() {
			alts = append(alts, map[string]any{
				"type": "object", "description": k.Summary,
				"properties":           map[string]any{k.Name: g.config(k)},
				"required":             []string{k.Name},
				"additionalProperties": false,
			})
		}
		return map[string]any{"oneOf": alts}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		items := g.typeSchema(t.Elem())
		arr := map[string]any{"type": "array", "items": items}
		if t.Elem().Kind() == reflect.String {
			return map[string]any{"anyOf": []any{items, arr}}
		}
		return arr
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.typeSchema(t.Elem())}
	case reflect.Pointer:
		return g.typeSchema(t.Elem())
	case reflect.Struct:
		return g.object(specOf(t, ""), "")
	}
	return map[string]any{}
}
