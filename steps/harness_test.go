package steps_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/steps"
	_ "github.com/stride-engine/stride/steps"
)

// stepCase runs one flow whose steps are given, on a message, and checks
// the outcome.
type stepCase struct {
	name        string
	steps       string // the steps: section, indented by two spaces
	body        string
	contentType string
	check       func(t *testing.T, x *flow.Exchange, err error)
}

func runCases(t *testing.T, cases []stepCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x, err := runSteps(t, tc.steps, tc.body, tc.contentType)
			tc.check(t, x, err)
		})
	}
}

func runSteps(t *testing.T, steps, body, contentType string) (*flow.Exchange, error) {
	t.Helper()
	src := "flow: f\ntrigger: {call: {}}\nsteps:\n" + strings.TrimLeft(steps, "\n")
	set, err := flow.Load([]flow.Source{{Name: "f.yaml", Data: []byte(src)}})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	set.Bind(func(string) (string, bool) { return "", false })
	if contentType == "" {
		contentType = "application/json"
	}
	x := newExchange("m1", flow.NewMessage([]byte(body), contentType), set,
		func() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) })
	return x, set.Run(context.Background(), "f", x)
}

// loadError returns the load error of a flow with the given steps.
func loadError(steps string) string {
	src := "flow: f\ntrigger: {call: {}}\nsteps:\n" + strings.TrimLeft(steps, "\n")
	_, err := flow.Load([]flow.Source{{Name: "f.yaml", Data: []byte(src)}})
	if err == nil {
		return ""
	}
	return err.Error()
}

func noError(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantProp(t *testing.T, x *flow.Exchange, name string, want any) {
	t.Helper()
	if got := x.Msg.Property[name]; got != want {
		t.Errorf("property %s = %#v, want %#v", name, got, want)
	}
}

func asStatus(err error, target **flow.StatusError) bool {
	return errors.As(err, target)
}

// newExchange returns an exchange on set sharing the set's resources
// (pooled HTTP, CSRF tokens, locks) with its other exchanges, as the
// exchanges of one runtime do.
func newExchange(id string, msg *flow.Message, set *flow.FlowSet, now func() time.Time) *flow.Exchange {
	return steps.NewTestExchange(id, msg, set, now)
}
