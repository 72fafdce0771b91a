package graph

import (
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/inferiallm/orgserver/ent"
)

// transactions runs every mutation operation in one database transaction: committed when the
// response has no errors, rolled back otherwise (and then no partial data is returned). Work
// that must survive a rollback, such as the audit entry of a failed login or the revocation of a
// session whose refresh token was replayed, is queued with afterTx and runs once the
// transaction has ended, outside it.
type transactions struct{ svc *Service }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
	graphql.ResponseInterceptor
} = (*transactions)(nil)

func (*transactions) ExtensionName() string                   { return "Transactions" }
func (*transactions) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext makes the resolvers of a mutation take turns: they share one
// transaction, and so one database connection, which must not run two statements at once.
func (*transactions) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil || oc.Operation.Operation != ast.Mutation {
		return nil
	}
	previous := oc.ResolverMiddleware
	var mu sync.Mutex
	oc.ResolverMiddleware = func(ctx context.Context, next graphql.Resolver) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		return previous(ctx, next)
	}
	return nil
}

func (t *transactions) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !operationIsMutation(ctx) {
		return next(ctx)
	}
	q := &txQueue{}
	ctx = context.WithValue(ctx, txQueueKey{}, q)
	defer q.run(ctx, t.svc)

	tx, err := t.svc.Client.Tx(ctx)
	if err != nil {
		t.svc.Logger.ErrorContext(ctx, "begin transaction", "err", err)
		return internalErrorResponse()
	}
	ctx = ent.NewTxContext(ctx, tx)
	ctx = ent.NewContext(ctx, tx.Client())
	resp := next(ctx)
	if len(resp.Errors) > 0 {
		if err := tx.Rollback(); err != nil {
			t.svc.Logger.ErrorContext(ctx, "roll back", "err", err)
		}
		resp.Data = []byte("null")
		return resp
	}
	if err := tx.Commit(); err != nil {
		t.svc.Logger.ErrorContext(ctx, "commit", "err", err)
		return internalErrorResponse()
	}
	return resp
}

type txQueueKey struct{}

// txQueue holds work to run after the mutation's transaction.
type txQueue struct {
	mu    sync.Mutex
	funcs []func(context.Context, *ent.Client) error
}

func (q *txQueue) run(ctx context.Context, s *Service) {
	q.mu.Lock()
	funcs := q.funcs
	q.funcs = nil
	q.mu.Unlock()
	// The request may already be cancelled; this work must still be done.
	ctx = context.WithoutCancel(ctx)
	for _, f := range funcs {
		if err := f(ctx, s.Client); err != nil {
			s.Logger.ErrorContext(ctx, "after-transaction work failed", "err", err)
		}
	}
}

// afterTx runs f once the current mutation's transaction has ended, whether it committed or
// rolled back, with the base client. Outside a mutation it runs f at once.
func (s *Service) afterTx(ctx context.Context, f func(context.Context, *ent.Client) error) {
	if q, ok := ctx.Value(txQueueKey{}).(*txQueue); ok {
		q.mu.Lock()
		q.funcs = append(q.funcs, f)
		q.mu.Unlock()
		return
	}
	if err := f(ctx, s.Client); err != nil {
		s.Logger.ErrorContext(ctx, "after-transaction work failed", "err", err)
	}
}

// internalErrorResponse is the response when the transaction itself fails.
func internalErrorResponse() *graphql.Response {
	return &graphql.Response{
		Data:   []byte("null"),
		Errors: gqlerror.List{{Message: ErrInternal.Message, Extensions: map[string]any{"code": string(CodeInternal)}}},
	}
}
