package convert

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func addGoldenSeeds(f *testing.F, pattern string) {
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds %s: %v", pattern, err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzJSONToXML checks that JSONToXML never panics, accepts exactly the
// JSON that encoding/json accepts (up to MaxDepth), and writes
// well-formed XML that XMLToJSON reads back as valid JSON.
func FuzzJSONToXML(f *testing.F) {
	addGoldenSeeds(f, "testdata/golden/json2xml/*.json")
	for _, s := range []string{
		`{"a":1}`, `[1,[2,[]],{}]`, `{"e":{"@a":"1","x":2,"@b":"3","#text":"t"}}`,
		`{"":{"1st":"a b","_x0041_":"\u0000\ud800"}}`, `"\ud83d\ude00"`, `{"a":1,"@x":null}`,
		`{"a:b:c":{":":"x"}}`, `-0.5e+7`, `{"#text":[{"@":1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		var x bytes.Buffer
		err := JSONToXML(&x, src, JSONToXMLOptions{})
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SyntaxError", err)
			}
			if x.Len() != 0 {
				t.Fatalf("output written on error")
			}
			if json.Valid(src) && !errors.Is(err, ErrTooDeep) && !strings.HasPrefix(se.Msg, "duplicate") {
				t.Fatalf("valid JSON rejected: %v", err)
			}
			return
		}
		if !json.Valid(src) {
			t.Fatalf("invalid JSON accepted, output %q", x.Bytes())
		}
		if err := wellFormed(x.Bytes()); err != nil {
			t.Fatalf("output not well-formed: %v\n%q", err, x.Bytes())
		}
		var j bytes.Buffer
		if err := XMLToJSON(&j, x.Bytes(), XMLToJSONOptions{Typed: true}); err != nil {
			// The XML can be one level deeper than the JSON.
			if !errors.Is(err, ErrTooDeep) {
				t.Fatalf("XMLToJSON rejects JSONToXML output %q: %v", x.Bytes(), err)
			}
			return
		}
		if !json.Valid(j.Bytes()) {
			t.Fatalf("invalid JSON output %q", j.Bytes())
		}
	})
}

// FuzzXMLToJSON checks that XMLToJSON never panics, writes valid JSON, and
// accepts only documents that encoding/xml also finds well-formed, with the
// same result as the encoding/xml based reference (see oracle_test.go).
func FuzzXMLToJSON(f *testing.F) {
	addGoldenSeeds(f, "testdata/golden/xml2json/*.xml")
	addGoldenSeeds(f, "testdata/golden/json2xml/*.xml")
	for _, s := range []string{
		`<a>x</a>`, `<a x="1" y='&lt;&#65;&#x42;'>t<b/>u<![CDATA[<>]]><!--c--><?p d?></a>`,
		`<?xml version="1.0"?><r xmlns:p="u"><p:a p:b="c"/></r>`, `<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>`,
		`<_x0031_ _x_="v"><_x005F_x/></_x0031_>`, "<a>\r\n\t</a>", `<a><b></a></b>`, `<a/><b/>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		var j bytes.Buffer
		err := XMLToJSON(&j, src, XMLToJSONOptions{Typed: true, ArrayPaths: []string{"a", "/a/b"}})
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SyntaxError", err)
			}
			if j.Len() != 0 {
				t.Fatalf("output written on error")
			}
			return
		}
		if !json.Valid(j.Bytes()) {
			t.Fatalf("invalid JSON output %q", j.Bytes())
		}
		if err := wellFormed(bytes.TrimPrefix(src, []byte("\uFEFF"))); err != nil {
			t.Fatalf("accepted XML that encoding/xml rejects: %v", err)
		}
		checkAgainstStd(t, src, XMLToJSONOptions{Typed: true, ArrayPaths: []string{"a", "/a/b"}})
	})
}
