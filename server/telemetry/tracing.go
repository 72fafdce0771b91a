package telemetry

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// TracerName names the server's tracer (its instrumentation scope).
const TracerName = "github.com/inferiallm/orgserver"

// ServiceName is the service.name of the server's spans unless OTEL_SERVICE_NAME says otherwise.
const ServiceName = "inferia-org"

// NewTracerProvider returns a tracer provider that sends spans in batches over OTLP/HTTP
// (protobuf) to url, the full URL of the collector's traces endpoint (e.g.
// http://otel-collector:4318/v1/traces). The exporter reads the other OTEL_EXPORTER_OTLP_*
// variables itself (headers, timeout, compression, certificates), and the SDK reads
// OTEL_TRACES_SAMPLER, OTEL_BSP_*, OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES. The caller
// must Shutdown the provider, which sends what is still queued.
func NewTracerProvider(ctx context.Context, url string) (*sdktrace.TracerProvider, error) {
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(url))
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(semconv.ServiceName(ServiceName)),
		resource.WithFromEnv(), // after the default name, so that OTEL_SERVICE_NAME wins
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}
