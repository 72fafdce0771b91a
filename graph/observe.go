package graph

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/inferiallm/orgserver/server/auth"
	"github.com/inferiallm/orgserver/server/telemetry"
)

// observer is the executor's outermost extension when metrics or traces are on: it gives each
// operation a span, named after it, around everything the operation runs (its loaders, its
// transaction, its statements), and counts it by name and outcome. An operation refused
// before it runs (unparsable, invalid, over a limit) is counted as refused, without its name:
// only a validated operation's name may become a label or a span's name, and only within the
// cap of names (telemetry.OperationNames).
type observer struct {
	metrics *telemetry.Metrics // nil: no metrics
	tracer  trace.Tracer       // nil: no spans
	names   *telemetry.OperationNames
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
	graphql.ResponseInterceptor
} = observer{}

func (observer) ExtensionName() string                   { return "Observer" }
func (observer) Validate(graphql.ExecutableSchema) error { return nil }

// dispatchedKey marks the context of an operation that passed validation and runs.
type dispatchedKey struct{}

// InterceptOperation observes a validated operation. A new name labels metrics only when a
// signed-in caller sends it, so that anonymous clients cannot use up the cap.
func (o observer) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	op := graphql.GetOperationContext(ctx).Operation
	name := o.names.Label(op.Name, auth.FromContext(ctx) != nil)
	kind := string(op.Operation)
	responses := next(context.WithValue(ctx, dispatchedKey{}, true))
	return func(ctx context.Context) *graphql.Response {
		start := time.Now()
		var span trace.Span
		if o.tracer != nil {
			attrs := []attribute.KeyValue{semconv.GraphQLOperationTypeKey.String(kind)}
			if op.Name != "" && len(op.Name) <= 64 {
				attrs = append(attrs, semconv.GraphQLOperationName(op.Name))
			}
			ctx, span = o.tracer.Start(ctx, kind+" "+name, trace.WithAttributes(attrs...))
		}
		resp := responses(ctx)
		if resp != nil {
			outcome := outcomeOf(resp)
			o.metrics.Operation(name, outcome, time.Since(start))
			if span != nil && outcome != "ok" {
				span.SetStatus(codes.Error, outcome)
			}
		}
		if span != nil {
			span.End()
		}
		return resp
	}
}

// InterceptResponse counts the operations refused before they ran: the others were counted by
// InterceptOperation.
func (o observer) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp != nil && ctx.Value(dispatchedKey{}) == nil {
		o.metrics.OperationRefused(outcomeOf(resp))
	}
	return resp
}

// outcomeOf is "ok", or the first error's code in lower case (the codes are a closed set).
func outcomeOf(resp *graphql.Response) string {
	if len(resp.Errors) == 0 {
		return "ok"
	}
	code, _ := resp.Errors[0].Extensions["code"].(string)
	if !slices.Contains(Codes, Code(code)) {
		return "error"
	}
	return strings.ToLower(code)
}

// signInOutcome classifies the error a sign-in ended with, for the signins_total metric.
func signInOutcome(ctx context.Context, err error) string {
	if err == nil {
		return telemetry.SignInSuccess
	}
	e, _ := classify(ctx, err)
	switch {
	case e == ErrBadCredentials:
		return telemetry.SignInBadCredentials
	case e == errInvalidCode:
		return telemetry.SignInBadTwoFactorCode
	case e.Code == CodeTwoFactorCodeRequired:
		return telemetry.SignInTwoFactorCodeRequired
	case e.Code == CodeRateLimited:
		return telemetry.SignInRateLimited
	case e.Code == CodeForbidden:
		return telemetry.SignInNoMembership
	case e.Code == CodeUnavailable:
		return telemetry.SignInUnavailable
	}
	return telemetry.SignInError
}
