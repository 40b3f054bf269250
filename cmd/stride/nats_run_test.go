package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/store/natsstore/natstest"
)

// Two real `stride run` processes on one NATS JetStream server share the
// queue: notifications accepted by either are delivered once each, by
// one of the two.
func TestTwoStrideProcessesShareNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the stride binary twice")
	}
	srv := natstest.Start(t)
	sink := newDeliverySink(t)
	flows := queueFlows(t, sink.URL)
	a := startStride(t, flows, nil, "--store", srv.URL, "--instance", "a")
	b := startStride(t, flows, nil, "--store", srv.URL, "--instance", "b")
	a.waitHealthy(t)
	b.waitHealthy(t)
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for i, p := range []*strideProc{a, b, a, b} {
		wg.Go(func() {
			for j := range 25 {
				body := fmt.Sprintf("n-%d-%02d", i, j)
				resp, err := httpClient.Post("http://"+p.addr+"/in", "text/plain", strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					t.Errorf("%s: %d", body, resp.StatusCode)
					return
				}
				mu.Lock()
				acked = append(acked, body)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	sink.waitAll(t, acked, 30*time.Second)
	// Once each: at-least-once may repeat after a crash, never here.
	time.Sleep(500 * time.Millisecond) // a duplicate would arrive by now
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for body, n := range sink.seen {
		if n != 1 {
			t.Errorf("%s delivered %d times", body, n)
		}
	}
	if len(sink.seen) != len(acked) {
		t.Errorf("%d delivered, %d acknowledged", len(sink.seen), len(acked))
	}
}
