package flow_test

import (
	"strings"
	"testing"
)

// split(text, sep) is expr's string function everywhere, inside a split
// too; split.* stays out of scope outside a split's steps.
func TestSplitFunctionAndSplitScope(t *testing.T) {
	set := load(t, "f.yaml", "flow: f\ntrigger: {call: {}}\nsteps:\n  - set: {body: '${split(\"ADA1,GRACE3\", \",\")[1]}'}\n")
	x, err := runFlow(t, set, "f", "{}")
	if err != nil || string(x.Msg.Body()) != "GRACE3" {
		t.Fatalf("split(): %q %v", x.Msg.Body(), err)
	}
	_, err = loadErr("g.yaml", "flow: g\ntrigger: {call: {}}\nsteps:\n  - set: {body: '${split.index}'}\n")
	if err == nil || !strings.Contains(err.Error(), "g.yaml:4:20: in ${split.index}: split.* is only in scope inside the steps of a split") {
		t.Errorf("split.index outside a split: %v", err)
	}
	_, err = loadErr("h.yaml", "flow: h\ntrigger: {call: {}}\nsteps:\n  - set: {body: '${split(\"a\", \",\") + split.size}'}\n")
	if err == nil || strings.Count(err.Error(), "split.* is only in scope") != 1 {
		t.Errorf("the function and the scope in one expression: %v", err)
	}
	set = load(t, "i.yaml", "flow: i\ntrigger: {call: {}}\nsteps:\n  - split:\n      jsonpath: '$[*]'\n      steps:\n        - set: {properties: {parts: '${len(split(json.name, \" \")) + split.index}'}}\n")
	if _, err := runFlow(t, set, "i", `[{"name":"Ada Lovelace"},{"name":"Grace Brewster Hopper"}]`); err != nil {
		t.Fatalf("split() inside a split: %v", err)
	}
}
