package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine"
	_ "github.com/stride-engine/stride/steps"
)

// load compiles flow files given as name → YAML, failing the test on errors.
func load(t testing.TB, files ...string) *engine.FlowSet {
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
func loadErr(files ...string) (*engine.FlowSet, error) {
	var srcs []engine.Source
	for i := 0; i+1 < len(files); i += 2 {
		srcs = append(srcs, engine.Source{Name: files[i], Data: []byte(strings.TrimLeft(files[i+1], "\n"))})
	}
	return engine.Load(srcs)
}

var fixedNow = time.Date(2026, 11, 23, 7, 5, 9, 0, time.UTC)

// runFlow runs flow id of set on a message with body.
func runFlow(t testing.TB, set *engine.FlowSet, id, body string) (*engine.Exchange, error) {
	t.Helper()
	msg := engine.NewMessage([]byte(body), "application/json")
	x := engine.NewExchange("m1", msg, set, func() time.Time { return fixedNow })
	x.Query = map[string]string{}
	msg.SetHeader("content-type", "text/plain")
	err := set.Run(context.Background(), id, x)
	return x, err
}
