// Package inturn holds what graph/codegen has the generated executor call instead of gqlgen's
// own helpers, where gqlgen has no setting for the behaviour this server wants.
package inturn

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
)

// MarshalSlice marshals the elements of a list one after another, in the calling goroutine.
// It takes the arguments of graphql.MarshalSliceConcurrently, which it replaces in the
// generated executor, and keeps its contract: each element gets a field context with its
// index, and one whose marshalling panics is reported and becomes null. The worker limit is
// moot: there are no workers.
//
// gqlgen starts a goroutine per element of every list of objects. For this server it buys
// nothing (a request's statements take turns on its one connection; the rest is answered from
// memory) and costs the scheduling, the stacks and their growth of 50 goroutines per Users page.
func MarshalSlice(ctx context.Context, length int, _ int64, omitPanicHandler bool,
	marshalElement func(ctx context.Context, i int) graphql.Marshaler) graphql.Array {
	ret := make(graphql.Array, length)
	for i := range length {
		childCtx := graphql.WithFieldContext(ctx, &graphql.FieldContext{Index: &i})
		if omitPanicHandler {
			ret[i] = marshalElement(childCtx, i)
			continue
		}
		ret[i] = marshalRecovering(childCtx, i, marshalElement)
	}
	return ret
}

func marshalRecovering(ctx context.Context, i int, marshalElement func(ctx context.Context, i int) graphql.Marshaler) (m graphql.Marshaler) {
	defer func() {
		if r := recover(); r != nil {
			graphql.AddError(ctx, graphql.Recover(ctx, r))
			m = graphql.Null
		}
	}()
	return marshalElement(ctx, i)
}
