package flow

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
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
// A field of type Pos (no tag) receives the position of the mapping, a
// field of type KeyPos (no tag) the position of each key.
// Field types with special meaning: *Template (text with ${...}),
// *Condition (a boolean expression), Steps (nested steps), TemplateMap
// (ordered key → template), time.Duration ("2s"), yaml.Node (raw, for
// steps that read their own structure), any type that implements
// YAMLValue. The same specs drive the decoding of flow test files.
type configSpec struct {
	typ       reflect.Type
	fields    []*fieldSpec
	byName    map[string]*fieldSpec
	shorthand *fieldSpec // the field a non-mapping value fills
	posIndex  int        // index of a Pos field that receives the mapping's position, or -1
	keysIndex int        // index of a KeyPos field that receives the keys' positions, or -1
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
	keyPosType      = reflect.TypeFor[KeyPos]()
	anyType         = reflect.TypeFor[any]()
	timeType        = reflect.TypeFor[time.Time]()
)

// specCache holds the spec of every struct type decoded so far
// (reflect.Type → *configSpec). Those of registered kinds and of the flow
// file are computed while kinds register (from init functions), with the
// nested types' specs eagerly; other files' types (flow tests) are added
// on first use, possibly by several goroutines at once. A spec is
// complete before it is stored and never changes afterwards.
var specCache sync.Map

var (
	configValueType = reflect.TypeFor[configValue]()
	yamlValueType   = reflect.TypeFor[YAMLValue]()
)

// decodesItself reports whether values of type t decode with their own
// method (configValue or YAMLValue) rather than by their fields.
func decodesItself(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(configValueType) || p.Implements(configValueType) || t.Implements(yamlValueType) || p.Implements(yamlValueType)
}

// cacheNested computes the specs of the struct types a field of type t
// holds (directly, or through pointers, slices and maps), unless they
// decode themselves.
func cacheNested(t reflect.Type) {
	for {
		if decodesItself(t) {
			return
		}
		if t.Kind() != reflect.Pointer && t.Kind() != reflect.Slice && t.Kind() != reflect.Map {
			break
		}
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == posType || t == nodeType || t == timeType {
		return
	}
	if _, ok := specCache.Load(t); !ok {
		specOf(t, "")
	}
}

func init() {
	specOf(reflect.TypeFor[flowFile](), "")
}

// specOf derives the spec of a config struct type. It panics on a
// malformed struct: that is a programming error caught by the first test.
func specOf(t reflect.Type, shorthand string) *configSpec {
	if shorthand == "" {
		if s, ok := specCache.Load(t); ok {
			return s.(*configSpec)
		}
	}
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("stride: config type %v is not a struct", t))
	}
	s := &configSpec{typ: t, byName: map[string]*fieldSpec{}, posIndex: -1, keysIndex: -1}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		if sf.Type == posType {
			s.posIndex = i // filled with where the config is written
			continue
		}
		if sf.Type == keyPosType {
			s.keysIndex = i // filled with where each key is written
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
		// Before the fields' types: a type may hold itself. Another
		// goroutine may have stored the same type's spec meanwhile:
		// either is right, the first stored is kept.
		if prev, loaded := specCache.LoadOrStore(t, s); loaded {
			return prev.(*configSpec)
		}
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
	case anyType:
		return "any"
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
