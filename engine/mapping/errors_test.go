package mapping_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stride-engine/stride/engine/mapping"
)

// Errors: at run time they name the target and the template's line; at
// load, the template's file:line:col.

func TestMissingValueNamesTargetAndTemplateLine(t *testing.T) {
	mp := loadFile(t, "testdata/missing-birthday.map.yaml")
	_, err := runMap(t, mp, []byte(`{"user": {"encodedId": "26FWFL", "fullName": "Ada Lovelace"}}`), "", nil)
	want := "map: Contacts[0].DateOfBirth (missing-birthday.map.yaml:8): ${json.user.dateOfBirth} has no value; " +
		"give $default or guard the field with $if if it may be missing"
	if err == nil || err.Error() != want {
		t.Errorf("\n got: %v\nwant: %s", err, want)
	}

	// A missing parent object is a missing value too.
	_, err = runMap(t, mp, []byte(`{}`), "", nil)
	if err == nil || !strings.Contains(err.Error(), "map: Contacts[0].Id (missing-birthday.map.yaml:5): ${json.user.encodedId} has no value (cannot fetch encodedId from <nil>") {
		t.Errorf("missing parent: %v", err)
	}

	// Inside a for_each the path has the item's index.
	e := mapFails(t, `template:
  updates:
    $for_each: $[*]
    $item: {day: '${item.date}'}
`, `[{"date": "2012-05-24"}, {"ownerId": "x"}]`, nil)
	if !strings.Contains(e, "map: updates[1].day (t.map.yaml:4): ${item.date} has no value") {
		t.Errorf("for_each path: %s", e)
	}

	// A JSONPath that selects nothing, and an expression that is no list.
	e = mapFails(t, "template: {a: {$for_each: $.missing, $item: x}}\n", `{}`, nil)
	if !strings.Contains(e, "map: a (t.map.yaml:1): $for_each $.missing selects nothing") {
		t.Errorf("empty JSONPath: %s", e)
	}
	e = mapFails(t, "template: {a: {$for_each: '${json.n}', $item: x}}\n", `{"n": 1}`, nil)
	if !strings.Contains(e, "map: a (t.map.yaml:1): $for_each ${json.n} gave the number 1, not a list") {
		t.Errorf("not a list: %s", e)
	}
	// The body is not JSON.
	e = mapFails(t, "template: {a: '${json.n}'}\n", `<a/>`, nil)
	if !strings.Contains(e, "map: a (t.map.yaml:1): json: body is not valid JSON") {
		t.Errorf("not JSON: %s", e)
	}
}

func TestSchemaViolationNamesPaths(t *testing.T) {
	mp := loadFile(t, "testdata/bad-quantifier.map.yaml")
	_, err := runMap(t, mp, readTestdata(t, "fitbit-daily-activity-summary.json"), "", activityProps)
	if err == nil {
		t.Fatal("want a schema violation")
	}
	e := err.Error()
	for _, want := range []string{
		"map: the result does not match mkc-import-headers.schema.json: ",
		"/Interactions/0/Key: maxLength: got 64, want 32",
		"/Interactions/0/Quantifier: got string, want number",
	} {
		if !strings.Contains(e, want) {
			t.Errorf("%q missing from\n%s", want, e)
		}
	}
	if strings.Count(e, "\n") > 0 {
		t.Errorf("one message, one line: %q", e)
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"convert typo", "template: {a: {$value: 1, $convert: nubmer}}\n",
			`testdata/t.map.yaml:1:37: map: $convert "nubmer": want one of number, int, bool, string, odata_date, iso_date, date; did you mean "number"?`},
		{"date needs format", "template: {a: {$value: 1, $convert: date}}\n",
			"map: $convert: date needs $format"},
		{"format without date", "template: {a: {$value: 1, $format: yyyy}}\n",
			"map: $format is the pattern of $convert: date"},
		{"bad date pattern", "template: {a: {$value: 1, $convert: date, $format: yyyy-QQ}}\n",
			`testdata/t.map.yaml:1:52: map: $format: date pattern "yyyy-QQ": unsupported letter 'Q'`},
		{"map_default without map", "template: {a: {$value: 1, $map_default: x}}\n",
			"map: $map_default goes with $map"},
		{"convert without value", "template: {a: {$convert: int}}\n",
			"testdata/t.map.yaml:1:16: map: $convert needs $value"},
		{"value with fields", "template: {a: {$value: 1, b: 2}}\n",
			`map: "b" is a field, but this mapping is a $value value`},
		{"then without if", "template: {a: {$then: 1}}\n",
			"map: $then without $if"},
		{"if without anything", "template: {a: {$if: true}}\n",
			"map: $if needs $then or the fields to write when it holds"},
		{"for_each without item", "template: {a: {$for_each: $.x}}\n",
			"map: $for_each needs $item"},
		{"for_each with fields", "template: {a: {$for_each: $.x, $item: 1, b: 2}}\n",
			"map: a $for_each mapping has only $for_each, $item and $if (found b); put the fields under $item"},
		{"bad JSONPath", "template: {a: {$for_each: '$.x[', $item: 1}}\n",
			"testdata/t.map.yaml:1:27: map: $for_each: JSONPath"},
		{"bad XPath", "template: {a: {$for_each: '/a[', $item: 1}}\n",
			"testdata/t.map.yaml:1:27: map: $for_each: XPath"},
		{"bad selection", "template: {a: {$for_each: items, $item: 1}}\n",
			`map: $for_each "items": write a JSONPath`},
		{"item outside for_each", "template: {a: '${item.x}'}\n",
			"item is only in scope inside a for_each"},
		{"expression error", "template: {a: '${json.x +}'}\n",
			"testdata/t.map.yaml:1:"},
		{"duplicate key", "template: {a: 1, a: 2}\n",
			`map: key "a" is given twice`},
		{"constant condition text", "template: {a: {$if: 'x $${y}', $value: 1}}\n",
			"is constant text, not a condition"},
		{"not a number literal", "template: {a: .inf}\n",
			"map: +Inf is not a JSON number"},
		{"empty template", "template:\n",
			"testdata/t.map.yaml:1:10: map: the template is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if e := compileError(c.src); !strings.Contains(e, c.want) {
				t.Errorf("\n got: %s\nwant: %s", e, c.want)
			}
		})
	}
}

// A template file's errors name the file, line and column.
func TestLoadErrorsInAFile(t *testing.T) {
	for file, want := range map[string]string{
		"typo.map.yaml":       "testdata/typo.map.yaml:3:5: map: unknown directive $fro_each; did you mean \"$for_each\"?",
		"item-alone.map.yaml": "testdata/item-alone.map.yaml:3:5: map: $item without $for_each",
	} {
		_, err := mapping.CompileFile(filepath.Join("testdata", file), nil, mapping.Options{})
		if err == nil || !strings.Contains(err.Error(), filepath.FromSlash(want)) {
			t.Errorf("%s:\n got: %v\nwant: %s", file, err, want)
		}
	}
}
