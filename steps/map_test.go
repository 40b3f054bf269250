package steps_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/stride-engine/stride/engine/flow"
)

var updateMapGolden = flag.Bool("update-map", false, "rewrite the golden files of the map tests")

const mapDir = "testdata/map"

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

const (
	profileTemplate  = "../../../flows/fitbit/mappings/profile-contact.map.yaml"
	activityTemplate = "../../../flows/fitbit/mappings/activity-interaction.map.yaml"
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

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(mapDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// mapOne runs steps on a body and returns the resulting body.
func mapOne(t *testing.T, steps string, body string, props map[string]any) string {
	t.Helper()
	x, err := runMapFlow(t, loadMap(t, steps), []byte(body), "", props)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return string(x.Msg.Body())
}

// mapFails runs steps on a body and returns the error.
func mapFails(t *testing.T, steps string, body string, props map[string]any) string {
	t.Helper()
	_, err := runMapFlow(t, loadMap(t, steps), []byte(body), "", props)
	if err == nil {
		t.Fatal("want an error, the map succeeded")
	}
	return err.Error()
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

func compactJSON(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// ---- golden mappings of the shipped templates

func TestMapFitbitProfileToContact(t *testing.T) {
	set := loadMap(t, "  - map: {file: "+profileTemplate+"}\n")
	x, err := runMapFlow(t, set, readTestdata(t, "fitbit-profile.json"), "", nil)
	noError(t, err)
	if ct := x.Msg.ContentType(); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	golden(t, "profile-contact.golden.json", x.Msg.Body())
}

// The contact import of the Marketing Cloud sample, byte for byte, from
// a profile with the same person in it.
func TestMapContactEqualsTheContractSample(t *testing.T) {
	set := loadMap(t, "  - map: {file: "+profileTemplate+"}\n")
	x, err := runMapFlow(t, set, readTestdata(t, "fitbit-profile-ada.json"), "", nil)
	noError(t, err)
	want := compactJSON(t, readTestdata(t, "mkc-import-headers-contact.json"))
	if !bytes.Equal(x.Msg.Body(), want) {
		t.Errorf("\n got: %s\nwant: %s", x.Msg.Body(), want)
	}
}

func TestMapProfileWithoutOptionalFields(t *testing.T) {
	set := loadMap(t, "  - map: {file: "+profileTemplate+"}\n")
	x, err := runMapFlow(t, set, readTestdata(t, "fitbit-profile-minimal.json"), "", nil)
	noError(t, err)
	want := `{"Id":"","SourceSystemType":"EXT","SourceSystemId":"STRIDE","Contacts":[{"Id":"2ABC3D","IdOrigin":"FITBIT","Timestamp":"/Date(1763856000000)/","FirstName":"Madonna","FullName":"Madonna"}]}`
	if string(x.Msg.Body()) != want {
		t.Errorf("\n got: %s\nwant: %s", x.Msg.Body(), want)
	}
}

var activityProps = map[string]any{"owner": "26FWFL", "day": "2025-11-22"}

func TestMapDailySummaryToInteraction(t *testing.T) {
	set := loadMap(t, "  - map: {file: "+activityTemplate+"}\n")
	x, err := runMapFlow(t, set, readTestdata(t, "fitbit-daily-activity-summary.json"), "", activityProps)
	noError(t, err)
	got := x.Msg.Body()
	golden(t, "activity-interaction.golden.json", got)

	// The CONTRACT shape exactly: the sample with its made-up Key replaced
	// by the deterministic one.
	keyRE := regexp.MustCompile(`"Key":"([0-9a-f]{32})"`)
	m := keyRE.FindSubmatch(got)
	if m == nil {
		t.Fatalf("no 32-hex-digit Key in %s", got)
	}
	sample := compactJSON(t, readTestdata(t, "mkc-import-headers-interaction.json"))
	sample = keyRE.ReplaceAll(sample, []byte(`"Key":"`+string(m[1])+`"`))
	if !bytes.Equal(got, sample) {
		t.Errorf("not the CONTRACT shape\n got: %s\nwant: %s", got, sample)
	}
	if !bytes.Contains(got, []byte(`"Quantifier":15720}`)) {
		t.Errorf("Quantifier is not the JSON number 15720: %s", got)
	}

	// The same user, day and collection give the same Key; another day another.
	x2, err := runMapFlow(t, set, readTestdata(t, "fitbit-daily-activity-summary.json"), "", activityProps)
	noError(t, err)
	if !bytes.Equal(x2.Msg.Body(), got) {
		t.Error("the same input mapped twice differs")
	}
	x3, err := runMapFlow(t, set, readTestdata(t, "fitbit-daily-activity-summary.json"), "", map[string]any{"owner": "26FWFL", "day": "2025-11-23"})
	noError(t, err)
	if m3 := keyRE.FindSubmatch(x3.Msg.Body()); m3 == nil || bytes.Equal(m3[1], m[1]) {
		t.Errorf("another day must give another Key: %s", x3.Msg.Body())
	}
}

// One compiled step serves concurrent messages.
func TestMapConcurrentRuns(t *testing.T) {
	set := loadMap(t, "  - map: {file: "+activityTemplate+"}\n")
	body := readTestdata(t, "fitbit-daily-activity-summary.json")
	x, err := runMapFlow(t, set, body, "", activityProps)
	noError(t, err)
	want := string(x.Msg.Body())
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				day := fmt.Sprintf("2025-11-%02d", 1+(g+i)%28)
				x, err := runMapFlow(t, set, body, "", map[string]any{"owner": "26FWFL", "day": day})
				if err != nil || !strings.Contains(string(x.Msg.Body()), "26FWFL-"+day) {
					errs <- fmt.Sprintf("%v %s", err, x.Msg.Body())
					return
				}
				if day == "2025-11-22" && string(x.Msg.Body()) != want {
					errs <- "differs: " + string(x.Msg.Body())
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// ---- the template language

func TestMapForEachOverTheNotificationArray(t *testing.T) {
	got := mapOne(t, "  - map: {file: notifications.map.yaml}\n", string(readTestdata(t, "fitbit-notification-multiple.json")), nil)
	golden(t, "notifications.golden.json", []byte(got))

	// An item whose $if is false is left out of the list.
	got = mapOne(t, "  - map: {file: notifications.map.yaml}\n", `[{"collectionType":"sleep","date":"2012-05-24","ownerId":"A","subscriptionId":"1"},`+
		`{"collectionType":"activities","date":"2012-05-25","ownerId":"B","subscriptionId":"2"}]`, nil)
	if !strings.HasSuffix(got, `"owners":["A","B"],"activityDays":["2012-05-25"]}`) {
		t.Errorf("got %s", got)
	}
}

func TestMapForEachOverXPath(t *testing.T) {
	set := loadMap(t, "  - map: {file: notifications-xml.map.yaml}\n")
	x, err := runMapFlow(t, set, readTestdata(t, "fitbit-notification.xml"), "application/xml", nil)
	noError(t, err)
	want := `{"updates":[{"owner":"224F7B","day":"2012-05-24","xml":"<update><collectionType>activities</collectionType><date>2012-05-24</date><ownerId>224F7B</ownerId></update>"},` +
		`{"owner":"2242TQ","day":"2012-07-25","xml":"<update><collectionType>sleep</collectionType><date>2012-07-25</date><ownerId>2242TQ</ownerId></update>"}],"owners":["224F7B","2242TQ"]}`
	if got := string(x.Msg.Body()); got != want {
		t.Errorf("\n got: %s\nwant: %s", got, want)
	}
}

func TestMapForEachNestedAndOverExpressions(t *testing.T) {
	got := mapOne(t, `  - map:
      template:
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

func TestMapLiteralsKeepTheirTypes(t *testing.T) {
	got := mapOne(t, `  - map:
      template:
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

func TestMapIfOmits(t *testing.T) {
	got := mapOne(t, `  - map:
      template:
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

	e := mapFails(t, "  - map: {template: {a: {$if: '${json.n}', $value: 1}}}\n", `{"n": "yes"}`, nil)
	if !strings.Contains(e, `map: a (f.yaml:9): $if ${json.n} gave the text "yes", not true or false`) {
		t.Errorf("non-boolean $if: %s", e)
	}
	e = mapFails(t, "  - map: {template: {a: {$if: '${json.x == 1}', $value: 1}, b: {$if: '${json.n}', $value: 1}}}\n", `{}`, nil)
	if !strings.Contains(e, `map: b (f.yaml:9): $if ${json.n}: ${json.n} has no value`) {
		t.Errorf("missing $if: %s", e)
	}
	e = mapFails(t, "  - map: {template: {$if: false, $then: {a: 1}}}\n", `{}`, nil)
	if !strings.Contains(e, "the template's $if is false, so there is no result") {
		t.Errorf("root omitted: %s", e)
	}
}

func TestMapValueTable(t *testing.T) {
	got := mapOne(t, `  - map:
      template:
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
	e := mapFails(t, "  - map: {template: {g: {$value: '${json.g}', $map: {MALE: M, FEMALE: F}}}}\n", `{"g": "NA"}`, nil)
	if !strings.Contains(e, `map: g (f.yaml:9): $map has no entry for "NA" and no $map_default (entries: FEMALE, MALE)`) {
		t.Errorf("unlisted value: %s", e)
	}
}

func TestMapConversions(t *testing.T) {
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
	got := mapOne(t, "  - map:\n      template:\n"+tmpl.String(), body, nil)
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
		e := mapFails(t, fmt.Sprintf("  - map: {template: {v: {$value: %s, $convert: %s}}}\n", c.value, c.convert), `{}`, nil)
		if !strings.Contains(e, "map: v (f.yaml:9): "+c.want) {
			t.Errorf("%s of %s: %s", c.convert, c.value, e)
		}
	}
}

func TestMapXMLOutput(t *testing.T) {
	set := loadMap(t, "  - map: {file: xml-output.map.yaml}\n")
	x, err := runMapFlow(t, set, readTestdata(t, "fitbit-profile.json"), "", nil)
	noError(t, err)
	if ct := x.Msg.ContentType(); ct != "application/xml" {
		t.Errorf("content type %q", ct)
	}
	golden(t, "xml-output.golden.xml", x.Msg.Body())

	// The step's options win over the file's.
	x, err = runMapFlow(t, loadMap(t, "  - map: {file: xml-output.map.yaml, root: Import}\n"), readTestdata(t, "fitbit-profile.json"), "", nil)
	noError(t, err)
	if !bytes.HasPrefix(x.Msg.Body(), []byte("<Import><Id/>")) {
		t.Errorf("root not overridden: %s", x.Msg.Body())
	}
	x, err = runMapFlow(t, loadMap(t, "  - map: {file: "+profileTemplate+", output: xml, root: ImportHeaders}\n"), readTestdata(t, "fitbit-profile-ada.json"), "", nil)
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

// ---- missing values and errors at run time

func TestMapMissingValueNamesTargetAndTemplateLine(t *testing.T) {
	set := loadMap(t, "  - map: {file: missing-birthday.map.yaml}\n")
	_, err := runMapFlow(t, set, []byte(`{"user": {"encodedId": "26FWFL", "fullName": "Ada Lovelace"}}`), "", nil)
	want := "f / map (testdata/map/f.yaml:9): map: Contacts[0].DateOfBirth (missing-birthday.map.yaml:8): ${json.user.dateOfBirth} has no value; " +
		"give $default or guard the field with $if if it may be missing"
	if err == nil || err.Error() != want {
		t.Errorf("\n got: %v\nwant: %s", err, want)
	}

	// A missing parent object is a missing value too.
	_, err = runMapFlow(t, set, []byte(`{}`), "", nil)
	if err == nil || !strings.Contains(err.Error(), "map: Contacts[0].Id (missing-birthday.map.yaml:5): ${json.user.encodedId} has no value (cannot fetch encodedId from <nil>") {
		t.Errorf("missing parent: %v", err)
	}

	// Inside a for_each the path has the item's index.
	e := mapFails(t, `  - map:
      template:
        updates:
          $for_each: $[*]
          $item: {day: '${item.date}'}
`, `[{"date": "2012-05-24"}, {"ownerId": "x"}]`, nil)
	if !strings.Contains(e, "map: updates[1].day (f.yaml:13): ${item.date} has no value") {
		t.Errorf("for_each path: %s", e)
	}

	// A JSONPath that selects nothing, and an expression that is no list.
	e = mapFails(t, "  - map: {template: {a: {$for_each: $.missing, $item: x}}}\n", `{}`, nil)
	if !strings.Contains(e, "map: a (f.yaml:9): $for_each $.missing selects nothing") {
		t.Errorf("empty JSONPath: %s", e)
	}
	e = mapFails(t, "  - map: {template: {a: {$for_each: '${json.n}', $item: x}}}\n", `{"n": 1}`, nil)
	if !strings.Contains(e, "map: a (f.yaml:9): $for_each ${json.n} gave float64 1, not a list") {
		t.Errorf("not a list: %s", e)
	}
	// The body is not JSON.
	e = mapFails(t, "  - map: {template: {a: '${json.n}'}}\n", `<a/>`, nil)
	if !strings.Contains(e, "map: a (f.yaml:9): json: body is not valid JSON") {
		t.Errorf("not JSON: %s", e)
	}
}

func TestMapSchemaViolationNamesPaths(t *testing.T) {
	set := loadMap(t, "  - map: {file: bad-quantifier.map.yaml}\n")
	_, err := runMapFlow(t, set, readTestdata(t, "fitbit-daily-activity-summary.json"), "", activityProps)
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

	// The step's schema (relative to the flow file) on an inline template.
	set = loadMap(t, `  - map:
      schema: ../../../schemas/mkc-import-headers.schema.json
      template: {Id: "", SourceSystemType: EXT, SourceSystemId: STRIDE, Contacts: [{Id: x, IdOrigin: FITBIT, Timestamp: '${json.when}', firstName: y}]}
`)
	_, err = runMapFlow(t, set, []byte(`{"when": "2025-11-22"}`), "", nil)
	if err == nil || !strings.Contains(err.Error(), "/Contacts/0/Timestamp: ") || !strings.Contains(err.Error(), "/Contacts/0/firstName: not allowed by the schema") {
		t.Errorf("inline with schema: %v", err)
	}
}

// ---- load errors

func TestMapLoadErrors(t *testing.T) {
	cases := []struct{ name, steps, want string }{
		{"directive typo", "  - map: {file: typo.map.yaml}\n",
			"testdata/map/typo.map.yaml:3:5: map: unknown directive $fro_each; did you mean \"$for_each\"?"},
		{"item without for_each", "  - map: {file: item-alone.map.yaml}\n",
			"testdata/map/item-alone.map.yaml:3:5: map: $item without $for_each"},
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
			`testdata/map/unknown-key.map.yaml:1:1: map: unknown key "outptu" in a template file; did you mean "output"?`},
		{"file and template", "  - map: {file: typo.map.yaml, template: {a: 1}}\n",
			"testdata/map/f.yaml:9:5: map: give file or template, not both"},
		{"neither", "  - map: {output: xml}\n",
			"testdata/map/f.yaml:9:5: map: give the template: inline (template:) or in a file"},
		{"into", "  - map: {template: {a: 1}, into: header.x}\n",
			`testdata/map/f.yaml:9:29: map: into "header.x": write body or property.NAME`},
		{"root with json", "  - map: {template: {a: 1}, root: X}\n",
			`testdata/map/f.yaml:9:29: map: root "X" is the root element of output: xml`},
		{"convert typo", "  - map: {template: {a: {$value: 1, $convert: nubmer}}}\n",
			`testdata/map/f.yaml:9:47: map: $convert "nubmer": want one of number, int, bool, string, odata_date, iso_date, date; did you mean "number"?`},
		{"date needs format", "  - map: {template: {a: {$value: 1, $convert: date}}}\n",
			"map: $convert: date needs $format"},
		{"format without date", "  - map: {template: {a: {$value: 1, $format: yyyy}}}\n",
			"map: $format is the pattern of $convert: date"},
		{"bad date pattern", "  - map: {template: {a: {$value: 1, $convert: date, $format: yyyy-QQ}}}\n",
			`testdata/map/f.yaml:9:62: map: $format: date pattern "yyyy-QQ": unsupported letter 'Q'`},
		{"map_default without map", "  - map: {template: {a: {$value: 1, $map_default: x}}}\n",
			"map: $map_default goes with $map"},
		{"convert without value", "  - map: {template: {a: {$convert: int}}}\n",
			"testdata/map/f.yaml:9:26: map: $convert needs $value"},
		{"value with fields", "  - map: {template: {a: {$value: 1, b: 2}}}\n",
			`map: "b" is a field, but this mapping is a $value value`},
		{"then without if", "  - map: {template: {a: {$then: 1}}}\n",
			"map: $then without $if"},
		{"if without anything", "  - map: {template: {a: {$if: true}}}\n",
			"map: $if needs $then or the fields to write when it holds"},
		{"for_each without item", "  - map: {template: {a: {$for_each: $.x}}}\n",
			"map: $for_each needs $item"},
		{"for_each with fields", "  - map: {template: {a: {$for_each: $.x, $item: 1, b: 2}}}\n",
			"map: a $for_each mapping has only $for_each, $item and $if (found b); put the fields under $item"},
		{"bad JSONPath", "  - map: {template: {a: {$for_each: '$.x[', $item: 1}}}\n",
			"testdata/map/f.yaml:9:37: map: $for_each: JSONPath"},
		{"bad XPath", "  - map: {template: {a: {$for_each: '/a[', $item: 1}}}\n",
			"testdata/map/f.yaml:9:37: map: $for_each: XPath"},
		{"bad selection", "  - map: {template: {a: {$for_each: items, $item: 1}}}\n",
			`map: $for_each "items": write a JSONPath`},
		{"item outside for_each", "  - map: {template: {a: '${item.x}'}}\n",
			"item is only in scope inside a for_each"},
		{"expression error", "  - map: {template: {a: '${json.x +}'}}\n",
			"testdata/map/f.yaml:9:"},
		{"duplicate key", "  - map: {template: {a: 1, a: 2}}\n",
			`map: key "a" is given twice`},
		{"constant condition text", "  - map: {template: {a: {$if: 'x $${y}', $value: 1}}}\n",
			"is constant text, not a condition"},
		{"not a number literal", "  - map: {template: {a: .inf}}\n",
			"map: +Inf is not a JSON number"},
		{"empty template", "  - map: {template: }\n",
			"testdata/map/f.yaml:9:21: map: the template is empty"},
		{"output enum", "  - map: {template: {a: 1}, output: csv}\n",
			`output: "csv" is not one of json, xml`},
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

// ---- payload schemas

// schemaFor names the schema of each sample payload; "" means the sample
// is no payload the flows map (an error or an OAuth answer).
var schemaFor = map[string]string{
	"fitbit/profile.json":                         "fitbit-profile.schema.json",
	"fitbit/daily-activity-summary.json":          "fitbit-daily-activity-summary.schema.json",
	"fitbit/notification-multiple.json":           "fitbit-notification.schema.json",
	"fitbit/token-response.json":                  "",
	"fitbit/error-expired-token.json":             "",
	"fitbit/subscription-created.json":            "",
	"google-health/error-unauthenticated.json":    "",
	"google-health/error-resource-exhausted.json": "",
	"google-health/daily-rollup.json":             "google-health-daily-rollup.schema.json",
	"google-health/notification.json":             "google-health-notification.schema.json",
	"mkc/import-headers-contact.json":             "mkc-import-headers.schema.json",
	"mkc/import-headers-interaction.json":         "mkc-import-headers.schema.json",

	// The copies and variants in testdata/map.
	"testdata/fitbit-profile.json":                 "fitbit-profile.schema.json",
	"testdata/fitbit-profile-ada.json":             "fitbit-profile.schema.json",
	"testdata/fitbit-profile-minimal.json":         "fitbit-profile.schema.json",
	"testdata/fitbit-daily-activity-summary.json":  "fitbit-daily-activity-summary.schema.json",
	"testdata/fitbit-notification-multiple.json":   "fitbit-notification.schema.json",
	"testdata/google-health-daily-rollup.json":     "google-health-daily-rollup.schema.json",
	"testdata/google-health-notification.json":     "google-health-notification.schema.json",
	"testdata/google-health-verification.json":     "google-health-notification.schema.json",
	"testdata/mkc-import-headers-contact.json":     "mkc-import-headers.schema.json",
	"testdata/mkc-import-headers-interaction.json": "mkc-import-headers.schema.json",
	"testdata/profile-contact.golden.json":         "mkc-import-headers.schema.json",
	"testdata/activity-interaction.golden.json":    "mkc-import-headers.schema.json",
}

var schemaCache sync.Map

func payloadSchema(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	if s, ok := schemaCache.Load(name); ok {
		return s.(*jsonschema.Schema)
	}
	path, err := filepath.Abs(filepath.Join("..", "schemas", name))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	s, err := c.Compile(path)
	if err != nil {
		t.Fatalf("%s does not compile: %v", name, err)
	}
	schemaCache.Store(name, s)
	return s
}

func validateFile(t *testing.T, schema, path string) error {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return payloadSchema(t, schema).Validate(inst)
}

func TestPayloadSchemasAcceptTheSamples(t *testing.T) {
	// The testdata copies always; the shared samples when the checkout has
	// them beside the repository.
	var files []string
	local, _ := filepath.Glob(filepath.Join(mapDir, "*.json"))
	for _, f := range local {
		if strings.HasPrefix(filepath.Base(f), "not-a-schema") || strings.HasSuffix(f, ".golden.json") && !strings.Contains(f, "contact") && !strings.Contains(f, "interaction") {
			continue
		}
		files = append(files, f)
	}
	shared := filepath.Join("..", "..", "shared", "samples")
	sharedFiles, _ := filepath.Glob(filepath.Join(shared, "*", "*.json"))
	files = append(files, sharedFiles...)
	if len(sharedFiles) == 0 {
		t.Logf("no shared samples at %s: checking the testdata copies only", shared)
	}
	checked := 0
	for _, f := range files {
		key := filepath.ToSlash(f)
		if strings.HasPrefix(key, mapDir+"/") {
			key = "testdata/" + strings.TrimPrefix(key, mapDir+"/")
		} else {
			rel, _ := filepath.Rel(shared, f)
			key = filepath.ToSlash(rel)
		}
		schema, ok := schemaFor[key]
		if !ok {
			t.Errorf("%s: which schema describes this sample? add it to schemaFor", f)
			continue
		}
		if schema == "" {
			continue
		}
		if err := validateFile(t, schema, f); err != nil {
			t.Errorf("%s does not match %s:\n%v", f, schema, err)
		}
		checked++
	}
	if checked < 12 {
		t.Errorf("checked only %d samples", checked)
	}
}

func TestPayloadSchemasRejectWithPaths(t *testing.T) {
	cases := []struct{ schema, doc, want string }{
		{"mkc-import-headers.schema.json", `{"Id":"","SourceSystemType":"EXT","SourceSystemId":"S","Interactions":[{"Key":"k","ContactId":"c","ContactIdOrigin":"FITBIT","CommunicationMedium":"WEB","InteractionType":"T","Timestamp":"/Date(1)/","Quantifier":"15720"}]}`,
			"/Interactions/0/Quantifier: got string, want number"},
		{"mkc-import-headers.schema.json", `{"Id":"","SourceSystemType":"EXT","SourceSystemId":"S","Interactions":[{"Key":"k","ContactId":"c","ContactIdOrigin":"FITBIT","CommunicationMedium":"WEB","InteractionType":"T","Timestamp":"2025-11-22"}]}`,
			"/Interactions/0/Timestamp: "},
		{"mkc-import-headers.schema.json", `{"Id":"","SourceSystemType":"EXT","SourceSystemId":"S","Contacts":[{"Id":"x","IdOrigin":"FITBIT","Timestamp":"/Date(1)/"}],"Interactions":[{"Key":"k","ContactId":"c","ContactIdOrigin":"FITBIT","CommunicationMedium":"WEB","InteractionType":"T","Timestamp":"/Date(1)/"}]}`,
			"/: "},
		{"mkc-import-headers.schema.json", `{"Id":"","SourceSystemType":"EXT","SourceSystemId":"S"}`, "/: "},
		{"fitbit-notification.schema.json", `[{"collectionType":"steps","date":"2012-05-24","ownerId":"X","ownerType":"user","subscriptionId":"1"}]`,
			"/0/collectionType: "},
		{"fitbit-notification.schema.json", `[{"collectionType":"activities","ownerId":"X","ownerType":"user","subscriptionId":"1"}]`,
			"/0: missing property 'date'"},
		{"fitbit-notification.schema.json", `[{"collectionType":"userRevokedAccess","ownerId":"X","ownerType":"user","subscriptionId":"1"},{}]`,
			"/1: missing properties"},
		{"fitbit-profile.schema.json", `{"user":{"fullName":"A"}}`, "/user: missing property 'encodedId'"},
		{"fitbit-daily-activity-summary.schema.json", `{"activities":[],"summary":{"steps":"15720"}}`, "/summary/steps: got string, want integer"},
		{"google-health-daily-rollup.schema.json", `{"rollupDataPoints":[{"civilStartTime":{"date":{"year":2026,"month":11,"day":22}},"steps":{"countSum":8432}}]}`,
			"/rollupDataPoints/0/steps/countSum: got number, want string"},
		{"google-health-notification.schema.json", `{"data":{"healthUserId":"u","operation":"UPSERT","dataType":"steps","intervals":[{"civilIso8601TimeInterval":{"startTime":"2026-11-22T00:00:00"}}]}}`,
			"/data/intervals/0/civilIso8601TimeInterval: missing property 'endTime'"},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d-%s", i, c.schema), func(t *testing.T) {
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(c.doc))
			if err != nil {
				t.Fatal(err)
			}
			err = payloadSchema(t, c.schema).Validate(inst)
			if err == nil {
				t.Fatal("accepted")
			}
			var lines []string
			var walk func(u *jsonschema.OutputUnit)
			walk = func(u *jsonschema.OutputUnit) {
				if u.Error != nil {
					loc := u.InstanceLocation
					if loc == "" {
						loc = "/"
					}
					lines = append(lines, loc+": "+u.Error.String())
				}
				for i := range u.Errors {
					walk(&u.Errors[i])
				}
			}
			walk(err.(*jsonschema.ValidationError).DetailedOutput())
			if !strings.Contains(strings.Join(lines, "\n"), c.want) {
				t.Errorf("want %q in\n%s", c.want, strings.Join(lines, "\n"))
			}
		})
	}
}

// ---- fuzzing and benchmarks

// fuzzFlows are the shipped templates and a few synthetic ones that use
// every directive; each runs on any JSON.
var fuzzFlows = []string{
	"  - map: {file: " + profileTemplate + "}\n",
	"  - map: {file: " + activityTemplate + "}\n",
	"  - map: {file: " + activityTemplate + ", output: xml, root: ImportHeaders}\n",
	"  - map: {file: notifications.map.yaml}\n",
	`  - map:
      template:
        all: ${json}
        items:
          $for_each: $..*
          $item:
            $if: ${item != nil}
            $value: ${item}
            $convert: string
        n: {$value: '${json.n ?? 0}', $convert: number, $default: 0}
        i: {$value: '${json.i}', $convert: int, $default: -1}
        b: {$value: '${json.b}', $convert: bool, $default: false}
        d: {$value: '${json.d}', $convert: odata_date, $default: none}
        iso: {$value: '${json.d}', $convert: iso_date, $default: none}
        f: {$value: '${json.d}', $convert: date, $format: "EEE, dd MMM yyyy", $default: none}
        g: {$value: '${json.g}', $map: {MALE: M, FEMALE: F}, $map_default: U, $default: "-"}
`,
}

func FuzzMapTemplate(f *testing.F) {
	for _, name := range []string{"fitbit-profile.json", "fitbit-profile-ada.json", "fitbit-daily-activity-summary.json", "fitbit-notification-multiple.json", "google-health-daily-rollup.json"} {
		f.Add(readTestdata(f, name))
	}
	for _, s := range []string{`{}`, `[]`, `null`, `1e400`, `"x"`, `{"user":{"encodedId":1,"fullName":" a  b ","dateOfBirth":"1983-13-45"}}`,
		`{"user":{"encodedId":"x","fullName":"é","country":null}}`, `{"summary":{"steps":"15720"}}`, `{"summary":{"steps":1e300}}`,
		`[{"ownerId":1,"date":null,"collectionType":"activities"}]`, `{"n":"NaN","i":"9223372036854775808","b":"yes","d":-62135596800001,"g":["x"]}`,
		`{"d":"/Date(99999999999999999)/","n":"-0","i":1e19}`} {
		f.Add([]byte(s))
	}
	sets := make([]*flow.FlowSet, len(fuzzFlows))
	for i, steps := range fuzzFlows {
		sets[i] = loadMap(f, steps)
	}
	// Each flow maps a payload of its kind, so the fuzzer starts from
	// the success path too.
	for i, name := range []string{"fitbit-profile.json", "fitbit-daily-activity-summary.json", "fitbit-daily-activity-summary.json", "fitbit-notification-multiple.json", "fitbit-profile-ada.json"} {
		if _, err := runMapFlow(f, sets[i], readTestdata(f, name), "", activityProps); err != nil {
			f.Fatalf("fuzz flow %d on %s: %v", i, name, err)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for i, set := range sets {
			start := time.Now()
			x, err := runMapFlow(t, set, body, "", activityProps)
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("flow %d took %v on %q", i, d, body)
			}
			if err != nil {
				continue
			}
			if i != 2 && !json.Valid(x.Msg.Body()) {
				t.Fatalf("flow %d wrote invalid JSON %q from %q", i, x.Msg.Body(), body)
			}
		}
	})
}

// withoutSchema copies the shipped activity template into a temporary
// flow directory without its schema: line, and returns the flow's file
// name there.
func withoutSchema(b *testing.B) string {
	data, err := os.ReadFile(filepath.Join(mapDir, activityTemplate))
	if err != nil {
		b.Fatal(err)
	}
	var kept []string
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "schema:") {
			kept = append(kept, line)
		}
	}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.map.yaml"), []byte(strings.Join(kept, "\n")), 0o644); err != nil {
		b.Fatal(err)
	}
	return filepath.Join(dir, "f.yaml")
}

func BenchmarkMapDailySummaryToInteraction(b *testing.B) {
	body, err := os.ReadFile(filepath.Join(mapDir, "fitbit-daily-activity-summary.json"))
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, flowFile, steps string, parsed bool) {
		set, err := flow.Load([]flow.Source{{Name: flowFile, Data: []byte(mapFlowHeader + steps)}})
		if err != nil {
			b.Fatal(err)
		}
		set.Bind(func(string) (string, bool) { return "", false })
		fl := set.Flow("f")
		ctx := context.Background()
		var msg0 *flow.Message
		if parsed {
			msg0 = flow.NewMessage(body, "application/json")
			if _, err := msg0.JSON(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			var msg *flow.Message
			if parsed {
				msg = msg0.Clone() // shares the decoded body
			} else {
				msg = flow.NewMessage(body, "application/json")
			}
			msg.Property["owner"], msg.Property["day"] = "26FWFL", "2025-11-22"
			x := flow.NewExchange("m1", msg, set, mapClock)
			if err := fl.Run(ctx, x); err != nil {
				b.Fatal(err)
			}
		}
	}
	// As shipped: the body is decoded, mapped, and the result checked
	// against the ImportHeaders schema.
	b.Run("shipped", func(b *testing.B) { run(b, mapFlowFile, "  - map: {file: "+activityTemplate+"}\n", false) })
	// Without the schema check: decode and map.
	b.Run("no-schema", func(b *testing.B) { run(b, withoutSchema(b), "  - map: {file: a.map.yaml}\n", false) })
	// The mapping alone: the body was decoded already (as when an earlier
	// step read json.*), no schema check.
	b.Run("mapping-only", func(b *testing.B) { run(b, withoutSchema(b), "  - map: {file: a.map.yaml}\n", true) })
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
