package mapping_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/stride-engine/stride/engine/mapping"
	"github.com/stride-engine/stride/internal/schematest"
)

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

func compileFileSchema(t *testing.T) *jsonschema.Schema {
	return schematest.Compile(t, mapping.FileSchemaID, mapping.FileSchema())
}

// templateJSON is a template file as the JSON value an editor validates.
func templateJSON(t *testing.T, data []byte) any {
	t.Helper()
	v, ok := schematest.YAMLAsJSON(t, data)
	if !ok {
		t.Fatal("not YAML")
	}
	return v
}
