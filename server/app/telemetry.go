package app

import (
	"context"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/inferiallm/orgserver/server/telemetry"
)

// Metrics and traces of HTTP requests, and the management listener. withClient observes each
// request: its span, its metrics, and the trace id in its log line.

// managementRoutes is the handler of the management listener: the metrics, and the probes as
// the main listener answers them.
func (a *App) managementRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics.Handler())
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", a.readyz)
	return a.recoverPanics(mux)
}

// routeKey is the context key of where recordRoute writes the pattern that served a request.
type routeKey struct{}

// recordRoute wraps the server's mux and notes, for withClient, the pattern that served the
// request. ServeMux sets r.Pattern on the request it is given, and the REST layer's own mux
// sets it again on the same request, so a REST route is known by its full pattern (e.g.
// "PUT /admin/users/{user_id}/role"), not by the "/admin/" it is mounted at.
func recordRoute(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p, ok := r.Context().Value(routeKey{}).(*string); ok {
				*p = r.Pattern
			}
		}()
		mux.ServeHTTP(w, r)
	})
}

// routeNone is the route label of a request answered before routing (a CORS preflight, a body
// over the limit, the database down while authenticating), and of every CONNECT: ServeMux
// reports the path it redirects a CONNECT to as its pattern, and a client chooses that path.
const routeNone = "(unrouted)"

// routeLabel is the route a request is counted and traced under: the pattern that served it
// without its method, never the path the client sent.
func routeLabel(pattern, method string) string {
	if pattern == "" || method == http.MethodConnect {
		return routeNone
	}
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// startSpan starts the span of an HTTP request, continuing the trace of a traceparent header.
func (a *App) startSpan(ctx context.Context, r *http.Request) (context.Context, trace.Span) {
	ctx = a.propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
	method := telemetry.Method(r.Method)
	return a.tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(semconv.HTTPRequestMethodKey.String(method)))
}

// endSpan names the span after the route (e.g. "POST /graphql") and ends it.
func endSpan(span trace.Span, method, route string, status int) {
	span.SetName(method + " " + route)
	span.SetAttributes(semconv.HTTPRoute(route), semconv.HTTPResponseStatusCode(status))
	if status >= 500 {
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

// shutdownTracing sends the spans still queued, for at most ShutdownTimeout.
func (a *App) shutdownTracing() {
	if a.provider == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := a.provider.Shutdown(ctx); err != nil {
		a.log.Warn("sending the last spans", "err", err)
	}
	a.provider = nil
}
