package flow

// Decoding by type: the rules listed in yamldecode.go, applied to a
// reflect.Value. One implementation for every YAML file Stride reads.

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decodeStruct decodes a mapping into a struct described by spec. keyPos,
// when not nil, receives the position of every key.
func (d *Decoder) decodeStruct(n *yaml.Node, v reflect.Value, spec *configSpec, what string, keyPos map[string]Pos) {
	n = Resolve(n)
	if spec.posIndex >= 0 {
		v.Field(spec.posIndex).Set(reflect.ValueOf(d.Pos(n)))
	}
	var fieldKeys KeyPos // the struct's own KeyPos field, if it has one
	if spec.keysIndex >= 0 {
		fieldKeys = KeyPos{}
		v.Field(spec.keysIndex).Set(reflect.ValueOf(fieldKeys))
	}
	at := func(key string, p Pos) {
		if keyPos != nil {
			keyPos[key] = p
		}
		if fieldKeys != nil {
			fieldKeys[key] = p
		}
	}
	if n.Kind != yaml.MappingNode {
		if spec.shorthand != nil && !IsNull(n) {
			at(spec.shorthand.name, d.Pos(n))
			d.decodeField(n, v.Field(spec.shorthand.index), spec.shorthand)
			d.applyDefaults(v, spec, map[string]bool{spec.shorthand.name: true}, n, what)
			return
		}
		if IsNull(n) {
			d.applyDefaults(v, spec, nil, n, what)
			return
		}
		d.Errorf(n, "%sexpected a mapping (key: value), found %s", prefix(what), KindOf(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := Resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.Errorf(k, "%sa key must be text, found %s", prefix(what), KindOf(k))
			continue
		}
		f := spec.byName[k.Value]
		if f == nil {
			d.UnknownKey(k, what, spec.names())
			continue
		}
		if seen[k.Value] {
			d.Errorf(k, "%skey %q is given twice", prefix(what), k.Value)
			continue
		}
		seen[k.Value] = true
		at(k.Value, d.Pos(k))
		d.decodeField(val, v.Field(f.index), f)
	}
	d.applyDefaults(v, spec, seen, n, what)
}

func hintKey(key string, valid []string) string {
	if s := didYouMean(key, valid); s != "" {
		return s
	}
	if len(valid) == 0 {
		return " (this takes no options)"
	}
	return fmt.Sprintf(" (valid keys: %s)", strings.Join(valid, ", "))
}

func (d *Decoder) applyDefaults(v reflect.Value, spec *configSpec, seen map[string]bool, n *yaml.Node, what string) {
	for _, f := range spec.fields {
		if seen[f.name] {
			continue
		}
		if f.required {
			doc := ""
			if f.doc != "" {
				doc = " (" + f.doc + ")"
			}
			d.Errorf(n, "%smissing required key %q%s", prefix(what), f.name, doc)
			continue
		}
		if f.typ.Kind() == reflect.Struct && !decodesItself(f.typ) && f.typ != nodeType && f.typ != timeType {
			// An absent nested object still gets its fields' defaults.
			null := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
			d.decodeStruct(null, v.Field(f.index), specOf(f.typ, ""), joinWhat(what, f.name), nil)
			continue
		}
		if f.hasDef {
			dn := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.def, Line: n.Line, Column: n.Column}
			if _, err := strconv.ParseFloat(f.def, 64); err == nil {
				dn.Tag = "!!int"
			}
			d.decodeField(dn, v.Field(f.index), f)
		}
	}
}

func joinWhat(what, name string) string {
	if what == "" {
		return name
	}
	return what + "." + name
}

// decodeField decodes the value of a struct field, which its key names
// in errors; during a flow load, with the field's scope.
func (d *Decoder) decodeField(n *yaml.Node, v reflect.Value, f *fieldSpec) {
	n = Resolve(n)
	if d.fl != nil && f.scope != "" {
		b := d.fl.b
		saved := b.ctx
		switch f.scope {
		case "split":
			b.ctx.split = true
		case "error":
			b.ctx.onError = true
		case "item":
			b.ctx.item = true
		}
		defer func() { b.ctx = saved }()
	}
	d.decodeValue(n, v, f.name, f.enum)
}

// decodeValue decodes n into v by v's type.
func (d *Decoder) decodeValue(n *yaml.Node, v reflect.Value, name string, enum []string) {
	if d.tooDeep {
		return
	}
	if d.depth++; d.depth > maxDepth {
		d.tooDeep = true
		d.Errorf(n, "%svalues nest more than %d deep: does an alias (*name) refer to a mapping or list that holds it?", prefix(name), maxDepth)
		return
	}
	defer func() { d.depth-- }()
	if d.decodeSelf(n, v.Addr(), name) {
		return
	}
	if v.Kind() == reflect.Pointer {
		nv := reflect.New(v.Type().Elem())
		if !d.decodeSelf(n, nv, name) {
			d.decodeValue(n, nv.Elem(), name, enum)
		}
		v.Set(nv)
		return
	}
	switch v.Type() {
	case nodeType:
		v.Set(reflect.ValueOf(*n))
		return
	case durationType:
		if n.Kind != yaml.ScalarNode {
			d.Errorf(n, "%sexpected a duration such as 500ms, 2s or 10m, found %s", prefix(name), KindOf(n))
			return
		}
		dur, err := time.ParseDuration(n.Value)
		if err != nil || dur < 0 {
			d.Errorf(n, "%s%q is not a duration (write e.g. 500ms, 2s, 10m, 1h)", prefix(name), n.Value)
			return
		}
		v.SetInt(int64(dur))
		return
	case anyType:
		p, cyclic := plainValue(n, map[*yaml.Node]bool{})
		if cyclic {
			d.Errorf(n, "%san alias (*name) in it refers to a mapping or list that holds it", prefix(name))
			return
		}
		if p != nil {
			v.Set(reflect.ValueOf(p))
		}
		return
	}
	switch v.Kind() {
	case reflect.String:
		if n.Kind != yaml.ScalarNode || IsNull(n) {
			d.Errorf(n, "%sexpected text, found %s", prefix(name), KindOf(n))
			return
		}
		if len(enum) > 0 && !contains(enum, n.Value) {
			d.Errorf(n, "%s%q is not one of %s%s", prefix(name), n.Value, strings.Join(enum, ", "), didYouMean(n.Value, enum))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, ok := scalarBool(n)
		if !ok {
			d.Errorf(n, "%sexpected true or false, found %s", prefix(name), KindOf(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.Errorf(n, "%sexpected a whole number, found %s", prefix(name), KindOf(n))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		fl, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.Errorf(n, "%sexpected a number, found %s", prefix(name), KindOf(n))
			return
		}
		v.SetFloat(fl)
	case reflect.Slice:
		items := []*yaml.Node{n}
		if n.Kind == yaml.SequenceNode {
			items = n.Content
		} else if v.Type().Elem().Kind() != reflect.String || n.Kind != yaml.ScalarNode {
			d.Errorf(n, "%sexpected a list (- item), found %s", prefix(name), KindOf(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(items), len(items))
		for i, item := range items {
			d.decodeValue(Resolve(item), s.Index(i), fmt.Sprintf("%s[%d]", name, i), enum)
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.Errorf(n, "%sexpected a mapping (key: value), found %s", prefix(name), KindOf(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := Resolve(n.Content[i])
			if k.Kind != yaml.ScalarNode {
				d.Errorf(k, "%sa key must be text, found %s", prefix(name), KindOf(k))
				continue
			}
			key := reflect.ValueOf(k.Value).Convert(v.Type().Key())
			if m.MapIndex(key).IsValid() {
				d.Errorf(k, "%skey %q is given twice", prefix(name), k.Value)
				continue
			}
			ev := reflect.New(v.Type().Elem()).Elem()
			d.decodeValue(Resolve(n.Content[i+1]), ev, joinWhat(name, k.Value), nil)
			m.SetMapIndex(key, ev)
		}
		v.Set(m)
	case reflect.Struct:
		d.decodeStruct(n, v, specOf(v.Type(), ""), name, nil)
	default:
		d.Errorf(n, "%sunsupported config type %v", prefix(name), v.Type())
	}
}

// decodeSelf decodes n into *p when p's type has its own YAML form; it
// reports whether it did.
func (d *Decoder) decodeSelf(n *yaml.Node, p reflect.Value, name string) bool {
	switch x := p.Interface().(type) {
	case YAMLValue:
		x.DecodeYAML(d, n, name)
		return true
	case configValue:
		if d.fl == nil {
			d.Errorf(n, "%sa %v is part of the flow language; it decodes only in a flow file", prefix(name), p.Type().Elem())
			return true
		}
		x.decode(d.fl, n)
		return true
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func scalarBool(n *yaml.Node) (bool, bool) {
	if n.Kind != yaml.ScalarNode {
		return false, false
	}
	switch n.Value {
	case "true", "True", "TRUE", "yes", "on":
		return true, true
	case "false", "False", "FALSE", "no", "off":
		return false, true
	}
	return false, false
}
