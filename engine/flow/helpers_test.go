package flow_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	_ "github.com/stride-engine/stride/engine/runtime" // the trigger kinds
	_ "github.com/stride-engine/stride/steps"
)

// load compiles flow files given as name → YAML, failing the test on errors.
func load(t testing.TB, files ...string) *flow.FlowSet {
	t.Helper()
	set, err := loadErr(files...)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	set.Bind(func(name string) (string, bool) {
		v, ok := testVars[name]
		return v, ok
	})
	return set
}

var testVars = map[string]string{"API_URL": "http://127.0.0.1:1", "CLIENT_SECRET": "s3cr3t-value"}

// loadErr loads flows written as alternating name, content.
func loadErr(files ...string) (*flow.FlowSet, error) {
	var srcs []flow.Source
	for i := 0; i+1 < len(files); i += 2 {
		srcs = append(srcs, flow.Source{Name: files[i], Data: []byte(strings.TrimLeft(files[i+1], "\n"))})
	}
	return flow.Load(srcs)
}

var fixedNow = time.Date(2026, 11, 23, 7, 5, 9, 0, time.UTC)

// runFlow runs flow id of set on a message with body.
func runFlow(t testing.TB, set *flow.FlowSet, id, body string) (*flow.Exchange, error) {
	t.Helper()
	msg := flow.NewMessage([]byte(body), "application/json")
	x := flow.NewExchange("m1", msg, set, func() time.Time { return fixedNow })
	x.Query = map[string]string{}
	msg.SetHeader("content-type", "text/plain")
	err := set.Run(context.Background(), id, x)
	return x, err
}
