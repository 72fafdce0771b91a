package app

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"

	"github.com/inferiallm/orgserver/ent"
	_ "github.com/inferiallm/orgserver/ent/runtime" // privacy policies and hooks
	"github.com/inferiallm/orgserver/server/database"
	"github.com/inferiallm/orgserver/server/migration"
)

// migrationLockID is the PostgreSQL advisory lock that serializes migrations and the first-start
// bootstrap when several replicas start at once.
const migrationLockID = 7_311_204_117

// migrateAndBootstrap applies the pending migrations, then runs locked with a client that works
// outside any request. On PostgreSQL it holds an advisory lock meanwhile, so that replicas
// starting together take turns.
func migrateAndBootstrap(ctx context.Context, db *database.DB, log *slog.Logger, locked func(context.Context, *ent.Client) error) error {
	conn, release, err := migrationConn(ctx, db)
	if err != nil {
		return err
	}
	defer release()
	m, err := migration.New(conn, db.Dialect)
	if err != nil {
		return err
	}
	err = m.Apply(ctx, func(f migrate.File) { log.Info("applied migration", "file", f.Name()) })
	if err != nil {
		return fmt.Errorf("migrating the database: %w", err)
	}
	if db.Dialect == dialect.SQLite {
		release() // the bootstrap writes through the writer, this connection
		return locked(ctx, ent.NewClient(ent.Driver(db.Direct)))
	}
	// On PostgreSQL the bootstrap runs on the connection that holds the lock: a second one from a
	// pool of DB_MAX_CONNS=1 would never come.
	return locked(ctx, ent.NewClient(ent.Driver(database.ConnDriver(db.Dialect, conn))))
}

// openMigrator returns a Migrator on the migration connection (see migrationConn), and what
// gives that connection back.
func openMigrator(ctx context.Context, db *database.DB) (*migration.Migrator, func(), error) {
	conn, release, err := migrationConn(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	m, err := migration.New(conn, db.Dialect)
	if err != nil {
		release()
		return nil, nil, err
	}
	return m, release, nil
}

// migrationConn returns the connection migrations run on: on PostgreSQL one that holds the
// migration lock, on SQLite the writer (whose transactions lock the file). release gives it back
// (and the lock); it may be called more than once.
func migrationConn(ctx context.Context, db *database.DB) (conn *sql.Conn, release func(), err error) {
	conn, err = db.WritePool().Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		if db.Dialect == dialect.Postgres {
			conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockID) //nolint:errcheck
		}
		conn.Close()
	}
	if db.Dialect == dialect.Postgres {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLockID); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("taking the migration lock: %w", err)
		}
	}
	return conn, release, nil
}

// authChangesChannel prefixes the channel on which PostgreSQL notifies committed auth_changes
// rows; the schema's name completes it (channels are database-wide). The trigger that notifies
// is a migration: ent/migrate/migrations/postgres/*_auth_changes_notify.sql.
const authChangesChannel = "inferia_auth_changes_"
