package steps_test

import (
	"strings"
	"testing"

	"github.com/stride-engine/stride/engine/flow"
)

func TestSet(t *testing.T) {
	runCases(t, []stepCase{
		{name: "properties in order keep types", steps: `
  - set:
      properties:
        a: 2
        b: '${property.a * 10}'
        c: 'n=${property.b}'`, check: func(t *testing.T, x *flow.Exchange, err error) {
			noError(t, err)
			wantProp(t, x, "b", 20)
			wantProp(t, x, "c", "n=20")
		}},
		{name: "headers are canonical", steps: `
  - set: {headers: {x-fitbit-signature: abc}}`, check: func(t *testing.T, x *flow.Exchange, err error) {
			noError(t, err)
			if x.Msg.Header["X-Fitbit-Signature"] != "abc" {
				t.Errorf("headers %v", x.Msg.Header)
			}
		}},
		{name: "structured body becomes JSON", steps: `
  - set: {body: '${ {"a": [1, 2]} }'}`, contentType: "text/plain", check: func(t *testing.T, x *flow.Exchange, err error) {
			noError(t, err)
			if string(x.Msg.Body()) != `{"a":[1,2]}` || x.Msg.ContentType() != "application/json" {
				t.Errorf("%q %q", x.Msg.Body(), x.Msg.ContentType())
			}
		}},
		{name: "text body keeps the content type unless given", steps: `
  - set: {body: 'hello ${json.name}'}
  - set: {properties: {ct: '${header["Content-Type"] ?? "unset"}'}}`, body: `{"name":"Ada"}`, check: func(t *testing.T, x *flow.Exchange, err error) {
			noError(t, err)
			if string(x.Msg.Body()) != "hello Ada" || x.Msg.ContentType() != "application/json" {
				t.Errorf("%q %q", x.Msg.Body(), x.Msg.ContentType())
			}
		}},
		{name: "content type given", steps: `
  - set: {body: '<a/>', content_type: application/xml}`, check: func(t *testing.T, x *flow.Exchange, err error) {
			noError(t, err)
			if x.Msg.ContentType() != "application/xml" {
				t.Errorf("%q", x.Msg.ContentType())
			}
		}},
		{name: "removals", steps: `
  - set: {properties: {a: 1, b: 2}, headers: {X-A: a}}
  - set: {remove_properties: [a], remove_headers: [x-a]}`, check: func(t *testing.T, x *flow.Exchange, err error) {
			noError(t, err)
			if _, ok := x.Msg.Property["a"]; ok || x.Msg.Property["b"] != 2 || x.Msg.Header["X-A"] != "" {
				t.Errorf("%v %v", x.Msg.Property, x.Msg.Header)
			}
		}},
		{name: "a failing property names itself", steps: `
  - set: {properties: {owner: '${json.ownerId}'}}`, body: `{}`, check: func(t *testing.T, x *flow.Exchange, err error) {
			if err == nil || !strings.Contains(err.Error(), "property owner:") || !strings.Contains(err.Error(), "f / set (f.yaml:4)") {
				t.Errorf("got %v", err)
			}
		}},
	})
	if e := loadError("  - set: {}\n"); !strings.Contains(e, "set changes nothing") {
		t.Errorf("empty set: %q", e)
	}
}

const scopesXML = `<user><id>u1</id><scope>activity</scope><scope>profile</scope></user>`

func TestRoute(t *testing.T) {
	steps := `
  - route:
      - when: property.kind == "a"
        steps: [{set: {properties: {took: a}}}]
      - xpath: /user[scope='activity' and scope='profile']
        steps: [{set: {properties: {took: xpath}}}]
      - otherwise:
          - set: {properties: {took: otherwise}}
  - set: {properties: {after: true}}`
	runCases(t, []stepCase{
		{name: "expression branch", steps: "  - set: {properties: {kind: a}}\n" + steps, body: scopesXML, check: func(t *testing.T, x *flow.Exchange, err error) {
			noError(t, err)
			wantProp(t, x, "took", "a")
			wantProp(t, x, "after", true)
		}},
		{name: "xpath branch", steps: "  - set: {properties: {kind: b}}\n" + steps, body: scopesXML, check: func(t *testing.T, x *flow.Exchange, err error) {
			noError(t, err)
			wantProp(t, x, "took", "xpath")
		}},
		{name: "otherwise", steps: "  - set: {properties: {kind: b}}\n" + steps, body: `<user><scope>activity</scope></user>`, check: func(t *testing.T, x *flow.Exchange, err error) {
			noError(t, err)
			wantProp(t, x, "took", "otherwise")
		}},
		{name: "no match goes on unchanged", steps: `
  - route:
      - when: "false"
        steps: [{fail: never}]
  - set: {properties: {after: true}}`, check: func(t *testing.T, x *flow.Exchange, err error) {
			noError(t, err)
			wantProp(t, x, "after", true)
		}},
		{name: "xpath on a non-XML body fails clearly", steps: `
  - route:
      - xpath: /a
        steps: []`, body: `{"json": true}`, check: func(t *testing.T, x *flow.Exchange, err error) {
			if err == nil || !strings.Contains(err.Error(), "not well-formed XML") {
				t.Errorf("got %v", err)
			}
		}},
		{name: "a non-boolean condition fails clearly", steps: `
  - route:
      - when: property.x
        steps: []`, check: func(t *testing.T, x *flow.Exchange, err error) {
			if err == nil || !strings.Contains(err.Error(), "route branch 1") {
				t.Errorf("got %v", err)
			}
		}},
	})
	for _, tc := range []struct{ steps, want string }{
		{"  - route:\n      - otherwise: [{log: x}]\n      - when: 'true'\n        steps: []\n", "otherwise must be the last branch"},
		{"  - route:\n      - when: 'true'\n        xpath: /a\n        steps: []\n", "give exactly one of when and xpath"},
		{"  - route:\n      - xpath: '/a['\n        steps: []\n", `XPath "/a["`},
		{"  - route: []\n", "route needs at least one branch"},
	} {
		if e := loadError(tc.steps); !strings.Contains(e, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.steps, e, tc.want)
		}
	}
}

func TestFilter(t *testing.T) {
	runCases(t, []stepCase{
		{name: "passes", steps: "  - filter: json.type == \"activities\"\n  - set: {properties: {kept: true}}\n", body: `{"type":"activities"}`, check: func(t *testing.T, x *flow.Exchange, err error) {
			noError(t, err)
			wantProp(t, x, "kept", true)
		}},
		{name: "drops as DISCARDED", steps: "  - filter: json.type == \"activities\"\n  - fail: never\n", body: `{"type":"sleep"}`, check: func(t *testing.T, x *flow.Exchange, err error) {
			noError(t, err)
			if x.Status != "DISCARDED" {
				t.Errorf("status %q", x.Status)
			}
		}},
		{name: "custom status and xpath", steps: "  - filter: {xpath: '/user/scope', status: NO_SCOPE}\n  - fail: never\n", body: `<user/>`, check: func(t *testing.T, x *flow.Exchange, err error) {
			noError(t, err)
			if x.Status != "NO_SCOPE" {
				t.Errorf("status %q", x.Status)
			}
		}},
	})
	if e := loadError("  - filter: {status: X}\n"); !strings.Contains(e, "give exactly one of when and xpath") {
		t.Errorf("got %q", e)
	}
}

func TestFailAndComplete(t *testing.T) {
	runCases(t, []stepCase{
		{name: "fail with status", steps: "  - fail: {message: 'no user ${json.id}', status: 404}\n", body: `{"id":"x"}`, check: func(t *testing.T, x *flow.Exchange, err error) {
			var se *flow.StatusError
			if err == nil || !asStatus(err, &se) || se.Status != 404 || !strings.Contains(err.Error(), "no user x") {
				t.Errorf("got %v", err)
			}
		}},
		{name: "complete with custom status", steps: "  - complete: ALREADY_CONNECTED\n  - fail: never\n", check: func(t *testing.T, x *flow.Exchange, err error) {
			noError(t, err)
			if x.Status != "ALREADY_CONNECTED" {
				t.Errorf("status %q", x.Status)
			}
		}},
		{name: "bare complete", steps: "  - complete\n", check: func(t *testing.T, x *flow.Exchange, err error) {
			noError(t, err)
			if !x.Stopped() || x.Status != "COMPLETED" {
				t.Errorf("stopped=%v status=%q", x.Stopped(), x.Status)
			}
		}},
	})
}

func TestRespond(t *testing.T) {
	runCases(t, []stepCase{
		{name: "defaults to the message", steps: "  - respond\n", body: `{"a":1}`, check: func(t *testing.T, x *flow.Exchange, err error) {
			noError(t, err)
			r := x.Response
			if r.Status != 200 || string(r.Body) != `{"a":1}` || r.ContentType != "application/json" {
				t.Errorf("%+v", r)
			}
		}},
		{name: "status, headers and text body", steps: "  - respond: {status: '${201}', headers: {location: /x/1}, body: created}\n", check: func(t *testing.T, x *flow.Exchange, err error) {
			noError(t, err)
			r := x.Response
			if r.Status != 201 || r.Header["Location"] != "/x/1" || string(r.Body) != "created" || !strings.HasPrefix(r.ContentType, "text/plain") {
				t.Errorf("%+v", r)
			}
		}},
		{name: "204 has no body", steps: "  - respond: {status: 204}\n", body: "ignored", check: func(t *testing.T, x *flow.Exchange, err error) {
			noError(t, err)
			if x.Response.Body != nil {
				t.Errorf("%q", x.Response.Body)
			}
		}},
		{name: "computed status out of range", steps: "  - respond: {status: '${json.s}'}\n", body: `{"s":42}`, check: func(t *testing.T, x *flow.Exchange, err error) {
			if err == nil || !strings.Contains(err.Error(), "not an HTTP status") {
				t.Errorf("got %v", err)
			}
		}},
	})
}

func TestLog(t *testing.T) {
	if e := loadError("  - log: {message: x, level: loud}\n"); !strings.Contains(e, `"loud" is not one of debug, info, warn, error`) {
		t.Errorf("got %q", e)
	}
	runCases(t, []stepCase{{name: "missing value fails", steps: "  - log: '${property.nope}'\n", check: func(t *testing.T, x *flow.Exchange, err error) {
		if err == nil {
			t.Error("want error")
		}
	}}})
}

func TestConditionTypes(t *testing.T) {
	if e := loadError("  - filter: 1 + 2\n"); !strings.Contains(e, "a condition must be true or false, but this gives int") {
		t.Errorf("got %q", e)
	}
	_, err := runSteps(t, "  - filter: property.missing\n", "", "")
	if err == nil || !strings.Contains(err.Error(), "gave nothing, not true or false") {
		t.Errorf("a missing value in a condition must fail, got %v", err)
	}
}
