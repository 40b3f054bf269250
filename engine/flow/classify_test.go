package flow_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stride-engine/stride/engine/flow"
)

func TestClassify(t *testing.T) {
	status := func(s int) error { return &flow.StatusError{Status: s, Msg: fmt.Sprint(s)} }
	step := func(err error) error { return &flow.StepError{Flow: "f", Step: "s", Err: err} }
	override := flow.StatusClasses{Permanent: []int{503}, Transient: []int{404}}
	for _, tc := range []struct {
		name      string
		err       error
		sc        flow.StatusClasses
		class     string
		permanent bool
	}{
		{"a 404 answer", step(status(404)), flow.StatusClasses{}, flow.ClassRefused, true},
		{"a 400 answer", step(status(400)), flow.StatusClasses{}, flow.ClassRefused, true},
		{"a 401: on_error repairs it", step(status(401)), flow.StatusClasses{}, flow.ClassTransient, false},
		{"a 429", step(status(429)), flow.StatusClasses{}, flow.ClassTransient, false},
		{"a 408", status(408), flow.StatusClasses{}, flow.ClassTransient, false},
		{"a 503", status(503), flow.StatusClasses{}, flow.ClassTransient, false},
		{"a 503 made permanent", status(503), override, flow.ClassRefused, true},
		{"a 404 made transient", status(404), override, flow.ClassTransient, false},
		{"an expression on the content", step(&flow.ContentError{Err: errors.New("cannot fetch x from float64")}), flow.StatusClasses{}, flow.ClassContent, true},
		{"a missing value", step(&flow.NoValueError{Expr: "json.x"}), flow.StatusClasses{}, flow.ClassContent, true},
		{"a body that is not JSON", step(&flow.PayloadError{Err: errors.New("not JSON")}), flow.StatusClasses{}, flow.ClassPayload, true},
		{"fail: {retry: false}", step(&flow.PermanentError{Err: errors.New("no")}), flow.StatusClasses{}, flow.ClassPermanent, true},
		{"fail: {retry: true, status: 404}", step(&flow.TransientError{Err: status(404)}), flow.StatusClasses{}, flow.ClassTransient, false},
		{"a timeout, even of a content step", step(fmt.Errorf("%w: %w", context.DeadlineExceeded, &flow.ContentError{Err: errors.New("x")})), flow.StatusClasses{}, flow.ClassTransient, false},
		{"a connection error", step(errors.New("connection refused")), flow.StatusClasses{}, flow.ClassTransient, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			class, permanent := flow.Classify(tc.err, tc.sc)
			if class != tc.class || permanent != tc.permanent {
				t.Errorf("Classify = %s %v, want %s %v", class, permanent, tc.class, tc.permanent)
			}
		})
	}
}

// An expression failing at run time on the message's content is a
// ContentError; a body that is not JSON is a PayloadError.
func TestRunTimeErrorsCarryTheirClass(t *testing.T) {
	set := load(t, "f.yaml", "flow: f\ntrigger: {call: {}}\nsteps:\n  - set: {properties: {kind: '${json.kinds[0].collectionType}'}}\n")
	_, err := runFlow(t, set, "f", `{"kinds":[1,2,3]}`)
	if class, _ := flow.Classify(err, flow.StatusClasses{}); class != flow.ClassContent {
		t.Errorf("%v: class %s, want content", err, class)
	}
	_, err = runFlow(t, set, "f", `{"kinds":`)
	if class, _ := flow.Classify(err, flow.StatusClasses{}); class != flow.ClassPayload {
		t.Errorf("%v: class %s, want payload", err, class)
	}
}
