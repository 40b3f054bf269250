package mapping_test

// Fuzzing and benchmarks.

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/mapping"
)

// fuzzMapping is one mapping the fuzzer runs: a template file, or a
// template written here, with options.
type fuzzMapping struct {
	file string
	src  string
	opts mapping.Options
}

// fuzzMappings are the shipped templates and a synthetic one that uses
// every directive; each runs on any JSON.
var fuzzMappings = []fuzzMapping{
	{file: profileTemplate},
	{file: activityTemplate},
	{file: activityTemplate, opts: mapping.Options{Output: "xml", Root: "ImportHeaders"}},
	{file: "testdata/notifications.map.yaml"},
	{src: `template:
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
`},
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
	maps := make([]*mapping.Mapping, len(fuzzMappings))
	for i, fm := range fuzzMappings {
		path, src := fm.file, []byte(fm.src)
		if fm.file == "" {
			path = inlineFile
		} else {
			src = nil
		}
		m, err := mapping.CompileFile(path, src, fm.opts)
		if err != nil {
			f.Fatalf("fuzz mapping %d: %v", i, err)
		}
		maps[i] = m
	}
	// Each mapping maps a payload of its kind, so the fuzzer starts from
	// the success path too.
	for i, name := range []string{"fitbit-profile.json", "fitbit-daily-activity-summary.json", "fitbit-daily-activity-summary.json", "fitbit-notification-multiple.json", "fitbit-profile-ada.json"} {
		if _, err := runMap(f, maps[i], readTestdata(f, name), "", activityProps); err != nil {
			f.Fatalf("fuzz mapping %d on %s: %v", i, name, err)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for i, m := range maps {
			start := time.Now()
			x, err := runMap(t, m, body, "", activityProps)
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("mapping %d took %v on %q", i, d, body)
			}
			if err != nil {
				continue
			}
			if i != 2 && !json.Valid(x.body) {
				t.Fatalf("mapping %d wrote invalid JSON %q from %q", i, x.body, body)
			}
		}
	})
}

func BenchmarkMapDailySummaryToInteraction(b *testing.B) {
	body := readTestdata(b, "fitbit-daily-activity-summary.json")
	shipped := loadFile(b, activityTemplate)
	run := func(b *testing.B, m *mapping.Mapping, parsed bool) {
		// One exchange serves every message: x.Msg is swapped, so the
		// numbers are the mapping's, not the making of an exchange.
		env, secrets := m.Template.Vars()
		x, _ := flow.NewStandaloneExchange("m1", nil, env, secrets, contractLookup, testClock)
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
			x.Msg = msg
			if _, _, err := m.Run(x); err != nil {
				b.Fatal(err)
			}
		}
	}
	// As shipped: the body is decoded, mapped, and the result checked
	// against the ImportHeaders schema.
	b.Run("shipped", func(b *testing.B) { run(b, shipped, false) })
	// Without the schema check: decode and map.
	b.Run("no-schema", func(b *testing.B) { run(b, &mapping.Mapping{Template: shipped.Template}, false) })
	// The mapping alone: the body was decoded already (as when an earlier
	// step read json.*), no schema check.
	b.Run("mapping-only", func(b *testing.B) { run(b, &mapping.Mapping{Template: shipped.Template}, true) })
}
