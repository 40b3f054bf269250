package flow_test

import (
	"testing"
)

// error.attempt counts a step's failures in the message and
// error.retries_left what is left of on_error's retry budget, so a repair
// can run only when a retry will follow it.
func TestErrorAttemptAndRetriesLeft(t *testing.T) {
	set := load(t, "f.yaml", `
flow: f
trigger: {call: {}}
steps:
  - name: flaky
    fail: always
on_error:
  - set: {properties: {seen: '${(property.seen ?? "") + string(error.attempt) + "/" + string(error.retries_left) + " "}'}}
  - route:
      - when: error.retries_left > 0
        steps:
          - set: {properties: {repairs: '${(property.repairs ?? 0) + 1}'}}
          - retry: {max: 2}
`)
	x, err := runFlow(t, set, "f", "{}")
	if err == nil {
		t.Fatal("the step always fails")
	}
	if got := x.Msg.Property["seen"]; got != "1/2 2/1 3/0 " {
		t.Errorf("attempt/retries_left per failure: %q, want 1/2 2/1 3/0", got)
	}
	if got := x.Msg.Property["repairs"]; got != 2 {
		t.Errorf("repairs: %v, want 2 (none when no retry is left)", got)
	}
}

// error.status is the HTTP status when there was one, and absent (nil)
// otherwise, never a 0 that looks like a status.
func TestErrorStatusIsAbsentWithoutHTTP(t *testing.T) {
	set := load(t, "f.yaml", `
flow: f
trigger: {call: {}}
steps:
  - name: plain
    fail: no status here
on_error:
  - set: {properties: {status: '${error.status ?? "none"}', is_nil: '${error.status == nil}'}}
`, "g.yaml", `
flow: g
trigger: {call: {}}
steps:
  - fail: {message: refused, status: 404}
on_error:
  - set: {properties: {status: '${error.status}', big: '${(error.status ?? 0) >= 400}'}}
`)
	x, _ := runFlow(t, set, "f", "{}")
	if x.Msg.Property["status"] != "none" || x.Msg.Property["is_nil"] != true {
		t.Errorf("no HTTP status: %v", x.Msg.Property)
	}
	x, _ = runFlow(t, set, "g", "{}")
	if x.Msg.Property["status"] != 404 || x.Msg.Property["big"] != true {
		t.Errorf("status 404: %v", x.Msg.Property)
	}
}

// complete inside a called flow ends the whole message: neither the
// callee's nor the caller's remaining steps run.
func TestCompleteInACalledFlowEndsTheMessage(t *testing.T) {
	set := load(t, "outer.yaml", `
flow: outer
trigger: {call: {}}
steps:
  - set: {properties: {before: true}}
  - call: inner
  - set: {properties: {caller_after: true}}
`, "inner.yaml", `
flow: inner
trigger: {call: {}}
steps:
  - complete: NO_USER
  - set: {properties: {callee_after: true}}
`)
	x, err := runFlow(t, set, "outer", "{}")
	if err != nil {
		t.Fatal(err)
	}
	p := x.Msg.Property
	if p["before"] != true || p["caller_after"] != nil || p["callee_after"] != nil || x.Status != "NO_USER" {
		t.Errorf("properties %v, status %q: want only before, and NO_USER", p, x.Status)
	}
}
