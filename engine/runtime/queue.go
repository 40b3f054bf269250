package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/stride-engine/stride/engine/store"
)

// QueueConsumer returns the flow that consumes queue, or nil.
func (s *FlowSet) QueueConsumer(queue string) *Flow {
	for _, f := range s.order {
		if q, ok := f.Trigger.Config.(*QueueTrigger); ok && q.Name == queue {
			return f
		}
	}
	return nil
}

// QueueKey evaluates the ordering key that the consumer of queue declares
// (its trigger's key) on msg, in the consumer's scope. It is evaluated
// when the message is enqueued, because ordering is decided then. No
// consumer or no key gives "".
func (x *Exchange) QueueKey(queue string, msg *Message) (string, error) {
	f := x.set.QueueConsumer(queue)
	if f == nil {
		return "", nil
	}
	q := f.Trigger.Config.(*QueueTrigger)
	if q.Key == nil {
		return "", nil
	}
	c := x.Child(msg, nil)
	c.flow = f
	key, err := q.Key.String(c)
	if err != nil {
		return "", fmt.Errorf("key of queue %s (flow %s, %s): %w", queue, f.ID, q.Key.Pos().FileLine(), err)
	}
	return key, nil
}

// consumer runs a queue-triggered flow: it leases messages, runs them on
// up to Workers goroutines, and acks, retries with back-off, or escalates
// them to the dead letters.
type consumer struct {
	rt   *Runtime
	set  *FlowSet
	flow *Flow
	cfg  *QueueTrigger
	q    store.Queues

	stop chan struct{}
	done chan struct{}
	wg   sync.WaitGroup // in-flight messages
}

// startConsumers starts one consumer per queue-triggered, enabled flow.
func (r *Runtime) startConsumers(set *FlowSet) []*consumer {
	if r.services == nil || r.services.Queues == nil {
		return nil
	}
	var out []*consumer
	for _, f := range set.Flows() {
		q, ok := f.Trigger.Config.(*QueueTrigger)
		if !ok || f.Disabled != "" {
			continue
		}
		c := &consumer{rt: r, set: set, flow: f, cfg: q, q: r.services.Queues, stop: make(chan struct{}), done: make(chan struct{})}
		go c.loop()
		out = append(out, c)
	}
	return out
}

// halt stops leasing and waits for the messages in flight, at most until
// ctx ends; messages still running then stay leased and run again after
// a restart.
func (c *consumer) halt(ctx context.Context) {
	close(c.stop)
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
		var msgs []store.Message
		if free > 0 {
			wake := c.q.Notify(c.cfg.Name)
			var err error
			msgs, err = c.q.Lease(context.Background(), c.cfg.Name, free, leaseFor)
			if err != nil {
				c.rt.Log.Error("queue lease failed", "queue", c.cfg.Name, "flow", c.flow.ID, "error", err)
			}
			if len(msgs) == 0 {
				select {
				case <-c.stop:
					return
				case <-wake:
				case <-time.After(pollInterval):
				}
				continue
			}
		}
		for _, m := range msgs {
			slots <- struct{}{}
			c.wg.Add(1)
			go func(m store.Message) {
				defer func() { <-slots; c.wg.Done() }()
				c.process(m)
			}(m)
		}
		if free == 0 {
			// All workers busy: wait for one to finish.
			slots <- struct{}{}
			<-slots
		}
	}
}

// process runs one leased message and settles it.
func (c *consumer) process(m store.Message) {
	msg := NewMessage(m.Body, m.ContentType)
	for k, v := range m.Headers {
		msg.Header[k] = v
	}
	for k, v := range m.Meta {
		msg.Property[k] = v
	}
	x := NewExchange(m.ID, msg, c.set, c.rt.Now)
	x.Log, x.services, x.observer = c.rt.Log, c.rt.services, c.rt.Observer
	x.RawBody = m.Body
	attempt := m.Attempts + 1
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	start := time.Now()
	err := c.flow.Run(ctx, x)
	bg := context.Background()
	if err == nil {
		c.rt.Finish(ctx, x, c.flow, "queue", attempt, start, nil)
		if aerr := c.q.Ack(bg, c.cfg.Name, m.ID); aerr != nil {
			c.rt.Log.Error("queue ack failed; the message will run again", "message_id", m.ID, "queue", c.cfg.Name, "error", aerr)
		}
		return
	}
	errText := x.Redact(err.Error())
	var permanent *PermanentError
	if errors.As(err, &permanent) {
		c.rt.Log.Error("message failed and will not be retried", "message_id", m.ID, "flow", c.flow.ID, "queue", c.cfg.Name, "error", errText)
		c.rt.Finish(ctx, x, c.flow, "queue", attempt, start, err)
		if aerr := c.q.Ack(bg, c.cfg.Name, m.ID); aerr != nil {
			c.rt.Log.Error("queue ack failed", "message_id", m.ID, "error", aerr)
		}
		return
	}
	if attempt >= c.cfg.Retry.MaxAttempts {
		c.rt.Log.Error("message escalated to the dead letters", "message_id", m.ID, "flow", c.flow.ID, "queue", c.cfg.Name, "attempts", attempt, "error", errText)
		c.rt.RecordStatus(x, c.flow, "queue", attempt, "ESCALATED", start, err)
		c.rt.observe(c.flow, "ESCALATED", start, x)
		if derr := c.q.DeadLetter(bg, c.cfg.Name, m.ID, errText); derr != nil {
			c.rt.Log.Error("dead-lettering failed", "message_id", m.ID, "error", derr)
		}
		return
	}
	wait := backoff(c.cfg.Retry, attempt)
	c.rt.Log.Warn("message failed; will retry", "message_id", m.ID, "flow", c.flow.ID, "attempt", attempt, "retry_in", wait, "error", errText)
	c.rt.RecordStatus(x, c.flow, "queue", attempt, "RETRY", start, err)
	c.rt.observe(c.flow, "RETRY", start, x)
	if rerr := c.q.Retry(bg, c.cfg.Name, m.ID, time.Now().Add(wait), errText); rerr != nil && !errors.Is(rerr, store.ErrNotFound) {
		c.rt.Log.Error("queue retry failed", "message_id", m.ID, "error", rerr)
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

func (r *Runtime) observe(f *Flow, status string, start time.Time, x *Exchange) {
	if r.Observer != nil {
		r.Observer.MessageDone(f.ID, "queue", status, time.Since(start), x.Trace)
	}
}
