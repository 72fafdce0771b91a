package migration

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
)

// RevisionTable is the table that records which migrations a database has had.
const RevisionTable = "schema_revisions"

// execQuerier is what the revision table is read and written through: a connection or a
// transaction.
type execQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// revisions keeps Atlas's revisions in RevisionTable (migrate.RevisionReadWriter). Migrations
// write it in the transaction of the file they apply, so a file and its revision commit together.
type revisions struct {
	q       execQuerier
	dialect string
}

var _ migrate.RevisionReadWriter = (*revisions)(nil)

// createTable is RevisionTable's DDL; executed_at is a timestamp on PostgreSQL and RFC 3339 text
// on SQLite, which has no time type.
func (r *revisions) createTable() string {
	at := "text"
	if r.dialect == dialect.Postgres {
		at = "timestamptz"
	}
	return `CREATE TABLE IF NOT EXISTS ` + RevisionTable + ` (
  version text NOT NULL PRIMARY KEY,
  description text NOT NULL,
  type bigint NOT NULL,
  applied bigint NOT NULL,
  total bigint NOT NULL,
  executed_at ` + at + ` NOT NULL,
  execution_time bigint NOT NULL,
  error text NOT NULL,
  error_stmt text NOT NULL,
  hash text NOT NULL,
  partial_hashes text NOT NULL,
  operator_version text NOT NULL
)`
}

// ensure creates the table unless it exists.
func (r *revisions) ensure(ctx context.Context) error {
	_, err := r.q.ExecContext(ctx, r.createTable())
	return err
}

// exists reports whether the table exists.
func (r *revisions) exists(ctx context.Context) (bool, error) {
	var query string
	if r.dialect == dialect.Postgres {
		query = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`
	} else {
		query = `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	}
	rows, err := r.q.QueryContext(ctx, query, RevisionTable)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	var n int
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return false, err
		}
	}
	return n > 0, rows.Err()
}

// Ident names the table, which Atlas leaves out when it checks that a database is empty.
func (r *revisions) Ident() *migrate.TableIdent { return &migrate.TableIdent{Name: RevisionTable} }

const revisionColumns = `version, description, type, applied, total, executed_at, execution_time, error, error_stmt, hash, partial_hashes, operator_version`

// ReadRevisions returns the revisions in version order (none when the table does not exist).
func (r *revisions) ReadRevisions(ctx context.Context) ([]*migrate.Revision, error) {
	ok, err := r.exists(ctx)
	if err != nil || !ok {
		return nil, err
	}
	return r.read(ctx, `SELECT `+revisionColumns+` FROM `+RevisionTable+` ORDER BY version`)
}

// ReadRevision returns the revision of version, or migrate.ErrRevisionNotExist.
func (r *revisions) ReadRevision(ctx context.Context, version string) (*migrate.Revision, error) {
	revs, err := r.read(ctx, `SELECT `+revisionColumns+` FROM `+RevisionTable+` WHERE version = `+r.param(1), version)
	if err != nil {
		return nil, err
	}
	if len(revs) == 0 {
		return nil, migrate.ErrRevisionNotExist
	}
	return revs[0], nil
}

func (r *revisions) read(ctx context.Context, query string, args ...any) ([]*migrate.Revision, error) {
	rows, err := r.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", RevisionTable, err)
	}
	defer rows.Close()
	var revs []*migrate.Revision
	for rows.Next() {
		var (
			rev      migrate.Revision
			at       any
			took     int64
			partials string
		)
		if err := rows.Scan(&rev.Version, &rev.Description, &rev.Type, &rev.Applied, &rev.Total, &at, &took,
			&rev.Error, &rev.ErrorStmt, &rev.Hash, &partials, &rev.OperatorVersion); err != nil {
			return nil, err
		}
		rev.ExecutionTime = time.Duration(took)
		switch at := at.(type) {
		case time.Time:
			rev.ExecutedAt = at
		case string:
			rev.ExecutedAt, _ = time.Parse(time.RFC3339Nano, at)
		}
		if err := json.Unmarshal([]byte(partials), &rev.PartialHashes); err != nil {
			return nil, fmt.Errorf("%s of %s: partial_hashes: %w", RevisionTable, rev.Version, err)
		}
		revs = append(revs, &rev)
	}
	return revs, rows.Err()
}

// WriteRevision inserts or updates a revision.
func (r *revisions) WriteRevision(ctx context.Context, rev *migrate.Revision) error {
	partials, err := json.Marshal(rev.PartialHashes)
	if err != nil {
		return err
	}
	var at any = rev.ExecutedAt.UTC()
	if r.dialect != dialect.Postgres {
		at = rev.ExecutedAt.UTC().Format(time.RFC3339Nano)
	}
	cols := strings.Split(revisionColumns, ", ")
	params := make([]string, len(cols))
	set := make([]string, 0, len(cols)-1)
	for i, c := range cols {
		params[i] = r.param(i + 1)
		if i > 0 {
			set = append(set, c+" = excluded."+c)
		}
	}
	_, err = r.q.ExecContext(ctx, `INSERT INTO `+RevisionTable+` (`+revisionColumns+`) VALUES (`+strings.Join(params, ", ")+
		`) ON CONFLICT (version) DO UPDATE SET `+strings.Join(set, ", "),
		rev.Version, rev.Description, rev.Type, rev.Applied, rev.Total, at, int64(rev.ExecutionTime),
		rev.Error, rev.ErrorStmt, rev.Hash, string(partials), rev.OperatorVersion)
	return err
}

// DeleteRevision deletes the revision of version.
func (r *revisions) DeleteRevision(ctx context.Context, version string) error {
	_, err := r.q.ExecContext(ctx, `DELETE FROM `+RevisionTable+` WHERE version = `+r.param(1), version)
	return err
}

// param is the dialect's placeholder of the i-th argument.
func (r *revisions) param(i int) string {
	if r.dialect == dialect.Postgres {
		return fmt.Sprintf("$%d", i)
	}
	return "?"
}
