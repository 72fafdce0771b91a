package app

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
	_ "github.com/lib/pq"  // PostgreSQL driver "postgres"
	_ "modernc.org/sqlite" // cgo-free SQLite driver "sqlite"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/migrate"
	_ "github.com/inferiallm/orgserver/ent/runtime" // privacy policies and hooks
)

// defaultSQLiteFile is the embedded database used when DATABASE_URL is empty.
const defaultSQLiteFile = "inferia.db"

// dialectOf tells the ent dialect of a database URL.
func dialectOf(databaseURL string) (string, error) {
	switch {
	case databaseURL == "", strings.HasPrefix(databaseURL, "sqlite:"), strings.HasPrefix(databaseURL, "file:"):
		return dialect.SQLite, nil
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		return dialect.Postgres, nil
	}
	return "", fmt.Errorf("DATABASE_URL must start with sqlite://, postgres:// or postgresql://")
}

// sqliteDSN turns "", sqlite:///abs/path.db, sqlite://rel.db or file:path into a modernc DSN with
// foreign keys on, WAL, a busy timeout and write transactions that take the lock up front (so
// concurrent mutations queue instead of failing).
func sqliteDSN(databaseURL string) string {
	path := defaultSQLiteFile
	switch {
	case strings.HasPrefix(databaseURL, "sqlite://"):
		path = strings.TrimPrefix(databaseURL, "sqlite://")
	case strings.HasPrefix(databaseURL, "sqlite:"):
		path = strings.TrimPrefix(databaseURL, "sqlite:")
	case strings.HasPrefix(databaseURL, "file:"):
		path = strings.TrimPrefix(databaseURL, "file:")
	}
	query := ""
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, query = path[:i], path[i+1:]
	}
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	v := url.Values{}
	v.Add("_pragma", "foreign_keys(1)")
	v.Add("_pragma", "journal_mode(WAL)")
	v.Add("_pragma", "busy_timeout(10000)")
	v.Add("_pragma", "synchronous(NORMAL)")
	v.Set("_txlock", "immediate")
	dsn := "file:" + filepath.ToSlash(path) + "?" + v.Encode()
	if query != "" {
		dsn += "&" + query
	}
	return dsn
}

// openDatabase opens the database of databaseURL and returns the ent client, its dialect and
// the underlying pool. wrap, if set, wraps the driver (tests count statements with it).
func openDatabase(databaseURL string, wrap func(dialect.Driver) dialect.Driver) (*ent.Client, string, *sql.DB, error) {
	d, err := dialectOf(databaseURL)
	if err != nil {
		return nil, "", nil, err
	}
	var db *sql.DB
	switch d {
	case dialect.SQLite:
		db, err = sql.Open("sqlite", sqliteDSN(databaseURL))
		if err == nil {
			db.SetMaxOpenConns(8)
		}
	case dialect.Postgres:
		db, err = sql.Open("postgres", databaseURL)
		if err == nil {
			db.SetMaxOpenConns(20)
			db.SetMaxIdleConns(20)
		}
	}
	if err != nil {
		return nil, "", nil, err
	}
	db.SetConnMaxIdleTime(5 * time.Minute)
	var drv dialect.Driver = entsql.OpenDB(d, db)
	if wrap != nil {
		drv = wrap(drv)
	}
	return ent.NewClient(ent.Driver(drv)), d, db, nil
}

// migrationLockID is the PostgreSQL advisory lock that serializes migrations and the first-start
// bootstrap when several replicas start at once.
const migrationLockID = 7_311_204_117

// migrateAndBootstrap brings the schema up to date. On PostgreSQL it holds an advisory lock meanwhile, and
// runs locked (with the lock released after) so that replicas starting together take turns.
func migrateAndBootstrap(ctx context.Context, client *ent.Client, d string, db *sql.DB, locked func(context.Context) error) error {
	if d == dialect.Postgres {
		conn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLockID); err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockID) //nolint:errcheck
	}
	if err := client.Schema.Create(ctx, migrate.WithDropIndex(true)); err != nil {
		return fmt.Errorf("migrating the schema: %w", err)
	}
	return locked(ctx)
}
