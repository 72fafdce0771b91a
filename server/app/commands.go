package app

import (
	"context"
	"fmt"
	"io"
	"strings"

	"ariga.io/atlas/sql/migrate"

	"github.com/inferiallm/orgserver/server/database"
	"github.com/inferiallm/orgserver/server/migration"
)

// command is one thing the binary does, named by the words after the flags.
type command struct {
	// name is the command's words ("" for none: serve).
	name string
	help string
	run  func(ctx context.Context, cfg Config, getenv func(string) string, out io.Writer) error
}

// commands is what `server [flags] [command]` runs.
var commands = []command{
	{"", "serve the API (pending migrations are applied first)", serve},
	{"migrate", "apply the pending database migrations, print them and exit", migrateCommand},
	{"migrate status", "print the database's revision and the pending migrations and exit", migrateStatusCommand},
}

// lookupCommand returns the command named by words.
func lookupCommand(words []string) (command, error) {
	name := strings.Join(words, " ")
	for _, c := range commands {
		if c.name == name {
			return c, nil
		}
	}
	return command{}, fmt.Errorf("unknown command %q (server -h lists the commands)", name)
}

// withMigrator opens the database and runs fn with a Migrator on the migration connection (on
// PostgreSQL, holding the lock that serializes migrations).
func withMigrator(ctx context.Context, cfg Config, fn func(*migration.Migrator) error) error {
	db, err := database.Open(ctx, cfg.DatabaseURL, database.Options{MaxConns: 1, BusyTimeout: cfg.SQLiteBusyTimeout, StatementCache: -1})
	if err != nil {
		return err
	}
	defer db.Close()
	conn, release, err := migrationConn(ctx, db)
	if err != nil {
		return err
	}
	defer release()
	m, err := migration.New(conn, db.Dialect)
	if err != nil {
		return err
	}
	return fn(m)
}

// migrateCommand applies the pending migrations and prints each; the server is not started.
func migrateCommand(ctx context.Context, cfg Config, _ func(string) string, out io.Writer) error {
	return withMigrator(ctx, cfg, func(m *migration.Migrator) error {
		before, err := m.Status(ctx)
		if err != nil {
			return err
		}
		if before.Adopt && len(before.Mismatch) == 0 {
			fmt.Fprintf(out, "adopted the database of an auto-migrating release as %s\n", before.Baseline.Name())
		}
		n := 0
		err = m.Apply(ctx, func(f migrate.File) {
			n++
			fmt.Fprintf(out, "applied %s\n", f.Name())
		})
		if err != nil {
			return err
		}
		after, err := m.Status(ctx)
		if err != nil {
			return err
		}
		if n == 0 && !before.Adopt {
			fmt.Fprint(out, "nothing to apply; ")
		}
		fmt.Fprintf(out, "the database is at revision %s\n", revisionName(after))
		return nil
	})
}

// migrateStatusCommand prints the current revision and the pending ones, changing nothing.
func migrateStatusCommand(ctx context.Context, cfg Config, _ func(string) string, out io.Writer) error {
	return withMigrator(ctx, cfg, func(m *migration.Migrator) error {
		st, err := m.Status(ctx)
		if st == nil {
			return err
		}
		switch {
		case st.Adopt:
			fmt.Fprintf(out, "current revision: none (tables made by an auto-migrating release; the next start or `server migrate` adopts them as %s)\n", st.Baseline.Name())
		case len(st.Applied) == 0:
			fmt.Fprintln(out, "current revision: none (empty database)")
		default:
			fmt.Fprintf(out, "current revision: %s\n", revisionName(st))
		}
		if err != nil {
			return err // an unknown revision: the server refuses this database
		}
		if len(st.Mismatch) > 0 {
			return &migration.MismatchError{Baseline: st.Baseline.Name(), Differences: st.Mismatch}
		}
		if len(st.Pending) == 0 {
			fmt.Fprintln(out, "pending: none")
			return nil
		}
		fmt.Fprintln(out, "pending:")
		for _, f := range st.Pending {
			fmt.Fprintf(out, "  %s\n", f.Name())
		}
		return nil
	})
}

// revisionName is the current revision as version_description.
func revisionName(st *migration.Status) string {
	if len(st.Applied) == 0 {
		return "none"
	}
	r := st.Applied[len(st.Applied)-1]
	return r.Version + "_" + r.Description
}
