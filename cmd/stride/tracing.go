package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// tracingEndpoint is where spans go: --otel-endpoint, else the standard
// OpenTelemetry variables; "" means tracing is off.
func tracingEndpoint(flag string) string {
	if flag != "" {
		return flag
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		if v := os.Getenv(name); v != "" {
			return v
		}
	}
	return ""
}

// newTracer returns a tracer exporting spans over OTLP/HTTP in batches,
// and the function that flushes and stops it. flag is --otel-endpoint: a
// collector's base URL (http://collector:4318, to which /v1/traces is
// added) or a full traces URL; without it the SDK reads the standard
// OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT itself. The other OTEL_* variables
// (headers, sampler, service name, resource attributes, batching) apply
// as in every OpenTelemetry SDK.
func newTracer(ctx context.Context, flag, instance string, log *slog.Logger) (trace.Tracer, func(context.Context) error, error) {
	var opts []otlptracehttp.Option
	if flag != "" {
		// The exporter takes a malformed URL silently and sends nowhere:
		// check it here so that a typo stops the start.
		u, err := url.Parse(flag)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, nil, fmt.Errorf("--otel-endpoint %q: want an http:// or https:// URL such as http://127.0.0.1:4318", shownURL(flag))
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/v1/traces"
		}
		opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("opentelemetry exporter: %w", err)
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", "stride"), attribute.String("service.version", version)}
	if instance != "" {
		attrs = append(attrs, attribute.String("service.instance.id", instance))
	}
	// Variables come last so that OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES override the defaults.
	res, err := resource.New(ctx, resource.WithAttributes(attrs...), resource.WithFromEnv())
	if err != nil {
		return nil, nil, fmt.Errorf("opentelemetry resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	// An unreachable collector must not stop the flows: its errors go to
	// the log, and spans that cannot be sent are dropped by the batcher.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("opentelemetry: spans not exported", "error", err)
	}))
	return tp.Tracer("github.com/stride-engine/stride"), tp.Shutdown, nil
}

// shownURL is an endpoint as logs may show it: without a password or a
// query (where collectors' API keys sometimes go).
func shownURL(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "(not a URL)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	return u.String()
}
