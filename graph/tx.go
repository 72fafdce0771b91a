package graph

import (
	"context"
	"errors"
	"slices"
	"sync"

	"entgo.io/ent/dialect"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/server/database"
)

// Transactions are short, and never open during slow work.
//
// Every mutation operation runs in one transaction: it begins with the operation's first
// statement (a mutation refused by its directive never opens one) and ends once the response is
// resolved. It commits when the response has no errors and rolls back otherwise, and then no
// partial data is returned, so a client never reads a failure of a change that happened. Work
// that must survive a rollback (the audit entry of a failed sign-in, the rate limiter's count,
// revoking a session whose refresh token was replayed) is queued with afterTx; work that must
// wait for the commit (e-mail) with onCommit.
//
// The mutations in slowMutations hash passwords, which takes a hundred milliseconds and a queue
// of its own. Holding a transaction meanwhile would hold a pooled connection (and on SQLite the
// one write lock) all that time, so their transaction is deferred: until the workflow calls
// inTx, its statements run outside any transaction on the pool. The workflow reads what it
// needs, does the slow part, then calls inTx, whose statements re-check what the slow part
// relied on before writing. Such a mutation must be the only field of its operation. The
// password helpers refuse to run inside a transaction, so a workflow that gets the order wrong
// fails in every test that reaches it instead of slowing the server down under load.
var slowMutations = map[string]bool{
	"login": true, "acceptInvitation": true, "changePassword": true, "disableTwoFactor": true,
	"resetPassword": true,
	// Network calls: the provider's discovery document, a domain's DNS record; and the
	// password check of linking an SSO identity.
	"createSsoConnection": true, "verifySsoDomain": true, "linkSsoIdentity": true,
	// Not a hash, but a wait: its answer is held to a fixed time after the transaction (see
	// requestPasswordReset), which must not hold the transaction open.
	"requestPasswordReset": true,
}

// transactions gives each mutation operation its transaction.
type transactions struct{ svc *Service }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
	graphql.ResponseInterceptor
} = (*transactions)(nil)

func (*transactions) ExtensionName() string                   { return "Transactions" }
func (*transactions) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext refuses a slow mutation beside other fields, and makes the resolvers
// of a mutation take turns: they share its transaction, and so one database connection, which
// must not run two statements at once.
func (*transactions) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil || oc.Operation.Operation != ast.Mutation {
		return nil
	}
	if fields := rootFields(oc); len(fields) > 1 && slices.ContainsFunc(fields, func(f string) bool { return slowMutations[f] }) {
		return refusal(ReasonSlowMutationNotAlone, "A sign-in, an invitation acceptance or a password or 2FA change must be the only field of its mutation")
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

// rootFields names the operation's root fields, through fragments, without __typename.
func rootFields(oc *graphql.OperationContext) []string {
	var names []string
	for _, f := range graphql.CollectFields(oc, oc.Operation.SelectionSet, []string{"Mutation"}) {
		if f.Name != "__typename" {
			names = append(names, f.Name)
		}
	}
	return names
}

// InterceptResponse runs a mutation operation in one transaction.
func (t *transactions) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !operationIsMutation(ctx) {
		return next(ctx)
	}
	fields := rootFields(graphql.GetOperationContext(ctx))
	sc := &txScope{svc: t.svc, deferred: len(fields) == 1 && slowMutations[fields[0]]}
	ctx = context.WithValue(ctx, txScopeKey{}, sc)
	resp := next(ctx)
	var failed error
	if len(resp.Errors) > 0 {
		failed = errFieldFailed
	}
	if err := sc.end(ctx, failed); err != nil {
		if err != errFieldFailed {
			e, internal := classify(ctx, err)
			if internal {
				t.svc.Logger.ErrorContext(ctx, "commit", "err", err)
			}
			resp.Errors = append(resp.Errors, e.gqlError())
		}
		resp.Data = []byte("null")
	}
	return resp
}

// errFieldFailed stands for the errors the response already reports.
var errFieldFailed = errors.New("graph: the field failed")

// inTx runs fn in a transaction, which begins with fn's first statement through s.db. Inside a
// mutation fn joins the operation's transaction (letting a deferred one begin), which ends with
// the operation. Elsewhere it commits when fn returns nil and rolls back otherwise.
func (s *Service) inTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if sc := scopeOf(ctx); sc != nil && sc.join() {
		return fn(ctx)
	}
	sc := &txScope{svc: s}
	ctx = context.WithValue(ctx, txScopeKey{}, sc)
	return sc.end(ctx, fn(ctx))
}

// db returns the ent client for the request's statements: inside a transaction its client
// (beginning the transaction if this is its first statement), the pool's otherwise.
func (s *Service) db(ctx context.Context) *ent.Client {
	if sc := scopeOf(ctx); sc != nil {
		if c := sc.client(ctx); c != nil {
			return c
		}
	}
	return s.Client
}

type txScopeKey struct{}

func scopeOf(ctx context.Context) *txScope {
	sc, _ := ctx.Value(txScopeKey{}).(*txScope)
	return sc
}

// txScope is one transaction: begun on demand, ended once, with work queued for after it.
type txScope struct {
	svc *Service
	mu  sync.Mutex
	// deferred: the transaction may not begin yet (slow work comes first).
	deferred bool
	tx       *ent.Tx
	failed   *ent.Client // stands in for the transaction when it could not begin
	ended    bool
	after    []func(context.Context, *ent.Client) error
	onCommit []func()
}

// active reports whether statements run in the transaction now.
func (sc *txScope) active() bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return !sc.ended && !sc.deferred
}

// join lets the transaction begin, if it has not ended.
func (sc *txScope) join() bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.deferred = false
	return !sc.ended
}

// client returns the transaction's client, beginning the transaction; nil while it is deferred
// and once it has ended.
func (sc *txScope) client(ctx context.Context) *ent.Client {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	switch {
	case sc.ended, sc.deferred:
		return nil
	case sc.tx != nil:
		return sc.tx.Client()
	case sc.failed != nil:
		return sc.failed
	}
	tx, err := sc.svc.Client.Tx(ctx)
	if err != nil {
		// Every statement of the workflow fails with the reason, which the presenter classifies
		// (a database that is down or busy is UNAVAILABLE).
		sc.failed = ent.NewClient(ent.Driver(failingDriver{dialect: sc.svc.Dialect, err: err}))
		return sc.failed
	}
	sc.tx = tx
	return tx.Client()
}

// end commits or rolls back, then runs the queued work.
func (sc *txScope) end(ctx context.Context, err error) error {
	sc.mu.Lock()
	sc.ended = true
	tx, after, onCommit := sc.tx, sc.after, sc.onCommit
	sc.after, sc.onCommit = nil, nil
	sc.mu.Unlock()
	s := sc.svc
	committed := false
	if tx != nil {
		if err != nil {
			if rerr := tx.Rollback(); rerr != nil && ctx.Err() == nil && !database.IsUnavailable(rerr) {
				s.Logger.ErrorContext(ctx, "roll back", "err", rerr)
			}
		} else if err = tx.Commit(); err == nil {
			committed = true
		}
	}
	// This work must be done even if the client has gone.
	ctx = context.WithoutCancel(ctx)
	for _, f := range after {
		s.runAfterTx(ctx, f)
	}
	if committed || (tx == nil && err == nil) {
		for _, f := range onCommit {
			f()
		}
	}
	return err
}

// afterTx runs f once the current transaction has ended, whether it committed or rolled back,
// with the pool's client. Outside a transaction (deferred ones included) it runs f at once.
func (s *Service) afterTx(ctx context.Context, f func(context.Context, *ent.Client) error) {
	if sc := scopeOf(ctx); sc != nil {
		sc.mu.Lock()
		if !sc.ended && !sc.deferred {
			sc.after = append(sc.after, f)
			sc.mu.Unlock()
			return
		}
		sc.mu.Unlock()
	}
	s.runAfterTx(ctx, f)
}

// runAfterTx runs f outside any transaction.
func (s *Service) runAfterTx(ctx context.Context, f func(context.Context, *ent.Client) error) {
	if err := f(ctx, s.Client); err != nil {
		s.Logger.ErrorContext(ctx, "after-transaction work failed", "err", err)
	}
}

// onCommit runs f once the current transaction has committed, and never if it rolls back.
// Outside a transaction it runs f at once.
func (s *Service) onCommit(ctx context.Context, f func()) {
	if sc := scopeOf(ctx); sc != nil {
		sc.mu.Lock()
		if !sc.ended {
			sc.onCommit = append(sc.onCommit, f)
			sc.mu.Unlock()
			return
		}
		sc.mu.Unlock()
	}
	f()
}

// errSlowWorkInTransaction is the refusal of slow work (password hashing) inside a
// transaction: a bug in the workflow, which must do it before its transaction begins.
var errSlowWorkInTransaction = errors.New("graph: slow work inside a transaction; do it before the transaction begins")

// outsideTransaction refuses when the request's statements run in a transaction.
func outsideTransaction(ctx context.Context) error {
	if sc := scopeOf(ctx); (sc != nil && sc.active()) || database.InTransaction(ctx) {
		return errSlowWorkInTransaction
	}
	return nil
}

// failingDriver fails every statement with err.
type failingDriver struct {
	dialect string
	err     error
}

func (d failingDriver) Exec(context.Context, string, any, any) error  { return d.err }
func (d failingDriver) Query(context.Context, string, any, any) error { return d.err }
func (d failingDriver) Tx(context.Context) (dialect.Tx, error)        { return nil, d.err }
func (d failingDriver) Close() error                                  { return nil }
func (d failingDriver) Dialect() string                               { return d.dialect }
