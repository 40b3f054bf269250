package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunCountsAndBounds(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1)%10 == 0 {
			w.WriteHeader(500)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	res := Run(context.Background(), Config{URL: srv.URL, Concurrency: 4, Duration: 10 * time.Second, MaxRequests: 200})
	if res.Requests != 200 || int(served.Load()) != 200 {
		t.Fatalf("requests %d, served %d; want 200 each", res.Requests, served.Load())
	}
	if res.Failed != 20 || res.Status[500] != 20 || res.Status[200] != 180 {
		t.Fatalf("failed %d status %v", res.Failed, res.Status)
	}
	if res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 || res.RPS() <= 0 {
		t.Fatalf("latencies %v %v %v rps %v", res.P50, res.P99, res.Max, res.RPS())
	}
}

func TestRunStopsAtTheDuration(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	start := time.Now()
	res := Run(context.Background(), Config{URL: srv.URL, Concurrency: 2, Duration: 200 * time.Millisecond})
	if took := time.Since(start); took > 5*time.Second || res.Requests == 0 {
		t.Fatalf("took %v for %d requests", took, res.Requests)
	}
}
