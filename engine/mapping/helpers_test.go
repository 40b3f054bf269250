package mapping_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/mapping"
)

var updateGolden = flag.Bool("update-map", false, "rewrite the golden files of the mapping tests")

// The shipped templates.
const (
	profileTemplate  = "../../flows/fitbit/mappings/profile-contact.map.yaml"
	activityTemplate = "../../flows/fitbit/mappings/activity-interaction.map.yaml"
)

// inlineFile is the name the templates written in the tests compile as:
// their errors say testdata/t.map.yaml:line:col.
var inlineFile = filepath.Join("testdata", "t.map.yaml")

// contractEnv holds the variables the shipped templates read, with the
// defaults of CONTRACT.md.
var contractEnv = map[string]string{
	"MKC_SOURCE_SYSTEM_ID":     "STRIDE",
	"MKC_ID_ORIGIN":            "FITBIT",
	"MKC_COMMUNICATION_MEDIUM": "WEB",
	"MKC_INTERACTION_TYPE":     "WEBSITE_VISIT",
}

func contractLookup(name string) (string, bool) {
	v, ok := contractEnv[name]
	return v, ok
}

// The clock of the tests: the Timestamp of the Marketing Cloud contact sample.
var testClock = func() time.Time { return time.Date(2025, 11, 23, 0, 0, 0, 0, time.UTC) }

// result is what a run of a mapping gives.
type result struct {
	body        []byte
	contentType string
}

// loadFile compiles a template file.
func loadFile(t testing.TB, path string) *mapping.Mapping {
	t.Helper()
	m, err := mapping.CompileFile(path, nil, mapping.Options{})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return m
}

// compile compiles the content of a template file written in a test.
func compile(t testing.TB, src string) *mapping.Mapping {
	t.Helper()
	m, err := mapping.CompileFile(inlineFile, []byte(src), mapping.Options{})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return m
}

// compileError returns the errors of a template written in a test, or "".
func compileError(src string) string {
	_, err := mapping.CompileFile(inlineFile, []byte(src), mapping.Options{})
	if err == nil {
		return ""
	}
	return err.Error()
}

// runMap runs m on a body (JSON unless contentType says otherwise) with
// the contract's variables, the properties props and the test clock. It
// is safe to call from several goroutines.
func runMap(t testing.TB, m *mapping.Mapping, body []byte, contentType string, props map[string]any) (*result, error) {
	t.Helper()
	if contentType == "" {
		contentType = "application/json"
	}
	msg := flow.NewMessage(body, contentType)
	for k, v := range props {
		msg.Property[k] = v
	}
	env, secrets := m.Template.Vars()
	x, missing := flow.NewStandaloneExchange("m1", msg, env, secrets, contractLookup, testClock)
	if len(missing) > 0 {
		return &result{}, fmt.Errorf("variables not set: %v", missing)
	}
	out, ct, err := m.Run(x)
	return &result{body: out, contentType: ct}, err
}

// mapOne runs a template written in a test on a body and returns the result.
func mapOne(t *testing.T, src string, body string, props map[string]any) string {
	t.Helper()
	x, err := runMap(t, compile(t, src), []byte(body), "", props)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return string(x.body)
}

// mapFile runs a template file on a body and returns the result.
func mapFile(t *testing.T, path string, body string, props map[string]any) string {
	t.Helper()
	x, err := runMap(t, loadFile(t, path), []byte(body), "", props)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return string(x.body)
}

// mapFails runs a template written in a test on a body and returns the error.
func mapFails(t *testing.T, src string, body string, props map[string]any) string {
	t.Helper()
	_, err := runMap(t, compile(t, src), []byte(body), "", props)
	if err == nil {
		t.Fatal("want an error, the map succeeded")
	}
	return err.Error()
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// golden compares got with testdata/name (which ends with a newline for
// editors); -update-map rewrites it.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
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

func compactJSON(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func noError(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
