package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
)

// Clock is the time source of timers. Tests inject a fake one and advance
// it, so no test sleeps to see a timer fire.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// parseCron parses a 5-field cron expression or a descriptor (@daily).
func parseCron(spec string) (cron.Schedule, error) {
	s, err := cronParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("cron %q: %v (write 5 fields: minute hour day-of-month month day-of-week, e.g. '0 2 * * *')", spec, err)
	}
	return s, nil
}

// schedule computes a timer flow's next tick after t.
type schedule func(t time.Time) time.Time

func (r *Runtime) timerSchedule(f *Flow, c *TimerTrigger) (schedule, error) {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return nil, err
	}
	if c.Every > 0 {
		return func(t time.Time) time.Time { return t.Add(c.Every) }, nil
	}
	x := NewExchange("", NewMessage(nil, ""), nil, nil)
	x.flow = f
	spec, err := c.Cron.String(x)
	if err != nil {
		return nil, err
	}
	s, err := parseCron(spec)
	if err != nil {
		return nil, err
	}
	return func(t time.Time) time.Time { return s.Next(t.In(loc)) }, nil
}

// timer runs one timer-triggered flow of one flow set.
type timer struct {
	rt    *Runtime
	set   *FlowSet
	flow  *Flow
	next  schedule
	stop  chan struct{}
	done  chan struct{}
	clock Clock
}

// running marks the timer flows with a run in progress, by flow id, across
// flow-set versions: a run of the old version still going makes the new
// version skip its tick too.
type running struct {
	mu    sync.Mutex
	flows map[string]*atomic.Bool
}

func (r *running) flag(id string) *atomic.Bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.flows == nil {
		r.flows = map[string]*atomic.Bool{}
	}
	b := r.flows[id]
	if b == nil {
		b = new(atomic.Bool)
		r.flows[id] = b
	}
	return b
}

func (r *Runtime) clock() Clock {
	if r.Clock != nil {
		return r.Clock
	}
	return realClock{}
}

// startTimers starts a timer per enabled timer flow. A schedule that
// cannot be computed (a cron read from a variable with a bad value)
// disables the flow with the reason.
func (r *Runtime) startTimers(set *FlowSet) []*timer {
	var out []*timer
	for _, f := range set.Flows() {
		c, ok := f.Trigger.Config.(*TimerTrigger)
		if !ok || f.Disabled != "" {
			continue
		}
		next, err := r.timerSchedule(f, c)
		if err != nil {
			f.Disabled = err.Error()
			r.Log.Error("timer flow not started", "flow", f.ID, "error", err)
			continue
		}
		t := &timer{rt: r, set: set, flow: f, next: next, stop: make(chan struct{}), done: make(chan struct{}), clock: r.clock()}
		go t.loop()
		out = append(out, t)
	}
	return out
}

func (t *timer) loop() {
	defer close(t.done)
	for {
		now := t.clock.Now()
		at := t.next(now)
		select {
		case <-t.stop:
			return
		case <-t.clock.After(at.Sub(now)):
		}
		if _, err := t.rt.runTimerFlow(t.set, t.flow, "timer"); errors.Is(err, ErrAlreadyRunning) {
			t.rt.Log.Warn("timer tick skipped: the previous run is still going", "flow", t.flow.ID, "tick", at)
		}
	}
}

// ErrAlreadyRunning is returned when a timer flow is asked to run while a
// run of it is still going: a timer never overlaps itself.
var ErrAlreadyRunning = errors.New("the flow is still running")

// runTimerFlow starts one run of a timer flow in the background and
// returns its message id, unless a run is still going.
func (r *Runtime) runTimerFlow(set *FlowSet, f *Flow, trigger string) (string, error) {
	flag := r.timerRuns.flag(f.ID)
	if !flag.CompareAndSwap(false, true) {
		return "", ErrAlreadyRunning
	}
	x := r.NewExchange(set, NewMessage(nil, ""))
	r.timerWG.Add(1)
	go func() {
		defer r.timerWG.Done()
		defer flag.Store(false)
		ctx := context.Background()
		start := time.Now()
		err := f.Run(ctx, x)
		r.Finish(ctx, x, f, trigger, 1, start, err)
	}()
	return x.ID, nil
}

// RunNow runs a timer flow of the current set at once (the admin API's
// POST /admin/flows/{id}/run and `stride trigger ID`).
func (r *Runtime) RunNow(id string) (string, error) {
	set := r.Set()
	f := set.Flow(id)
	switch {
	case f == nil:
		return "", fmt.Errorf("no flow %q", id)
	case f.Trigger.Kind != "timer":
		return "", fmt.Errorf("flow %s has a %s trigger; only timer flows run on demand", id, f.Trigger.Kind)
	case f.Disabled != "":
		return "", fmt.Errorf("flow %s is disabled: %s", id, f.Disabled)
	}
	return r.runTimerFlow(set, f, "timer (run now)")
}

// WaitTimers waits for timer runs in progress, until ctx ends.
func (r *Runtime) WaitTimers(ctx context.Context) {
	done := make(chan struct{})
	go func() { r.timerWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
