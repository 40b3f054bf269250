package steps_test

// Tests of the map step: its options, where it reads files from, where
// the result goes, and its errors in a flow. The template language itself
// is tested in engine/mapping.

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/flow"
)

var updateMapGolden = flag.Bool("update-map", false, "rewrite the golden files of the map tests")

const (
	mapDir = "testdata/map"
	// mapSamples holds the payload samples and the templates of the
	// language tests (engine/mapping's testdata).
	mapSamples = "../engine/mapping/testdata"
)

// mapFlowHeader declares the variables the shipped templates read, with
// the defaults of CONTRACT.md.
const mapFlowHeader = `flow: f
env:
  MKC_SOURCE_SYSTEM_ID: STRIDE
  MKC_ID_ORIGIN: FITBIT
  MKC_COMMUNICATION_MEDIUM: WEB
  MKC_INTERACTION_TYPE: WEBSITE_VISIT
trigger: {call: {}}
steps:
`

// The flow file of the map tests: written in testdata/map, so file: and
// schema: paths are relative to it. Steps start on line 9.
var mapFlowFile = filepath.Join(mapDir, "f.yaml")

// The clock of the map tests: the Timestamp of the Marketing Cloud contact sample.
var mapClock = func() time.Time { return time.Date(2025, 11, 23, 0, 0, 0, 0, time.UTC) }

// Templates named from the flow file in testdata/map.
const (
	profileTemplate = "../../../flows/fitbit/mappings/profile-contact.map.yaml"
	samplesFromFlow = "../../" + mapSamples
)

func loadMap(t testing.TB, steps string) *flow.FlowSet {
	t.Helper()
	set, err := flow.Load([]flow.Source{{Name: mapFlowFile, Data: []byte(mapFlowHeader + steps)}})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	set.Bind(func(string) (string, bool) { return "", false })
	return set
}

func mapLoadError(steps string) string {
	_, err := flow.Load([]flow.Source{{Name: mapFlowFile, Data: []byte(mapFlowHeader + steps)}})
	if err == nil {
		return ""
	}
	return err.Error()
}

func runMapFlow(t testing.TB, set *flow.FlowSet, body []byte, contentType string, props map[string]any) (*flow.Exchange, error) {
	t.Helper()
	if contentType == "" {
		contentType = "application/json"
	}
	msg := flow.NewMessage(body, contentType)
	for k, v := range props {
		msg.Property[k] = v
	}
	x := flow.NewExchange("m1", msg, set, mapClock)
	return x, set.Run(context.Background(), "f", x)
}

// readSample reads a payload sample.
func readSample(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(mapSamples, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// golden compares got with testdata/map/name (which ends with a newline
// for editors); -update-map rewrites it.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(mapDir, name)
	if *updateMapGolden {
		if err := os.WriteFile(path, append(append([]byte{}, got...), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update-map to create it)", err, t.Name())
	}
	if !bytes.Equal(append(append([]byte{}, got...), '\n'), want) {
		t.Errorf("result differs from %s\n got: %s\nwant: %s", path, got, bytes.TrimSuffix(want, []byte("\n")))
	}
}

func TestMapXMLOutput(t *testing.T) {
	set := loadMap(t, "  - map: {file: xml-output.map.yaml}\n")
	x, err := runMapFlow(t, set, readSample(t, "fitbit-profile.json"), "", nil)
	noError(t, err)
	if ct := x.Msg.ContentType(); ct != "application/xml" {
		t.Errorf("content type %q", ct)
	}
	golden(t, "xml-output.golden.xml", x.Msg.Body())

	// The step's options win over the file's.
	x, err = runMapFlow(t, loadMap(t, "  - map: {file: xml-output.map.yaml, root: Import}\n"), readSample(t, "fitbit-profile.json"), "", nil)
	noError(t, err)
	if !bytes.HasPrefix(x.Msg.Body(), []byte("<Import><Id/>")) {
		t.Errorf("root not overridden: %s", x.Msg.Body())
	}
	x, err = runMapFlow(t, loadMap(t, "  - map: {file: "+profileTemplate+", output: xml, root: ImportHeaders}\n"), readSample(t, "fitbit-profile-ada.json"), "", nil)
	noError(t, err)
	want := `<ImportHeaders><Id/><SourceSystemType>EXT</SourceSystemType><SourceSystemId>STRIDE</SourceSystemId><Contacts><Id>26FWFL</Id><IdOrigin>FITBIT</IdOrigin>` +
		`<Timestamp>/Date(1763856000000)/</Timestamp><FirstName>Ada</FirstName><LastName>Lovelace</LastName><FullName>Ada Lovelace</FullName><Country>GB</Country>` +
		`<City>London</City><DateOfBirth>/Date(410227200000)/</DateOfBirth></Contacts></ImportHeaders>`
	if string(x.Msg.Body()) != want {
		t.Errorf("\n got: %s\nwant: %s", x.Msg.Body(), want)
	}
}

func TestMapIntoProperty(t *testing.T) {
	set := loadMap(t, `  - map:
      into: property.import
      template: {steps: '${json.summary.steps}'}
`)
	x, err := runMapFlow(t, set, []byte(`{"summary": {"steps": 15720}}`), "", nil)
	noError(t, err)
	wantProp(t, x, "import", `{"steps":15720}`)
	if string(x.Msg.Body()) != `{"summary": {"steps": 15720}}` {
		t.Errorf("the body changed: %s", x.Msg.Body())
	}
}

// A failure names the flow and the step, then the target and the
// template's line (the rest of the wording is the language's, tested in
// engine/mapping).
func TestMapMissingValueNamesTargetAndTemplateLine(t *testing.T) {
	set := loadMap(t, "  - map: {file: "+samplesFromFlow+"/missing-birthday.map.yaml}\n")
	_, err := runMapFlow(t, set, []byte(`{"user": {"encodedId": "26FWFL", "fullName": "Ada Lovelace"}}`), "", nil)
	want := "f / map (testdata/map/f.yaml:9): map: Contacts[0].DateOfBirth (missing-birthday.map.yaml:8): ${json.user.dateOfBirth} has no value; " +
		"give $default or guard the field with $if if it may be missing"
	if err == nil || err.Error() != want {
		t.Errorf("\n got: %v\nwant: %s", err, want)
	}
}

// The step's schema (relative to the flow file) on an inline template.
func TestMapSchemaViolationNamesPaths(t *testing.T) {
	set := loadMap(t, `  - map:
      schema: ../../../schemas/mkc-import-headers.schema.json
      template: {Id: "", SourceSystemType: EXT, SourceSystemId: STRIDE, Contacts: [{Id: x, IdOrigin: FITBIT, Timestamp: '${json.when}', firstName: y}]}
`)
	_, err := runMapFlow(t, set, []byte(`{"when": "2025-11-22"}`), "", nil)
	if err == nil || !strings.Contains(err.Error(), "/Contacts/0/Timestamp: ") || !strings.Contains(err.Error(), "/Contacts/0/firstName: not allowed by the schema") {
		t.Errorf("inline with schema: %v", err)
	}
}

func TestMapLoadErrors(t *testing.T) {
	cases := []struct{ name, steps, want string }{
		{"undeclared env in the template file", "  - map: {file: undeclared-env.map.yaml}\n",
			`testdata/map/undeclared-env.map.yaml:2:17: in ${env.MKC_ID_ORIGN}: env.MKC_ID_ORIGN is not declared; add it under "env" at the top of the flow; did you mean "MKC_ID_ORIGIN"?`},
		{"bad schema file", "  - map: {file: bad-schema.map.yaml}\n",
			"testdata/map/bad-schema.map.yaml:1:9: map: schema: testdata/map/not-a-schema.json is not a valid JSON Schema"},
		{"schema not found", "  - map: {file: missing-schema.map.yaml}\n",
			"testdata/map/missing-schema.map.yaml:1:9: map: schema: file testdata/map/no-such.schema.json not found"},
		{"step schema not found", "  - map: {template: {a: 1}, schema: nope.json}\n",
			"testdata/map/f.yaml:9:29: map: schema: file testdata/map/nope.json not found"},
		{"template file not found", "  - map: {file: nope.map.yaml}\n",
			"testdata/map/f.yaml:9:11: map: template file testdata/map/nope.map.yaml not found"},
		{"unknown key in the file", "  - map: {file: unknown-key.map.yaml}\n",
			`testdata/map/unknown-key.map.yaml:1:1: map: unknown key "outptu"; did you mean "output"?`},
		{"file and template", "  - map: {file: typo.map.yaml, template: {a: 1}}\n",
			"testdata/map/f.yaml:9:5: map: give file or template, not both"},
		{"neither", "  - map: {output: xml}\n",
			"testdata/map/f.yaml:9:5: map: give the template: inline (template:) or in a file"},
		{"into", "  - map: {template: {a: 1}, into: header.x}\n",
			`testdata/map/f.yaml:9:29: map: into "header.x": write body or property.NAME`},
		{"root with json", "  - map: {template: {a: 1}, root: X}\n",
			`testdata/map/f.yaml:9:29: map: root "X" is the root element of output: xml`},
		{"empty template", "  - map: {template: }\n",
			"testdata/map/f.yaml:9:21: map: the template is empty"},
		{"output enum", "  - map: {template: {a: 1}, output: csv}\n",
			`output: "csv" is not one of json, xml`},
		// A template file's errors are positioned in it, named as the
		// flow names it.
		{"directive typo in a file", "  - map: {file: " + samplesFromFlow + "/typo.map.yaml}\n",
			filepath.Join(mapDir, samplesFromFlow, "typo.map.yaml") + ":3:5: map: unknown directive $fro_each; did you mean \"$for_each\"?"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := mapLoadError(c.steps)
			if !strings.Contains(e, c.want) {
				t.Errorf("\n got: %s\nwant: %s", e, c.want)
			}
		})
	}
}

// Every error of a template file is reported in one load.
func TestMapLoadReportsEveryError(t *testing.T) {
	e := mapLoadError(`  - map:
      template:
        a: {$fro_each: x}
        b: {$item: x}
        c: '${env.NOPE}'
`)
	for _, want := range []string{"f.yaml:11:13: map: unknown directive $fro_each", "f.yaml:12:13: map: $item without $for_each", "f.yaml:13:"} {
		if !strings.Contains(e, want) {
			t.Errorf("%q missing from\n%s", want, e)
		}
	}
}

// The example `stride steps map` prints loads, as a flow beside the
// shipped templates.
func TestMapExampleLoads(t *testing.T) {
	var example string
	for _, k := range flow.StepKinds() {
		if k.Name == "map" {
			example = k.Example
		}
	}
	if example == "" {
		t.Fatal("map is not registered or has no example")
	}
	src := mapFlowHeader + "  " + strings.ReplaceAll(example, "\n", "\n  ") + "\n"
	if _, err := flow.Load([]flow.Source{{Name: "../flows/fitbit/example.yaml", Data: []byte(src)}}); err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
}
