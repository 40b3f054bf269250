package flow_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stride-engine/stride/engine/flow"
)

// benchExchange loads a flow and returns a reusable exchange on it.
func benchExchange(b *testing.B, src, body string) (*flow.FlowSet, *flow.Exchange) {
	set := load(b, "b.yaml", src)
	msg := flow.NewMessage([]byte(body), "application/json")
	msg.Property["id"] = "26FWFL"
	msg.Property["n"] = 7
	msg.SetHeader("X-Kind", "activities")
	x := flow.NewExchange("bench", msg, set, nil)
	return set, x
}

func runBench(b *testing.B, set *flow.FlowSet, x *flow.Exchange) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		x.Trace = x.Trace[:0]
		if err := set.Run(ctx, "b", x); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetOneTemplatedProperty is the goal: under 1 µs for a
// set step with one templated property, executor included.
func BenchmarkSetOneTemplatedProperty(b *testing.B) {
	set, x := benchExchange(b, "flow: b\ntrigger: {call: {}}\nsteps:\n  - set: {properties: {key: 'user-${property.id}'}}\n", "{}")
	runBench(b, set, x)
}

func BenchmarkCondition(b *testing.B) {
	set, x := benchExchange(b, "flow: b\ntrigger: {call: {}}\nsteps:\n  - filter: property.n > 5 && header[\"X-Kind\"] == \"activities\"\n", "{}")
	runBench(b, set, x)
}

func BenchmarkTemplateInterpolation(b *testing.B) {
	set, x := benchExchange(b, "flow: b\ntrigger: {call: {}}\nsteps:\n  - set: {properties: {key: '${property.id}-${property.n}-${header[\"X-Kind\"]}'}}\n", "{}")
	runBench(b, set, x)
}

func BenchmarkJSONPathOnBody(b *testing.B) {
	set, x := benchExchange(b, "flow: b\ntrigger: {call: {}}\nsteps:\n  - set: {properties: {owner: '${jsonpath(\"$[0].ownerId\")}'}}\n",
		`[{"collectionType":"activities","date":"2026-11-22","ownerId":"26FWFL"}]`)
	runBench(b, set, x)
}

func BenchmarkFormatDate(b *testing.B) {
	set, x := benchExchange(b, "flow: b\ntrigger: {call: {}}\nsteps:\n  - set: {properties: {day: '${format_date(now(), \"yyyy-MM-dd\")}'}}\n", "{}")
	runBench(b, set, x)
}

// BenchmarkExecutorPerStep measures the executor's cost per step: a flow
// of n trivial steps (a constant condition) divided by n.
func BenchmarkExecutorPerStep(b *testing.B) {
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("steps=%d", n), func(b *testing.B) {
			flow := "flow: b\ntrigger: {call: {}}\nsteps:\n" + strings.Repeat("  - filter: \"true\"\n", n)
			set, x := benchExchange(b, flow, "{}")
			runBench(b, set, x)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/step")
		})
	}
}

func BenchmarkLoadFlow(b *testing.B) {
	src := []flow.Source{{Name: "b.yaml", Data: []byte(`
flow: b
env: {API_URL: x}
trigger: {http: {path: /b, methods: [GET, POST]}}
steps:
  - route:
      - when: request.method == "GET"
        steps: [{respond: {status: '${query.verify == "x" ? 204 : 404}'}}]
  - set: {properties: {owner: '${jsonpath("$[0].ownerId")}', day: '${format_date(now(), "yyyy-MM-dd")}'}}
  - filter: property.owner != ""
  - respond: {status: 204}
`)}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := flow.Load(src); err != nil {
			b.Fatal(err)
		}
	}
}
