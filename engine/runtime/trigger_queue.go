package runtime

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// QueueTrigger consumes a durable queue.
type QueueTrigger struct {
	Name    string         `yaml:"name" required:"true" doc:"The queue's name, the one enqueue writes to."`
	Workers int            `yaml:"workers" default:"4" doc:"Messages processed in parallel."`
	Key     *flow.Template `yaml:"key" doc:"Messages with one key run one at a time and in order; others run in parallel. Evaluated on each message when it is enqueued."`
	Timeout time.Duration  `yaml:"timeout" default:"5m" doc:"How long one attempt may run before it fails."`
	Retry   QueueRetry     `yaml:"retry" doc:"Retries of a failed message before it is ESCALATED (dead letter)."`
}

// QueueRetry is the back-off of a queue trigger, and which failures it
// does not retry.
type QueueRetry struct {
	MaxAttempts     int           `yaml:"max_attempts" default:"5" doc:"Attempts before the message is ESCALATED."`
	Backoff         time.Duration `yaml:"backoff" default:"1s" doc:"Wait before the first retry; doubles each attempt."`
	MaxBackoff      time.Duration `yaml:"max_backoff" default:"5m" doc:"The longest wait between attempts."`
	PermanentStatus []int         `yaml:"permanent_status" doc:"HTTP statuses of a failed request that are never retried, besides the default (every 4xx but 401, 408, 425 and 429)."`
	TransientStatus []int         `yaml:"transient_status" doc:"HTTP statuses that are retried although they would be permanent by default (e.g. 409 from an API that answers it while it catches up)."`
	MaxKeyWait      time.Duration `yaml:"max_key_wait" default:"30m" doc:"With key: the longest a message may keep failing (from its enqueue) while later messages of its key wait behind it; then it goes to the dead letters and the key moves on."`
}

// Claims claims the queue: a queue has one consumer flow.
func (c *QueueTrigger) Claims() []flow.Claim { return []flow.Claim{flow.QueueClaim(c.Name)} }

// QueueKey is the ordering key's template, read by enqueue.
func (c *QueueTrigger) QueueKey() *flow.Template { return c.Key }

func init() {
	RegisterTrigger(TriggerKind[QueueTrigger]{
		TriggerKind: flow.TriggerKind[QueueTrigger]{
			Name:    "queue",
			Summary: "Consumes a durable queue: at least once, retried with back-off, then ESCALATED.",
			Doc:     "Messages are on disk before enqueue returns. With key, messages of one key run one at a time and in order.",
			Example: "trigger:\n  queue: {name: fitbit-notifications, workers: 8, retry: {max_attempts: 10, backoff: 2s}}",
			Validate: func(b *flow.Builder, c *QueueTrigger) error {
				if c.Workers < 1 {
					return fmt.Errorf("workers must be at least 1")
				}
				if c.Retry.MaxAttempts < 1 {
					return fmt.Errorf("retry.max_attempts must be at least 1")
				}
				if c.Retry.MaxBackoff < c.Retry.Backoff {
					return fmt.Errorf("retry.max_backoff is shorter than retry.backoff")
				}
				for _, st := range append(slices.Clone(c.Retry.PermanentStatus), c.Retry.TransientStatus...) {
					if st < 100 || st > 599 {
						return fmt.Errorf("retry: %d is not an HTTP status", st)
					}
				}
				for _, st := range c.Retry.PermanentStatus {
					if slices.Contains(c.Retry.TransientStatus, st) {
						return fmt.Errorf("retry: status %d is both permanent and transient", st)
					}
				}
				if c.Retry.MaxKeyWait <= 0 {
					return fmt.Errorf("retry.max_key_wait must be positive")
				}
				return nil
			},
		},
		New: func(h *Host, f *flow.Flow, c *QueueTrigger) (Trigger, error) {
			s := h.Services()
			if s == nil || s.Queues == nil {
				return nil, nil // no store: enqueue fails with ErrNoStore, nothing to consume
			}
			return &consumer{rt: h.rt, set: h.Set(), flow: f, cfg: c, q: s.Queues, stop: make(chan struct{}), done: make(chan struct{})}, nil
		},
	})
}

// consumer runs a queue-triggered flow: it leases messages, runs them on
// up to Workers goroutines, and acks, retries with back-off, or escalates
// them to the dead letters.
type consumer struct {
	rt   *Runtime
	set  *flow.FlowSet
	flow *flow.Flow
	cfg  *QueueTrigger
	q    store.Queues

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	wg       sync.WaitGroup // in-flight messages
}

func (c *consumer) Start(context.Context) error {
	go c.loop()
	return nil
}

// Stop stops leasing and waits for the messages in flight, at most until
// ctx ends; the runtime then cancels them, and a cancelled message is
// released back to its queue.
func (c *consumer) Stop(ctx context.Context) {
	c.stopOnce.Do(func() { close(c.stop) })
	<-c.done
	finished := make(chan struct{})
	go func() { c.wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
	}
}

// pollInterval bounds how late a delayed (retried) message starts: new
// messages wake the consumer at once through Notify.
const pollInterval = 200 * time.Millisecond

func (c *consumer) loop() {
	defer close(c.done)
	slots := make(chan struct{}, c.cfg.Workers)
	leaseFor := c.cfg.Timeout + time.Minute
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		free := cap(slots) - len(slots)
		if c.rt.guard.Err() != nil {
			// The disk is nearly full: lease nothing new (a lease is a
			// write); messages in flight finish.
			t := time.NewTimer(pollInterval)
			select {
			case <-c.stop:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		var msgs []store.Message
		if free > 0 {
			wake := c.q.Notify(c.cfg.Name)
			var err error
			msgs, err = c.q.Lease(c.rt.ctx, c.cfg.Name, free, leaseFor)
			if err != nil && c.rt.ctx.Err() == nil {
				c.rt.log.Error("queue lease failed", "queue", c.cfg.Name, "flow", c.flow.ID, "error", err)
			}
			if len(msgs) == 0 {
				t := time.NewTimer(pollInterval)
				select {
				case <-c.stop:
					t.Stop()
					return
				case <-wake:
				case <-t.C:
				}
				t.Stop()
				continue
			}
		}
		for _, m := range msgs {
			if !c.rt.runs.enter() {
				c.release(m) // the runtime is stopping: leave it queued
				continue
			}
			slots <- struct{}{}
			c.wg.Add(1)
			go func(m store.Message) {
				defer func() { <-slots; c.wg.Done(); c.rt.runs.leave() }()
				c.process(m)
			}(m)
		}
		if free == 0 {
			// All workers busy: wait for one to finish, or for Stop.
			select {
			case slots <- struct{}{}:
				<-slots
			case <-c.stop:
				return
			}
		}
	}
}

// release gives a leased message back to its queue without spending an
// attempt.
func (c *consumer) release(m store.Message) {
	if err := c.q.Release(context.WithoutCancel(c.rt.ctx), c.cfg.Name, m.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		c.rt.log.Error("queue release failed; the message runs again when its lease ends", "message_id", m.ID, "queue", c.cfg.Name, "error", err)
	}
}

// process runs one leased message and settles it.
func (c *consumer) process(m store.Message) {
	msg := flow.NewMessage(m.Body, m.ContentType)
	for k, v := range m.Headers {
		msg.Header[k] = v
	}
	ctx, cancel := c.rt.runContext(c.cfg.Timeout)
	defer cancel()
	ctx, corr, props := flow.Uncarry(ctx, m.Meta)
	for k, v := range props {
		msg.Property[k] = v
	}
	x := c.rt.NewExchange(m.ID, c.set, msg)
	x.RawBody = m.Body
	x.CorrelationID = corr
	if corr == "" {
		x.CorrelationID = m.ID
	}
	attempt := m.Attempts + 1 // within the retry budget
	// The message log numbers attempts across replays, so that a replay
	// adds an entry instead of replacing the failed one.
	logAttempt := m.PriorAttempts + attempt
	ctx, span := c.rt.startRun(ctx, x, c.flow, "queue "+c.cfg.Name, trace.SpanKindConsumer, "queue")
	span.SetAttributes(attribute.Int("stride.attempt", logAttempt))
	start := time.Now()
	err := c.flow.Run(ctx, x)
	status := FinalStatus(x, err)
	defer func() { endRun(x, span, status, err) }()
	// Settling (settle) must happen even when the run's context has ended.
	if err == nil {
		c.rt.Finish(ctx, x, c.flow, "queue", logAttempt, start, nil)
		c.settle("ack", m, func(ctx context.Context) error { return c.q.Ack(ctx, c.cfg.Name, m.ID) })
		return
	}
	if errors.Is(context.Cause(ctx), errDrainDeadline) {
		// Cut short by shutdown, not failed: it runs again, whole, on the
		// next start, without spending an attempt.
		c.rt.log.Warn("message interrupted by shutdown; it stays queued", "message_id", m.ID, "flow", c.flow.ID, "queue", c.cfg.Name)
		c.release(m)
		return
	}
	errText := x.Redact(err.Error())
	class, permanent := flow.Classify(err, flow.StatusClasses{Permanent: c.cfg.Retry.PermanentStatus, Transient: c.cfg.Retry.TransientStatus})
	if permanent {
		// Trying again cannot fix it: to the dead letters at once, where
		// it can be inspected and replayed, and its key moves on.
		reason := "[" + class + "] " + errText
		c.rt.log.Error("message failed permanently; moved to the dead letters", "message_id", m.ID, "flow", c.flow.ID, "queue", c.cfg.Name, "class", class, "error", errText)
		c.rt.Finish(ctx, x, c.flow, "queue", logAttempt, start, err)
		c.settle("dead-lettering", m, func(ctx context.Context) error { return c.q.DeadLetter(ctx, c.cfg.Name, m.ID, reason) })
		return
	}
	wait := backoff(c.cfg.Retry, attempt)
	keyWaitOver := m.Key != "" && !m.Enqueued.IsZero() && time.Since(m.Enqueued)+wait > c.cfg.Retry.MaxKeyWait
	if attempt >= c.cfg.Retry.MaxAttempts || keyWaitOver {
		why := fmt.Sprintf("%d attempts", attempt)
		if keyWaitOver && attempt < c.cfg.Retry.MaxAttempts {
			why = fmt.Sprintf("its key %q waited longer than max_key_wait (%v) behind it", m.Key, c.cfg.Retry.MaxKeyWait)
		}
		c.rt.log.Error("message escalated to the dead letters", "message_id", m.ID, "flow", c.flow.ID, "queue", c.cfg.Name, "attempts", attempt, "why", why, "error", errText)
		status = store.StatusEscalated
		c.rt.RecordStatus(x, c.flow, "queue", logAttempt, "ESCALATED", start, err)
		c.rt.observe(c.flow, "queue", "ESCALATED", start, x)
		c.settle("dead-lettering", m, func(ctx context.Context) error {
			return c.q.DeadLetter(ctx, c.cfg.Name, m.ID, "["+class+", "+why+"] "+errText)
		})
		return
	}
	c.rt.log.Warn("message failed; will retry", "message_id", m.ID, "flow", c.flow.ID, "attempt", attempt, "retry_in", wait, "error", errText)
	status = store.StatusRetry
	c.rt.RecordStatus(x, c.flow, "queue", logAttempt, "RETRY", start, err)
	c.rt.observe(c.flow, "queue", "RETRY", start, x)
	c.settle("retry", m, func(ctx context.Context) error {
		return c.q.Retry(ctx, c.cfg.Name, m.ID, time.Now().Add(wait), errText)
	})
}

// settleFor bounds how long a worker keeps trying to settle a message
// (ack, retry, dead-letter) the store did not answer for.
const settleFor = 30 * time.Second

// settle records a message's outcome in its queue. A write that fails —
// a shared store's server failing over times out — is tried again with
// back-off for up to settleFor: until it is made, the message stays
// leased and its key waits behind it for the whole lease. A message no
// longer there (ErrNotFound: replayed or purged meanwhile, or an earlier
// try went through after all) is settled.
func (c *consumer) settle(what string, m store.Message, op func(context.Context) error) {
	bg := context.WithoutCancel(c.rt.ctx)
	deadline := time.Now().Add(settleFor)
	wait := 250 * time.Millisecond
	for try := 1; ; try++ {
		err := op(bg)
		if err == nil || errors.Is(err, store.ErrNotFound) {
			if try > 1 {
				c.rt.log.Info("queue "+what+" went through after the store failed", "message_id", m.ID, "queue", c.cfg.Name, "tries", try)
			}
			return
		}
		if time.Now().Add(wait).After(deadline) || c.rt.ctx.Err() != nil {
			c.rt.log.Error("queue "+what+" failed; the message runs again when its lease ends", "message_id", m.ID, "queue", c.cfg.Name, "tries", try, "error", err)
			return
		}
		select {
		case <-time.After(wait):
		case <-c.rt.ctx.Done():
		}
		wait = min(2*wait, 4*time.Second)
	}
}

// backoff is the wait before attempt+1: Backoff doubled per attempt,
// capped at MaxBackoff, with ±20% jitter so retries of many messages
// spread out.
func backoff(r QueueRetry, attempt int) time.Duration {
	d := r.Backoff
	for i := 1; i < attempt && d < r.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.MaxBackoff)
	jitter := time.Duration(float64(d) * 0.2 * (2*rand.Float64() - 1))
	return max(d+jitter, 0)
}
