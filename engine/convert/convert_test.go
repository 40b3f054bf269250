package convert

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

func jsonToXML(t *testing.T, src string, opt JSONToXMLOptions) string {
	t.Helper()
	var b bytes.Buffer
	if err := JSONToXML(&b, []byte(src), opt); err != nil {
		t.Fatalf("JSONToXML(%s): %v", src, err)
	}
	return b.String()
}

func xmlToJSON(t *testing.T, src string, opt XMLToJSONOptions) string {
	t.Helper()
	var b bytes.Buffer
	if err := XMLToJSON(&b, []byte(src), opt); err != nil {
		t.Fatalf("XMLToJSON(%s): %v", src, err)
	}
	return b.String()
}

func TestJSONToXML(t *testing.T) {
	tests := []struct {
		name string
		in   string
		opt  JSONToXMLOptions
		want string
	}{
		// Root rule.
		{"single object member is root", `{"order":{"id":1}}`, JSONToXMLOptions{}, `<order><id>1</id></order>`},
		{"single scalar member is root", `{"a":"x"}`, JSONToXMLOptions{}, `<a>x</a>`},
		{"single null member is root", `{"a":null}`, JSONToXMLOptions{}, `<a/>`},
		{"several members wrapped", `{"a":1,"b":2}`, JSONToXMLOptions{}, `<root><a>1</a><b>2</b></root>`},
		{"several object members wrapped", `{"a":{"x":1},"b":{"y":2}}`, JSONToXMLOptions{}, `<root><a><x>1</x></a><b><y>2</y></b></root>`},
		{"single array member wrapped", `{"a":[1,2]}`, JSONToXMLOptions{}, `<root><a>1</a><a>2</a></root>`},
		{"single attribute member wrapped", `{"@id":"7"}`, JSONToXMLOptions{}, `<root id="7"/>`},
		{"single #text member wrapped", `{"#text":"t"}`, JSONToXMLOptions{}, `<root>t</root>`},
		{"attribute after wrapped members", `{"a":1,"@id":"7"}`, JSONToXMLOptions{}, `<root id="7"><a>1</a></root>`},
		{"empty object", `{}`, JSONToXMLOptions{}, `<root/>`},
		{"top-level array", `[1,"two",null]`, JSONToXMLOptions{}, `<root><item>1</item><item>two</item><item/></root>`},
		{"top-level empty array", `[]`, JSONToXMLOptions{}, `<root/>`},
		{"top-level scalar", ` "s" `, JSONToXMLOptions{}, `<root>s</root>`},
		{"top-level number", `-1.5e3`, JSONToXMLOptions{}, `<root>-1.5e3</root>`},
		{"explicit root", `{"a":{"b":1}}`, JSONToXMLOptions{Root: "Envelope"}, `<Envelope><a><b>1</b></a></Envelope>`},
		{"explicit root array", `[1]`, JSONToXMLOptions{Root: "list", Item: "entry"}, `<list><entry>1</entry></list>`},
		{"explicit root encoded", `1`, JSONToXMLOptions{Root: "my root"}, `<my_x0020_root>1</my_x0020_root>`},
		{"declaration", `{"a":1}`, JSONToXMLOptions{Declaration: true}, `<?xml version="1.0" encoding="UTF-8"?>` + "\n<a>1</a>"},

		// Arrays.
		{"array repeats key", `{"r":{"k":[1,2,3]}}`, JSONToXMLOptions{}, `<r><k>1</k><k>2</k><k>3</k></r>`},
		{"empty array writes nothing", `{"r":{"k":[],"x":1}}`, JSONToXMLOptions{}, `<r><x>1</x></r>`},
		{"array of objects", `{"r":{"k":[{"a":1},{"a":2}]}}`, JSONToXMLOptions{}, `<r><k><a>1</a></k><k><a>2</a></k></r>`},
		{"nested arrays", `{"r":{"k":[1,[2,3],[]]}}`, JSONToXMLOptions{}, `<r><k>1</k><k><item>2</item><item>3</item></k><k/></r>`},
		{"nested arrays custom item", `{"r":{"k":[[[1]]]}}`, JSONToXMLOptions{Item: "i"}, `<r><k><i><i>1</i></i></k></r>`},
		{"top-level nested arrays", `[[1,2],[]]`, JSONToXMLOptions{}, `<root><item><item>1</item><item>2</item></item><item/></root>`},

		// Scalars.
		{"numbers verbatim", `{"r":{"a":1e3,"b":0.1000,"c":-0,"d":12345678901234567890123}}`, JSONToXMLOptions{}, `<r><a>1e3</a><b>0.1000</b><c>-0</c><d>12345678901234567890123</d></r>`},
		{"booleans", `{"r":{"t":true,"f":false}}`, JSONToXMLOptions{}, `<r><t>true</t><f>false</f></r>`},
		{"empty string", `{"r":{"s":""}}`, JSONToXMLOptions{}, `<r><s/></r>`},
		{"empty object member", `{"r":{"o":{}}}`, JSONToXMLOptions{}, `<r><o/></r>`},
		{"text escapes", `{"s":"a<b>&c\"d'e"}`, JSONToXMLOptions{}, `<s>a&lt;b&gt;&amp;c"d'e</s>`},
		{"json escapes", `{"s":"\u0041\n\t\r\/\\\u00e9\ud83d\ude00"}`, JSONToXMLOptions{}, "<s>A\n\t&#xD;/\\é😀</s>"},
		{"invalid xml chars", `{"s":"a\u0000b\u001fc\ufffed\ud800e"}`, JSONToXMLOptions{}, "<s>a\uFFFDb\uFFFDc\uFFFDd\uFFFDe</s>"},
		{"invalid utf8", "{\"s\":\"a\xffb\"}", JSONToXMLOptions{}, "<s>a\uFFFDb</s>"},
		{"unicode", `{"s":"grüße 名前 🏃"}`, JSONToXMLOptions{}, `<s>grüße 名前 🏃</s>`},
		{"C1 and DEL kept", "{\"s\":\"\u0085\x7f\"}", JSONToXMLOptions{}, "<s>\u0085\x7f</s>"},

		// Attributes and #text.
		{"attributes", `{"e":{"@id":"1","@n":2,"@b":true,"@z":null,"x":"y"}}`, JSONToXMLOptions{}, `<e id="1" n="2" b="true" z=""><x>y</x></e>`},
		{"attribute only", `{"e":{"@id":"1"}}`, JSONToXMLOptions{}, `<e id="1"/>`},
		{"early and late attributes", `{"e":{"@a":"1","x":2,"@b":"3"}}`, JSONToXMLOptions{}, `<e a="1" b="3"><x>2</x></e>`},
		{"late attribute", `{"e":{"x":{"y":1},"@id":"1","z":2,"@k":"v"}}`, JSONToXMLOptions{}, `<e id="1" k="v"><x><y>1</y></x><z>2</z></e>`},
		{"nested late attributes", `{"e":{"x":{"y":1,"@a":"1"},"@b":"2"}}`, JSONToXMLOptions{}, `<e b="2"><x a="1"><y>1</y></x></e>`},
		{"attribute escapes", `{"e":{"@a":"<\"&'>\t\n\r"}}`, JSONToXMLOptions{}, `<e a="&lt;&quot;&amp;'&gt;&#x9;&#xA;&#xD;"/>`},
		{"text and attribute", `{"e":{"@u":"kg","#text":72.5}}`, JSONToXMLOptions{}, `<e u="kg">72.5</e>`},
		{"mixed text", `{"p":{"#text":"a","b":"x","#text ":"no","#text":"c"}}`, JSONToXMLOptions{}, `<p>a<b>x</b><_x0023_text_x0020_>no</_x0023_text_x0020_>c</p>`},
		{"null text", `{"e":{"@a":"1","#text":null}}`, JSONToXMLOptions{}, `<e a="1"/>`},
		{"@ key with object is element", `{"e":{"@o":{"x":1},"@a":[1,2]}}`, JSONToXMLOptions{}, `<e><_x0040_o><x>1</x></_x0040_o><_x0040_a>1</_x0040_a><_x0040_a>2</_x0040_a></e>`},
		{"#text with object is element", `{"e":{"#text":{"x":1}}}`, JSONToXMLOptions{}, `<e><_x0023_text><x>1</x></_x0023_text></e>`},
		{"empty attribute name", `{"e":{"@":"v"}}`, JSONToXMLOptions{}, `<e _x_="v"/>`},
		{"encoded attribute name", `{"e":{"@a b":"v","@xmlns:p":"urn:p"}}`, JSONToXMLOptions{}, `<e a_x0020_b="v" xmlns:p="urn:p"/>`},

		// Names.
		{"digit start", `{"1st":1}`, JSONToXMLOptions{}, `<_x0031_st>1</_x0031_st>`},
		{"space", `{"a b":1}`, JSONToXMLOptions{}, `<a_x0020_b>1</a_x0020_b>`},
		{"umlaut kept", `{"ü":1}`, JSONToXMLOptions{}, `<ü>1</ü>`},
		{"euro escaped", `{"€":1}`, JSONToXMLOptions{}, `<_x20AC_>1</_x20AC_>`},
		{"astral escaped", `{"a😀":1}`, JSONToXMLOptions{}, `<a_x1F600_>1</a_x1F600_>`},
		{"empty key", `{"":1}`, JSONToXMLOptions{}, `<_x_>1</_x_>`},
		{"literal escape", `{"_x0041_":1}`, JSONToXMLOptions{}, `<_x005F_x0041_>1</_x005F_x0041_>`},
		{"literal _x", `{"max_x":1}`, JSONToXMLOptions{}, `<max_x005F_x>1</max_x005F_x>`},
		{"literal _x_", `{"_x_":1}`, JSONToXMLOptions{}, `<_x005F_x_>1</_x005F_x_>`},
		{"underscore kept", `{"_a_b_":1}`, JSONToXMLOptions{}, `<_a_b_>1</_a_b_>`},
		{"dash dot start", `{"-a":{".b":1}}`, JSONToXMLOptions{}, `<_x002D_a><_x002E_b>1</_x002E_b></_x002D_a>`},
		{"dash dot inside", `{"a-b.c":1}`, JSONToXMLOptions{}, `<a-b.c>1</a-b.c>`},
		{"qname kept", `{"ns:a":1}`, JSONToXMLOptions{}, `<ns:a>1</ns:a>`},
		{"qname local digit", `{"ns:1":1}`, JSONToXMLOptions{}, `<ns:_x0031_>1</ns:_x0031_>`},
		{"colons escaped", `{"r":{":a":1,"a:":2,"a:b:c":3}}`, JSONToXMLOptions{}, `<r><_x003A_a>1</_x003A_a><a_x003A_>2</a_x003A_><a_x003A_b_x003A_c>3</a_x003A_b_x003A_c></r>`},
		{"escaped key chars", `{"a\u0000\"b":1}`, JSONToXMLOptions{}, `<a_x0000__x0022_b>1</a_x0000__x0022_b>`},
		{"key order kept", `{"r":{"z":1,"a":2,"m":3}}`, JSONToXMLOptions{}, `<r><z>1</z><a>2</a><m>3</m></r>`},
		{"duplicate keys repeat", `{"r":{"a":1,"a":2}}`, JSONToXMLOptions{}, `<r><a>1</a><a>2</a></r>`},
		{"whitespace", " \t\n{ \"r\" : { \"a\" : [ 1 , 2 ] } } \r\n", JSONToXMLOptions{}, `<r><a>1</a><a>2</a></r>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := jsonToXML(t, tt.in, tt.opt)
			if got != tt.want {
				t.Errorf("JSONToXML(%s)\n got  %s\n want %s", tt.in, got, tt.want)
			}
			checkWellFormed(t, []byte(got))
		})
	}
}

func TestJSONToXMLAppends(t *testing.T) {
	b := bytes.NewBufferString("prefix:")
	if err := JSONToXML(b, []byte(`{"a":1}`), JSONToXMLOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := JSONToXML(b, []byte(`{"a":1`), JSONToXMLOptions{}); err == nil {
		t.Fatal("no error for truncated input")
	}
	if got, want := b.String(), "prefix:<a>1</a>"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestXMLToJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		opt  XMLToJSONOptions
		want string
	}{
		{"plain value", `<a>x</a>`, XMLToJSONOptions{}, `{"a":"x"}`},
		{"empty element", `<a/>`, XMLToJSONOptions{}, `{"a":""}`},
		{"empty element pair", `<a></a>`, XMLToJSONOptions{}, `{"a":""}`},
		{"drop root", `<a><b>1</b></a>`, XMLToJSONOptions{DropRoot: true}, `{"b":"1"}`},
		{"drop root scalar", `<a>1</a>`, XMLToJSONOptions{DropRoot: true, Typed: true}, `1`},
		{"children", `<r><a>1</a><b>2</b></r>`, XMLToJSONOptions{}, `{"r":{"a":"1","b":"2"}}`},
		{"repeated siblings", `<r><a>1</a><b/><a>2</a><a>3</a></r>`, XMLToJSONOptions{}, `{"r":{"a":["1","2","3"],"b":""}}`},
		{"many repeated siblings", "<r>" + strings.Repeat("<a>1</a><b>2</b>", 20) + "<c/></r>", XMLToJSONOptions{},
			`{"r":{"a":[` + strings.Repeat(`"1",`, 19) + `"1"],"b":[` + strings.Repeat(`"2",`, 19) + `"2"],"c":""}}`},
		{"key order first appearance", `<r><z/><a/><z/><m/></r>`, XMLToJSONOptions{}, `{"r":{"z":["",""],"a":"","m":""}}`},
		{"attributes", `<e id="1" n='2'><x>y</x></e>`, XMLToJSONOptions{}, `{"e":{"@id":"1","@n":"2","x":"y"}}`},
		{"attribute only", `<e id="1"/>`, XMLToJSONOptions{}, `{"e":{"@id":"1"}}`},
		{"text with attribute", `<w u="kg">72.5</w>`, XMLToJSONOptions{Typed: true}, `{"w":{"@u":"kg","#text":72.5}}`},
		{"whitespace text with attribute kept", `<w u="kg"> </w>`, XMLToJSONOptions{}, `{"w":{"@u":"kg","#text":" "}}`},
		{"whitespace text kept", `<w>  </w>`, XMLToJSONOptions{}, `{"w":"  "}`},
		{"mixed content", "<p>\n  a <b>x</b>\n  <c/> c\n</p>", XMLToJSONOptions{}, `{"p":{"#text":"\n  a  c\n","b":"x","c":""}}`},
		{"mixed content text after", "<p><b>x</b>tail</p>", XMLToJSONOptions{}, `{"p":{"b":"x","#text":"tail"}}`},
		{"indentation ignored", "<r>\n  <a>1</a>\n  <a>2</a>\n</r>\n", XMLToJSONOptions{}, `{"r":{"a":["1","2"]}}`},
		{"cdata", `<a><![CDATA[x<y>&]]>z</a>`, XMLToJSONOptions{}, `{"a":"x<y>&z"}`},
		{"entities", `<a b="&lt;&quot;&apos;&#x9;">&amp;&#65;&#x1F600;&gt;</a>`, XMLToJSONOptions{}, `{"a":{"@b":"<\"'\t","#text":"&A😀>"}}`},
		{"comments and PIs dropped", `<?xml version="1.0" encoding="UTF-8"?><!--c--><?pi x?><a><!--c-->x<?pi y?>y</a><!--c-->`, XMLToJSONOptions{}, `{"a":"xy"}`},
		{"line endings", "<a>x\r\ny\rz&#xD;</a>", XMLToJSONOptions{}, `{"a":"x\ny\nz\r"}`},
		{"json escapes", "<a>\"\\\t\u0085\u2028</a>", XMLToJSONOptions{}, "{\"a\":\"\\\"\\\\\\t\u0085\\u2028\"}"}, // U+2028 escaped: safe inside a script
		{"namespaces as written", `<ns:a xmlns:ns="urn:x" xmlns="urn:d"><ns:b ns:c="1">v</ns:b><d/></ns:a>`, XMLToJSONOptions{},
			`{"ns:a":{"@xmlns:ns":"urn:x","@xmlns":"urn:d","ns:b":{"@ns:c":"1","#text":"v"},"d":""}}`},
		{"decoded names", `<_x0031_st a_x0020_b="1"><_x_>2</_x_><_x005F_x0041_/><_x005f_x/><x_y/><_xZZZZ_/><_x110000_/></_x0031_st>`, XMLToJSONOptions{},
			`{"1st":{"@a b":"1","":"2","_x0041_":"","_x":"","x_y":"","_xZZZZ_":"","_x110000_":""}}`},
		{"colliding keys grouped", `<r _x0040_a="0" a="1"><_x0040_a>2</_x0040_a><_x0023_text>3</_x0023_text>t</r>`, XMLToJSONOptions{},
			`{"r":{"@@a":"0","@a":["1","2"],"#text":["3","t"]}}`},
		{"bom", "\uFEFF<a>1</a>", XMLToJSONOptions{}, `{"a":"1"}`},
		{"attribute whitespace normalised", "<a b=\"x\ty\r\nz\n&#xA;&#x9;&#xD;\"/>", XMLToJSONOptions{}, `{"a":{"@b":"x y z \n\t\r"}}`},
		{"quotes in attributes", `<a b='"' c="'"/>`, XMLToJSONOptions{}, `{"a":{"@b":"\"","@c":"'"}}`},
		{"pi with empty data", `<a><?pi?>x</a>`, XMLToJSONOptions{}, `{"a":"x"}`},
		{"comment with dash", `<a><!-- - -->x</a>`, XMLToJSONOptions{}, `{"a":"x"}`},
		{"end tag with space", "<a>x</a \n>", XMLToJSONOptions{}, `{"a":"x"}`},
		{"char refs with zeros", `<a>&#x0041;&#0066;</a>`, XMLToJSONOptions{}, `{"a":"AB"}`},
		{"stray ] in text", `<a>]]</a>`, XMLToJSONOptions{}, `{"a":"]]"}`},
		{"cdata line ends", "<a><![CDATA[x\r\ny\rz]]></a>", XMLToJSONOptions{}, `{"a":"x\ny\nz"}`},

		// Typed.
		{"typed values", `<r><i>12</i><f>-1.5</f><e>1E+2</e><t>true</t><F>false</F><z>0</z><nz>-0</nz></r>`, XMLToJSONOptions{Typed: true},
			`{"r":{"i":12,"f":-1.5,"e":1E+2,"t":true,"F":false,"z":0,"nz":-0}}`},
		{"typed rejects", `<r><a>007</a><b>1e400</b><c>NaN</c><d>+1</d><e>.5</e><f> 1</f><g>True</g><h>1.</h><i>0x1</i><j>Infinity</j><k>-</k><l></l></r>`, XMLToJSONOptions{Typed: true},
			`{"r":{"a":"007","b":"1e400","c":"NaN","d":"+1","e":".5","f":" 1","g":"True","h":"1.","i":"0x1","j":"Infinity","k":"-","l":""}}`},
		{"typed attributes", `<r n="5" s="05"/>`, XMLToJSONOptions{Typed: true}, `{"r":{"@n":5,"@s":"05"}}`},
		{"untyped", `<r><i>12</i><t>true</t></r>`, XMLToJSONOptions{}, `{"r":{"i":"12","t":"true"}}`},

		// ArrayPaths.
		{"array path absolute", `<r><a><b>1</b></a><c><b>2</b></c></r>`, XMLToJSONOptions{ArrayPaths: []string{"/r/a/b"}},
			`{"r":{"a":{"b":["1"]},"c":{"b":"2"}}}`},
		{"array path bare", `<r><a><b>1</b></a><c><b>2</b></c></r>`, XMLToJSONOptions{ArrayPaths: []string{"b"}},
			`{"r":{"a":{"b":["1"]},"c":{"b":["2"]}}}`},
		{"array path several", `<r><b>1</b><b>2</b></r>`, XMLToJSONOptions{ArrayPaths: []string{"/r/b/"}}, `{"r":{"b":["1","2"]}}`},
		{"array path root", `<r><b>1</b></r>`, XMLToJSONOptions{ArrayPaths: []string{"/r"}}, `{"r":[{"b":"1"}]}`},
		{"array path prefixed", `<r xmlns:p="u"><p:b>1</p:b></r>`, XMLToJSONOptions{ArrayPaths: []string{"p:b"}}, `{"r":{"@xmlns:p":"u","p:b":["1"]}}`},
		{"array path miss", `<r><b>1</b></r>`, XMLToJSONOptions{ArrayPaths: []string{"/b", "/x/r/b", "r/b", ""}}, `{"r":{"b":"1"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := xmlToJSON(t, tt.in, tt.opt)
			if got != tt.want {
				t.Errorf("XMLToJSON(%s)\n got  %s\n want %s", tt.in, got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("invalid JSON %s", got)
			}
		})
	}
}

// TestNames checks that key names survive JSON → XML → JSON exactly.
func TestNames(t *testing.T) {
	keys := []string{
		"", "a", "1st", "a b", "ü", "_x0041_", "_x0041 ", "_x", "x_", "_x_", "__x", "_x005F_",
		"_x00410_", "_x1F600_", "a:b", ":", "a:", ":a", "a:b:c", "ns:1", "-", ".", "@", "#text",
		"\u0000", "\t\n", "😀", "名前", "€uro", "é", "\u0301", "a\u0301", "_X0041_", "a\"b",
		"xml", "A_xFFFF_", "_x_x_", "\uFFFD", "·", "a·", "\u200c",
	}
	for _, k := range keys {
		name := string(appendName(nil, []byte(k)))
		if !isXMLName(name) {
			t.Errorf("appendName(%q) = %q: not an XML name", k, name)
		}
		if got := decodeName(name); got != k {
			t.Errorf("decodeName(appendName(%q) = %q) = %q", k, name, got)
		}
		kj, _ := json.Marshal(k)
		// As an element (an object value, so that "@…" and "#text" are
		// elements too) and as an attribute.
		src := `{"r":{` + string(kj) + `:{"z":"v"},"@` + string(kj[1:]) + `:"w"}}`
		x := jsonToXML(t, src, JSONToXMLOptions{})
		if got := xmlToJSON(t, x, XMLToJSONOptions{}); got != `{"r":{"@`+string(kj[1:])+`:"w",`+string(kj)+`:{"z":"v"}}}` {
			t.Errorf("key %q: JSON → %s → %s", k, x, got)
		}
	}
}

// isXMLName reports whether encoding/xml accepts s as an element name.
func isXMLName(s string) bool {
	d := xml.NewDecoder(strings.NewReader("<" + s + "/>"))
	tok, err := d.RawToken()
	if err != nil {
		return false
	}
	se, ok := tok.(xml.StartElement)
	return ok && qname(se.Name) == s
}

func TestNameTable(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	for i := 1; i < len(nameRanges); i++ {
		if nameRanges[i].lo <= nameRanges[i-1].hi {
			t.Fatalf("nameRanges not sorted at %d", i)
		}
	}
	// Every code point, alone and after "a", must be classified as
	// encoding/xml does (gen_names.go also intersects with XML 1.0 5th
	// edition, which removes nothing encoding/xml accepts).
	for r := rune(0x20); r <= 0x10FFFF; r += 1 + r/0x4000 {
		if 0xD800 <= r && r <= 0xDFFF || r == ':' {
			continue
		}
		s := string(r)
		wantStart, wantChar := isXMLName(s), isXMLName("a"+s)
		cl := classOf(r)
		if (cl == nameStart) != wantStart || (cl != 0) != wantChar {
			t.Errorf("classOf(%U) = %d, encoding/xml: start %v, char %v", r, cl, wantStart, wantChar)
		}
	}
}

func TestErrors(t *testing.T) {
	deepJSON := strings.Repeat("[", 100000)
	okDeepJSON := strings.Repeat(`{"a":`, MaxDepth) + "1" + strings.Repeat("}", MaxDepth)
	tooDeepJSON := strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1)
	jsonTests := []struct {
		in     string
		offset int64
		is     error
	}{
		{"", 0, nil},
		{"   ", 3, nil},
		{`{"a":1`, 6, nil},
		{`{"a":1,}`, 7, nil},
		{`{"a" 1}`, 5, nil},
		{`{a:1}`, 1, nil},
		{`[1,]`, 3, nil},
		{`[1 2]`, 3, nil},
		{`{"a":"b}`, 8, nil},
		{`{"a":"\x"}`, 7, nil},
		{`{"a":"\u12"}`, 8, nil},
		{"{\"a\":\"\n\"}", 6, nil},
		{`{"a":01}`, 6, nil},
		{`{"a":1.}`, 7, nil},
		{`{"a":-}`, 6, nil},
		{`{"a":1e}`, 7, nil},
		{`{"a":tru}`, 5, nil},
		{`{"a":nul`, 5, nil},
		{`{"a":1} x`, 8, nil},
		{`{"a":1}}`, 7, nil},
		{`{"a":}`, 5, nil},
		{`{"a":`, 5, nil},
		{`{"a"`, 4, nil},
		{`{"r":{"@a":1,"@a":2}}`, 13, nil},
		{`{"r":{"x":1,"@a":1,"b":2,"@a":2}}`, 25, nil},
		{`'a'`, 0, nil},
		{"\uFEFF{}", 0, nil},
		{deepJSON, MaxDepth, ErrTooDeep},
		{tooDeepJSON, 5 * MaxDepth, ErrTooDeep},
	}
	for _, tt := range jsonTests {
		var b bytes.Buffer
		err := JSONToXML(&b, []byte(tt.in), JSONToXMLOptions{})
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("JSONToXML(%.40q) = %v, want *SyntaxError", tt.in, err)
			continue
		}
		if se.Offset != tt.offset || se.Format != "json" || tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("JSONToXML(%.40q) = %v (offset %d), want offset %d, errors.Is %v", tt.in, err, se.Offset, tt.offset, tt.is)
		}
		if b.Len() != 0 {
			t.Errorf("JSONToXML(%.40q) wrote %q on error", tt.in, b.String())
		}
	}
	if x := jsonToXML(t, okDeepJSON, JSONToXMLOptions{}); !strings.HasSuffix(x, "1"+strings.Repeat("</a>", MaxDepth)) {
		t.Errorf("depth %d not accepted", MaxDepth)
	}

	okDeepXML := strings.Repeat("<a>", MaxDepth) + strings.Repeat("</a>", MaxDepth)
	xmlTests := []struct {
		name string
		in   string
		is   error
		msg  string
	}{
		{"billion laughs", `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol9;</lolz>`, ErrDoctype, "DOCTYPE"},
		{"external entity", `<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>`, ErrDoctype, "DOCTYPE"},
		{"external dtd", `<!DOCTYPE foo SYSTEM "http://example.com/foo.dtd"><foo/>`, ErrDoctype, "DOCTYPE"},
		{"doctype after root", `<foo/><!DOCTYPE foo>`, ErrDoctype, "DOCTYPE"},
		{"undeclared entity", `<foo>&xxe;</foo>`, nil, "entity"},
		{"too deep", strings.Repeat("<a>", 100000), ErrTooDeep, "nesting"},
		{"too deep closed", strings.Repeat("<a>", MaxDepth+1) + strings.Repeat("</a>", MaxDepth+1), ErrTooDeep, "nesting"},
		{"empty", ``, nil, "no root"},
		{"only prolog", `<?xml version="1.0"?><!-- c -->`, nil, "no root"},
		{"truncated", `<a><b>x</b>`, nil, "not closed"},
		{"truncated tag", `<a><b`, nil, "EOF"},
		{"mismatched", `<a></b>`, nil, "closed by"},
		{"two roots", `<a/><b/>`, nil, "root"},
		{"text outside", `<a/>x`, nil, "outside"},
		{"text before", `x<a/>`, nil, "outside"},
		{"duplicate attribute", `<a x="1" x="2"/>`, nil, "duplicate"},
		{"unquoted attribute", `<a x=1/>`, nil, "quoted"},
		{"lt in attribute", `<a x="<"/>`, nil, "<"},
		{"bad char", "<a>\x00</a>", nil, "character"},
		{"bad utf8", "<a>\xff</a>", nil, "UTF-8"},
		{"bad name", `<1a/>`, nil, "name"},
		{"stray end", `</a>`, nil, "end"},
		{"unsupported encoding", `<?xml version="1.0" encoding="ISO-8859-1"?><a/>`, nil, "encoding"},
		{"comment dashes", `<a><!-- a -- b --></a>`, nil, "--"},
		{"cdata end in text", `<a>]]></a>`, nil, "]]>"},
		{"bad reference", `<a>&#0;</a>`, nil, "character"},
		{"bad markup", `<a><!ELEMENT a ANY></a>`, nil, "<!ELEMENT"},
		{"attributes without space", `<a x="1"y="2"/>`, nil, "whitespace"},
		{"pi without space", `<a><?pi-x?></a><?target"x"?>`, nil, "processing instruction"},
		{"declaration not at start", ` <?xml version="1.0"?><a/>`, nil, "declaration"},
		{"xml 1.1", `<?xml version="1.1"?><a/>`, nil, "version"},
		{"two colons", `<a:b:c/>`, nil, "colon"},
		{"unterminated comment", `<a><!-- x </a>`, nil, "-->"},
		{"comment ending in ---", `<a><!-- x ---></a>`, nil, "--"},
		{"unterminated cdata", `<a><![CDATA[ x </a>`, nil, "]]>"},
		{"cdata outside root", `<a/><![CDATA[x]]>`, nil, "outside"},
		{"lone ampersand", `<a>&</a>`, nil, "entity"},
		{"ref out of range", `<a>&#x110000;</a>`, nil, "entity"},
		{"ref surrogate", `<a>&#xD800;</a>`, nil, "entity"},
		{"U+FFFE", "<a>￾</a>", nil, "character"},
	}
	for _, tt := range xmlTests {
		var b bytes.Buffer
		err := XMLToJSON(&b, []byte(tt.in), XMLToJSONOptions{})
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%s: XMLToJSON = %v, want *SyntaxError", tt.name, err)
			continue
		}
		if se.Format != "xml" || tt.is != nil && !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: XMLToJSON = %v, want errors.Is %v, message containing %q", tt.name, err, tt.is, tt.msg)
		}
		if b.Len() != 0 {
			t.Errorf("%s: wrote %q on error", tt.name, b.String())
		}
	}
	if j := xmlToJSON(t, okDeepXML, XMLToJSONOptions{}); !strings.HasSuffix(j, `""`+strings.Repeat("}", MaxDepth)) {
		t.Errorf("depth %d not accepted: %.80s", MaxDepth, j)
	}
}

// checkWellFormed fails t unless b is one well-formed XML element.
func checkWellFormed(t testing.TB, b []byte) {
	t.Helper()
	if err := wellFormed(b); err != nil {
		t.Fatalf("output not well-formed: %v\n%q", err, b)
	}
}

func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	roots, depth := 0, 0
	for {
		tok, err := d.Token() // Token checks that tags match.
		if err == io.EOF {
			if roots != 1 {
				return errors.New("not exactly one root element")
			}
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
			seen := map[xml.Name]bool{}
			for _, a := range t.Attr {
				if seen[a.Name] {
					return errors.New("duplicate attribute " + a.Name.Local)
				}
				seen[a.Name] = true
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return errors.New("text outside root")
			}
		case xml.Directive:
			return errors.New("directive in output")
		}
	}
}
