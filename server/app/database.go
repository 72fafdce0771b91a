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
	if db.Dialect == dialect.Postgres {
		if _, err := client.ExecContext(ctx, notifyAuthChanges); err != nil {
			return fmt.Errorf("the auth_changes trigger: %w", err)
		}
	}
	return locked(ctx, client)
}

// authChangesChannel prefixes the channel on which PostgreSQL notifies committed auth_changes
// rows; the schema's name completes it (channels are database-wide).
const authChangesChannel = "inferia_auth_changes_"

// notifyAuthChanges makes PostgreSQL notify every new auth_changes row (kind:key) on the
// schema's channel. A notification is delivered when its transaction commits, never before and
// never for one that rolls back.
const notifyAuthChanges = `
CREATE OR REPLACE FUNCTION inferia_notify_auth_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('` + authChangesChannel + `' || TG_TABLE_SCHEMA, NEW.kind || ':' || NEW.key);
  RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER auth_changes_notify AFTER INSERT ON auth_changes
  FOR EACH ROW EXECUTE FUNCTION inferia_notify_auth_change();`
