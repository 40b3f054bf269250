package flow

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// jsonSamples are documents for the fast decoder: common bodies, every
// kind of value and number, and the inputs it leaves to encoding/json.
var jsonSamples = []string{
	`{"user":"U1","day":"2026-11-22","steps":8421,"distanceKm":6.3}`,
	`[{"collectionType":"activities","date":"2026-11-22","ownerId":"26FWFL","ownerType":"user","subscriptionId":"26FWFL-activities"}]`,
	` { "a" : [ 1 , -2 , 3.5 , -0 , -0.0 , 0 , 1e3 , 1E-3 , 2e+2 , 123456789012345678 , 1234567890123456789 , 9223372036854775807 , 9223372036854775808 , -9223372036854775808 , -9223372036854775809 , 1e999 ] } `,
	`{"t":true,"f":false,"n":null,"e":{},"l":[],"s":"","nested":{"x":[[[]]],"y":{"z":null}}}`,
	`{"dup":1,"dup":2}`,
	`"just a string"`, `42`, `-7`, `3.25`, `true`, `false`, `null`, "\t\n\r 1 \n",
	`{"utf8":"héllo wörld ✓ 𝄞"}`,
	// Left to encoding/json: escapes, invalid UTF-8, control characters,
	// and every error.
	`{"esc":"a\"b\\c\u00e9\n"}`, "{\"bad\":\"\xff\xfe\"}", "\"tab\there\"",
	``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `01`, `-`, `1.`, `.5`, `1e`, `+1`, `tru`, `nul`, `[1 2]`,
	`{"a":1} {"b":2}`, `1 2`, `"unterminated`, `[`, `{"a":`, `NaN`, `-Infinity`, `0x10`, `1.5.2`,
	strings.Repeat("[", 600) + strings.Repeat("]", 600),
	strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100),
}

// TestDecodeJSONFastAgreesWithEncodingJSON: where the fast decoder takes a
// document its value is encoding/json's (after exactNumbers); where it
// does not, DecodeJSON's answer is encoding/json's, errors included.
func TestDecodeJSONFastAgreesWithEncodingJSON(t *testing.T) {
	took := 0
	for _, s := range jsonSamples {
		if checkFastJSON(t, []byte(s)) {
			took++
		}
	}
	if took < 14 {
		t.Errorf("the fast decoder took %d of the samples, want the 14 plain ones at least", took)
	}
	// The fast decoder takes the plain documents and leaves the others.
	for s, want := range map[string]bool{
		`{"a":[1,2.5,"x",true,null]}`: true, `{"esc":"\n"}`: false, "\"\xff\"": false, `{`: false,
		strings.Repeat("[", 600) + strings.Repeat("]", 600): false,
	} {
		if _, ok := decodeJSONFast([]byte(s)); ok != want {
			t.Errorf("decodeJSONFast(%.40q) took it: %v, want %v", s, ok, want)
		}
	}
}

func checkFastJSON(t testing.TB, data []byte) bool {
	t.Helper()
	want, wantErr := decodeJSONStd(data)
	fast, ok := decodeJSONFast(data)
	if ok {
		if wantErr != nil {
			t.Fatalf("%.80q: fast decoded %v, encoding/json: %v", data, fast, wantErr)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("%.80q: fast %s, encoding/json %s", data, show(fast), show(want))
		}
	}
	got, err := DecodeJSON(data)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
		t.Fatalf("%.80q: DecodeJSON %s, %v; encoding/json %s, %v", data, show(got), err, show(want), wantErr)
	}
	return ok
}

func show(v any) string { return fmt.Sprintf("%#v", v) }

func FuzzDecodeJSONFast(f *testing.F) {
	for _, s := range jsonSamples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkFastJSON(t, data) })
}

// BenchmarkDecodeJSON: the rename flow's body, by DecodeJSON (the fast
// decoder) and by encoding/json as DecodeJSON did before.
func BenchmarkDecodeJSON(b *testing.B) {
	body := []byte(jsonSamples[0])
	for _, c := range []struct {
		name string
		dec  func([]byte) (any, error)
	}{{"fast", DecodeJSON}, {"encoding-json", decodeJSONStd}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.dec(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
