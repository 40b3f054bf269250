package steps

import (
	"container/list"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/flow"
)

// TestQuotaKeysBounded: hostile keys cannot grow memory without bound;
// the least recently seen key is forgotten first, and a long key is held
// as its digest.
func TestQuotaKeysBounded(t *testing.T) {
	s := &quotaStep{c: &quotaConfig{MaxKeys: 100, Status: 429}, limit: 1, burst: 1, keys: map[string]*list.Element{}}
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	run := func(key string) *flow.Exchange {
		msg := flow.NewMessage(nil, "")
		x := flow.NewExchange("m", msg, nil, func() time.Time { return now })
		x.Request = &flow.RequestInfo{RemoteAddress: key}
		if err := s.Run(context.Background(), x); err != nil {
			t.Fatal(err)
		}
		return x
	}
	if x := run("192.0.2.1:1"); x.Response != nil {
		t.Fatal("first request refused")
	}
	for i := range 10_000 {
		run(fmt.Sprintf("198.51.%d.%d:1", i/256, i%256))
		if i%10 == 0 {
			run("192.0.2.1:1") // seen again and again: stays tracked
		}
		if n := s.tracked(); n > 100 {
			t.Fatalf("%d keys tracked, max_keys is 100", n)
		}
	}
	if x := run("192.0.2.1:1"); x.Response == nil || x.Response.Status != 429 {
		t.Error("a recently seen key was forgotten")
	}
	if x := run("198.51.0.0:1"); x.Response != nil {
		t.Error("the oldest key should have been forgotten and start afresh")
	}

	long := strings.Repeat("k", 1<<20)
	if k := quotaKey(long); len(k) > maxQuotaKey || k == quotaKey(long+"x") || k != quotaKey(long) {
		t.Errorf("a long key is held as %d bytes", len(k))
	}
	if quotaKey("192.0.2.1") != "192.0.2.1" {
		t.Error("a short key is held as written")
	}
}
