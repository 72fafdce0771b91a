//go:build ignore

// migrategen.go writes the versioned migrations of ent/migrate/migrations, one directory per
// dialect, from the schema in ent/schema. It runs from the module root after entc (see
// generate.go).
//
// For each dialect it replays the directory's files on an empty development database, compares
// the result with the ent schema, and writes the difference as a new file named
// <version>_<MIGRATION_NAME>.sql (MIGRATION_NAME defaults to "changes"). When the files already
// make the schema, it writes nothing, so running it twice changes nothing. It rewrites atlas.sum
// first, so that a hand-written file joins the directory by running go generate.
//
// The development databases: SQLite in memory; PostgreSQL in a throwaway schema of
// TEST_DATABASE_URL, dropped afterwards. Without TEST_DATABASE_URL the PostgreSQL directory is
// left as it is (with a note), except in CI (CI=true), where that is an error: CI's drift check
// must cover both directories.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"net/url"
	"os"
	"text/template"
	"time"

	atlas "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"
	_ "github.com/lib/pq"
	_ "modernc.org/sqlite"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/migrate"
)

const migrationsDir = "ent/migrate/migrations/"

func main() {
	log.SetFlags(0)
	log.SetPrefix("migrategen: ")
	ctx := context.Background()
	name := os.Getenv("MIGRATION_NAME")
	if name == "" {
		name = "changes"
	}
	// One version for both dialects, so that a change has the same file name in each.
	version := time.Now().UTC().Format("20060102150405")

	dev, err := sql.Open("sqlite", "file:migrategen?mode=memory&_pragma=foreign_keys(1)")
	if err != nil {
		log.Fatal(err)
	}
	dev.SetMaxOpenConns(1) // the in-memory database lives in its one connection
	client := ent.NewClient(ent.Driver(entsql.OpenDB(dialect.SQLite, dev)))
	err = diff(dialect.SQLite, migrationsDir+"sqlite", version, name, func(opts ...schema.MigrateOption) error {
		return client.Schema.NamedDiff(ctx, name, opts...)
	})
	if err != nil {
		log.Fatalf("sqlite: %v", err)
	}
	dev.Close()

	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("CI") == "true" {
			log.Fatal("postgres: TEST_DATABASE_URL is not set; CI must check the PostgreSQL migrations too")
		}
		log.Printf("postgres: TEST_DATABASE_URL is not set, so %spostgres was not checked against the schema (set it to a PostgreSQL database where a schema may be created)", migrationsDir)
		return
	}
	if err := postgres(ctx, base, version, name); err != nil {
		log.Fatalf("postgres: %v", err)
	}
}

// postgres diffs the PostgreSQL directory on a throwaway schema of the database at base.
func postgres(ctx context.Context, base, version, name string) (err error) {
	admin, err := sql.Open("postgres", base)
	if err != nil {
		return err
	}
	defer admin.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	ns := "migrategen_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+ns); err != nil {
		return err
	}
	defer func() {
		if _, derr := admin.ExecContext(context.WithoutCancel(ctx), "DROP SCHEMA "+ns+" CASCADE"); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("search_path", ns)
	u.RawQuery = q.Encode()
	// By URL rather than by connection: the search_path in the URL binds Atlas to the throwaway
	// schema, so that other schemas of the database do not make it look unclean.
	return diff(dialect.Postgres, migrationsDir+"postgres", version, name, func(opts ...schema.MigrateOption) error {
		return migrate.NamedDiff(ctx, u.String(), name, opts...)
	})
}

// diff writes the difference between the directory at path and the ent schema as a new file,
// with namedDiff, ent's NamedDiff on the dialect's development database.
func diff(d, path, version, name string, namedDiff func(...schema.MigrateOption) error) error {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	dir, err := atlas.NewLocalDir(path)
	if err != nil {
		return err
	}
	sum, err := dir.Checksum()
	if err != nil {
		return err
	}
	if err := atlas.WriteSumFile(dir, sum); err != nil {
		return err
	}
	format, err := atlas.NewTemplateFormatter(
		template.Must(template.New("name").Parse(version+"_{{ .Name }}.sql")),
		atlas.DefaultFormatter[0].C,
	)
	if err != nil {
		return err
	}
	err = namedDiff(
		schema.WithDir(dir),
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithDialect(d),
		schema.WithFormatter(format),
		schema.WithDropColumn(true),
		schema.WithDropIndex(true),
		schema.WithErrNoPlan(true),
	)
	switch {
	case errors.Is(err, atlas.ErrNoPlan):
		return nil
	case err != nil:
		return err
	}
	fmt.Fprintf(os.Stderr, "migrategen: wrote %s/%s_%s.sql: review it, then commit it with atlas.sum\n", path, version, name)
	return nil
}
