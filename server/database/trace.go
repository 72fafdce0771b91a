package database

import (
	"context"
	"fmt"
	"strings"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// traced is a pool's driver that gives each statement a span, and each transaction's BEGIN,
// statements, COMMIT and ROLLBACK one each. It is in the request path only when tracing is on,
// so that without it statements cost nothing more.
//
// A span carries the statement's text, never its arguments: ent always sends values as
// parameters, and they include password hashes, token hashes and e-mail addresses. Errors are
// recorded by type only, since a database's message may quote a value.
type traced struct {
	dialect.Driver
	tracer trace.Tracer
	attrs  []attribute.KeyValue // the database system and the pool
}

func newTraced(d dialect.Driver, tracer trace.Tracer, pool string) traced {
	system := semconv.DBSystemNamePostgreSQL
	if d.Dialect() == dialect.SQLite {
		system = semconv.DBSystemNameSQLite
	}
	return traced{Driver: d, tracer: tracer, attrs: []attribute.KeyValue{system, poolKey.String(pool)}}
}

// poolKey names the pool a statement ran on: "write" or "read" on SQLite, "main" on PostgreSQL.
const poolKey = attribute.Key("db.client.connection.pool.name")

func (d traced) Exec(ctx context.Context, query string, args, v any) error {
	ctx, span := d.start(ctx, query)
	err := d.Driver.Exec(ctx, query, args, v)
	end(span, err)
	return err
}

// Query's span lasts until the rows are closed: reading them is part of the statement.
func (d traced) Query(ctx context.Context, query string, args, v any) error {
	ctx, span := d.start(ctx, query)
	err := d.Driver.Query(ctx, query, args, v)
	endWithRows(span, v, err)
	return err
}

func (d traced) Tx(ctx context.Context) (dialect.Tx, error) {
	_, span := d.start(ctx, "BEGIN")
	tx, err := d.Driver.Tx(ctx)
	end(span, err)
	if err != nil {
		return nil, err
	}
	return &tracedTx{Tx: tx, d: d, ctx: ctx}, nil
}

// start begins the span of one statement, named after its operation (SELECT, INSERT, ...).
func (d traced) start(ctx context.Context, query string) (context.Context, trace.Span) {
	op := operation(query)
	attrs := make([]attribute.KeyValue, 0, len(d.attrs)+2)
	attrs = append(attrs, d.attrs...)
	attrs = append(attrs, semconv.DBOperationName(op), semconv.DBQueryText(query))
	return d.tracer.Start(ctx, op, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// operation is the statement's first keyword, upper-cased: the span's name.
func operation(query string) string {
	q := strings.TrimLeft(query, " \t\r\n(")
	if i := strings.IndexAny(q, " \t\r\n("); i >= 0 {
		q = q[:i]
	}
	if q == "" {
		return "SQL"
	}
	return strings.ToUpper(q)
}

func end(span trace.Span, err error) {
	if err != nil {
		span.SetAttributes(semconv.ErrorTypeKey.String(fmt.Sprintf("%T", err)))
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

func endWithRows(span trace.Span, v any, err error) {
	rows, ok := v.(*entsql.Rows)
	if err != nil || !ok || rows.ColumnScanner == nil {
		end(span, err)
		return
	}
	rows.ColumnScanner = spanRows{ColumnScanner: rows.ColumnScanner, span: span}
}

type spanRows struct {
	entsql.ColumnScanner
	span trace.Span
}

func (r spanRows) Close() error {
	err := r.ColumnScanner.Close()
	rerr := r.Err()
	if rerr == nil {
		rerr = err
	}
	end(r.span, rerr)
	return err
}

// tracedTx gives the statements of a transaction their spans, as children of the span the
// transaction began in.
type tracedTx struct {
	dialect.Tx
	d   traced
	ctx context.Context
}

func (t *tracedTx) Exec(ctx context.Context, query string, args, v any) error {
	ctx, span := t.d.start(ctx, query)
	err := t.Tx.Exec(ctx, query, args, v)
	end(span, err)
	return err
}

func (t *tracedTx) Query(ctx context.Context, query string, args, v any) error {
	ctx, span := t.d.start(ctx, query)
	err := t.Tx.Query(ctx, query, args, v)
	endWithRows(span, v, err)
	return err
}

func (t *tracedTx) Commit() error {
	_, span := t.d.start(t.ctx, "COMMIT")
	err := t.Tx.Commit()
	end(span, err)
	return err
}

func (t *tracedTx) Rollback() error {
	_, span := t.d.start(t.ctx, "ROLLBACK")
	err := t.Tx.Rollback()
	end(span, err)
	return err
}
