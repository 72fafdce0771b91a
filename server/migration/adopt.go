package migration

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"

	"ariga.io/atlas/sql/migrate"
	atlasschema "ariga.io/atlas/sql/schema"
	"entgo.io/ent/dialect"
	_ "modernc.org/sqlite" // the baseline is replayed on an in-memory SQLite database
)

// compareBaseline lists how the database's schema differs from the one baseline makes (nothing
// when they are equal). The baseline is replayed where it changes nothing: on SQLite in an
// in-memory database, on PostgreSQL in a scratch schema of a transaction that is rolled back.
func (m *Migrator) compareBaseline(ctx context.Context, baseline migrate.File) ([]string, error) {
	current, err := m.inspect(ctx, m.conn)
	if err != nil {
		return nil, err
	}
	var want *atlasschema.Schema
	if m.dialect == dialect.Postgres {
		want, err = m.replayPostgres(ctx, baseline)
	} else {
		want, err = m.replaySQLite(ctx, baseline)
	}
	if err != nil {
		return nil, fmt.Errorf("replaying the baseline %s: %w", baseline.Name(), err)
	}
	want.Name = current.Name
	drv, err := m.open(m.conn)
	if err != nil {
		return nil, err
	}
	changes, err := drv.SchemaDiff(current, want)
	if err != nil {
		return nil, err
	}
	return describe(changes), nil
}

func (m *Migrator) replaySQLite(ctx context.Context, baseline migrate.File) (*atlasschema.Schema, error) {
	db, err := sql.Open("sqlite", "file:baseline?mode=memory&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // the in-memory database lives in its one connection
	if err := execFile(ctx, db, baseline); err != nil {
		return nil, err
	}
	return m.inspect(ctx, db)
}

func (m *Migrator) replayPostgres(ctx context.Context, baseline migrate.File) (*atlasschema.Schema, error) {
	tx, err := m.conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // the point: nothing of this stays
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	scratch := "inferia_baseline_" + hex.EncodeToString(b)
	if _, err := tx.ExecContext(ctx, "CREATE SCHEMA "+scratch); err != nil {
		return nil, fmt.Errorf("creating a scratch schema (needs the CREATE privilege on the database): %w", err)
	}
	if _, err := tx.ExecContext(ctx, "SET LOCAL search_path TO "+scratch); err != nil {
		return nil, err
	}
	if err := execFile(ctx, tx, baseline); err != nil {
		return nil, err
	}
	return m.inspect(ctx, tx)
}

func execFile(ctx context.Context, q execQuerier, f migrate.File) error {
	stmts, err := f.Stmts()
	if err != nil {
		return err
	}
	for _, s := range stmts {
		if _, err := q.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// describe says in words what changes would turn the database into the baseline.
func describe(changes []atlasschema.Change) []string {
	var out []string
	for _, c := range changes {
		switch c := c.(type) {
		case *atlasschema.AddTable:
			out = append(out, fmt.Sprintf("table %s is missing", c.T.Name))
		case *atlasschema.DropTable:
			out = append(out, fmt.Sprintf("table %s is not in the baseline", c.T.Name))
		case *atlasschema.ModifyTable:
			for _, tc := range c.Changes {
				out = append(out, describeTable(c.T.Name, tc))
			}
		default:
			out = append(out, fmt.Sprintf("%T", c))
		}
	}
	return out
}

func describeTable(table string, c atlasschema.Change) string {
	switch c := c.(type) {
	case *atlasschema.AddColumn:
		return fmt.Sprintf("column %s.%s is missing", table, c.C.Name)
	case *atlasschema.DropColumn:
		return fmt.Sprintf("column %s.%s is not in the baseline", table, c.C.Name)
	case *atlasschema.ModifyColumn:
		return fmt.Sprintf("column %s.%s differs", table, c.To.Name)
	case *atlasschema.AddIndex:
		return fmt.Sprintf("index %s on %s is missing", c.I.Name, table)
	case *atlasschema.DropIndex:
		return fmt.Sprintf("index %s on %s is not in the baseline", c.I.Name, table)
	case *atlasschema.ModifyIndex:
		return fmt.Sprintf("index %s on %s differs", c.To.Name, table)
	case *atlasschema.AddForeignKey:
		return fmt.Sprintf("foreign key %s of %s is missing", c.F.Symbol, table)
	case *atlasschema.DropForeignKey:
		return fmt.Sprintf("foreign key %s of %s is not in the baseline", c.F.Symbol, table)
	case *atlasschema.ModifyForeignKey:
		return fmt.Sprintf("foreign key %s of %s differs", c.To.Symbol, table)
	case *atlasschema.AddCheck:
		return fmt.Sprintf("check %s of %s is missing", c.C.Name, table)
	case *atlasschema.DropCheck:
		return fmt.Sprintf("check %s of %s is not in the baseline", c.C.Name, table)
	}
	return fmt.Sprintf("table %s: %T", table, c)
}
