package flow_test

import (
	"strings"
	"testing"

	"github.com/stride-engine/stride/engine/flow"
)

// Integers stay exact integers from the body through expressions,
// templates and JSON output; other numbers stay floats.
func TestJSONIntegersStayExact(t *testing.T) {
	body := `{"owner_id": 134815023, "big": 9007199254740993, "km": 12.32, "neg": -7, "exp": 1e3, "list": [1, 2.5]}`
	for _, tc := range []struct{ tmpl, want string }{
		{"${string(json.owner_id)}", "134815023"},
		{"id ${json.owner_id}", "id 134815023"},
		{"${json.big}", "9007199254740993"},   // beyond 2^53: a float64 would say ...992
		{"${json.owner_id + 1}", "134815024"}, // arithmetic stays integer
		{"${json.km * 1000}", "12320"},        // and mixes with floats
		{"${json.neg * 2}", "-14"},
		{"${json.exp}", "1000"}, // an exponent is a float
		{"${json.list}", "[1,2.5]"},
		{"${ {\"id\": json.owner_id} }", `{"id":134815023}`},
		{"${json.owner_id == 134815023}", "true"},
		{"${json.km > 12}", "true"},
	} {
		set := load(t, "f.yaml", "flow: f\ntrigger: {call: {}}\nsteps:\n  - set: {body: '"+strings.ReplaceAll(tc.tmpl, "'", "''")+"'}\n")
		x, err := runFlow(t, set, "f", body)
		if err != nil {
			t.Errorf("%s: %v", tc.tmpl, err)
			continue
		}
		if got := string(x.Msg.Body()); got != tc.want {
			t.Errorf("%s = %s, want %s", tc.tmpl, got, tc.want)
		}
	}
	v, err := flow.DecodeJSON([]byte(`{"a": 1} {"b": 2}`))
	if err == nil {
		t.Errorf("two documents decoded as one: %v", v)
	}
}
