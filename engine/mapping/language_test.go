package mapping_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// The template language: selections, literals, conditions, tables and
// conversions.

func TestForEachOverTheNotificationArray(t *testing.T) {
	got := mapFile(t, "testdata/notifications.map.yaml", string(readTestdata(t, "fitbit-notification-multiple.json")), nil)
	golden(t, "notifications.golden.json", []byte(got))

	// An item whose $if is false is left out of the list.
	got = mapFile(t, "testdata/notifications.map.yaml", `[{"collectionType":"sleep","date":"2012-05-24","ownerId":"A","subscriptionId":"1"},`+
		`{"collectionType":"activities","date":"2012-05-25","ownerId":"B","subscriptionId":"2"}]`, nil)
	if !strings.HasSuffix(got, `"owners":["A","B"],"activityDays":["2012-05-25"]}`) {
		t.Errorf("got %s", got)
	}
}

func TestForEachOverXPath(t *testing.T) {
	mp := loadFile(t, "testdata/notifications-xml.map.yaml")
	x, err := runMap(t, mp, readTestdata(t, "fitbit-notification.xml"), "application/xml", nil)
	noError(t, err)
	want := `{"updates":[{"owner":"224F7B","day":"2012-05-24","xml":"<update><collectionType>activities</collectionType><date>2012-05-24</date><ownerId>224F7B</ownerId></update>"},` +
		`{"owner":"2242TQ","day":"2012-07-25","xml":"<update><collectionType>sleep</collectionType><date>2012-07-25</date><ownerId>2242TQ</ownerId></update>"}],"owners":["224F7B","2242TQ"]}`
	if got := string(x.body); got != want {
		t.Errorf("\n got: %s\nwant: %s", got, want)
	}
}

func TestForEachNestedAndOverExpressions(t *testing.T) {
	got := mapOne(t, `template:
  days:
    $for_each: $.days[*]
    $item:
      day: ${item.day}
      hours:
        $for_each: ${item.hours}
        $item: ${item * 2}
  names:
    $for_each: ${["a", "b"]}
    $item: ${upper(item)}
  one:
    $for_each: $.single
    $item: ${item.x}
  empty:
    $for_each: $.none[*]
    $item: ${item}
`, `{"days":[{"day":"d1","hours":[1,2]},{"day":"d2","hours":[]}],"single":{"x":1},"none":[]}`, nil)
	want := `{"days":[{"day":"d1","hours":[2,4]},{"day":"d2","hours":[]}],"names":["A","B"],"one":[1],"empty":[]}`
	if got != want {
		t.Errorf("\n got: %s\nwant: %s", got, want)
	}
}

func TestLiteralsKeepTheirTypes(t *testing.T) {
	got := mapOne(t, `template:
  int: 15720
  float: 1.5
  exp: 1e3
  bool: true
  "null": null
  text: "15720"
  day: 2025-01-01
  $$ref: literal key
  steps: ${json.i}
  ratio: ${json.i / 1000}
  whole: ${json.f * 4}
  obj: '${ {"b": 2, "a": [1, "x"]} }'
  list: [1, "${json.n}", [true]]
  concat: 'n=${json.n}, i=${json.i}'
  html: '<a href="x">&</a>'
  escaped: "tab\there \u2028 \x01"
  time: ${now()}
`, `{"i": 15720, "f": 12.75, "n": "8432"}`, nil)
	want := `{"int":15720,"float":1.5,"exp":1000,"bool":true,"null":null,"text":"15720","day":"2025-01-01","$ref":"literal key",` +
		`"steps":15720,"ratio":15.72,"whole":51,"obj":{"a":[1,"x"],"b":2},"list":[1,"8432",[true]],"concat":"n=8432, i=15720",` +
		`"html":"<a href=\"x\">&</a>","escaped":"tab\there \u2028 \u0001","time":"2025-11-23T00:00:00Z"}`
	if got != want {
		t.Errorf("\n got: %s\nwant: %s", got, want)
	}
	if !json.Valid([]byte(got)) {
		t.Error("not valid JSON")
	}
}

func TestIfOmits(t *testing.T) {
	got := mapOne(t, `template:
  never: {$if: false, $value: 1}
  always: 1
  guarded: {$if: '${json.n != nil}', $then: {nested: '${json.n}'}}
  bare: {$if: 'json.missing != nil', $value: x}
  rest: {$if: '${true}', a: 1, b: 2}
  items:
    - 1
    - {$if: false, $then: 2}
    - 3
  none:
    - {$if: false, $then: 1}
  last: {$if: '${json.n == "0"}', $value: x}
`, `{"n": "8432"}`, nil)
	want := `{"always":1,"guarded":{"nested":"8432"},"rest":{"a":1,"b":2},"items":[1,3],"none":[]}`
	if got != want {
		t.Errorf("\n got: %s\nwant: %s", got, want)
	}

	e := mapFails(t, "template: {a: {$if: '${json.n}', $value: 1}}\n", `{"n": "yes"}`, nil)
	if !strings.Contains(e, `map: a (t.map.yaml:1): $if ${json.n} gave the text "yes", not true or false`) {
		t.Errorf("non-boolean $if: %s", e)
	}
	e = mapFails(t, "template: {a: {$if: '${json.x == 1}', $value: 1}, b: {$if: '${json.n}', $value: 1}}\n", `{}`, nil)
	if !strings.Contains(e, `map: b (t.map.yaml:1): $if ${json.n}: ${json.n} has no value`) {
		t.Errorf("missing $if: %s", e)
	}
	e = mapFails(t, "template: {$if: false, $then: {a: 1}}\n", `{}`, nil)
	if !strings.Contains(e, "the template's $if is false, so there is no result") {
		t.Errorf("root omitted: %s", e)
	}
}

func TestValueTable(t *testing.T) {
	got := mapOne(t, `template:
  gender: {$value: '${json.user.gender}', $map: {MALE: M, FEMALE: F}, $map_default: U}
  unlisted: {$value: '${json.user.other}', $map: {MALE: M}, $map_default: U}
  missing: {$value: '${json.user.nope}', $map: {MALE: M}, $map_default: U, $default: "?"}
  level: {$value: '${json.level}', $map: {1: low, 2: high}}
  flag: {$value: '${json.user.gender}', $map: {MALE: true, FEMALE: false}}
  code: {$value: '${json.user.gender}', $map: {MALE: "1", FEMALE: "2"}, $convert: int}
  fromEnv: {$value: '${json.user.gender}', $map: {MALE: '${env.MKC_ID_ORIGIN}'}}
  nulled: {$value: '${json.user.nope}', $default: null}
  structured: {$value: '${json.user.nope}', $default: {reason: '${json.user.gender}'}}
  parentMissing: {$value: '${json.nobody.gender}', $default: none}
`, `{"user": {"gender": "MALE", "other": "X"}, "level": 2}`, nil)
	want := `{"gender":"M","unlisted":"U","missing":"?","level":"high","flag":true,"code":1,"fromEnv":"FITBIT","nulled":null,"structured":{"reason":"MALE"},"parentMissing":"none"}`
	if got != want {
		t.Errorf("\n got: %s\nwant: %s", got, want)
	}
	e := mapFails(t, "template: {g: {$value: '${json.g}', $map: {MALE: M, FEMALE: F}}}\n", `{"g": "NA"}`, nil)
	if !strings.Contains(e, `map: g (t.map.yaml:1): $map has no entry for "NA" and no $map_default (entries: FEMALE, MALE)`) {
		t.Errorf("unlisted value: %s", e)
	}
}

func TestConversions(t *testing.T) {
	body := `{"n": "8432", "f": 12.75, "i": 15720, "neg": "-3.9", "big": "9007199254740993", "t": "true", "yes": "Yes", "zero": 0,
		"day": "2025-11-22", "ts": "2025-11-22T10:30:00+01:00", "odata": "/Date(1763769600000)/", "ms": 1763769600000, "local": "2025-11-22T10:30:00"}`
	cases := []struct{ name, value, convert, want string }{
		{"number from text", "${json.n}", "number", `8432`},
		{"number from float", "${json.f}", "number", `12.75`},
		{"number from int", "${json.i}", "number", `15720`},
		{"number exact beyond 2^53", "${json.big}", "number", `9007199254740993`},
		{"int from float truncates", "${json.f}", "int", `12`},
		{"int from text", "${json.neg}", "int", `-3`},
		{"bool from text", "${json.t}", "bool", `true`},
		{"bool from yes", "${json.yes}", "bool", `true`},
		{"bool from 0", "${json.zero}", "bool", `false`},
		{"string from int", "${json.i}", "string", `"15720"`},
		{"string from float", "${json.f}", "string", `"12.75"`},
		{"string from text", "${json.n}", "string", `"8432"`},
		{"odata_date from day", "${json.day}", "odata_date", `"/Date(1763769600000)/"`},
		{"odata_date from RFC 3339", "${json.ts}", "odata_date", `"/Date(1763803800000)/"`},
		{"odata_date from ms", "${json.ms}", "odata_date", `"/Date(1763769600000)/"`},
		{"odata_date from a time", "${now()}", "odata_date", `"/Date(1763856000000)/"`},
		{"iso_date from day", "${json.day}", "iso_date", `"2025-11-22T00:00:00Z"`},
		{"iso_date from OData", "${json.odata}", "iso_date", `"2025-11-22T00:00:00Z"`},
		{"iso_date from RFC 3339 is UTC", "${json.ts}", "iso_date", `"2025-11-22T09:30:00Z"`},
		{"iso_date from local time", "${json.local}", "iso_date", `"2025-11-22T10:30:00Z"`},
	}
	var tmpl strings.Builder
	var want strings.Builder
	want.WriteString("{")
	for i, c := range cases {
		fmt.Fprintf(&tmpl, "        c%d: {$value: '%s', $convert: %s}\n", i, c.value, c.convert)
		if i > 0 {
			want.WriteString(",")
		}
		fmt.Fprintf(&want, `"c%d":%s`, i, c.want)
	}
	tmpl.WriteString("        d1: {$value: '${json.ts}', $convert: date, $format: \"dd.MM.yyyy HH:mm\"}\n")
	tmpl.WriteString("        d2: {$value: '${json.day}', $convert: date, $format: yyyyMMdd}\n")
	want.WriteString(`,"d1":"22.11.2025 09:30","d2":"20251122"}`)
	got := mapOne(t, "template:\n"+tmpl.String(), body, nil)
	if got != want.String() {
		// Name the first differing case.
		var g, w map[string]any
		_ = json.Unmarshal([]byte(got), &g)
		_ = json.Unmarshal([]byte(want.String()), &w)
		for i, c := range cases {
			k := fmt.Sprintf("c%d", i)
			if fmt.Sprint(g[k]) != fmt.Sprint(w[k]) {
				t.Errorf("%s: got %v, want %s", c.name, g[k], c.want)
			}
		}
		t.Errorf("\n got: %s\nwant: %s", got, want.String())
	}

	for _, c := range []struct{ value, convert, want string }{
		{`abc`, "number", `$convert number: the text "abc" is not a number`},
		{`'0x10'`, "int", `$convert int: the text "0x10" is not a number`},
		{`maybe`, "bool", `$convert bool: the text "maybe" is not true or false`},
		{`yesterday`, "odata_date", `$convert odata_date: the text "yesterday" is not a date`},
	} {
		e := mapFails(t, fmt.Sprintf("template: {v: {$value: %s, $convert: %s}}\n", c.value, c.convert), `{}`, nil)
		if !strings.Contains(e, "map: v (t.map.yaml:1): "+c.want) {
			t.Errorf("%s of %s: %s", c.convert, c.value, e)
		}
	}
}
