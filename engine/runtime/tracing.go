package runtime

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/stride-engine/stride/engine/flow"
)

// CorrelationHeader is the inbound header whose value becomes a message's
// correlation id (flow.MessageInfo); http triggers answer with it too.
const CorrelationHeader = "X-Correlation-Id"

// maxCorrelationID bounds an inbound correlation id: it is stored with
// every message of the chain.
const maxCorrelationID = 128

// inboundCorrelationID returns the caller's correlation id, or "" when
// it sent none or one that is not a short token of letters, digits and
// ._:- (anything else could forge log lines or blow up entries).
func inboundCorrelationID(h http.Header) string {
	v := h.Get(CorrelationHeader)
	if v == "" || len(v) > maxCorrelationID {
		return ""
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return ""
		}
	}
	return v
}

// startRun opens the span of one message's run of f, named what (e.g.
// "http fitbit-webhook"), as a child of the span context ctx carries (an
// inbound traceparent or a queued message's). Without a tracer it opens
// none; the trace id of ctx's span context (a caller's traceparent) is
// still kept on the exchange for the message log.
func (r *Runtime) startRun(ctx context.Context, x *flow.Exchange, f *flow.Flow, what string, kind trace.SpanKind, trigger string) (context.Context, trace.Span) {
	span := trace.SpanFromContext(ctx)
	if r.tracer != nil {
		ctx, span = r.tracer.Start(ctx, what, trace.WithSpanKind(kind), trace.WithAttributes(
			attribute.String("stride.flow", f.ID),
			attribute.String("stride.trigger", trigger),
			attribute.String("stride.message_id", x.ID),
			attribute.String("stride.correlation_id", x.CorrelationID),
		))
	}
	if sc := span.SpanContext(); sc.HasTraceID() {
		x.TraceID = sc.TraceID().String()
	}
	return ctx, span
}

// endRun ends a run's span with the message's final status.
func endRun(x *flow.Exchange, span trace.Span, status string, err error) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.String("stride.status", status))
	if err != nil {
		span.SetStatus(codes.Error, x.Redact(err.Error()))
	}
	span.End()
}

// extractHTTP returns ctx with the caller's trace context (traceparent,
// tracestate) as the remote parent, when the request sent one.
func extractHTTP(ctx context.Context, h http.Header) context.Context {
	if h.Get("Traceparent") == "" {
		return ctx
	}
	return flow.TraceContext().Extract(ctx, propagation.HeaderCarrier(h))
}
