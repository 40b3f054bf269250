package admin_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/admin"
	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/runtime"
)

// /healthz says the process lives; /readyz says whether it takes
// messages, and why not. Neither needs the token (probes carry none).
func TestHealthzAndReadyz(t *testing.T) {
	db := openStore(t)
	var free atomic.Uint64
	free.Store(10 << 30)
	guard := &runtime.DiskGuard{Dir: t.TempDir(), MinFree: 1 << 30, Statfs: func(string) (uint64, error) { return free.Load(), nil }}
	guard.Check()
	rt := runtime.New(runtime.Options{DiskGuard: guard, Services: &flow.Services{KV: db.KV(), Queues: db.Queues(), Log: db.Log()}})
	var up atomic.Bool
	c := serve(t, admin.NewAdmin(rt, "s3cret-token", up.Load), "") // no token
	ctx := context.Background()

	resp, err := http.Get(c.Base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	ready, r, err := c.Ready(ctx)
	if err != nil || ready || len(r.Reasons) != 2 || r.Code != admin.CodeUnavailable {
		t.Errorf("before start: ready %v %+v %v, want not ready for two reasons (starting, runtime not started)", ready, r, err)
	}
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	up.Store(true)
	if ready, r, err := c.Ready(ctx); err != nil || !ready || r.Status != "ready" {
		t.Errorf("started: ready %v %+v %v", ready, r, err)
	}
	free.Store(100 << 20)
	guard.Check()
	if ready, r, _ := c.Ready(ctx); ready || len(r.Reasons) != 1 || !strings.Contains(r.Reasons[0], "data disk is nearly full") {
		t.Errorf("disk low: ready %v %+v, want not ready because of the disk", ready, r)
	}
	free.Store(10 << 30)
	guard.Check()
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rt.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	if ready, r, _ := c.Ready(ctx); ready || !strings.Contains(strings.Join(r.Reasons, ";"), "stopped") {
		t.Errorf("stopped: ready %v %+v", ready, r)
	}
}
