package flow_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/internal/schematest"
)

func flowFiles(t *testing.T, dirs ...string) []string {
	t.Helper()
	files, err := flow.FindFlowFiles(dirs...)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestSchemaAndLoaderAgree proves that the JSON Schema an editor uses and
// the loader accept the same files: every shipped flow and valid example
// passes both; every invalid example fails both.
func TestSchemaAndLoaderAgree(t *testing.T) {
	schema := compileFlowSchema(t)
	valid := flowFiles(t, "../../flows", "testdata/schema/valid")
	if len(valid) < 4 {
		t.Fatalf("found only %d valid flows", len(valid))
	}
	if _, err := flow.LoadPaths("testdata/schema/valid"); err != nil {
		t.Fatalf("loader rejects a valid example: %v", err)
	}
	if _, err := flow.LoadPaths("../../flows"); err != nil {
		t.Fatalf("loader rejects a shipped flow: %v", err)
	}
	for _, f := range valid {
		data, _ := os.ReadFile(f)
		inst, _ := yamlToJSON(t, data)
		if err := schema.Validate(inst); err != nil {
			t.Errorf("%s: the loader accepts it but the schema does not:\n%v", f, err)
		}
	}

	invalid, _ := filepath.Glob("testdata/schema/invalid/*.yaml")
	if len(invalid) < 15 {
		t.Fatalf("found only %d invalid examples", len(invalid))
	}
	for _, f := range invalid {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, _ := os.ReadFile(f)
			_, loadErr := flow.Load([]flow.Source{{Name: f, Data: data}})
			if loadErr == nil {
				t.Errorf("the loader accepts it")
			}
			inst, ok := yamlToJSON(t, data)
			if ok && schema.Validate(inst) == nil {
				t.Errorf("the schema accepts it; the loader says: %v", loadErr)
			}
		})
	}
}

// TestCheckedInSchemaIsCurrent keeps schemas/flow.schema.json in step with
// the registered kinds.
func TestCheckedInSchemaIsCurrent(t *testing.T) {
	onDisk, err := os.ReadFile("../../schemas/flow.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, flow.FlowSchema()) {
		t.Fatal("schemas/flow.schema.json is out of date: run `make schema`")
	}
}

func TestSchemaDescribesEveryKind(t *testing.T) {
	s := string(flow.FlowSchema())
	for _, k := range flow.StepKinds() {
		if !strings.Contains(s, `"step.`+k.Name+`"`) {
			t.Errorf("step kind %s is missing from the schema", k.Name)
		}
	}
	for _, k := range flow.TriggerKinds() {
		if !strings.Contains(s, `"`+k.Name+`": {`) {
			t.Errorf("trigger %s is missing from the schema", k.Name)
		}
	}
}

func compileFlowSchema(t *testing.T) *jsonschema.Schema {
	return schematest.Compile(t, flow.SchemaID, flow.FlowSchema())
}

// yamlToJSON converts a YAML flow to the JSON value an editor validates.
func yamlToJSON(t *testing.T, data []byte) (any, bool) { return schematest.YAMLAsJSON(t, data) }
