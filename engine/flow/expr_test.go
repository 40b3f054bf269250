package flow_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// evalProp loads a one-step flow that sets property v from tmpl and
// returns it, with body as the message body.
func evalProp(t *testing.T, tmpl, body string) (any, error) {
	t.Helper()
	src := fmt.Sprintf("flow: f\nenv: {API_URL: x}\nsecrets: [CLIENT_SECRET]\ntrigger: {call: {}}\nsteps:\n  - set: {properties: {v: %s}}\n", quoteYAML(tmpl))
	set := load(t, "f.yaml", src)
	x, err := runFlow(t, set, "f", body)
	if err != nil {
		return nil, err
	}
	return x.Msg.Property["v"], nil
}

func quoteYAML(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func TestTemplates(t *testing.T) {
	body := `{"user":{"id":"26FWFL","steps":15720,"tags":["a","b"]},"n":2.5}`
	cases := []struct {
		tmpl string
		want any
	}{
		{"plain text", "plain text"},
		{"${1 + 2}", 3},                      // a lone ${...} keeps its type
		{"n=${1 + 2}", "n=3"},                // interpolation renders text
		{"${json.user.steps}", int64(15720)}, // JSON integers stay exact integers
		{"${json.user.steps} steps", "15720 steps"},
		{"${json.n * 2}", 5.0},
		{"${json.user.tags}", []any{"a", "b"}},
		{"${json.user}", map[string]any{"id": "26FWFL", "steps": int64(15720), "tags": []any{"a", "b"}}},
		{"tags=${json.user.tags}", `tags=["a","b"]`},
		{"$${literal}", "${literal}"},
		{`${ "}" + "{" }`, "}{"},
		{`${ {"a": 1}.a }`, 1},
		{"${env.API_URL}/x", "http://127.0.0.1:1/x"},
		{`${property.missing ?? "dflt"}`, "dflt"},
		{"${header.Missing ?? 7}", 7},
		{"${header.Missing == nil}", true},
		{`${header["content-type"]}`, "text/plain"}, // header names match in any case
		{`${query.missing ?? "none"}`, "none"},
		{"${len(body)}", len(body)},
		{"${true}", true},
		{"${now()}", fixedNow},
	}
	for _, tc := range cases {
		t.Run(tc.tmpl, func(t *testing.T) {
			got, err := evalProp(t, tc.tmpl, body)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v (%T), want %#v (%T)", got, got, tc.want, tc.want)
			}
		})
	}
}

func TestMissingValueIsAnErrorNotEmptyText(t *testing.T) {
	for _, tmpl := range []string{"${property.nope}", "id=${property.nope}", "${json.user.nope}", `${jsonpath("$.nope")}`} {
		t.Run(tmpl, func(t *testing.T) {
			_, err := evalProp(t, tmpl, `{"user":{}}`)
			if err == nil {
				t.Fatal("a missing value must fail, not become empty text")
			}
			for _, want := range []string{"f / set (f.yaml:6)", "has no value", "??"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestRuntimeErrorNamesStepAndPosition(t *testing.T) {
	_, err := evalProp(t, "${json.a}", "not json")
	if err == nil || !strings.Contains(err.Error(), "f / set (f.yaml:6)") || !strings.Contains(err.Error(), "not valid JSON") {
		t.Fatalf("got %v", err)
	}
}

func TestFunctions(t *testing.T) {
	xmlBody := `<users><user id="u1"><name>Ada</name><steps>100</steps></user><user id="u2"><name>Grace</name><steps>250</steps></user></users>`
	cases := []struct {
		tmpl, body string
		want       any
	}{
		{`${xpath("/users/user[2]/name")}`, xmlBody, "Grace"},
		{`${xpath("count(//user)")}`, xmlBody, 2.0},
		{`${xpath("sum(//steps)")}`, xmlBody, 350.0},
		{`${xpath("//user/@id")}`, xmlBody, "u1"},
		{`${xpath("/a/b", "<a><b>x</b></a>")}`, "", "x"},
		{`${xpath_all("//name")}`, xmlBody, []any{"Ada", "Grace"}},
		{`${xpath_all("//user/@id")}`, xmlBody, []any{"u1", "u2"}},
		{`${jsonpath("$.user.id")}`, `{"user":{"id":"26FWFL"}}`, "26FWFL"},
		{`${jsonpath("$[*].ownerId")}`, `[{"ownerId":"A"},{"ownerId":"B"}]`, []any{"A", "B"}},
		{`${jsonpath("$.id", {"id": 5})}`, "", 5},
		{`${format_date(now(), "yyyy-MM-dd'T'HH:mm:ss")}`, "", "2026-11-23T07:05:09"},
		{`${format_date(now(), "yyyy-MM-dd HH:mm", "Europe/Berlin")}`, "", "2026-11-23 08:05"},
		{`${format_date("2026-11-22", "dd.MM.yyyy")}`, "", "22.11.2026"},
		{`${format_date(add_days(now(), -1), "yyyy-MM-dd")}`, "", "2026-11-22"},
		{`${parse_date("22.11.2026", "dd.MM.yyyy")}`, "", time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)},
		{`${odata_date("2026-11-22")}`, "", "/Date(1795305600000)/"},
		{`${odata_date(parse_date("1983-01-28", "yyyy-MM-dd"))}`, "", "/Date(412560000000)/"},
		{`${base64("user:pass")}`, "", "dXNlcjpwYXNz"},
		{`${base64_decode("dXNlcjpwYXNz")}`, "", "user:pass"},
		{`${base64url("??>")}`, "", "Pz8-"},
		// Fitbit's signature: base64 HMAC-SHA1 of the body with key "<secret>&".
		{`${hmac("sha1", "secret&", "body")}`, "", "F4VPvQUJ6Y3ZwpeAX26JkVKADng="},
		{`${hmac("sha256", "key", "The quick brown fox jumps over the lazy dog", "hex")}`, "", "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"},
		{`${sha256("abc")}`, "", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		// RFC 7636 appendix B: the S256 code challenge of a known verifier.
		{`${sha256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "base64url")}`, "", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
		{`${urlencode("a b&c=d")}`, "", "a+b%26c%3Dd"},
		{`${len(uuid())}`, "", 36},
		{`${len(random_token(32))}`, "", 43},
		{`${upper("abc")}`, "", "ABC"}, // expr-lang built-ins stay available
	}
	for _, tc := range cases {
		t.Run(tc.tmpl, func(t *testing.T) {
			got, err := evalProp(t, tc.tmpl, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v (%T), want %#v (%T)", got, got, tc.want, tc.want)
			}
		})
	}
}

func TestFunctionRuntimeErrors(t *testing.T) {
	cases := []struct{ tmpl, body, want string }{
		{`${xpath("/a")}`, "<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>", "DOCTYPE"},
		{`${xpath("/a")}`, "<a>", "not well-formed XML"},
		{`${format_date("yesterday", "yyyy")}`, "", "is not a time"},
		{`${format_date(now(), "yyyy", "Mars/Olympus")}`, "", "unknown time zone"},
		{`${hmac("md5", "k", "d")}`, "", "unknown algorithm"},
		{`${random_token(0)}`, "", "want 1 to 1024 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.tmpl, func(t *testing.T) {
			_, err := evalProp(t, tc.tmpl, tc.body)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestUUIDAndTokensAreRandom(t *testing.T) {
	a, _ := evalProp(t, "${uuid()}", "")
	b, _ := evalProp(t, "${uuid()}", "")
	if a == b || !strings.HasPrefix(a.(string)[14:], "4") {
		t.Errorf("uuids %v and %v: want distinct version-4 ids", a, b)
	}
}
