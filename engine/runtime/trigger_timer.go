package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
	"go.opentelemetry.io/otel/trace"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// TimerTrigger starts a flow on a schedule.
type TimerTrigger struct {
	Cron     *flow.Template `yaml:"cron" doc:"A 5-field cron expression (minute hour day-of-month month day-of-week; 6 fields with seconds first) or @hourly/@daily/@weekly; may read a variable: ${env.FITBIT_DAILY_SCHEDULE}."`
	Every    time.Duration  `yaml:"every" doc:"A fixed interval instead of cron, e.g. 10m: ticks fall on multiples of it (10:00, 10:10, ...), the same on every instance."`
	Timezone string         `yaml:"timezone" default:"UTC" doc:"The IANA time zone the cron expression is read in."`
}

// Bind checks a cron read from a variable once the variable is known: a
// bad value disables the flow with the reason.
func (c *TimerTrigger) Bind(f *flow.Flow) error {
	_, err := c.schedule(f)
	return err
}

// schedule computes the flow's next tick after a time.
func (c *TimerTrigger) schedule(f *flow.Flow) (func(time.Time) time.Time, error) {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return nil, err
	}
	if c.Every > 0 {
		// Ticks fall on multiples of the interval since the zero time,
		// not on the start time plus the interval, so that instances
		// sharing a store tick at the same instants and claim the same
		// ticks.
		return func(t time.Time) time.Time { return t.Truncate(c.Every).Add(c.Every) }, nil
	}
	spec, err := f.EvalString(c.Cron)
	if err != nil {
		return nil, err
	}
	s, err := parseCron(spec)
	if err != nil {
		return nil, err
	}
	return func(t time.Time) time.Time { return s.Next(t.In(loc)) }, nil
}

// Clock is the time source of timers. Tests inject a fake one and advance
// it, so no test sleeps to see a timer fire.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// cronParser is immutable once built.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// parseCron parses a 5-field cron expression (6 with a leading seconds
// field) or a descriptor (@daily).
func parseCron(spec string) (cron.Schedule, error) {
	s, err := cronParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("cron %q: %v (write 5 fields: minute hour day-of-month month day-of-week, e.g. '0 2 * * *', or 6 with seconds first)", spec, err)
	}
	return s, nil
}

func init() {
	RegisterTrigger(TriggerKind[TimerTrigger]{
		TriggerKind: flow.TriggerKind[TimerTrigger]{
			Name:    "timer",
			Summary: "Runs the flow on a schedule (cron or every), never overlapping itself.",
			Doc:     "A run still going when the next tick comes skips that tick (logged). POST /admin/flows/{id}/run and `stride trigger ID` run it now.",
			Example: "trigger:\n  timer: {cron: '0 2 * * *', timezone: UTC}",
			Validate: func(b *flow.Builder, c *TimerTrigger) error {
				if (c.Cron == nil) == (c.Every == 0) {
					return fmt.Errorf("give exactly one of cron and every")
				}
				if _, err := time.LoadLocation(c.Timezone); err != nil {
					return fmt.Errorf("unknown time zone %q", c.Timezone)
				}
				if c.Cron != nil {
					if v, ok := c.Cron.Literal(); ok {
						if _, err := parseCron(flow.Stringify(v)); err != nil {
							return err
						}
					}
				}
				if c.Every != 0 && c.Every < time.Second {
					return fmt.Errorf("every must be at least 1s")
				}
				return nil
			},
		},
		New: func(h *Host, f *flow.Flow, c *TimerTrigger) (Trigger, error) {
			next, err := c.schedule(f)
			if err != nil {
				return nil, err
			}
			return &timer{rt: h.rt, set: h.Set(), flow: f, next: next, stop: make(chan struct{}), done: make(chan struct{})}, nil
		},
	})
}

// timer runs one timer-triggered flow of one generation.
type timer struct {
	rt       *Runtime
	set      *flow.FlowSet
	flow     *flow.Flow
	next     func(time.Time) time.Time
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

func (t *timer) Start(context.Context) error {
	go t.loop()
	return nil
}

// Stop stops the schedule and waits for a run in progress until ctx ends
// (the runtime then cancels it).
func (t *timer) Stop(ctx context.Context) {
	t.stopOnce.Do(func() { close(t.stop) })
	<-t.done
	t.rt.timerRuns.wait(ctx, t.flow.ID)
}

func (t *timer) loop() {
	defer close(t.done)
	clock := t.rt.clock
	for {
		now := clock.Now()
		at := t.next(now)
		select {
		case <-t.stop:
			return
		case <-clock.After(at.Sub(now)):
		}
		if !t.rt.claimTick(t.flow, at) {
			continue
		}
		if _, err := t.rt.runTimerFlow(t.set, t.flow, "timer"); errors.Is(err, ErrAlreadyRunning) {
			t.rt.log.Warn("timer tick skipped: the previous run is still going", "flow", t.flow.ID, "tick", at)
		}
	}
}

// running marks the timer flows with a run in progress, by flow id, across
// flow-set generations: a run of the old version still going makes the
// new version skip its tick too.
type running struct {
	mu    sync.Mutex
	flows map[string]*runFlag
}

type runFlag struct {
	busy atomic.Bool
	done chan struct{} // closed when the current run ends
}

func (r *running) flag(id string) *runFlag {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.flows == nil {
		r.flows = map[string]*runFlag{}
	}
	b := r.flows[id]
	if b == nil {
		b = &runFlag{}
		r.flows[id] = b
	}
	return b
}

// wait waits for the run of flow id in progress, if any, until ctx ends.
func (r *running) wait(ctx context.Context, id string) {
	r.mu.Lock()
	f := r.flows[id]
	var done chan struct{}
	if f != nil && f.busy.Load() {
		done = f.done
	}
	r.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// ErrAlreadyRunning is returned when a timer flow is asked to run while a
// run of it is still going: a timer never overlaps itself.
var ErrAlreadyRunning = errors.New("the flow is still running")

// runTimerFlow starts one run of a timer flow in the background and
// returns its message id, unless a run is still going.
func (r *Runtime) runTimerFlow(set *flow.FlowSet, f *flow.Flow, trigger string) (string, error) {
	flag := r.timerRuns.flag(f.ID)
	r.timerRuns.mu.Lock()
	if !flag.busy.CompareAndSwap(false, true) {
		r.timerRuns.mu.Unlock()
		return "", ErrAlreadyRunning
	}
	done := make(chan struct{})
	flag.done = done
	r.timerRuns.mu.Unlock()
	if !r.runs.enter() {
		flag.busy.Store(false)
		close(done)
		return "", ErrStopped
	}
	x := r.NewExchange(NewMessageID(), set, flow.NewMessage(nil, ""))
	x.CorrelationID = x.ID
	go func() {
		defer r.runs.leave()
		defer func() {
			r.timerRuns.mu.Lock()
			flag.busy.Store(false)
			close(done)
			r.timerRuns.mu.Unlock()
		}()
		ctx, cancel := r.runContext(0)
		defer cancel()
		ctx, span := r.startRun(ctx, x, f, trigger+" "+f.ID, trace.SpanKindInternal, trigger)
		start := time.Now()
		err := f.Run(ctx, x)
		endRun(x, span, r.Finish(ctx, x, f, trigger, 1, start, err), err)
	}()
	return x.ID, nil
}

// RunNow runs a timer flow of the current set at once (the admin API's
// POST /admin/flows/{id}/run and `stride trigger ID`).
func (r *Runtime) RunNow(id string) (string, error) {
	if state(r.state.Load()) != started {
		return "", ErrStopped
	}
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

// tickClaimTTL is how long a tick's claim is kept: longer than the
// instances' clocks can disagree about the tick.
const tickClaimTTL = time.Hour

// claimTick reports whether this instance runs f's tick at. With a store
// shared by several instances, the first to claim the tick in the store
// runs it; the others record it as SKIPPED, naming the instance that has
// it, so that a schedule fires once across the cluster. A store of one
// process claims nothing.
func (r *Runtime) claimTick(f *flow.Flow, at time.Time) bool {
	s := r.services
	if s == nil || s.Instance == "" || s.KV == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	id := f.ID + "@" + at.UTC().Format(time.RFC3339)
	err := s.KV.Put(ctx, store.TimerTickStore, id, []byte(s.Instance), store.PutOptions{TTL: tickClaimTTL})
	if err == nil {
		return true
	}
	if !errors.Is(err, store.ErrExists) {
		// Without the claim, running could run the tick twice and not
		// running could miss it; a store that cannot take a write would
		// fail the flow's own writes too, so the tick is not run.
		r.log.Error("timer tick not run: it could not be claimed in the shared store", "flow", f.ID, "tick", at, "error", err)
		return false
	}
	holder := "another instance"
	for try := 0; try < 3; try++ { // the claim was just read as there: a failover may hide it a moment
		if e, gerr := s.KV.Get(ctx, store.TimerTickStore, id); gerr == nil {
			holder = "instance " + string(e.Value)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.log.Info("timer tick runs on another instance", "flow", f.ID, "tick", at, "by", holder)
	if lvl := logLevel(f); r.recorder != nil && (lvl == flow.LogInfo || lvl == flow.LogTrace) {
		now := time.Now()
		r.recorder.record(store.LogEntry{ID: NewMessageID(), Flow: f.ID, FlowVersion: f.Version, Trigger: "timer", Attempt: 1,
			Status: StatusSkipped, Start: now, End: now, Error: "tick " + at.UTC().Format(time.RFC3339) + " runs on " + holder})
	}
	return false
}

// StatusSkipped is the message log status of a timer tick that another
// instance sharing the store ran.
const StatusSkipped = "SKIPPED"
