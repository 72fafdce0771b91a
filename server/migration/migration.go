// Package migration brings a database to the schema of this binary with the versioned migrations
// of ent/migrate/migrations, and tells where a database stands.
//
// Each migration file runs in a transaction of its own together with the revision that records
// it, so a file is applied whole or not at all: PostgreSQL and SQLite both roll DDL back. A
// database created by a release that auto-migrated (tables, no revisions) is adopted: once its
// schema is found equal to the first migration, the baseline, that revision is recorded as
// applied and the later ones run. A database with a revision this binary does not know was
// migrated by a newer release; this one refuses it.
package migration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	atlasschema "ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlite"
	"entgo.io/ent/dialect"

	"github.com/inferiallm/orgserver/ent/migrate/migrations"
)

// operator is written in each revision's operator_version: what applied it.
const operator = "inferia-orgserver"

// Migrator applies migrations over one connection: on PostgreSQL the one that holds the
// migration lock, on SQLite the writer's.
type Migrator struct {
	conn    *sql.Conn
	dialect string
	dir     migrate.Dir
}

// New returns a Migrator of the dialect's migrations in ent/migrate/migrations.
func New(conn *sql.Conn, d string) (*Migrator, error) {
	dir, err := migrations.Dir(d)
	if err != nil {
		return nil, err
	}
	return NewWithDir(conn, d, dir), nil
}

// NewWithDir returns a Migrator of the migrations in dir (tests use their own).
func NewWithDir(conn *sql.Conn, d string, dir migrate.Dir) *Migrator {
	return &Migrator{conn: conn, dialect: d, dir: dir}
}

// Status is where a database stands.
type Status struct {
	// Applied are the revisions recorded in the database, in version order.
	Applied []*migrate.Revision
	// Pending are the files not applied yet, in the order they will run.
	Pending []migrate.File
	// Adopt is set when the database was created by an auto-migrating release: its baseline,
	// Baseline, is to be recorded as applied rather than run.
	Adopt    bool
	Baseline migrate.File
	// Mismatch, for a database to adopt, lists how its schema differs from the baseline's.
	Mismatch []string
}

// Current is the version of the last applied revision ("" if none).
func (s *Status) Current() string {
	if len(s.Applied) == 0 {
		return ""
	}
	return s.Applied[len(s.Applied)-1].Version
}

// UnknownRevisionError is the refusal of a database migrated by a newer release.
type UnknownRevisionError struct {
	Revision *migrate.Revision
	// Newest is the newest migration this binary has.
	Newest string
}

func (e *UnknownRevisionError) Error() string {
	return fmt.Sprintf("the database is at revision %s (%s), which this server does not know: the server is older than "+
		"the database (its newest migration is %s). Run the release that migrated the database, or a newer one; or restore "+
		"the backup taken before the upgrade", e.Revision.Version, e.Revision.Description, e.Newest)
}

// MismatchError is the refusal to adopt a database whose schema is not the baseline's.
type MismatchError struct {
	Baseline    string
	Differences []string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("the database has tables but no migration revisions, and its schema differs from the baseline "+
		"migration %s, so it is not adopted: %s", e.Baseline, strings.Join(e.Differences, "; "))
}

// Status reads where the database stands, changing nothing. It returns the status with an
// UnknownRevisionError when the database has a revision this binary lacks, and checks a database
// to adopt against the baseline (Mismatch).
func (m *Migrator) Status(ctx context.Context) (*Status, error) {
	files, err := m.files()
	if err != nil {
		return nil, err
	}
	revs, err := (&revisions{q: m.conn, dialect: m.dialect}).ReadRevisions(ctx)
	if err != nil {
		return nil, err
	}
	st := &Status{Applied: revs}
	if err := known(revs, files); err != nil {
		return st, err
	}
	if len(revs) == 0 {
		used, err := m.hasTables(ctx)
		if err != nil {
			return nil, err
		}
		if used {
			st.Adopt, st.Baseline = true, files[0]
			if st.Mismatch, err = m.compareBaseline(ctx, files[0]); err != nil {
				return nil, err
			}
			st.Pending = files[1:]
			return st, nil
		}
	}
	for _, f := range files {
		if _, ok := slices.BinarySearchFunc(revs, f.Version(), func(r *migrate.Revision, v string) int {
			return strings.Compare(r.Version, v)
		}); !ok {
			st.Pending = append(st.Pending, f)
		}
	}
	return st, nil
}

// Apply brings the database up to date: it adopts a database created by an auto-migrating
// release, then applies the pending files in order, each in its own transaction, calling
// applied after each. A file that fails is rolled back whole and named in the error.
func (m *Migrator) Apply(ctx context.Context, applied func(migrate.File)) error {
	st, err := m.Status(ctx)
	if err != nil {
		return err
	}
	baseline := ""
	if st.Adopt {
		if len(st.Mismatch) > 0 {
			return &MismatchError{Baseline: st.Baseline.Name(), Differences: st.Mismatch}
		}
		baseline = st.Baseline.Version()
	}
	for {
		f, err := m.step(ctx, baseline)
		if errors.Is(err, migrate.ErrNoPendingFiles) {
			return nil
		}
		if err != nil {
			return err
		}
		baseline = "" // recorded by the first step
		if applied != nil {
			applied(f)
		}
	}
}

// step applies the first pending file in a transaction, and returns migrate.ErrNoPendingFiles
// when there is none. With baseline set and no revision recorded yet, it records the baseline
// first, in the same transaction.
func (m *Migrator) step(ctx context.Context, baseline string) (file migrate.File, err error) {
	if m.dialect == dialect.SQLite {
		// SQLite ignores this pragma inside a transaction, and migrations that rebuild a table
		// (copy, drop, rename) need it off: dropping the old table would otherwise cascade.
		// Foreign keys are checked before commit instead (below).
		if _, err := m.conn.ExecContext(ctx, "PRAGMA foreign_keys = off"); err != nil {
			return nil, err
		}
		defer func() {
			if _, ferr := m.conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = on"); ferr != nil {
				err = errors.Join(err, ferr)
			}
		}()
	}
	tx, err := m.conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	rrw := &revisions{q: tx, dialect: m.dialect}
	if err := rrw.ensure(ctx); err != nil {
		return nil, fmt.Errorf("creating %s: %w", RevisionTable, err)
	}
	drv, err := m.open(tx)
	if err != nil {
		return nil, err
	}
	opts := []migrate.ExecutorOption{migrate.WithOperatorVersion(operator)}
	if baseline != "" {
		opts = append(opts, migrate.WithBaselineVersion(baseline))
	}
	ex, err := migrate.NewExecutor(drv, m.dir, rrw, opts...)
	if err != nil {
		return nil, err
	}
	// Read again in the transaction: another process may have migrated meanwhile (PostgreSQL
	// replicas take turns under a lock, but SQLite has none across processes).
	revs, err := rrw.ReadRevisions(ctx)
	if err != nil {
		return nil, err
	}
	files, err := m.files()
	if err != nil {
		return nil, err
	}
	if err := known(revs, files); err != nil {
		return nil, err
	}
	pending, err := ex.Pending(ctx)
	if errors.Is(err, migrate.ErrNoPendingFiles) {
		if cerr := tx.Commit(); cerr != nil { // keeps a baseline just recorded
			return nil, cerr
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	file = pending[0]
	if err := ex.Execute(ctx, file); err != nil {
		var serr *migrate.StmtExecError
		if errors.As(err, &serr) {
			err = serr // not the failed attempt to record the error in the aborted transaction
		}
		return nil, fmt.Errorf("migration %s failed and was rolled back, nothing of it applied: %w", file.Name(), err)
	}
	if m.dialect == dialect.SQLite {
		if err := foreignKeyCheck(ctx, tx); err != nil {
			return nil, fmt.Errorf("migration %s failed and was rolled back, nothing of it applied: %w", file.Name(), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("migration %s: commit: %w", file.Name(), err)
	}
	return file, nil
}

// foreignKeyCheck fails if a row points at a row that does not exist (what SQLite would have
// refused with foreign keys on).
func foreignKeyCheck(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		var (
			table, parent string
			rowid, fkid   sql.NullInt64
		)
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return err
		}
		return fmt.Errorf("a row of %s (rowid %d) refers to a missing row of %s", table, rowid.Int64, parent)
	}
	return rows.Err()
}

// files are the migration files in version order, after checking them against atlas.sum.
func (m *Migrator) files() ([]migrate.File, error) {
	if err := migrate.Validate(m.dir); err != nil {
		return nil, fmt.Errorf("the migration files do not match their atlas.sum: %w", err)
	}
	files, err := m.dir.Files()
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("no migration files")
	}
	return files, nil
}

// known refuses revisions that are not among files.
func known(revs []*migrate.Revision, files []migrate.File) error {
	for _, r := range revs {
		if !slices.ContainsFunc(files, func(f migrate.File) bool { return f.Version() == r.Version }) {
			return &UnknownRevisionError{Revision: r, Newest: files[len(files)-1].Version()}
		}
	}
	return nil
}

// open is Atlas's driver of the dialect over q.
func (m *Migrator) open(q atlasschema.ExecQuerier) (migrate.Driver, error) {
	if m.dialect == dialect.Postgres {
		drv, err := postgres.Open(q)
		if err != nil {
			return nil, err
		}
		return currentSchemaOnly{Driver: drv, m: m, q: q}, nil
	}
	return sqlite.Open(q)
}

// currentSchemaOnly is Atlas's PostgreSQL driver, except that a database counts as empty when
// its current schema has no tables: opened on a connection, Atlas would look at every schema of
// the database, and other schemas are none of the server's business.
type currentSchemaOnly struct {
	migrate.Driver
	m *Migrator
	q atlasschema.ExecQuerier
}

func (d currentSchemaOnly) CheckClean(ctx context.Context, _ *migrate.TableIdent) error {
	s, err := d.m.inspect(ctx, d.q)
	if err != nil {
		return err
	}
	if len(s.Tables) > 0 {
		return &migrate.NotCleanError{Reason: fmt.Sprintf("found table %q in schema %q", s.Tables[0].Name, s.Name)}
	}
	return nil
}

// hasTables reports whether the database has tables other than RevisionTable.
func (m *Migrator) hasTables(ctx context.Context) (bool, error) {
	s, err := m.inspect(ctx, m.conn)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(s.Tables, func(t *atlasschema.Table) bool { return t.Name != RevisionTable }), nil
}

// inspect reads the schema of the current database (SQLite) or schema (PostgreSQL) through q.
func (m *Migrator) inspect(ctx context.Context, q atlasschema.ExecQuerier) (*atlasschema.Schema, error) {
	var (
		drv migrate.Driver
		err error
	)
	if m.dialect == dialect.Postgres {
		drv, err = postgres.Open(q) // not m.open: its CheckClean calls inspect
	} else {
		drv, err = sqlite.Open(q)
	}
	if err != nil {
		return nil, err
	}
	name := "main"
	if m.dialect == dialect.Postgres {
		rows, err := q.QueryContext(ctx, "SELECT current_schema()")
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		if !rows.Next() {
			return nil, errors.Join(rows.Err(), errors.New("no current schema"))
		}
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		rows.Close()
	}
	s, err := drv.InspectSchema(ctx, name, nil)
	if err != nil {
		return nil, fmt.Errorf("inspecting the schema: %w", err)
	}
	s.Tables = slices.DeleteFunc(s.Tables, func(t *atlasschema.Table) bool { return t.Name == RevisionTable })
	return s, nil
}
