package database

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// ErrSecondConnection is the error of a statement sent outside the transaction its request
// holds: it would wait for a second connection while holding one, which deadlocks a busy pool.
// It is always a bug in the caller, reported instead of a hang.
var ErrSecondConnection = errors.New("database: a statement outside the transaction this request holds (it would need a second connection)")

// gate lets one statement or transaction of a request hold a connection at a time.
type gate struct {
	slot chan struct{}
	inTx atomic.Bool
}

type gateKey struct{}

// WithGate returns a context whose statements take turns on one connection: the request's.
func WithGate(ctx context.Context) context.Context {
	return context.WithValue(ctx, gateKey{}, &gate{slot: make(chan struct{}, 1)})
}

// InTransaction reports whether the request of ctx holds a transaction open right now.
func InTransaction(ctx context.Context) bool {
	g, _ := ctx.Value(gateKey{}).(*gate)
	return g != nil && g.inTx.Load()
}

// enter waits for the request's turn and returns the function that ends it. Without a gate in
// ctx (start-up work, tools) it returns at once.
func enter(ctx context.Context) (func(), error) {
	g, _ := ctx.Value(gateKey{}).(*gate)
	if g == nil {
		return func() {}, nil
	}
	if g.inTx.Load() {
		return nil, ErrSecondConnection
	}
	select {
	case g.slot <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	var once sync.Once
	return func() { once.Do(func() { <-g.slot }) }, nil
}

// gated is the request path's driver: every statement passes the request's gate.
type gated struct{ dialect.Driver }

func (d gated) Exec(ctx context.Context, query string, args, v any) error {
	leave, err := enter(ctx)
	if err != nil {
		return err
	}
	defer leave()
	return d.Driver.Exec(ctx, query, args, v)
}

// Query holds the turn until the rows are closed: the connection is busy until then.
func (d gated) Query(ctx context.Context, query string, args, v any) error {
	leave, err := enter(ctx)
	if err != nil {
		return err
	}
	if err := d.Driver.Query(ctx, query, args, v); err != nil {
		leave()
		return err
	}
	rows, ok := v.(*entsql.Rows)
	if !ok || rows.ColumnScanner == nil {
		leave()
		return nil
	}
	rows.ColumnScanner = leavingRows{ColumnScanner: rows.ColumnScanner, leave: leave}
	return nil
}

// Tx holds the turn until the transaction ends.
func (d gated) Tx(ctx context.Context) (dialect.Tx, error) {
	leave, err := enter(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		leave()
		return nil, err
	}
	g, _ := ctx.Value(gateKey{}).(*gate)
	if g != nil {
		g.inTx.Store(true)
	}
	return &gatedTx{Tx: tx, end: func() {
		if g != nil {
			g.inTx.Store(false)
		}
		leave()
	}}, nil
}

type leavingRows struct {
	entsql.ColumnScanner
	leave func()
}

func (r leavingRows) Close() error {
	err := r.ColumnScanner.Close()
	r.leave()
	return err
}

type gatedTx struct {
	dialect.Tx
	once sync.Once
	end  func()
}

func (t *gatedTx) Commit() error {
	err := t.Tx.Commit()
	t.once.Do(t.end)
	return err
}

func (t *gatedTx) Rollback() error {
	err := t.Tx.Rollback()
	t.once.Do(t.end)
	return err
}
