package flow

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// MessageInfo is message.* in expressions: who this message is across
// the flows it passes through.
type MessageInfo struct {
	// ID is this run's message id (the message log's key).
	ID string `expr:"id"`
	// CorrelationID ties together the messages one inbound request caused:
	// the webhook's run, the queued message its consumer runs, and what
	// that consumer enqueues in turn. It is the inbound X-Correlation-ID
	// header when one was sent, else the id of the first message.
	CorrelationID string `expr:"correlation_id"`
}

// Queue message meta keys that carry a message's correlation id and trace
// context from enqueue to the consumer's run. The "stride." prefix is
// reserved: the consumer removes these keys instead of making them
// properties.
const (
	MetaCorrelationID = "stride.correlation_id"
	metaTracePrefix   = "stride.trace."
)

// traceContext is the W3C trace-context propagator (traceparent,
// tracestate): the format the inbound header, queued messages and
// outbound requests share.
var traceContext propagation.TraceContext

// TraceContext returns the propagator Stride uses for the W3C
// traceparent and tracestate headers.
func TraceContext() propagation.TextMapPropagator { return traceContext }

// SetTracer makes the exchange open a span per step, children of the
// span in the context its steps run with. A nil tracer (the default)
// opens none and costs nothing.
func (x *Exchange) SetTracer(t trace.Tracer) { x.tracer = t }

// Tracer returns the exchange's tracer, or nil when tracing is off.
func (x *Exchange) Tracer() trace.Tracer { return x.tracer }

// Carry adds to a queued message's meta what its consumer's run takes
// over from this one: the correlation id and, when ctx carries a span,
// its trace context, so that the consumer's span continues the trace.
func (x *Exchange) Carry(ctx context.Context, meta map[string]string) {
	if x.CorrelationID != "" {
		meta[MetaCorrelationID] = x.CorrelationID
	}
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	c := propagation.MapCarrier{}
	traceContext.Inject(ctx, c)
	for k, v := range c {
		meta[metaTracePrefix+k] = v
	}
}

// Uncarry takes Carry's keys out of a queued message's meta (so that
// they do not become properties) and returns the correlation id and ctx
// with the sender's trace context as its remote parent.
func Uncarry(ctx context.Context, meta map[string]string) (_ context.Context, correlationID string, properties map[string]string) {
	var carrier propagation.MapCarrier
	for k, v := range meta {
		switch {
		case k == MetaCorrelationID:
			correlationID = v
		case strings.HasPrefix(k, metaTracePrefix):
			if carrier == nil {
				carrier = propagation.MapCarrier{}
			}
			carrier[k[len(metaTracePrefix):]] = v
		case strings.HasPrefix(k, "stride."):
			// reserved for Stride; not a property
		default:
			if properties == nil {
				properties = make(map[string]string, len(meta))
			}
			properties[k] = v
		}
	}
	if carrier != nil {
		ctx = traceContext.Extract(ctx, carrier)
	}
	return ctx, correlationID, properties
}

// startStepSpan opens a step's span; EndSpan closes it.
func (x *Exchange) startStepSpan(ctx context.Context, n *stepNode) (context.Context, trace.Span) {
	name := n.kind
	if n.name != n.kind {
		name = n.kind + " " + n.name
	}
	return x.tracer.Start(ctx, name, trace.WithAttributes(
		attribute.String("stride.flow", x.flowID()),
		attribute.String("stride.step", n.name),
		attribute.String("stride.step.kind", n.kind),
		attribute.String("code.location", n.at),
	))
}

func (x *Exchange) flowID() string {
	if x.flow == nil {
		return ""
	}
	return x.flow.ID
}

// EndSpan ends span with err's outcome, its text redacted of secrets.
func (x *Exchange) EndSpan(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, x.Redact(firstLine(err.Error())))
	}
	span.End()
}
