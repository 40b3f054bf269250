// Command stride-bench runs Stride's load benchmarks on loopback and
// prints a markdown table. Each case is measured against a baseline in
// the same run, rounds alternating, and reported as medians and ratios:
// these machines are noisy, absolute numbers are not comparable across
// runs.
//
//	stride-bench [-duration 3s] [-rounds 3] [-c 32] [CASE...]
//
// Cases: binary (the real stride run binary, store and message log on,
// against a plain Go server process, load from a separate process: the
// rename flow and signed webhook ingest with fsync), http (a JSON flow
// in-process against a plain net/http handler, with and without
// Accept-Encoding: gzip), webhook (the Fitbit webhook flow against
// a plain handler), reload (edits under load), and, with the built binary
// against the sandbox, e2e, daily, rss and soak (a fixed rate of unique
// signed notifications through the shipped Fitbit flows for -minutes, a
// line every -every: see soak.go).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/runtime"
	"github.com/stride-engine/stride/internal/loadgen"
	_ "github.com/stride-engine/stride/steps"
)

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "stride-bench:", err)
		os.Exit(1)
	}
}

func main() {
	// Helper processes of the binary case: the baseline server and the
	// load generator run apart from the measuring process.
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "plain-server":
			check(plainServer(os.Args[2:]))
			return
		case "load":
			check(loadProcess(os.Args[2:]))
			return
		case "soak-load":
			check(soakLoad(os.Args[2:], os.Stdout))
			return
		}
	}
	duration := flag.Duration("duration", 3*time.Second, "length of one measured round")
	rounds := flag.Int("rounds", 3, "rounds per variant (medians are reported)")
	conc := flag.Int("c", 32, "concurrent clients")
	flows := flag.String("flows", "flows", "the flows directory (examples/ and fitbit/ are used)")
	bin := flag.String("bin", "bin/stride", "the stride binary (e2e, daily, rss)")
	users := flag.Int("users", 1000, "e2e: users")
	dailyUsers := flag.Int("daily-users", 10000, "daily: users")
	flag.StringVar(&strideMemoryLimit, "memory-limit", "", "binary, e2e, daily, soak: run stride with this --memory-limit (default: stride's own, 256MiB without a cgroup limit)")
	profile := flag.String("profile", "", "binary: write CPU and allocation profiles of `stride run` under the last rename round's load to this directory (rename-cpu.pprof, rename-allocs.pprof)")
	var soak soakConfig
	flag.IntVar(&soak.rate, "rate", 200, "soak: notifications a second")
	minutes := flag.Float64("minutes", 2, "soak: minutes of load")
	flag.DurationVar(&soak.every, "every", time.Minute, "soak: one line per interval")
	flag.IntVar(&soak.users, "soak-users", 0, "soak: users (0: enough for the sandbox's rate limit of 150 calls per user and hour)")
	flag.DurationVar(&soak.drain, "drain", time.Minute, "soak: how long the queue may take to drain after the load")
	flag.Parse()
	cases := flag.Args()
	if len(cases) == 0 {
		cases = []string{"http"}
	}
	for _, c := range cases {
		switch c {
		case "http":
			check(benchHTTP(os.Stdout, *flows, *duration, *rounds, *conc))
		case "binary":
			var extra []string
			if strideMemoryLimit != "" {
				extra = []string{"--memory-limit", strideMemoryLimit}
			}
			check(benchBinary(os.Stdout, *bin, *duration, *rounds, *conc, *profile, extra...))
		case "webhook":
			check(benchWebhook(os.Stdout, *flows, *duration, *rounds, *conc))
		case "e2e":
			check(benchE2E(os.Stdout, *bin, *flows, *users))
		case "daily":
			check(benchDaily(os.Stdout, *bin, *flows, *dailyUsers))
		case "reload":
			check(benchReload(os.Stdout, 20))
		case "cluster":
			check(benchCluster(os.Stdout, *bin, *duration, *rounds, *conc))
		case "rss":
			check(benchRSS(os.Stdout, *bin, *flows, *duration))
		case "soak":
			soak.d = time.Duration(*minutes * float64(time.Minute))
			soak.memoryLimit = strideMemoryLimit
			check(benchSoak(os.Stdout, *bin, *flows, soak))
		default:
			fmt.Fprintf(os.Stderr, "stride-bench: unknown case %q\n", c)
			os.Exit(2)
		}
	}
}

// activityBody is the request of the http case: one day of activity.
var activityBody = []byte(`{"user":"26FWFL","day":"2026-11-22","steps":15720,"distanceKm":12.32,"note":"morning run"}`)

// plainActivity does by hand what flows/examples/activity-echo.yaml does:
// parse JSON, rename two fields, compute one, answer JSON.
func plainActivity(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	var in map[string]any
	if err := json.Unmarshal(data, &in); err != nil || in["steps"] == nil {
		http.Error(w, `{"error":"bad input"}`, http.StatusBadRequest)
		return
	}
	km, _ := in["distanceKm"].(float64)
	out, _ := json.Marshal(map[string]any{"userId": in["user"], "date": in["day"], "steps": in["steps"], "distanceMeters": float64(int64(km*1000 + 0.5))})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

type variant struct {
	name string
	url  string
	hdr  http.Header
}

type stats struct{ rps, p50, p99 []float64 }

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func benchHTTP(w io.Writer, flowsDir string, d time.Duration, rounds, conc int) error {
	set, err := flow.LoadPaths(flowsDir + "/examples")
	if err != nil {
		return err
	}
	set.Bind(func(string) (string, bool) { return "", false })
	rt := runtime.New(runtime.Options{})
	rt.Swap(set)
	if err := rt.Start(context.Background()); err != nil {
		return err
	}
	defer rt.Stop(context.Background())
	flowSrv := httptest.NewServer(rt)
	defer flowSrv.Close()
	plainSrv := httptest.NewServer(http.HandlerFunc(plainActivity))
	defer plainSrv.Close()

	gz := http.Header{"Accept-Encoding": {"gzip"}, "Content-Type": {"application/json"}}
	js := http.Header{"Content-Type": {"application/json"}}
	variants := []variant{
		{"plain net/http", plainSrv.URL + "/examples/activity", js},
		{"stride flow", flowSrv.URL + "/examples/activity", js},
		{"plain net/http, gzip client", plainSrv.URL + "/examples/activity", gz},
		{"stride flow, gzip client", flowSrv.URL + "/examples/activity", gz},
	}
	results := make([]stats, len(variants))
	// Warm up both servers and the client pools.
	for _, v := range variants[:2] {
		loadgen.Run(context.Background(), loadgen.Config{URL: v.url, Method: "POST", Body: activityBody, Header: v.hdr, Concurrency: conc, Duration: d / 3})
	}
	for r := 0; r < rounds; r++ {
		for i, v := range variants {
			res := loadgen.Run(context.Background(), loadgen.Config{URL: v.url, Method: "POST", Body: activityBody, Header: v.hdr, Concurrency: conc, Duration: d})
			if res.Failed > 0 {
				return fmt.Errorf("%s: %d of %d requests failed (%v)", v.name, res.Failed, res.Requests, res.Status)
			}
			results[i].rps = append(results[i].rps, res.RPS())
			results[i].p50 = append(results[i].p50, float64(res.P50.Microseconds()))
			results[i].p99 = append(results[i].p99, float64(res.P99.Microseconds()))
		}
	}
	fmt.Fprintf(w, "### HTTP flow against a plain handler (%d clients, %d rounds of %v, medians)\n\n", conc, rounds, d)
	fmt.Fprintln(w, "| variant | req/s | p50 µs | p99 µs | req/s ratio | p99 ratio |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	for i, v := range variants {
		base := results[i-i%2]
		fmt.Fprintf(w, "| %s | %.0f | %.0f | %.0f | %.2f | %.2f |\n", v.name, median(results[i].rps), median(results[i].p50), median(results[i].p99),
			median(results[i].rps)/median(base.rps), median(results[i].p99)/median(base.p99))
	}
	fmt.Fprintln(w)
	return nil
}
