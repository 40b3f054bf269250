package runtime

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// maxPayload caps a traced payload in the message log.
const maxPayload = 64 << 10

// The message log writer's buffer and batches.
const (
	// logBuffer is how many entries wait for the writer; past it, entries
	// are dropped (and counted), never waited for.
	logBuffer = 4096
	// logBatchMax is the most entries written in one batch.
	logBatchMax = 256
	// logBatchWait is how long the writer waits for more entries after
	// the first of a batch when the buffer is empty.
	logBatchWait = 2 * time.Millisecond
	// logDropWarnEvery spaces the WARN lines about dropped entries.
	logDropWarnEvery = time.Second
)

// logRecorder writes message log entries from a background goroutine, so
// that a reply never waits for the log: it drains its buffer into batches
// (one store write of up to logBatchMax entries, after at most
// logBatchWait). When the buffer is full — the writer has fallen behind —
// an entry is dropped and counted instead of stalling the request that
// made it, with a WARN line at most once a second. A batch due while the
// data disk is low is dropped and counted too (the DiskGuard logs those
// periods). Both causes count in LogDropped and in the DiskGuard's
// Dropped, which feeds stride_message_log_dropped_total.
type logRecorder struct {
	log   store.Log
	errs  *slog.Logger
	guard *DiskGuard // nil for none
	ch    chan store.LogEntry
	done  chan struct{}
	once  sync.Once

	dropped    atomic.Int64 // every entry dropped, whatever the cause
	unreported atomic.Int64 // entries dropped because the writer was behind, not yet in a WARN line
	lastWarn   atomic.Int64 // when the last such WARN line was written (unix ns)
}

func newLogRecorder(l store.Log, errs *slog.Logger, guard *DiskGuard) *logRecorder {
	r := &logRecorder{log: l, errs: errs, guard: guard, ch: make(chan store.LogEntry, logBuffer), done: make(chan struct{})}
	go r.loop()
	return r
}

func (r *logRecorder) loop() {
	defer close(r.done)
	defer r.warnDropped(true)
	batch := make([]store.LogEntry, 0, logBatchMax)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		e, ok := <-r.ch
		if !ok {
			return
		}
		var open bool
		batch, open = r.fill(append(batch, e), timer)
		r.write(batch)
		clear(batch) // let the entries' traces and payloads go
		batch = batch[:0]
		if !open {
			return
		}
	}
}

// fill adds buffered entries to batch until it holds logBatchMax or, the
// buffer being empty, logBatchWait has passed. It reports false when the
// buffer was closed.
func (r *logRecorder) fill(batch []store.LogEntry, timer *time.Timer) ([]store.LogEntry, bool) {
	var wait <-chan time.Time
	defer timer.Stop()
	for len(batch) < logBatchMax {
		select {
		case e, ok := <-r.ch:
			if !ok {
				return batch, false
			}
			batch = append(batch, e)
			continue
		default:
		}
		if wait == nil {
			timer.Reset(logBatchWait)
			wait = timer.C
		}
		select {
		case e, ok := <-r.ch:
			if !ok {
				return batch, false
			}
			batch = append(batch, e)
		case <-wait:
			return batch, true
		}
	}
	return batch, true
}

func (r *logRecorder) write(batch []store.LogEntry) {
	if r.guard.Err() != nil {
		// The disk is nearly full: a write could kill the process.
		// Counted, and reported when space returns.
		r.drop(len(batch))
		return
	}
	if err := r.log.RecordBatch(context.Background(), batch); err != nil {
		r.errs.Error("message log write failed", "entries", len(batch), "message_id", batch[0].ID, "flow", batch[0].Flow, "error", err)
	}
	r.warnDropped(false)
}

// record queues e for the writer, or drops it when the buffer is full.
func (r *logRecorder) record(e store.LogEntry) {
	select {
	case r.ch <- e:
	default:
		r.drop(1)
		r.unreported.Add(1)
		r.warnDropped(false)
	}
}

func (r *logRecorder) drop(n int) {
	r.dropped.Add(int64(n))
	if r.guard != nil {
		r.guard.dropped.Add(int64(n))
	}
}

// warnDropped writes the WARN line about entries dropped because the
// writer was behind, at most once per logDropWarnEvery unless final.
func (r *logRecorder) warnDropped(final bool) {
	if r.unreported.Load() == 0 {
		return
	}
	now := time.Now().UnixNano()
	last := r.lastWarn.Load()
	if !final && (now-last < int64(logDropWarnEvery) || !r.lastWarn.CompareAndSwap(last, now)) {
		return
	}
	if n := r.unreported.Swap(0); n > 0 {
		r.errs.Warn("message log writer is behind: entries dropped, not logged (stride_message_log_dropped_total)",
			"dropped", n, "dropped_total", r.dropped.Load(), "buffer", logBuffer)
	}
}

// close drains the buffer and stops the writer. The runtime calls it
// once every run has returned, so no record comes after it.
func (r *logRecorder) close() {
	r.once.Do(func() { close(r.ch) })
	<-r.done
}

// LogDropped returns how many message log entries the runtime dropped
// instead of writing: while the data disk was low (see DiskGuard) and
// when the log writer had fallen behind (its buffer full). The same
// entries are added to the DiskGuard's Dropped, which feeds the metric
// stride_message_log_dropped_total.
func (r *Runtime) LogDropped() int64 {
	// Start writes recorder before it stores the started state.
	if state(r.state.Load()) == created || r.recorder == nil {
		return 0
	}
	return r.recorder.dropped.Load()
}

// logLevel is the flow's message log level (a flow built without the
// loader may set only TracePayloads).
func logLevel(f *flow.Flow) flow.LogLevel {
	if f.TracePayloads && f.LogLevel == flow.LogInfo {
		return flow.LogTrace
	}
	return f.LogLevel
}

// failedAttempt reports whether an attempt failed: what a flow with log:
// errors keeps. DISCARDED and the statuses of filter and complete are
// outcomes, not failures.
func failedAttempt(status string, err error) bool {
	switch status {
	case store.StatusFailed, store.StatusRetry, store.StatusEscalated:
		return true
	}
	return err != nil
}

// logEntry builds the message log entry of a finished attempt.
func logEntry(x *flow.Exchange, f *flow.Flow, trigger string, attempt int, status string, start time.Time, err error, keepSteps bool) store.LogEntry {
	e := store.LogEntry{
		ID: x.ID, Flow: f.ID, FlowVersion: f.Version, Trigger: trigger, Attempt: attempt,
		Status: status, Start: start, End: time.Now(), TraceDropped: x.TraceDropped,
		CorrelationID: x.CorrelationID, TraceID: x.TraceID,
	}
	if err != nil {
		e.Error = x.Redact(err.Error())
	}
	level := logLevel(f)
	// The step trace of an attempt that went well is most of an entry's
	// bytes (a 14-step consumer: ~300 of ~420) and is what nobody reads:
	// at info it is kept only for an attempt that failed, where it says
	// which step failed and what ran before; trace keeps it always.
	if keepSteps || level == flow.LogTrace || failedAttempt(status, err) {
		e.Trace = make([]store.TraceEntry, len(x.Trace))
		for i, t := range x.Trace {
			e.Trace[i] = store.TraceEntry{Step: t.Step, Kind: t.Kind, At: t.At, DurationNS: int64(t.Duration), Outcome: t.Outcome, Error: t.Error}
		}
	} else {
		e.TraceDropped = 0 // nothing of the trace is kept
	}
	if level == flow.LogTrace {
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
	// The attributes only when the line is written: building them cost
	// six allocations per message at the default level.
	if err != nil || r.log.Enabled(ctx, slog.LevelDebug) {
		attrs := []any{"message_id", x.ID, "correlation_id", x.CorrelationID, "flow", f.ID, "version", f.Version, "status", status, "duration", time.Since(start)}
		if err != nil {
			r.log.Error("message failed", append(attrs, "error", x.Redact(err.Error()))...)
		} else {
			r.log.Debug("message done", attrs...)
		}
	}
	r.RecordStatus(x, f, trigger, attempt, status, start, err)
	r.observe(f, trigger, status, start, x)
	return status
}

// RecordStatus writes a message log entry, as the flow's log level says
// (nothing without a store). It never waits for the write.
func (r *Runtime) RecordStatus(x *flow.Exchange, f *flow.Flow, trigger string, attempt int, status string, start time.Time, err error) {
	if r.recorder == nil {
		return
	}
	switch logLevel(f) {
	case flow.LogNone:
		return
	case flow.LogErrors:
		if !failedAttempt(status, err) {
			return
		}
	}
	r.recorder.record(logEntry(x, f, trigger, attempt, status, start, err, r.keepSteps))
}

func (r *Runtime) observe(f *flow.Flow, trigger, status string, start time.Time, x *flow.Exchange) {
	r.steps.add(x.Trace)
	if r.observer != nil {
		r.observer.MessageDone(f.ID, trigger, status, time.Since(start), x.Trace)
	}
}
