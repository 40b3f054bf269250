package convert

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// xmlGoldenOptions are the XMLToJSON options used for the golden file
// testdata/golden/xml2json/NAME.xml.
var xmlGoldenOptions = map[string]XMLToJSONOptions{
	"datastore_messages": {Typed: true, ArrayPaths: []string{"message", "/messages/message/entry"}},
	"soap_sleep":         {Typed: true, ArrayPaths: []string{"s:stage"}},
}

// TestGolden converts testdata/golden/json2xml/NAME.json to XML and
// testdata/golden/xml2json/NAME.xml to JSON and compares the results byte
// for byte with NAME.xml and NAME.json there. The JSON is indented with
// json.Indent, which changes only whitespace, to keep the files readable.
// Run with -update to rewrite the expected files after reviewing a change.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/golden/json2xml/*.json")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no json2xml golden inputs: %v", err)
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := JSONToXML(&got, src, JSONToXMLOptions{}); err != nil {
				t.Fatal(err)
			}
			got.WriteByte('\n')
			checkWellFormed(t, got.Bytes())
			compareGolden(t, strings.TrimSuffix(in, ".json")+".xml", got.Bytes())
		})
	}
	inputs, err = filepath.Glob("testdata/golden/xml2json/*.xml")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no xml2json golden inputs: %v", err)
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			name := strings.TrimSuffix(filepath.Base(in), ".xml")
			opt, ok := xmlGoldenOptions[name]
			if !ok {
				t.Fatalf("no options for %s in xmlGoldenOptions", name)
			}
			var out bytes.Buffer
			if err := XMLToJSON(&out, src, opt); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := json.Indent(&got, out.Bytes(), "", "  "); err != nil {
				t.Fatalf("invalid JSON output: %v\n%s", err, out.Bytes())
			}
			got.WriteByte('\n')
			compareGolden(t, strings.TrimSuffix(in, ".xml")+".json", got.Bytes())
		})
	}
}

func compareGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run with -update to accept)\n got:\n%s\nwant:\n%s", file, got, want)
	}
}
