package graph

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// depthLimit refuses operations that nest selections deeper than max. Introspection fields are
// not counted, so GraphiQL's schema query keeps working.
type depthLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (d depthLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if d.max <= 0 || oc.Operation == nil {
		return nil
	}
	if depth := selectionDepth(oc.Operation.SelectionSet, 0, d.max+1); depth > d.max {
		return refusal(ReasonDepth, "Query is nested too deeply (the limit is %d levels)", d.max)
	}
	return nil
}

// selectionDepth returns the depth of set, stopping early once it exceeds stop.
func selectionDepth(set ast.SelectionSet, depth, stop int) int {
	if depth >= stop {
		return depth
	}
	deepest := depth
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") {
				continue
			}
			d = depth + 1
			if len(s.SelectionSet) > 0 {
				d = selectionDepth(s.SelectionSet, depth+1, stop)
			}
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, depth, stop)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				d = selectionDepth(s.Definition.SelectionSet, depth, stop)
			}
		}
		deepest = max(deepest, d)
	}
	return deepest
}

// noNUL refuses operations whose variables or inline strings contain the NUL character, which
// PostgreSQL cannot store in text: a clear BAD_USER_INPUT instead of a database error.
type noNUL struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = noNUL{}

func (noNUL) ExtensionName() string                   { return "NoNUL" }
func (noNUL) Validate(graphql.ExecutableSchema) error { return nil }

func (noNUL) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if hasNUL(oc.Variables) || strings.ContainsRune(oc.RawQuery, 0) || strings.Contains(strings.ToLower(oc.RawQuery), `\u0000`) {
		return refusal(ReasonInvalidText, "Text must not contain NUL characters")
	}
	return nil
}

func hasNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.ContainsRune(v, 0)
	case map[string]any:
		for k, e := range v {
			if strings.ContainsRune(k, 0) || hasNUL(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if hasNUL(e) {
				return true
			}
		}
	}
	return false
}

// credentialFields check a password, a token or a code. An operation may hold at most one, so
// that aliases cannot try many guesses in one request before the rate limiter has counted any.
var credentialFields = map[string]bool{
	"login": true, "refreshToken": true, "acceptInvitation": true, "changePassword": true,
	"disableTwoFactor": true, "confirmTwoFactorSetup": true,
	"requestPasswordReset": true, "resetPassword": true,
}

// oneCredentialCheck refuses operations with more than one credential-checking field.
type oneCredentialCheck struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = oneCredentialCheck{}

func (oneCredentialCheck) ExtensionName() string                   { return "OneCredentialCheck" }
func (oneCredentialCheck) Validate(graphql.ExecutableSchema) error { return nil }

func (oneCredentialCheck) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil || oc.Operation.Operation != ast.Mutation {
		return nil
	}
	n := 0
	// Collected through fragments, so that spreading two fragments cannot sneak in a second.
	for _, name := range rootFields(oc) {
		if credentialFields[name] {
			n++
		}
	}
	if n > 1 {
		return refusal(ReasonCredentialChecks, "Only one sign-in, token or code check per request")
	}
	return nil
}

// maxCachedQuery is the longest query text the caches keep. Their entries are keyed by (or hold)
// the whole text, and the token limit does not bound its length (comments and long strings are
// few tokens): without this, the 1,000-entry query cache could grow to the body limit times a
// thousand. A longer query is parsed and validated each time it comes, within the limits.
const maxCachedQuery = 16 << 10

// smallOnly is a cache that keeps only entries whose query text is at most maxCachedQuery long.
type smallOnly[T any] struct {
	graphql.Cache[T]
	size func(key string, value T) int
}

func (c smallOnly[T]) Add(ctx context.Context, key string, value T) {
	if c.size(key, value) <= maxCachedQuery {
		c.Cache.Add(ctx, key, value)
	}
}
