package convert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// Ordered JSON model used by the round-trip test: objects keep key order.
type (
	jobj []jmember
	jarr []any
)

type jmember struct {
	k string
	v any // jobj, jarr, string, json.Number, bool or nil
}

func marshalModel(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case jobj:
		b.WriteByte('{')
		for i, m := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(m.k)
			b.Write(k)
			b.WriteByte(':')
			marshalModel(b, m.v)
		}
		b.WriteByte('}')
	case jarr:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			marshalModel(b, x)
		}
		b.WriteByte(']')
	case json.Number:
		b.WriteString(string(v))
	default:
		s, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		b.Write(s)
	}
}

// parseModel parses JSON into the ordered model, keeping number literals.
func parseModel(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var value func() (any, error)
	value = func() (any, error) {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch tok {
		case json.Delim('{'):
			o := jobj{}
			for d.More() {
				k, err := d.Token()
				if err != nil {
					return nil, err
				}
				v, err := value()
				if err != nil {
					return nil, err
				}
				o = append(o, jmember{k.(string), v})
			}
			_, err := d.Token()
			return o, err
		case json.Delim('['):
			a := jarr{}
			for d.More() {
				v, err := value()
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := d.Token()
			return a, err
		}
		return tok, nil
	}
	return value()
}

var (
	rtKeys = []string{"a", "b", "id", "1st", "a b", "ü", "", "_x0041_", "_x", "x:y", "名前", "a-b", "c.d",
		"€", "tab\t", "nul\u0000", "@", "#", "é😀", "-", "x_", "_x_"}
	rtStrings = []string{"", " ", "  lead", "x", "12", "007", "true", "false", "x<y&z>", "\r\n", "a\rb",
		"é😀", "\u0000", "\ufffe", "1e400", "-0", `a"b'c`, "]]>", "\t", "null", "1.5"}
	rtNumbers = []string{"0", "-1", "1.5", "1e3", "0.1000", "-0", "12345678901234567890", "1E+2", "1e400"}
)

// randomJSON returns a random value without "@" or "#text" keys.
func randomJSON(r *rand.Rand, depth int) any {
	n := r.IntN(10)
	if depth >= 4 {
		n = r.IntN(5)
	}
	switch n {
	case 0, 1:
		return rtStrings[r.IntN(len(rtStrings))]
	case 2:
		return json.Number(rtNumbers[r.IntN(len(rtNumbers))])
	case 3:
		return r.IntN(2) == 0
	case 4:
		return nil
	case 5, 6, 7:
		o := jobj{}
		seen := map[string]bool{}
		for range r.IntN(5) {
			k := rtKeys[r.IntN(len(rtKeys))]
			if seen[k] || strings.HasPrefix(k, "@") {
				continue
			}
			seen[k] = true
			o = append(o, jmember{k, randomJSON(r, depth+1)})
		}
		return o
	default:
		a := jarr{}
		for range r.IntN(4) {
			a = append(a, randomJSON(r, depth+1))
		}
		return a
	}
}

// The functions below model, independently of the implementation, what
// XMLToJSON(JSONToXML(v), Typed) returns according to the documented
// convention.

// expectDoc is the expected result for the whole document v.
func expectDoc(v any) any {
	if o, ok := v.(jobj); ok && len(o) == 1 {
		if _, isArr := o[0].v.(jarr); !isArr {
			return jobj{{o[0].k, expectElem(o[0].v)}}
		}
	}
	if a, ok := v.(jarr); ok {
		return jobj{{"root", expectArrayElem(a)}}
	}
	return jobj{{"root", expectElem(v)}}
}

// expectElem is the value of the element written for the non-array v.
func expectElem(v any) any {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return expectText(sanitize(v))
	case json.Number:
		return expectText(string(v))
	case bool:
		return v
	case jobj:
		var kids []jmember // one per element, in document order
		for _, m := range v {
			if a, ok := m.v.(jarr); ok {
				for _, x := range a {
					kids = append(kids, jmember{m.k, expectItem(x)})
				}
				continue
			}
			kids = append(kids, jmember{m.k, expectElem(m.v)})
		}
		if len(kids) == 0 {
			return ""
		}
		return group(kids)
	}
	panic(fmt.Sprintf("unexpected %T", v))
}

func expectItem(x any) any {
	if a, ok := x.(jarr); ok {
		return expectArrayElem(a)
	}
	return expectElem(x)
}

// expectArrayElem is the value of an element whose content is the items of
// a, as "item" elements.
func expectArrayElem(a jarr) any {
	if len(a) == 0 {
		return ""
	}
	var kids []jmember
	for _, x := range a {
		kids = append(kids, jmember{"item", expectItem(x)})
	}
	return group(kids)
}

// group merges sibling elements with equal keys into arrays, keyed in
// order of first appearance.
func group(kids []jmember) jobj {
	var keys []string
	vals := map[string][]any{}
	for _, k := range kids {
		if _, ok := vals[k.k]; !ok {
			keys = append(keys, k.k)
		}
		vals[k.k] = append(vals[k.k], k.v)
	}
	o := jobj{}
	for _, k := range keys {
		if v := vals[k]; len(v) == 1 {
			o = append(o, jmember{k, v[0]})
		} else {
			o = append(o, jmember{k, jarr(v)})
		}
	}
	return o
}

func expectText(s string) any {
	if isTyped(s) {
		switch s {
		case "true":
			return true
		case "false":
			return false
		}
		return json.Number(s)
	}
	return s
}

// sanitize replaces characters XML cannot represent by U+FFFD.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if !isXMLChar(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		v := randomJSON(r, 0)
		var src bytes.Buffer
		marshalModel(&src, v)
		var x, j bytes.Buffer
		if err := JSONToXML(&x, src.Bytes(), JSONToXMLOptions{}); err != nil {
			t.Fatalf("#%d JSONToXML(%s): %v", i, src.Bytes(), err)
		}
		if err := XMLToJSON(&j, x.Bytes(), XMLToJSONOptions{Typed: true}); err != nil {
			t.Fatalf("#%d XMLToJSON(%s): %v", i, x.Bytes(), err)
		}
		got, err := parseModel(j.Bytes())
		if err != nil {
			t.Fatalf("#%d invalid JSON %s: %v", i, j.Bytes(), err)
		}
		want := expectDoc(v)
		if !reflect.DeepEqual(got, want) {
			var w bytes.Buffer
			marshalModel(&w, want)
			t.Fatalf("#%d round trip of %s\n xml  %s\n got  %s\n want %s", i, src.Bytes(), x.Bytes(), j.Bytes(), w.Bytes())
		}
	}
}

// TestRoundTripExact checks documents that the convention maps back
// exactly: objects whose arrays have at least two non-array items, with
// string values that do not look typed, converted back untyped.
func TestRoundTripExact(t *testing.T) {
	for _, src := range []string{
		`{"order":{"id":"A-1","lines":[{"sku":"x","qty":"2"},{"sku":"y","qty":"1"}],"note":"a<b & \"c\"\r\n","ü":"","1st":{"a b":"x"}}}`,
		`{"r":{"":"empty","_x0041_":"lit","x:y":{"@xmlns:x":"urn:x","#text":"t"},"@id":"1"}}`,
	} {
		var x, j bytes.Buffer
		if err := JSONToXML(&x, []byte(src), JSONToXMLOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := XMLToJSON(&j, x.Bytes(), XMLToJSONOptions{}); err != nil {
			t.Fatal(err)
		}
		// Attributes come first in XML, so compare after moving them.
		want := strings.Replace(src, `,"@id":"1"`, "", 1)
		want = strings.Replace(want, `{"r":{`, `{"r":{"@id":"1",`, 1)
		if j.String() != want {
			t.Errorf("round trip of %s\n xml  %s\n got  %s\n want %s", src, x.Bytes(), j.Bytes(), want)
		}
	}
}
