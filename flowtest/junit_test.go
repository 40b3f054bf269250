package flowtest

import (
	"bytes"
	"encoding/xml"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

type junitDoc struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Errors   int `xml:"errors,attr"`
	Suites   []struct {
		Name  string `xml:"name,attr"`
		Cases []struct {
			Name  string `xml:"name,attr"`
			Line  int    `xml:"line,attr"`
			Error *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func junitOf(t *testing.T, sum Summary) junitDoc {
	t.Helper()
	var b bytes.Buffer
	if err := WriteJUnit(&b, sum); err != nil {
		t.Fatal(err)
	}
	var doc junitDoc
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, b.String())
	}
	return doc
}

// TestJUnitCasesNotRun: when the flows do not load, every selected case
// is a testcase with an error naming the flows' errors.
func TestJUnitCasesNotRun(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"bad.yaml":      "flow: bad\ntrigger: {http: {path: /bad}}\nsteps:\n  - sett: {body: x}\n",
		"bad.test.yaml": "cases:\n  - name: one\n    request: {path: /bad}\n  - name: two\n    request: {path: /bad}\n  - name: other\n    request: {path: /bad}\n",
	})
	sum, _, _ := runDir(t, dir, Options{Run: regexp.MustCompile(`/(one|two)$`)})
	doc := junitOf(t, sum)
	if doc.Tests != 2 || doc.Errors != 2 || doc.Failures != 0 || len(doc.Suites) != 1 {
		t.Fatalf("%+v", doc)
	}
	s := doc.Suites[0]
	if s.Name != filepath.Join(dir, "bad.test.yaml") || len(s.Cases) != 2 || s.Cases[0].Name != "one" || s.Cases[1].Line != 4 {
		t.Fatalf("%+v", s)
	}
	e := s.Cases[0].Error
	if e == nil || !strings.HasPrefix(e.Message, "not run: the flows under") || !strings.Contains(e.Text, `bad.yaml:4:5: unknown step kind "sett"`) {
		t.Errorf("error %+v", e)
	}
}

// TestJUnitMissingPath: a PATH that does not exist is a suite with an
// error, so a CI report does not look green.
func TestJUnitMissingPath(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere")
	sum, _, _ := runDir(t, missing, Options{})
	doc := junitOf(t, sum)
	if doc.Errors != 1 || len(doc.Suites) != 1 || doc.Suites[0].Name != missing || len(doc.Suites[0].Cases) != 1 || doc.Suites[0].Cases[0].Error == nil ||
		!strings.Contains(doc.Suites[0].Cases[0].Error.Message, "nowhere") {
		t.Errorf("%+v", doc)
	}
}
