package flow

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// A config spec is derived from a step's (or trigger's) config struct by
// reflection, once, at registration. Struct tags say what a user needs:
//
//	yaml:"name"        the key in the flow file
//	doc:"..."          one sentence for `stride steps`, the schema and editors
//	required:"true"    the key must be present
//	default:"..."      the value when the key is absent (applied by the decoder)
//	enum:"a,b,c"       the allowed values of a text field
//	scope:"split"      nested steps see split.* (also "error", "item")
//
// A field of type Pos (no tag) receives the position of the mapping.
// Field types with special meaning: *Template (text with ${...}),
// *Condition (a boolean expression), Steps (nested steps), TemplateMap
// (ordered key → template), time.Duration ("2s"), yaml.Node (raw, for
// steps that read their own structure).
type configSpec struct {
	typ       reflect.Type
	fields    []*fieldSpec
	byName    map[string]*fieldSpec
	shorthand *fieldSpec // the field a non-mapping value fills
	posIndex  int        // index of a Pos field that receives the mapping's position, or -1
}

type fieldSpec struct {
	name     string
	doc      string
	required bool
	def      string
	hasDef   bool
	enum     []string
	scope    string
	index    int
	typ      reflect.Type
}

var (
	templateType    = reflect.TypeFor[*Template]()
	conditionType   = reflect.TypeFor[*Condition]()
	stepsType       = reflect.TypeFor[Steps]()
	templateMapType = reflect.TypeFor[TemplateMap]()
	durationType    = reflect.TypeFor[time.Duration]()
	nodeType        = reflect.TypeFor[yaml.Node]()
	varDeclsType    = reflect.TypeFor[VarDecls]()
	triggerType     = reflect.TypeFor[Trigger]()
	posType         = reflect.TypeFor[Pos]()
)

// specCache holds the spec of every config struct type reachable from a
// registered kind or from the flow file itself. It is written only while
// kinds register (from init functions, which run one at a time) and read
// afterwards: specOf computes nested types' specs eagerly, so that loading
// flows, which may happen in many goroutines at once, never writes it.
var specCache = map[reflect.Type]*configSpec{}

var configValueType = reflect.TypeFor[configValue]()

// cacheNested computes the specs of the struct types a field of type t
// holds (directly, or through pointers, slices and maps), unless they
// decode themselves.
func cacheNested(t reflect.Type) {
	for {
		if t.Implements(configValueType) || reflect.PointerTo(t).Implements(configValueType) {
			return // decodes itself
		}
		if t.Kind() != reflect.Pointer && t.Kind() != reflect.Slice && t.Kind() != reflect.Map {
			break
		}
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == posType || t == nodeType || t == reflect.TypeFor[time.Time]() {
		return
	}
	if _, ok := specCache[t]; !ok {
		specOf(t, "")
	}
}

func init() {
	specOf(reflect.TypeFor[flowFile](), "")
}

// specOf derives the spec of a config struct type. It panics on a
// malformed struct: that is a programming error caught by the first test.
func specOf(t reflect.Type, shorthand string) *configSpec {
	if s, ok := specCache[t]; ok && shorthand == "" {
		return s
	}
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("stride: config type %v is not a struct", t))
	}
	s := &configSpec{typ: t, byName: map[string]*fieldSpec{}, posIndex: -1}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		if sf.Type == posType {
			s.posIndex = i // filled with where the config is written
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			panic(fmt.Sprintf("stride: config field %v.%s has no yaml tag", t, sf.Name))
		}
		f := &fieldSpec{
			name:     name,
			doc:      sf.Tag.Get("doc"),
			required: sf.Tag.Get("required") == "true",
			scope:    sf.Tag.Get("scope"),
			index:    i,
			typ:      sf.Type,
		}
		f.def, f.hasDef = sf.Tag.Lookup("default")
		if e := sf.Tag.Get("enum"); e != "" {
			f.enum = strings.Split(e, ",")
		}
		s.fields = append(s.fields, f)
		s.byName[name] = f
	}
	if shorthand == "" {
		specCache[t] = s // before the fields: a type may hold itself
	}
	for _, f := range s.fields {
		cacheNested(f.typ)
	}
	if shorthand != "" {
		s.shorthand = s.byName[shorthand]
		if s.shorthand == nil {
			panic(fmt.Sprintf("stride: shorthand %q is not a field of %v", shorthand, t))
		}
	}
	return s
}

func (s *configSpec) names() []string {
	out := make([]string, len(s.fields))
	for i, f := range s.fields {
		out[i] = f.name
	}
	return out
}

// typeName describes a field type in words, for `stride steps` and errors.
func typeName(t reflect.Type) string {
	switch t {
	case templateType:
		return "template"
	case conditionType:
		return "condition"
	case stepsType:
		return "steps"
	case templateMapType:
		return "map of templates"
	case durationType:
		return "duration"
	case nodeType:
		return "any"
	case varDeclsType:
		return "variables"
	case triggerType:
		return "trigger"
	}
	switch t.Kind() {
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int64:
		return "integer"
	case reflect.Float64:
		return "number"
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "map of " + typeName(t.Elem())
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.Struct:
		return "object"
	}
	return t.String()
}

// kindOfNode names a YAML node kind the way a user thinks of it.
func kindOfNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping (key: value)"
	case yaml.SequenceNode:
		return "a list (- item)"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("the value %q", n.Value)
	}
	return "something else"
}

// FieldDoc describes one option of a step or trigger kind.
type FieldDoc struct {
	Name     string
	Type     string
	Doc      string
	Required bool
	Default  string
	Enum     []string
}

func (s *configSpec) docs() []FieldDoc {
	out := make([]FieldDoc, 0, len(s.fields))
	for _, f := range s.fields {
		out = append(out, FieldDoc{Name: f.name, Type: typeName(f.typ), Doc: f.doc, Required: f.required, Default: f.def, Enum: f.enum})
	}
	return out
}
