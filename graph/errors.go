package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/schema"
	"github.com/inferiallm/orgserver/ent/schema/schematype"
	"github.com/inferiallm/orgserver/server/auth"
	"github.com/inferiallm/orgserver/server/database"
)

// Code is the machine-readable class of an error, sent as extensions.code. The set is closed:
// the REST layer maps each code to one HTTP status.
type Code string

// The error codes.
const (
	CodeUnauthenticated       Code = "UNAUTHENTICATED"
	CodeForbidden             Code = "FORBIDDEN"
	CodeNotFound              Code = "NOT_FOUND"
	CodeBadUserInput          Code = "BAD_USER_INPUT"
	CodeConflict              Code = "CONFLICT"
	CodeRateLimited           Code = "RATE_LIMITED"
	CodeTwoFactorRequired     Code = "TWO_FACTOR_REQUIRED"
	CodeTwoFactorCodeRequired Code = "TWO_FACTOR_CODE_REQUIRED"
	// CodeUnavailable: the server cannot serve the request now but may in a moment (the
	// database is unreachable or restarting, or password hashing is at capacity); retryAfter
	// says in how many seconds to try again (REST: 503 with Retry-After).
	CodeUnavailable Code = "UNAVAILABLE"
	CodeInternal    Code = "INTERNAL"
)

// Reason refines BAD_USER_INPUT for a request refused before it runs, as extensions.reason
// (REST: 422). gqlgen's own GRAPHQL_PARSE_FAILED and GRAPHQL_VALIDATION_FAILED pass through.
type Reason string

// The reasons.
const (
	ReasonInvalidInput         Reason = "INVALID_INPUT" // a value that is not of its type
	ReasonInvalidText          Reason = "INVALID_TEXT"  // text with NUL characters
	ReasonDepth                Reason = "DEPTH_LIMIT_EXCEEDED"
	ReasonFields               Reason = "FIELD_LIMIT_EXCEEDED"
	ReasonFragments            Reason = "FRAGMENT_LIMIT_EXCEEDED"
	ReasonIntrospection        Reason = "INTROSPECTION_LIMIT_EXCEEDED"
	ReasonComplexity           Reason = "COMPLEXITY_LIMIT_EXCEEDED"
	ReasonCredentialChecks     Reason = "TOO_MANY_CREDENTIAL_CHECKS"
	ReasonSlowMutationNotAlone Reason = "SLOW_MUTATION_NOT_ALONE"
	// ReasonInvalidRequest: not a GraphQL request (HTTP 400): a body that is not JSON, a
	// parameter of the wrong type, no query.
	ReasonInvalidRequest Reason = "INVALID_REQUEST"
	// ReasonMethod: a mutation sent as GET (HTTP 405).
	ReasonMethod Reason = "METHOD_NOT_ALLOWED"
	// ReasonPersistedDocumentNotFound: a documentId or persistedQuery.sha256Hash that names no
	// trusted document.
	ReasonPersistedDocumentNotFound Reason = "PERSISTED_DOCUMENT_NOT_FOUND"
	// ReasonDocumentNotTrusted: in trusted-documents mode, a document that is not in the
	// manifest.
	ReasonDocumentNotTrusted Reason = "DOCUMENT_NOT_TRUSTED"
)

// refusal is the error of a request refused before it runs: BAD_USER_INPUT with reason (the
// presenter sets the code).
func refusal(reason Reason, format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	err.Extensions = map[string]any{"code": string(reason)}
	return err
}

// Codes is the closed set of error codes, for tables that must cover every one (the REST
// status table).
var Codes = []Code{
	CodeUnauthenticated, CodeForbidden, CodeNotFound, CodeBadUserInput, CodeConflict, CodeRateLimited,
	CodeTwoFactorRequired, CodeTwoFactorCodeRequired, CodeUnavailable, CodeInternal,
}

// Error is an error with a code and a message that is safe to show to the client.
type Error struct {
	Code    Code
	Message string
	// Extensions are extra fields for extensions (e.g. retryAfter).
	Extensions map[string]any
}

func (e *Error) Error() string { return e.Message }

// RetryAfter is the seconds e asks a client to wait before trying again, if it asks.
func (e *Error) RetryAfter() (int, bool) {
	secs, ok := e.Extensions["retryAfter"].(int)
	return secs, ok
}

// gqlError is e as a GraphQL error, code and extensions set.
func (e *Error) gqlError() *gqlerror.Error {
	ext := map[string]any{"code": string(e.Code)}
	for k, v := range e.Extensions {
		ext[k] = v
	}
	return &gqlerror.Error{Message: e.Message, Extensions: ext}
}

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Common errors.
var (
	ErrUnauthenticated = &Error{Code: CodeUnauthenticated, Message: "Not authenticated"}
	ErrBadCredentials  = &Error{Code: CodeUnauthenticated, Message: "Incorrect username or password"}
	ErrRefreshFailed   = &Error{Code: CodeUnauthenticated, Message: "Refresh failed"}
	ErrNotFound        = &Error{Code: CodeNotFound, Message: "Not found"}
	ErrInternal        = &Error{Code: CodeInternal, Message: "Internal server error"}
)

// unavailable is the answer when the database cannot serve now; retry in secs seconds.
func unavailable(secs int) *Error {
	return &Error{Code: CodeUnavailable, Message: "The database is unavailable; try again shortly",
		Extensions: map[string]any{"retryAfter": secs}}
}

// errClientGone is the error of work cut short because the client went away; nobody reads it.
var errClientGone = &Error{Code: CodeUnavailable, Message: "Request cancelled", Extensions: map[string]any{"retryAfter": 1}}

// permissionDenied is the error of a missing permission, worded as the dashboard expects.
func permissionDenied(perm string) *Error {
	return Errorf(CodeForbidden, "Permission denied: %s required", perm)
}

// classify turns any error into an *Error. Unknown errors become INTERNAL and are reported
// through internal == true so that the presenter logs them.
func classify(ctx context.Context, err error) (e *Error, internal bool) {
	var (
		ve      *ent.ValidationError
		pe      *schema.PermissionError
		invalid *schematype.InvalidError
	)
	switch {
	case errors.As(err, &e):
		return e, e.Code == CodeInternal
	case ent.IsNotFound(err):
		return ErrNotFound, false
	case errors.As(err, &invalid):
		return Errorf(CodeBadUserInput, "%s", invalid.Message), false
	case errors.As(err, &pe):
		return permissionDenied(pe.Permission), false
	case errors.Is(err, privacy.Deny):
		// A denial must not reveal whether the row exists: on reads it is "not found".
		if op := graphql.GetOperationContext(ctx); graphql.HasOperationContext(ctx) && op.Operation != nil && op.Operation.Operation == ast.Mutation {
			return Errorf(CodeForbidden, "Not allowed"), false
		}
		return ErrNotFound, false
	case errors.As(err, &ve):
		return Errorf(CodeBadUserInput, "Invalid value for %s", validationField(ve)), false
	case ent.IsConstraintError(err):
		return Errorf(CodeConflict, "Conflicts with an existing record"), false
	case errors.Is(err, context.Canceled):
		return errClientGone, false
	case database.IsUnavailable(err):
		return unavailable(1), false
	}
	return ErrInternal, true
}

// validationField names the field of an ent validation error in GraphQL's camelCase.
func validationField(ve *ent.ValidationError) string {
	name := ve.Name
	parts := strings.Split(name, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// resolverError marks an error returned by a resolver or a directive, as opposed to one gqlgen
// raised while parsing, validating or coercing the request. See markResolverErrors.
type resolverError struct{ err error }

func (e *resolverError) Error() string { return e.err.Error() }
func (e *resolverError) Unwrap() error { return e.err }

// markResolverErrors is a field middleware that marks the errors of resolvers and directives,
// so that the presenter treats an unknown one as internal rather than as bad input.
func markResolverErrors(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	if err != nil {
		var gerr *gqlerror.Error
		// Introspection fields fail only when introspection is off: a request error.
		introspection := strings.HasPrefix(graphql.GetFieldContext(ctx).Field.Name, "__")
		if !errors.As(err, &gerr) && !introspection {
			err = &resolverError{err: err}
		}
	}
	return res, err
}

// errorPresenter sets extensions.code on every error and hides internal ones.
func errorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gerr := graphql.DefaultErrorPresenter(ctx, err)
		var (
			re *resolverError
			e  *Error
		)
		switch {
		case errors.As(err, &re):
			var internal bool
			e, internal = classify(ctx, re.err)
			switch {
			case internal:
				log.ErrorContext(ctx, "internal error", "err", re.err, "request_id", auth.ClientFromContext(ctx).RequestID, "path", gerr.Path.String())
			case e.Code == CodeUnavailable && e != errClientGone && database.IsUnavailable(re.err):
				log.WarnContext(ctx, "database unavailable", "err", re.err, "request_id", auth.ClientFromContext(ctx).RequestID, "path", gerr.Path.String())
			}
		case errors.As(err, &e):
		default:
			// gqlgen's own parse, validation, coercion and limit errors: the request is malformed.
			// (entgql reports unresolvable node IDs this way too, already coded NOT_FOUND.)
			reason := gerr.Extensions["code"]
			if reason == string(CodeNotFound) {
				gerr.Message = ErrNotFound.Message
				return gerr
			}
			if reason == nil {
				// An argument or variable that could not be read as its type, e.g. a malformed ID.
				reason = string(ReasonInvalidInput)
				if strings.Contains(gerr.Message, "UUID") {
					gerr.Message = "Invalid ID: expected a UUID"
				}
			}
			gerr.Extensions = map[string]any{"code": string(CodeBadUserInput), "reason": reason}
			return gerr
		}
		gerr.Message = e.Message
		gerr.Extensions = map[string]any{"code": string(e.Code)}
		for k, v := range e.Extensions {
			gerr.Extensions[k] = v
		}
		if secs, ok := e.RetryAfter(); ok {
			setRetryAfter(ctx, secs)
		}
		return gerr
	}
}

type responseHeaderKey struct{}

// responseHeader is the header of the GraphQL HTTP response; errors of concurrent resolvers
// reach it one at a time.
type responseHeader struct {
	mu sync.Mutex
	h  http.Header
}

// setRetryAfter sets the Retry-After header of a GraphQL HTTP response that refuses to be
// retried sooner, as REST does for the same errors.
func setRetryAfter(ctx context.Context, secs int) {
	if rh, ok := ctx.Value(responseHeaderKey{}).(*responseHeader); ok {
		rh.mu.Lock()
		defer rh.mu.Unlock()
		if rh.h.Get("Retry-After") == "" {
			rh.h.Set("Retry-After", strconv.Itoa(secs))
		}
	}
}

// answerLateOperations is an operation middleware. gqlgen does not start an operation whose
// context is done by then, and answers it with no response at all: the body null over HTTP,
// nil to the REST layer. A request whose deadline passed before its operation started (while
// its authentication waited for the database, say) gets the answer a resolver would have
// given: UNAVAILABLE with a retry time.
func answerLateOperations(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	responses := next(ctx)
	first := true
	return func(ctx context.Context) *graphql.Response {
		resp := responses(ctx)
		if resp == nil && first && ctx.Err() != nil {
			e, _ := classify(ctx, ctx.Err())
			if secs, ok := e.RetryAfter(); ok {
				setRetryAfter(ctx, secs)
			}
			resp = &graphql.Response{Errors: gqlerror.List{e.gqlError()}}
		}
		first = false
		return resp
	}
}

// recoverFunc turns a panic in a resolver into an INTERNAL error, logged once.
func recoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", fmt.Sprint(p), "request_id", auth.ClientFromContext(ctx).RequestID)
		return ErrInternal
	}
}
