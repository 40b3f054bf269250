package runtime

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// maxPayload caps a traced payload in the message log.
const maxPayload = 64 << 10

// logRecorder writes message log entries from a background goroutine, so
// that an HTTP reply never waits for the log write. The buffer is bounded:
// when it is full the caller waits (back-pressure) instead of dropping an
// entry, because a message without its log entry is invisible to the
// operator.
type logRecorder struct {
	log   store.Log
	errs  *slog.Logger
	guard *DiskGuard // nil for none
	ch    chan store.LogEntry
	done  chan struct{}
	once  sync.Once
}

func newLogRecorder(l store.Log, errs *slog.Logger, guard *DiskGuard) *logRecorder {
	r := &logRecorder{log: l, errs: errs, guard: guard, ch: make(chan store.LogEntry, 4096), done: make(chan struct{})}
	go r.loop()
	return r
}

func (r *logRecorder) loop() {
	defer close(r.done)
	for e := range r.ch {
		if r.guard.Err() != nil {
			// The disk is nearly full: a write could kill the process.
			// Counted, and reported when space returns.
			r.guard.dropped.Add(1)
			continue
		}
		if err := r.log.Record(context.Background(), e); err != nil {
			r.errs.Error("message log write failed", "message_id", e.ID, "flow", e.Flow, "error", err)
		}
	}
}

func (r *logRecorder) record(e store.LogEntry) { r.ch <- e }

// close drains the buffer and stops the writer. The runtime calls it
// once every run has returned, so no record comes after it.
func (r *logRecorder) close() {
	r.once.Do(func() { close(r.ch) })
	<-r.done
}

// logEntry builds the message log entry of a finished attempt.
func logEntry(x *flow.Exchange, f *flow.Flow, trigger string, attempt int, status string, start time.Time, err error) store.LogEntry {
	e := store.LogEntry{
		ID: x.ID, Flow: f.ID, FlowVersion: f.Version, Trigger: trigger, Attempt: attempt,
		Status: status, Start: start, End: time.Now(), TraceDropped: x.TraceDropped,
	}
	if err != nil {
		e.Error = x.Redact(err.Error())
	}
	e.Trace = make([]store.TraceEntry, len(x.Trace))
	for i, t := range x.Trace {
		e.Trace[i] = store.TraceEntry{Step: t.Step, Kind: t.Kind, At: t.At, DurationNS: int64(t.Duration), Outcome: t.Outcome, Error: t.Error}
	}
	if f.TracePayloads {
		body := x.Msg.Body()
		if len(body) > maxPayload {
			body = body[:maxPayload]
		}
		e.Payload = []byte(x.Redact(string(body)))
	}
	return e
}

// FinalStatus is the message log status of a finished run.
func FinalStatus(x *flow.Exchange, err error) string {
	switch {
	case err != nil:
		return "FAILED"
	case x.Status != "":
		return x.Status
	}
	return "COMPLETED"
}

// Finish ends a message's attempt: on success it runs the exchange's
// completion hooks, then it logs the outcome and records it in the
// message log. It returns the final status.
func (r *Runtime) Finish(ctx context.Context, x *flow.Exchange, f *flow.Flow, trigger string, attempt int, start time.Time, err error) string {
	if err == nil {
		if herr := x.Complete(context.WithoutCancel(ctx)); herr != nil {
			r.log.Warn("completion step failed", "message_id", x.ID, "flow", f.ID, "error", x.Redact(herr.Error()))
		}
	}
	status := FinalStatus(x, err)
	attrs := []any{"message_id", x.ID, "flow", f.ID, "version", f.Version, "status", status, "duration", time.Since(start)}
	if err != nil {
		r.log.Error("message failed", append(attrs, "error", x.Redact(err.Error()))...)
	} else {
		r.log.Debug("message done", attrs...)
	}
	r.RecordStatus(x, f, trigger, attempt, status, start, err)
	r.observe(f, trigger, status, start, x)
	return status
}

// RecordStatus writes a message log entry (nothing without a store).
func (r *Runtime) RecordStatus(x *flow.Exchange, f *flow.Flow, trigger string, attempt int, status string, start time.Time, err error) {
	if r.recorder != nil {
		r.recorder.record(logEntry(x, f, trigger, attempt, status, start, err))
	}
}

func (r *Runtime) observe(f *flow.Flow, trigger, status string, start time.Time, x *flow.Exchange) {
	if r.observer != nil {
		r.observer.MessageDone(f.ID, trigger, status, time.Since(start), x.Trace)
	}
}
