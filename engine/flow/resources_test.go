package flow_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stride-engine/stride/engine/flow"
)

type closer struct {
	name   string
	closed *[]string
}

func (c *closer) Close() error { *c.closed = append(*c.closed, c.name); return nil }

// A resource is made once per Resources, even under concurrent Gets, and
// closed (the last made first) when its runtime stops.
func TestResourcesMadeOnceAndClosedInReverse(t *testing.T) {
	var made atomic.Int64
	var closed []string
	first := flow.NewResourceKey("first", func() *closer { made.Add(1); return &closer{"first", &closed} })
	second := flow.NewResourceKey("second", func() *closer { return &closer{"second", &closed} })
	rs := flow.NewResources()
	var wg sync.WaitGroup
	got := make([]*closer, 16)
	for i := range got {
		wg.Go(func() { got[i] = first.Get(rs) })
	}
	wg.Wait()
	for _, g := range got {
		if g != got[0] {
			t.Fatal("two values of one resource in one Resources")
		}
	}
	if made.Load() != 1 {
		t.Errorf("made %d times, want once", made.Load())
	}
	_ = second.Get(rs)
	if other := first.Get(flow.NewResources()); other == got[0] {
		t.Error("two Resources share a resource")
	}
	if err := rs.Close(); err != nil || len(closed) != 2 || closed[0] != "second" || closed[1] != "first" {
		t.Errorf("closed %v %v, want second then first", closed, err)
	}
}
