package flow

import "time"

// Observer receives what the runtime measures, for metrics. The engine
// calls it and knows nothing of any metrics system; engine/metrics
// implements it with Prometheus. Implementations must be safe for
// concurrent use and cheap: they are called once per message.
type Observer interface {
	// MessageDone is called when a message's attempt ends, with its
	// trace (step kinds and durations).
	MessageDone(flow, trigger, status string, took time.Duration, trace []TraceEntry)
	// InboundHTTP is called for every request to an http trigger.
	InboundHTTP(flow string, status int)
	// OutboundHTTP is called for every answer (or failure, status 0) of a
	// request step.
	OutboundHTTP(host string, status int, took time.Duration)
	// Reload is called after every reload attempt.
	Reload(ok bool, took time.Duration)
}

// ObserveOutbound reports an outbound HTTP exchange of a step.
func (x *Exchange) ObserveOutbound(host string, status int, took time.Duration) {
	if x.observer != nil {
		x.observer.OutboundHTTP(host, status, took)
	}
}
