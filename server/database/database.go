// Package database opens the server's database and keeps the request path frugal with it.
//
// Three rules hold for every request, whichever database is behind it:
//
//   - A request holds at most one connection at a time. The HTTP middleware gives each request
//     a gate (WithGate); every statement outside a transaction passes it, and a transaction holds
//     it from its first to its last statement. Goroutines of one request take turns.
//   - A request never waits for a second connection while it holds one: a statement outside the
//     transaction the request holds fails at once with ErrSecondConnection instead of waiting
//     for a pool that may be exhausted by requests doing the same.
//   - On SQLite, writers queue in the server instead of failing: one write connection (every
//     transaction and every write goes through it, so SQLITE_BUSY is never the answer to
//     waiting) beside a pool of read-only connections in WAL mode, which readers share without
//     waiting for writers. PostgreSQL keeps its concurrency: one pool for everything.
//
// Waits are bounded by the request's context; IsUnavailable tells errors that mean "the database
// cannot serve now" (a lost connection, a restart, a timeout) from the rest.
package database

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/lib/pq" // PostgreSQL driver "postgres"
	"go.opentelemetry.io/otel/trace"
	_ "modernc.org/sqlite" // cgo-free SQLite driver "sqlite"
)

// DefaultSQLiteFile is the embedded database used when the URL is empty.
const DefaultSQLiteFile = "inferia.db"

// Options tune the connection pools.
type Options struct {
	// MaxConns is the size of the PostgreSQL pool, or of SQLite's pool of readers (SQLite has one
	// writer besides). Zero means DefaultMaxConns.
	MaxConns int
	// BusyTimeout is how long SQLite waits for a lock held by another process (the server's own
	// writers queue in the server). Zero means 5 s.
	BusyTimeout time.Duration
	// StatementCache is how many prepared statements each pool of the request path keeps (see
	// Statements). Zero means DefaultStatementCache; negative turns preparing off.
	StatementCache int
	// Tracer, when set, gives every statement of the request path a span (see traced). Nil
	// adds nothing to the request path.
	Tracer trace.Tracer
}

// DefaultMaxConns is the default pool size.
const DefaultMaxConns = 10

// DB is an open database.
type DB struct {
	// Dialect is dialect.SQLite or dialect.Postgres.
	Dialect string
	// Driver is the driver of the request path: gated per request and, on SQLite, routing
	// writes to the writer and reads to the readers.
	Driver dialect.Driver
	// Direct is a plain driver over the write pool, for migrations and start-up work that runs
	// outside any request.
	Direct dialect.Driver
	write  *sql.DB
	read   *sql.DB
	// prepared are the statement caches of the request path's pools (none when off).
	prepared []*preparedDriver
	// readDSN opens another read-only SQLite connection (empty for an in-memory database).
	readDSN string
}

// Dialect tells the ent dialect of a database URL.
func Dialect(databaseURL string) (string, error) {
	switch {
	case databaseURL == "", strings.HasPrefix(databaseURL, "sqlite:"), strings.HasPrefix(databaseURL, "file:"):
		return dialect.SQLite, nil
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		return dialect.Postgres, nil
	}
	return "", fmt.Errorf("DATABASE_URL must start with sqlite://, postgres:// or postgresql://")
}

// Open opens the database of databaseURL and checks that it answers.
func Open(ctx context.Context, databaseURL string, o Options) (*DB, error) {
	d, err := Dialect(databaseURL)
	if err != nil {
		return nil, err
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.StatementCache == 0 {
		o.StatementCache = DefaultStatementCache
	}
	db := &DB{Dialect: d}
	switch d {
	case dialect.SQLite:
		err = db.openSQLite(ctx, databaseURL, o)
	default:
		err = db.openPostgres(ctx, databaseURL, o)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	db.Direct = entsql.OpenDB(d, db.write)
	if db.read == db.write {
		db.Driver = gated{db.requestDriver(db.write, o)}
	} else {
		db.Driver = gated{split{write: db.requestDriver(db.write, o), read: db.requestDriver(db.read, o)}}
	}
	return db, nil
}

// requestDriver is the driver of one pool on the request path: through a statement cache of
// o.StatementCache statements, or plain when that is negative; traced when o has a tracer.
func (db *DB) requestDriver(pool *sql.DB, o Options) dialect.Driver {
	var d dialect.Driver
	if o.StatementCache < 0 {
		d = entsql.OpenDB(db.Dialect, pool)
	} else {
		p := newPreparedDriver(db.Dialect, pool, o.StatementCache)
		db.prepared = append(db.prepared, p)
		d = p
	}
	if o.Tracer != nil {
		d = newTraced(d, o.Tracer, db.poolName(pool))
	}
	return d
}

// poolName names a pool in metrics and spans: "write" and "read" on SQLite, "main" on
// PostgreSQL, where one pool serves both.
func (db *DB) poolName(pool *sql.DB) string {
	switch {
	case db.read == db.write:
		return "main"
	case pool == db.write:
		return "write"
	}
	return "read"
}

// PoolStats are the counters of one connection pool of the request path.
type PoolStats struct {
	// Pool is the pool's name (see poolName).
	Pool string
	sql.DBStats
	// Statements are the counters of its statement cache (zero when there is none).
	Statements StatementStats
}

// PoolStats returns the counters of the request path's pools, for metrics.
func (db *DB) PoolStats() []PoolStats {
	pools := []*sql.DB{db.write}
	if db.read != db.write {
		pools = append(pools, db.read)
	}
	out := make([]PoolStats, 0, len(pools))
	for _, pool := range pools {
		s := PoolStats{Pool: db.poolName(pool), DBStats: pool.Stats()}
		for _, p := range db.prepared {
			if p.db == pool {
				s.Statements = p.stmts.Stats()
			}
		}
		out = append(out, s)
	}
	return out
}

// StatementStats sums the counters of the request path's statement caches.
func (db *DB) StatementStats() StatementStats {
	var t StatementStats
	for _, p := range db.prepared {
		s := p.stmts.Stats()
		t.Cached += s.Cached
		t.Hits += s.Hits
		t.Misses += s.Misses
		t.Evictions += s.Evictions
	}
	return t
}

func (db *DB) openPostgres(ctx context.Context, databaseURL string, o Options) error {
	p, err := sql.Open("postgres", databaseURL)
	if err != nil {
		return err
	}
	p.SetMaxOpenConns(o.MaxConns)
	p.SetMaxIdleConns(o.MaxConns)
	p.SetConnMaxIdleTime(5 * time.Minute)
	db.write, db.read = p, p
	if err := p.PingContext(ctx); err != nil {
		return fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	return nil
}

func (db *DB) openSQLite(ctx context.Context, databaseURL string, o Options) error {
	path, query := sqlitePath(databaseURL)
	memory := path == ":memory:" || strings.Contains(query, "mode=memory")
	if !memory {
		if err := checkSQLitePath(path); err != nil {
			return err
		}
	}
	w, err := sql.Open("sqlite", sqliteDSN(path, query, o.BusyTimeout, true))
	if err != nil {
		return err
	}
	// One writer: transactions and writes queue for it in the server, in the order they ask.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	db.write, db.read = w, w
	if err := w.PingContext(ctx); err != nil {
		return sqliteOpenError(path, err)
	}
	if memory {
		return nil // an in-memory database lives in its one connection
	}
	db.readDSN = sqliteDSN(path, query, o.BusyTimeout, false)
	r, err := sql.Open("sqlite", db.readDSN)
	if err != nil {
		return err
	}
	r.SetMaxOpenConns(o.MaxConns)
	r.SetMaxIdleConns(o.MaxConns)
	r.SetConnMaxIdleTime(5 * time.Minute)
	db.read = r
	if err := r.PingContext(ctx); err != nil {
		return sqliteOpenError(path, err)
	}
	return nil
}

// SQLiteFile returns the file of a SQLite database URL: "" for an in-memory database or a
// PostgreSQL one.
func SQLiteFile(databaseURL string) string {
	if d, err := Dialect(databaseURL); err != nil || d != dialect.SQLite {
		return ""
	}
	path, query := sqlitePath(databaseURL)
	if path == ":memory:" || strings.Contains(query, "mode=memory") {
		return ""
	}
	return path
}

// sqlitePath splits "", sqlite:///abs/path.db, sqlite://rel.db or file:path?query into the file
// path and extra DSN parameters.
func sqlitePath(databaseURL string) (path, query string) {
	path = DefaultSQLiteFile
	switch {
	case strings.HasPrefix(databaseURL, "sqlite://"):
		path = strings.TrimPrefix(databaseURL, "sqlite://")
	case strings.HasPrefix(databaseURL, "sqlite:"):
		path = strings.TrimPrefix(databaseURL, "sqlite:")
	case strings.HasPrefix(databaseURL, "file:"):
		path = strings.TrimPrefix(databaseURL, "file:")
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, query = path[:i], path[i+1:]
	}
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	return path, query
}

// sqliteDSN is the modernc DSN of the writer (foreign keys on, WAL, write transactions that take
// the lock when they begin) or of a reader (read-only, so that a write sent to a reader is an
// error rather than a lock that waits).
func sqliteDSN(path, query string, busy time.Duration, writer bool) string {
	v := url.Values{}
	v.Add("_pragma", "foreign_keys(1)")
	v.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	v.Add("_pragma", "synchronous(NORMAL)")
	if writer {
		v.Add("_pragma", "journal_mode(WAL)")
		v.Set("_txlock", "immediate")
	} else {
		v.Add("_pragma", "query_only(1)")
	}
	dsn := "file:" + filepath.ToSlash(path) + "?" + v.Encode()
	if query != "" {
		dsn += "&" + query
	}
	return dsn
}

// Ping checks that the database answers (the readiness probe).
func (db *DB) Ping(ctx context.Context) error {
	if err := db.write.PingContext(ctx); err != nil {
		return err
	}
	if db.read != db.write {
		return db.read.PingContext(ctx)
	}
	return nil
}

// WritePool is the pool of the writer (PostgreSQL: the pool), for session-level work such as
// advisory locks at start-up.
func (db *DB) WritePool() *sql.DB { return db.write }

// Close closes the statement caches and the pools.
func (db *DB) Close() error {
	for _, p := range db.prepared {
		p.Close()
	}
	var err error
	if db.read != nil && db.read != db.write {
		err = db.read.Close()
	}
	if db.write != nil {
		if werr := db.write.Close(); err == nil {
			err = werr
		}
	}
	return err
}

// split routes a SQLite statement to the writer or a reader: transactions, writes and
// anything but a plain SELECT go to the one writer; SELECTs outside a transaction go to the
// readers, which in WAL mode see every committed write.
type split struct {
	write, read dialect.Driver
}

func (s split) Exec(ctx context.Context, query string, args, v any) error {
	return s.write.Exec(ctx, query, args, v)
}

func (s split) Query(ctx context.Context, query string, args, v any) error {
	if isSelect(query) {
		return s.read.Query(ctx, query, args, v)
	}
	return s.write.Query(ctx, query, args, v)
}

func (s split) Tx(ctx context.Context) (dialect.Tx, error) { return s.write.Tx(ctx) }

func (s split) Close() error {
	err := s.read.Close()
	if werr := s.write.Close(); err == nil {
		err = werr
	}
	return err
}

func (s split) Dialect() string { return s.write.Dialect() }

// isSelect reports whether query is a plain SELECT, which a read-only connection can run.
func isSelect(query string) bool {
	q := strings.TrimLeft(query, " \t\n(")
	return len(q) >= 6 && strings.EqualFold(q[:6], "SELECT")
}
