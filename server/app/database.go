package app

import (
	"context"
	"fmt"

	"entgo.io/ent/dialect"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/migrate"
	_ "github.com/inferiallm/orgserver/ent/runtime" // privacy policies and hooks
	"github.com/inferiallm/orgserver/server/database"
)

// migrationLockID is the PostgreSQL advisory lock that serializes migrations and the first-start
// bootstrap when several replicas start at once.
const migrationLockID = 7_311_204_117

// migrateAndBootstrap brings the schema up to date, then runs locked with a client that works
// outside any request. On PostgreSQL it holds an advisory lock meanwhile, so that replicas
// starting together take turns.
func migrateAndBootstrap(ctx context.Context, db *database.DB, locked func(context.Context, *ent.Client) error) error {
	if db.Dialect == dialect.Postgres {
		conn, err := db.WritePool().Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLockID); err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockID) //nolint:errcheck
	}
	client := ent.NewClient(ent.Driver(db.Direct))
	if err := client.Schema.Create(ctx, migrate.WithDropIndex(true)); err != nil {
		return fmt.Errorf("migrating the schema: %w", err)
	}
	return locked(ctx, client)
}
