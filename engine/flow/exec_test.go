package flow_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/flow"
)

func TestRespondEndsTheFlowFromInsideARoute(t *testing.T) {
	set := load(t, "f.yaml", `
flow: f
trigger: {call: {}}
steps:
  - route:
      - when: body == "ping"
        steps:
          - respond: {status: 204}
  - set: {properties: {after: true}}
  - respond: {status: 200, body: done}
`)
	x, err := runFlow(t, set, "f", "ping")
	if err != nil || x.Response == nil || x.Response.Status != 204 || x.Msg.Property["after"] != nil {
		t.Fatalf("ping: err=%v response=%+v props=%v; want 204 and no step after the route", err, x.Response, x.Msg.Property)
	}
	x, err = runFlow(t, set, "f", "other")
	if err != nil || x.Response.Status != 200 || string(x.Response.Body) != "done" || x.Msg.Property["after"] != true {
		t.Fatalf("other: err=%v response=%+v", err, x.Response)
	}
}

func TestFilterEndsAsDiscarded(t *testing.T) {
	set := load(t, "f.yaml", `
flow: f
trigger: {call: {}}
steps:
  - filter: json.type == "activities"
  - set: {properties: {kept: true}}
`)
	x, err := runFlow(t, set, "f", `{"type":"sleep"}`)
	if err != nil || x.Status != "DISCARDED" || x.Msg.Property["kept"] != nil {
		t.Fatalf("err=%v status=%q props=%v", err, x.Status, x.Msg.Property)
	}
	x, _ = runFlow(t, set, "f", `{"type":"activities"}`)
	if x.Status != "" || x.Msg.Property["kept"] != true {
		t.Fatalf("status=%q props=%v", x.Status, x.Msg.Property)
	}
}

func TestOnErrorSeesErrorAndCanRespond(t *testing.T) {
	set := load(t, "f.yaml", `
flow: f
trigger: {call: {}}
steps:
  - name: check
    fail: {message: 'bad input ${body}', status: 422}
on_error:
  - respond:
      status: '${error.status}'
      body: '${error.step}|${error.message}|${error.file}'
`)
	x, err := runFlow(t, set, "f", "xyz")
	if err != nil {
		t.Fatalf("on_error answered, so the message completes; got %v", err)
	}
	if x.Response.Status != 422 || string(x.Response.Body) != "check|bad input xyz|f.yaml:5" {
		t.Fatalf("response %d %q", x.Response.Status, x.Response.Body)
	}
}

func TestOnErrorWithoutRespondStillFails(t *testing.T) {
	var logs bytes.Buffer
	set := load(t, "f.yaml", `
flow: f
trigger: {call: {}}
steps:
  - fail: boom
on_error:
  - log: {level: error, message: 'handled ${error.message}'}
`)
	msg := flow.NewMessage(nil, "")
	x := flow.NewExchange("m1", msg, set, nil)
	x.Log = slog.New(slog.NewTextHandler(&logs, nil))
	err := set.Run(context.Background(), "f", x)
	if err == nil || !strings.Contains(err.Error(), "f / fail (f.yaml:4): boom") {
		t.Fatalf("want the original error, got %v", err)
	}
	if !strings.Contains(logs.String(), "handled boom") || !strings.Contains(logs.String(), "message_id=m1") {
		t.Fatalf("on_error log line missing: %s", logs.String())
	}
}

func TestErrorInsideOnErrorNamesBothPlacesAndDoesNotLoop(t *testing.T) {
	set := load(t, "f.yaml", `
flow: f
trigger: {call: {}}
steps:
  - fail: first
on_error:
  - fail: second
`)
	_, err := runFlow(t, set, "f", "")
	if err == nil {
		t.Fatal("want failure")
	}
	for _, want := range []string{"f.yaml:4", "first", "then on_error failed", "f.yaml:6", "second"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q missing from %v", want, err)
		}
	}
}

// The 401 pattern: on_error repairs (here: sets a token) and retries the
// failed step, which then succeeds. on_error runs where the step failed,
// even nested in a route, so only that step runs again.
func TestRetryRunsTheFailedStepAgainAfterRepair(t *testing.T) {
	set := load(t, "f.yaml", `
flow: f
trigger: {call: {}}
steps:
  - set: {properties: {attempts: 0}}
  - route:
      - when: "true"
        steps:
          - name: send
            set: {properties: {sent: '${property.token == "fresh" ? true : fromJSON("{broken")}'}}
  - set: {properties: {done: true}}
on_error:
  - route:
      - when: error.step == "send"
        steps:
          - set: {properties: {token: fresh, attempts: '${property.attempts + 1}'}}
          - retry: {max: 1}
`)
	x, err := runFlow(t, set, "f", "")
	if err != nil || x.Msg.Property["sent"] != true || x.Msg.Property["done"] != true || x.Msg.Property["attempts"] != 1 {
		t.Fatalf("err=%v props=%v", err, x.Msg.Property)
	}
}

func TestRetryIsBoundedByMax(t *testing.T) {
	set := load(t, "f.yaml", `
flow: f
trigger: {call: {}}
steps:
  - set: {properties: {n: 0}}
  - name: always
    fail: nope
on_error:
  - set: {properties: {n: '${property.n + 1}'}}
  - retry: {max: 3}
`)
	x, err := runFlow(t, set, "f", "")
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("want the original error once retries are spent, got %v", err)
	}
	if x.Msg.Property["n"] != 4 { // the first failure and three retries
		t.Fatalf("on_error ran %v times, want 4", x.Msg.Property["n"])
	}
}

func TestRetryFromANamedStep(t *testing.T) {
	set := load(t, "f.yaml", `
flow: f
trigger: {call: {}}
steps:
  - name: prepare
    set: {properties: {prepared: '${(property.prepared ?? 0) + 1}'}}
  - route:
      - when: property.prepared < 2
        steps: [{fail: not yet}]
on_error:
  - retry: {max: 1, from: prepare}
`)
	x, err := runFlow(t, set, "f", "")
	if err != nil || x.Msg.Property["prepared"] != 2 {
		t.Fatalf("err=%v prepared=%v", err, x.Msg.Property["prepared"])
	}
}

func TestCallRunsWithTheCalleesVariablesOnTheCallersMessage(t *testing.T) {
	set := load(t, "a.yaml", `
flow: a
env: {API_URL: caller}
trigger: {call: {}}
steps:
  - set: {properties: {before: '${env.API_URL}'}}
  - call: b
  - set: {properties: {after: '${env.API_URL}'}}
`, "b.yaml", `
flow: b
env: {OTHER: callee-default}
trigger: {call: {}}
steps:
  - set: {properties: {inside: '${env.OTHER}', seen: '${property.before}'}}
`)
	x, err := runFlow(t, set, "a", "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"before": "http://127.0.0.1:1", "inside": "callee-default", "seen": "http://127.0.0.1:1", "after": "http://127.0.0.1:1"}
	for k, v := range want {
		if x.Msg.Property[k] != v {
			t.Errorf("property %s = %v, want %v", k, x.Msg.Property[k], v)
		}
	}
}

func TestCalleeFailureRunsTheCallersOnError(t *testing.T) {
	set := load(t, "a.yaml", `
flow: a
trigger: {call: {}}
steps:
  - call: b
on_error:
  - respond: {status: 502, body: 'caller saw ${error.step}'}
`, "b.yaml", `
flow: b
trigger: {call: {}}
steps:
  - name: inner
    fail: down
`)
	x, err := runFlow(t, set, "a", "")
	if err != nil || x.Response.Status != 502 || string(x.Response.Body) != "caller saw inner" {
		t.Fatalf("err=%v response=%+v", err, x.Response)
	}
}

func TestTraceRecordsEveryStepWithPosition(t *testing.T) {
	set := load(t, "f.yaml", `
flow: f
trigger: {call: {}}
steps:
  - set: {properties: {a: 1}}
  - name: branch
    route:
      - when: "true"
        steps:
          - log: inner
  - respond: {status: 200}
`)
	x, _ := runFlow(t, set, "f", "")
	var got []string
	for _, e := range x.Trace {
		got = append(got, e.Step+"@"+e.At+":"+e.Outcome)
	}
	want := "set@f.yaml:4:ok log@f.yaml:9:ok branch@f.yaml:6:ok respond@f.yaml:10:stopped"
	if strings.Join(got, " ") != want {
		t.Fatalf("trace %v\nwant     %s", got, want)
	}
}

func TestDeadlineStopsBeforeTheNextStep(t *testing.T) {
	set := load(t, "f.yaml", "flow: f\ntrigger: {call: {}}\nsteps:\n  - log: a\n  - log: b\n")
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	x := flow.NewExchange("m", flow.NewMessage(nil, ""), set, nil)
	err := set.Run(ctx, "f", x)
	if err == nil || !strings.Contains(err.Error(), "not started") || !strings.Contains(err.Error(), "f.yaml:4") {
		t.Fatalf("got %v", err)
	}
}

func TestSecretsAreRedactedFromErrorsAndTraces(t *testing.T) {
	var logs bytes.Buffer
	set := load(t, "f.yaml", `
flow: f
secrets: [CLIENT_SECRET]
trigger: {call: {}}
steps:
  - log: 'using ${secret.CLIENT_SECRET}'
  - fail: 'rejected ${secret.CLIENT_SECRET}'
`)
	x := flow.NewExchange("m", flow.NewMessage(nil, ""), set, nil)
	x.Log = slog.New(slog.NewTextHandler(&logs, nil))
	_ = set.Run(context.Background(), "f", x)
	for _, e := range x.Trace {
		if strings.Contains(e.Error, testVars["CLIENT_SECRET"]) {
			t.Errorf("trace leaks the secret: %+v", e)
		}
	}
	if strings.Contains(logs.String(), testVars["CLIENT_SECRET"]) || !strings.Contains(logs.String(), "using ***") {
		t.Errorf("log leaks the secret or lost the line: %s", logs.String())
	}
	if got := set.Redact("x " + testVars["CLIENT_SECRET"] + " y"); got != "x *** y" {
		t.Errorf("Redact = %q", got)
	}
}

func TestMessageViewsAreDroppedWhenTheBodyChanges(t *testing.T) {
	m := flow.NewMessage([]byte(`{"a":1}`), "application/json")
	v1, err := m.JSON()
	if err != nil || v1.(map[string]any)["a"] != int64(1) {
		t.Fatalf("json %v %v", v1, err)
	}
	m.SetBody([]byte(`<a>2</a>`), "application/xml")
	if _, err := m.JSON(); err == nil {
		t.Fatal("JSON view of the old body survived SetBody")
	}
	doc, err := m.XML()
	if err != nil || doc.SelectElement("a").InnerText() != "2" {
		t.Fatalf("xml %v", err)
	}
	if m.BodyString() != "<a>2</a>" {
		t.Fatal("string view is stale")
	}
}

func TestXMLWithEntitiesIsRejected(t *testing.T) {
	bomb := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><lolz>&lol2;</lolz>`
	m := flow.NewMessage([]byte(bomb), "application/xml")
	if _, err := m.XML(); err == nil || !strings.Contains(err.Error(), "DOCTYPE") {
		t.Fatalf("want DOCTYPE rejection, got %v", err)
	}
}
