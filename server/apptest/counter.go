package apptest

import (
	"context"
	stdsql "database/sql"
	"sync"
	"sync/atomic"

	"entgo.io/ent/dialect"

	"github.com/inferiallm/orgserver/server/app"
)

// StatementCounter is a database driver wrapper that counts the SQL statements sent through it
// and can record their text.
type StatementCounter struct {
	n         atomic.Int64
	txs       atomic.Int64
	inTx      atomic.Int64
	mu        sync.Mutex
	recording bool
	log       []string
}

// CountStatements returns an Option that routes the server's database driver through c.
func CountStatements(c *StatementCounter) Option {
	return func(_ *app.Config, o *app.Options) {
		o.WrapDriver = func(d dialect.Driver) dialect.Driver { return &countingDriver{Driver: d, c: c} }
	}
}

// Count returns the number of statements so far.
func (c *StatementCounter) Count() int64 { return c.n.Load() }

// Transactions returns how many transactions were asked to begin so far (begun or still
// waiting to).
func (c *StatementCounter) Transactions() int64 { return c.txs.Load() }

// InTransactions returns how many of the statements so far ran inside a transaction.
func (c *StatementCounter) InTransactions() int64 { return c.inTx.Load() }

// Record starts keeping the text of statements, forgetting earlier ones.
func (c *StatementCounter) Record() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recording, c.log = true, nil
}

// Statements returns the recorded statements.
func (c *StatementCounter) Statements() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.log...)
}

func (c *StatementCounter) add(query string) {
	c.n.Add(1)
	c.mu.Lock()
	if c.recording {
		c.log = append(c.log, query)
	}
	c.mu.Unlock()
}

type countingDriver struct {
	dialect.Driver
	c *StatementCounter
}

func (d *countingDriver) Exec(ctx context.Context, query string, args, v any) error {
	d.c.add(query)
	return d.Driver.Exec(ctx, query, args, v)
}

func (d *countingDriver) Query(ctx context.Context, query string, args, v any) error {
	d.c.add(query)
	return d.Driver.Query(ctx, query, args, v)
}

func (d *countingDriver) QueryContext(ctx context.Context, query string, args ...any) (*stdsql.Rows, error) {
	d.c.add(query)
	return d.Driver.(interface {
		QueryContext(context.Context, string, ...any) (*stdsql.Rows, error)
	}).QueryContext(ctx, query, args...)
}

func (d *countingDriver) ExecContext(ctx context.Context, query string, args ...any) (stdsql.Result, error) {
	d.c.add(query)
	return d.Driver.(interface {
		ExecContext(context.Context, string, ...any) (stdsql.Result, error)
	}).ExecContext(ctx, query, args...)
}

func (d *countingDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	d.c.txs.Add(1)
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	return &countingTx{Tx: tx, c: d.c}, nil
}

type countingTx struct {
	dialect.Tx
	c *StatementCounter
}

func (t *countingTx) Exec(ctx context.Context, query string, args, v any) error {
	t.c.add(query)
	t.c.inTx.Add(1)
	return t.Tx.Exec(ctx, query, args, v)
}

func (t *countingTx) Query(ctx context.Context, query string, args, v any) error {
	t.c.add(query)
	t.c.inTx.Add(1)
	return t.Tx.Query(ctx, query, args, v)
}
