package mapping_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/stride-engine/stride/engine/mapping"
)

func compileFileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(mapping.FileSchema()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(mapping.FileSchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(mapping.FileSchemaID)
	if err != nil {
		t.Fatalf("the generated schema does not compile: %v", err)
	}
	return s
}

// templateJSON is a template file as the JSON value an editor validates
// (keys as text, as the YAML language server has them).
func templateJSON(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("not YAML: %v", err)
	}
	js, err := json.Marshal(stringKeys(v))
	if err != nil {
		t.Fatalf("yaml→json: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func stringKeys(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = stringKeys(e)
		}
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = stringKeys(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = stringKeys(e)
		}
	}
	return v
}

// TestShippedTemplatesMatchTheFileSchema: every *.map.yaml shipped with
// the flows, and the valid examples, compile and pass the editor schema;
// templates the compiler refuses for their shape fail it too.
func TestShippedTemplatesMatchTheFileSchema(t *testing.T) {
	schema := compileFileSchema(t)
	var valid []string
	err := filepath.WalkDir("../../flows", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".map.yaml") {
			valid = append(valid, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(valid) < 3 {
		t.Fatalf("found only %d shipped templates", len(valid))
	}
	for _, name := range []string{"notifications", "notifications-xml", "bad-quantifier", "missing-birthday"} {
		valid = append(valid, filepath.Join("testdata", name+".map.yaml"))
	}
	for _, f := range valid {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		abs, _ := filepath.Abs(f)
		if _, err := mapping.CompileFile(abs, data, mapping.Options{}); err != nil {
			t.Errorf("%s does not compile: %v", f, err)
		}
		if !bytes.HasPrefix(data, []byte("# yaml-language-server: $schema=")) && strings.HasPrefix(f, "../../flows") {
			t.Errorf("%s does not name its schema on its first line", f)
		}
		if err := schema.Validate(templateJSON(t, data)); err != nil {
			t.Errorf("%s: the compiler accepts it but the schema does not:\n%v", f, err)
		}
	}

	invalid := map[string]string{
		"typo":                  "template:\n  updates:\n    $fro_each: $[*]\n    $item: ${item.ownerId}\n",
		"item alone":            "template:\n  owner:\n    $item: ${item.ownerId}\n",
		"for_each without item": "template:\n  owners:\n    $for_each: $[*]\n",
		"then without if":       "template:\n  a:\n    $then: x\n",
		"unknown conversion":    "template:\n  a: {$value: '${json.a}', $convert: nmber}\n",
		"format without date":   "template:\n  a: {$value: '${json.a}', $format: dd.MM.yyyy}\n",
		"map_default alone":     "template:\n  a: {$value: '${json.a}', $map_default: x}\n",
		"value of a structure":  "template:\n  a: {$value: [1, 2]}\n",
		"unknown key":           "templat:\n  a: 1\n",
		"no template":           "output: json\n",
		"bad output":            "output: yaml\ntemplate: {a: 1}\n",
	}
	for name, src := range invalid {
		t.Run(name, func(t *testing.T) {
			_, compileErr := mapping.CompileFile(filepath.Join(t.TempDir(), "x.map.yaml"), []byte(src), mapping.Options{})
			if compileErr == nil {
				t.Errorf("the compiler accepts it")
			}
			if schema.Validate(templateJSON(t, []byte(src))) == nil {
				t.Errorf("the schema accepts it; the compiler says: %v", compileErr)
			}
		})
	}
}
