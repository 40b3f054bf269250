// Package loadgen is a small closed-loop HTTP load generator for
// Stride's benchmarks. It only targets the URLs it is given (loopback in
// this repository), and every run is bounded by a duration and a count.
package loadgen

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Config describes one run.
type Config struct {
	URL         string
	Method      string
	Body        []byte
	Header      http.Header
	Concurrency int           // clients, each with one request in flight
	Duration    time.Duration // the run stops after this long
	MaxRequests int           // and after this many requests (0: no limit)
	// Check, when set, decides whether an answer counts as a success
	// (default: any 2xx).
	Check func(status int, body []byte) bool
}

// Result summarises a run.
type Result struct {
	Requests int
	Failed   int
	Status   map[int]int
	Elapsed  time.Duration
	P50, P99 time.Duration
	Max      time.Duration
}

// RPS is the rate of successful requests per second.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests-r.Failed) / r.Elapsed.Seconds()
}

// Client returns an HTTP client pooled for n concurrent connections that
// never decompresses or follows redirects on its own.
func Client(n int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:        n,
			MaxIdleConnsPerHost: n,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
			Proxy:               nil,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Run sends requests until the duration or the count is reached.
func Run(ctx context.Context, cfg Config) Result {
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodGet
	}
	check := cfg.Check
	if check == nil {
		check = func(status int, _ []byte) bool { return status >= 200 && status < 300 }
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	client := Client(cfg.Concurrency)
	defer client.CloseIdleConnections()

	var (
		mu       sync.Mutex
		res      = Result{Status: map[int]int{}}
		lats     []time.Duration
		issued   int
		wg       sync.WaitGroup
		start    = time.Now()
		maxReach = func() bool { return cfg.MaxRequests > 0 && issued >= cfg.MaxRequests }
	)
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			status := map[int]int{}
			failed := 0
			buf := new(bytes.Buffer)
			for ctx.Err() == nil {
				mu.Lock()
				if maxReach() {
					mu.Unlock()
					break
				}
				issued++
				mu.Unlock()
				req, _ := http.NewRequestWithContext(ctx, cfg.Method, cfg.URL, bytes.NewReader(cfg.Body))
				for k, v := range cfg.Header {
					req.Header[k] = v
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						failed++
						status[0]++
						local = append(local, time.Since(t0))
					}
					continue
				}
				buf.Reset()
				_, _ = io.Copy(buf, resp.Body)
				resp.Body.Close()
				local = append(local, time.Since(t0))
				status[resp.StatusCode]++
				if !check(resp.StatusCode, buf.Bytes()) {
					failed++
				}
			}
			mu.Lock()
			lats = append(lats, local...)
			for k, v := range status {
				res.Status[k] += v
			}
			res.Failed += failed
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Requests = len(lats)
	if len(lats) > 0 {
		slices.Sort(lats)
		res.P50 = lats[len(lats)/2]
		res.P99 = lats[len(lats)*99/100]
		res.Max = lats[len(lats)-1]
	}
	return res
}
