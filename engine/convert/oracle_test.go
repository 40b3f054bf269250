package convert

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// xmlToJSONStd is XMLToJSON with encoding/xml as the scanner: a reference
// implementation for the hand-written scanner. It reports attrSpace if an
// attribute value contains a literal tab or line end, which XML normalises
// to a space but encoding/xml does not.
func xmlToJSONStd(src []byte, opt XMLToJSONOptions) (out []byte, attrSpace bool, err error) {
	c := x2j{typed: opt.Typed}
	for _, p := range opt.ArrayPaths {
		if strings.HasPrefix(p, "/") {
			if c.absPaths == nil {
				c.absPaths = map[string]bool{}
			}
			c.absPaths[strings.TrimSuffix(p, "/")] = true
		} else if p != "" {
			if c.names == nil {
				c.names = map[string]bool{}
			}
			c.names[p] = true
		}
	}
	d := xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(src, []byte("\uFEFF"))))
	d.Strict = true
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			if err := c.endDocument(); err != nil {
				return nil, false, err
			}
			break
		}
		if err != nil {
			return nil, false, err
		}
		var serr *SyntaxError
		switch t := tok.(type) {
		case xml.StartElement:
			if serr = c.startElement([]byte(qname(t.Name))); serr != nil {
				break
			}
			for i, a := range t.Attr {
				for _, b := range t.Attr[:i] {
					if a.Name == b.Name {
						return nil, false, errors.New("duplicate attribute")
					}
				}
				if strings.ContainsAny(a.Value, "\t\n\r") {
					attrSpace = true
				}
				lo := len(c.text)
				c.text = append(c.text, a.Value...)
				c.attribute([]byte(qname(a.Name)), lo)
			}
		case xml.EndElement:
			serr = c.endElement([]byte(qname(t.Name)))
		case xml.CharData:
			serr = c.charData(t)
		case xml.Directive:
			return nil, false, errors.New("directive")
		}
		if serr != nil {
			return nil, false, serr
		}
	}
	root := &c.nodes[0]
	if !opt.DropRoot {
		c.out = append(c.out, '{')
		c.out = appendJSONString(c.out, root.key)
		c.out = append(c.out, ':')
	}
	if root.forced {
		c.out = append(c.out, '[')
	}
	c.value(0, 0)
	if root.forced {
		c.out = append(c.out, ']')
	}
	if !opt.DropRoot {
		c.out = append(c.out, '}')
	}
	return c.out, attrSpace, nil
}

// checkAgainstStd compares XMLToJSON with the encoding/xml reference on
// src: whatever XMLToJSON accepts, encoding/xml must accept with the same
// result.
func checkAgainstStd(t *testing.T, src []byte, opt XMLToJSONOptions) {
	t.Helper()
	var got bytes.Buffer
	err := XMLToJSON(&got, src, opt)
	want, attrSpace, stdErr := xmlToJSONStd(src, opt)
	if err != nil {
		return // stricter than encoding/xml is allowed; see TestScannerRejects
	}
	if stdErr != nil {
		t.Fatalf("XMLToJSON accepts %q, encoding/xml does not: %v", src, stdErr)
	}
	if !attrSpace && !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("XMLToJSON(%q)\n got  %s\n want %s (encoding/xml)", src, got.Bytes(), want)
	}
}

// TestScannerDifferential mutates realistic documents at random and
// compares the hand-written scanner with encoding/xml on each.
func TestScannerDifferential(t *testing.T) {
	var seeds [][]byte
	for _, pattern := range []string{"testdata/golden/xml2json/*.xml", "testdata/golden/json2xml/*.xml"} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			seeds = append(seeds, b)
		}
	}
	seeds = append(seeds, []byte(`<a x="1" y='&lt;&#65;&#x42;'>t<b/>u<![CDATA[<>]]><!--c--><?p d?>]</a>`))
	pieces := []string{"<", ">", "/>", "</", "&", ";", "&amp;", "&#x41;", "&#0;", "<![CDATA[", "]]>", "<!--", "-->",
		"<?", "?>", `"`, "'", "=", " ", "\r", "\r\n", "\t", "\x00", "\xff", "é", ":", "a:b", "_x0041_", "<a>", "</a>",
		"<!DOCTYPE", "x", "1", "]", "\uFFFE", "·", "-", "<b/>", ` c="d"`}
	r := rand.New(rand.NewPCG(3, 4))
	opts := []XMLToJSONOptions{{}, {Typed: true, ArrayPaths: []string{"message", "/messages/message/entry", "b"}}, {DropRoot: true}}
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for i := range n {
		doc := append([]byte(nil), seeds[r.IntN(len(seeds))]...)
		for range 1 + r.IntN(3) {
			p := r.IntN(len(doc) + 1)
			switch r.IntN(3) {
			case 0: // insert
				doc = append(doc[:p], append([]byte(pieces[r.IntN(len(pieces))]), doc[p:]...)...)
			case 1: // delete
				doc = append(doc[:p], doc[min(len(doc), p+1+r.IntN(4)):]...)
			case 2: // truncate
				doc = doc[:p]
			}
		}
		checkAgainstStd(t, doc, opts[i%len(opts)])
	}
	for _, s := range seeds {
		for _, opt := range opts {
			checkAgainstStd(t, s, opt)
		}
	}
}
