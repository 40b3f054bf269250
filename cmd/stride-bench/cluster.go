package main

// The "cluster" case measures signed webhook ingest (signature check +
// durable enqueue + 204, the consumer draining the queue) on a 3-node
// NATS JetStream cluster (R3), with one `stride run` instance and with
// three, rounds alternating. With three instances the load is spread
// evenly: one load-generator process per instance, a third of the
// clients each, their rates summed.

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stride-engine/stride/engine/store/natsstore/natstest"
)

// benchTB gives natstest what it needs outside `go test`: temp dirs,
// cleanups run by done, and a fatal error that ends the program.
type benchTB struct {
	mu       sync.Mutex
	cleanups []func()
	dirs     []string
}

func (b *benchTB) Helper() {}
func (b *benchTB) TempDir() string {
	d, err := os.MkdirTemp("", "stride-bench-nats-")
	check(err)
	b.mu.Lock()
	b.dirs = append(b.dirs, d)
	b.mu.Unlock()
	return d
}
func (b *benchTB) Cleanup(f func())                  { b.mu.Lock(); b.cleanups = append(b.cleanups, f); b.mu.Unlock() }
func (b *benchTB) Fatal(args ...any)                 { check(fmt.Errorf("%s", fmt.Sprint(args...))) }
func (b *benchTB) Fatalf(format string, args ...any) { check(fmt.Errorf(format, args...)) }

// done runs the cleanups, last first, and removes the temp dirs.
func (b *benchTB) done() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
	for _, d := range b.dirs {
		os.RemoveAll(d)
	}
}

// startClusterInstances starts n `stride run` processes on the bench
// flows, sharing the NATS store at urls under prefix.
func startClusterInstances(bin, urls, prefix string, n int) ([]*server, error) {
	var out []*server
	for i := range n {
		dir, err := os.MkdirTemp("", "stride-bench-cluster-")
		if err != nil {
			return out, err
		}
		s, err := startStrideBinary(bin, dir, "--store", urls, "--nats-replicas", "3", "--nats-prefix", prefix, "--instance", fmt.Sprintf("%s-%d", prefix, i+1))
		if err != nil {
			return out, err
		}
		out = append(out, s)
	}
	return out, nil
}

// loadSpread runs one load process per instance at once, conc clients
// spread over them, and sums their rates; p99 is the worst of them.
func loadSpread(servers []*server, d time.Duration, conc int) (loadResult, error) {
	var mu sync.Mutex
	var sum loadResult
	var firstErr error
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() {
			r, err := runLoad(s.base+"/webhook", "webhook", d, max(1, conc/len(servers)))
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			sum.RPS += r.RPS
			sum.Requests += r.Requests
			sum.Failed += r.Failed
			sum.P50US = max(sum.P50US, r.P50US)
			sum.P99US = max(sum.P99US, r.P99US)
		})
	}
	wg.Wait()
	return sum, firstErr
}

func benchCluster(w io.Writer, bin string, d time.Duration, rounds, conc int) error {
	tb := &benchTB{}
	defer tb.done()
	nc := natstest.StartCluster(tb, 3)
	one, err := startClusterInstances(bin, nc.URLs, "one", 1)
	defer stopAll(one)
	if err != nil {
		return err
	}
	three, err := startClusterInstances(bin, nc.URLs, "three", 3)
	defer stopAll(three)
	if err != nil {
		return err
	}
	var r1, r3 []loadResult
	var cpu1, cpu3 cpuSplit
	for range rounds {
		before := cpuNow(one)
		a, err := loadSpread(one, d, conc)
		if err != nil {
			return err
		}
		cpu1.add(before, cpuNow(one))
		before = cpuNow(three)
		b, err := loadSpread(three, d, conc)
		if err != nil {
			return err
		}
		cpu3.add(before, cpuNow(three))
		r1, r3 = append(r1, a), append(r3, b)
	}
	med := func(rs []loadResult) loadResult {
		sort.Slice(rs, func(i, j int) bool { return rs[i].RPS < rs[j].RPS })
		return rs[len(rs)/2]
	}
	m1, m3 := med(r1), med(r3)
	fmt.Fprintf(w, "\n## Signed webhook ingest on a 3-node NATS JetStream cluster (R3), 1 vs 3 instances\n\n")
	fmt.Fprintf(w, "%d clients, %v × %d rounds alternating, medians; loopback, one machine (%d CPUs) for the NATS servers, the instances and the load generators.\n\n", conc, d, rounds, runtime.NumCPU())
	fmt.Fprintf(w, "| instances | req/s | p50 | p99 (worst generator) | failed |\n|---|---|---|---|---|\n")
	for _, x := range []struct {
		n int
		r loadResult
	}{{1, m1}, {3, m3}} {
		fmt.Fprintf(w, "| %d | %.0f | %.1f ms | %.1f ms | %d |\n", x.n, x.r.RPS, float64(x.r.P50US)/1000, float64(x.r.P99US)/1000, x.r.Failed)
	}
	fmt.Fprintf(w, "\n1 → 3 instances: **%.2f×** the throughput.\n", m3.RPS/m1.RPS)
	fmt.Fprintf(w, "\nCPU seconds per 1,000 requests (all rounds): with 1 instance NATS servers %.2f, stride %.2f; with 3 instances NATS servers %.2f, stride (all three) %.2f. The load generators use the rest of the %d CPUs.\n",
		cpu1.nats/float64(sumReq(r1))*1000, cpu1.stride/float64(sumReq(r1))*1000, cpu3.nats/float64(sumReq(r3))*1000, cpu3.stride/float64(sumReq(r3))*1000, runtime.NumCPU())
	return nil
}

func sumReq(rs []loadResult) int {
	n := 0
	for _, r := range rs {
		n += r.Requests
	}
	return max(n, 1)
}

// cpuSplit adds up the CPU seconds the NATS servers (this process) and
// the stride instances used.
type cpuSplit struct{ nats, stride float64 }

type cpuSample struct{ nats, stride float64 }

func cpuNow(ss []*server) cpuSample {
	c := cpuSample{nats: procCPU(os.Getpid())}
	for _, s := range ss {
		c.stride += procCPU(s.cmd.Process.Pid)
	}
	return c
}

func (c *cpuSplit) add(before, after cpuSample) {
	c.nats += after.nats - before.nats
	c.stride += after.stride - before.stride
}

// procCPU is a process's user+system CPU seconds from /proc (0 where
// there is no /proc).
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) start after ")".
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

func stopAll(ss []*server) {
	for _, s := range ss {
		s.stop()
	}
}
