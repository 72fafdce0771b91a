package migration_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"os"
	"testing"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent"
	entmigrate "github.com/inferiallm/orgserver/ent/migrate"
	"github.com/inferiallm/orgserver/ent/migrate/migrations"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/database"
	"github.com/inferiallm/orgserver/server/migration"
)

// testDB is a fresh database (SQLite, or a schema of TEST_DATABASE_URL) and a connection to it.
type testDB struct {
	url     string
	db      *database.DB
	conn    *sql.Conn
	dialect string
}

func openDB(t *testing.T, url string) *testDB {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, url, database.Options{MaxConns: 2, StatementCache: -1})
	require.NoError(t, err)
	conn, err := db.WritePool().Conn(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(); db.Close() })
	return &testDB{url: url, db: db, conn: conn, dialect: db.Dialect}
}

func freshDB(t *testing.T) *testDB { return openDB(t, apptest.DatabaseURL(t)) }

// close gives the database back, for a server to open it.
func (d *testDB) close() {
	d.conn.Close()
	d.db.Close()
}

// exec runs the statements of an SQL file.
func (d *testDB) exec(t *testing.T, name string, data []byte) {
	t.Helper()
	stmts, err := migrate.NewLocalFile(name, data).Stmts()
	require.NoError(t, err)
	for _, s := range stmts {
		_, err := d.conn.ExecContext(context.Background(), s)
		require.NoError(t, err, s)
	}
}

// loadAutoMigrated fills d with the frozen database of the auto-migrating release, rows included.
func (d *testDB) loadAutoMigrated(t *testing.T) {
	t.Helper()
	name := "testdata/automigrated-" + map[string]string{dialect.SQLite: "sqlite", dialect.Postgres: "postgres"}[d.dialect] + ".sql"
	data, err := os.ReadFile(name)
	require.NoError(t, err)
	d.exec(t, name, data)
	if d.dialect == dialect.SQLite {
		_, err = d.conn.ExecContext(context.Background(), "PRAGMA foreign_keys = on")
		require.NoError(t, err)
	}
}

func (d *testDB) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, d.conn.QueryRowContext(context.Background(), query, args...).Scan(&n))
	return n
}

// tableExists reports whether table exists in the test's database or schema.
func (d *testDB) tableExists(t *testing.T, table string) bool {
	t.Helper()
	if d.dialect == dialect.Postgres {
		return d.count(t, "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1", table) > 0
	}
	return d.count(t, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", table) > 0
}

func (d *testDB) columnExists(t *testing.T, table, column string) bool {
	t.Helper()
	if d.dialect == dialect.Postgres {
		return d.count(t, "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2", table, column) > 0
	}
	return d.count(t, "SELECT count(*) FROM pragma_table_info(?) WHERE name = ?", table, column) > 0
}

func fileNames(files []migrate.File) []string {
	var names []string
	for _, f := range files {
		names = append(names, f.Name())
	}
	return names
}

func allFiles(t *testing.T, d string) []migrate.File {
	t.Helper()
	dir, err := migrations.Dir(d)
	require.NoError(t, err)
	files, err := dir.Files()
	require.NoError(t, err)
	return files
}

func TestAFreshDatabaseGetsEveryRevisionAndTheEntSchema(t *testing.T) {
	ctx := context.Background()
	d := freshDB(t)
	m, err := migration.New(d.conn, d.dialect)
	require.NoError(t, err)

	st, err := m.Status(ctx)
	require.NoError(t, err)
	want := fileNames(allFiles(t, d.dialect))
	assert.Equal(t, want, fileNames(st.Pending))
	assert.False(t, st.Adopt)

	var applied []migrate.File
	require.NoError(t, m.Apply(ctx, func(f migrate.File) { applied = append(applied, f) }))
	assert.Equal(t, want, fileNames(applied))

	st, err = m.Status(ctx)
	require.NoError(t, err)
	assert.Empty(t, st.Pending)
	assert.Equal(t, applied[len(applied)-1].Version(), st.Current())
	require.NoError(t, m.Apply(ctx, func(f migrate.File) { t.Errorf("applied %s twice", f.Name()) }))

}

func TestTheMigrationsMakeTheEntSchema(t *testing.T) {
	// What go generate checks (CI fails on a new file), checked by the tests too: the files,
	// replayed on an empty database, leave nothing for ent to add.
	ctx := context.Background()
	d := freshDB(t)
	dir := &migrate.MemDir{}
	real, err := migrations.Dir(d.dialect)
	require.NoError(t, err)
	files, err := real.Files()
	require.NoError(t, err)
	require.NoError(t, dir.CopyFiles(files))
	sum, err := real.Checksum()
	require.NoError(t, err)
	require.NoError(t, migrate.WriteSumFile(dir, sum))
	opts := []schema.MigrateOption{schema.WithDir(dir), schema.WithMigrationMode(schema.ModeReplay), schema.WithDialect(d.dialect),
		schema.WithDropColumn(true), schema.WithDropIndex(true), schema.WithErrNoPlan(true)}
	if d.dialect == dialect.Postgres {
		// By URL: its search_path binds Atlas to the test's schema (see ent/migrategen.go).
		d.close()
		err = entmigrate.NamedDiff(ctx, d.url, "drift", opts...)
	} else {
		client := ent.NewClient(ent.Driver(entsql.NewDriver(d.dialect, entsql.Conn{ExecQuerier: d.conn})))
		err = client.Schema.NamedDiff(ctx, "drift", opts...)
	}
	if !assert.ErrorIs(t, err, migrate.ErrNoPlan, "the migrations do not make the ent schema: run go generate") {
		files, _ := dir.Files()
		for _, f := range files[len(files)-1:] {
			t.Logf("%s:\n%s", f.Name(), f.Bytes())
		}
	}
}

func TestADatabaseOfTheAutoMigratingReleaseIsAdoptedWithItsRows(t *testing.T) {
	ctx := context.Background()
	d := freshDB(t)
	d.loadAutoMigrated(t)
	m, err := migration.New(d.conn, d.dialect)
	require.NoError(t, err)

	st, err := m.Status(ctx)
	require.NoError(t, err)
	require.True(t, st.Adopt)
	assert.Empty(t, st.Mismatch)
	files := allFiles(t, d.dialect)
	assert.Equal(t, files[0].Name(), st.Baseline.Name())
	assert.Equal(t, fileNames(files[1:]), fileNames(st.Pending))

	var applied []migrate.File
	require.NoError(t, m.Apply(ctx, func(f migrate.File) { applied = append(applied, f) }))
	assert.Equal(t, fileNames(files[1:]), fileNames(applied), "the baseline is recorded, not run")
	st, err = m.Status(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, st.Applied)
	assert.Equal(t, migrate.RevisionTypeBaseline, st.Applied[0].Type)
	assert.Equal(t, files[len(files)-1].Version(), st.Current())
	assert.Equal(t, 2, d.count(t, "SELECT count(*) FROM organizations"))
	assert.Equal(t, 2, d.count(t, "SELECT count(*) FROM users"))
	assert.Equal(t, 2, d.count(t, "SELECT count(*) FROM memberships"))

	// The server starts on it and its people sign in as before.
	d.close()
	s := apptest.StartWith(t, apptest.Config(d.url), appOptions())
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	bob := s.Login(t, "bob@globex.com", "password-bob@globex.com")
	r := s.Do(t, bob.Access, `{ organization { name roles { name } } }`, nil)
	require.Empty(t, r.Errors)
	assert.Equal(t, "Globex", r.Str("organization.name"))
	assert.Contains(t, string(r.Data), `"auditor"`, "Globex's own role")
	r = s.Do(t, root.Access, `{ organization { name } }`, nil)
	require.Empty(t, r.Errors)
	assert.Equal(t, "Acme", r.Str("organization.name"))
}

func TestADatabaseThatIsNotTheBaselineIsNotAdopted(t *testing.T) {
	ctx := context.Background()
	d := freshDB(t)
	d.loadAutoMigrated(t)
	_, err := d.conn.ExecContext(ctx, "ALTER TABLE users ADD COLUMN nickname text")
	require.NoError(t, err)
	_, err = d.conn.ExecContext(ctx, "DROP INDEX user_created_at")
	require.NoError(t, err)
	m, err := migration.New(d.conn, d.dialect)
	require.NoError(t, err)

	err = m.Apply(ctx, nil)
	var mismatch *migration.MismatchError
	require.ErrorAs(t, err, &mismatch)
	assert.Contains(t, err.Error(), "column users.nickname is not in the baseline")
	assert.Contains(t, err.Error(), "index user_created_at on users is missing")
	assert.False(t, d.tableExists(t, migration.RevisionTable), "nothing recorded")
}

func TestADatabaseAtAnUnknownRevisionIsRefused(t *testing.T) {
	ctx := context.Background()
	d := freshDB(t)
	m, err := migration.New(d.conn, d.dialect)
	require.NoError(t, err)
	require.NoError(t, m.Apply(ctx, nil))
	_, err = d.conn.ExecContext(ctx, `INSERT INTO `+migration.RevisionTable+` (version, description, type, applied, total, executed_at,
		execution_time, error, error_stmt, hash, partial_hashes, operator_version)
		VALUES ('29990101000000', 'from_the_future', 2, 1, 1, '2999-01-01T00:00:00Z', 0, '', '', '', 'null', 'newer')`)
	require.NoError(t, err)

	err = m.Apply(ctx, nil)
	var unknown *migration.UnknownRevisionError
	require.ErrorAs(t, err, &unknown)
	assert.Contains(t, err.Error(), "revision 29990101000000 (from_the_future)")
	assert.Contains(t, err.Error(), "the server is older than the database")

	// The server refuses to start on it.
	d.close()
	a, err := newApp(d.url)
	if a != nil {
		a.Close()
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), "29990101000000")
	assert.Contains(t, err.Error(), "older than the database")
}

// brokenDir is the real migrations plus a last file that fails halfway: it creates a table and
// a column, then inserts into a table that does not exist.
func brokenDir(t *testing.T, d string, withReal bool) migrate.Dir {
	t.Helper()
	dir := &migrate.MemDir{}
	if withReal {
		for _, f := range allFiles(t, d) {
			require.NoError(t, dir.WriteFile(f.Name(), f.Bytes()))
		}
	}
	require.NoError(t, dir.WriteFile("29990101000000_broken.sql", []byte(
		"CREATE TABLE widgets (id integer NOT NULL PRIMARY KEY);\n"+
			"ALTER TABLE organizations ADD COLUMN motto text;\n"+
			"INSERT INTO no_such_table VALUES (1);\n")))
	sum, err := dir.Checksum()
	require.NoError(t, err)
	require.NoError(t, migrate.WriteSumFile(dir, sum))
	return dir
}

func TestAFailingMigrationIsRolledBackWholeAndNamed(t *testing.T) {
	ctx := context.Background()
	t.Run("after the others", func(t *testing.T) {
		d := freshDB(t)
		m := migration.NewWithDir(d.conn, d.dialect, brokenDir(t, d.dialect, true))
		err := m.Apply(ctx, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "migration 29990101000000_broken.sql failed")
		assert.Contains(t, err.Error(), "no_such_table")
		assert.False(t, d.tableExists(t, "widgets"))
		assert.False(t, d.columnExists(t, "organizations", "motto"))
		st, err := m.Status(ctx)
		require.NoError(t, err)
		assert.Equal(t, allFiles(t, d.dialect)[len(allFiles(t, d.dialect))-1].Version(), st.Current(), "the files before it stay applied")
		assert.Equal(t, []string{"29990101000000_broken.sql"}, fileNames(st.Pending))
		assert.Equal(t, 0, d.count(t, "SELECT count(*) FROM "+migration.RevisionTable+" WHERE version = '29990101000000'"))
	})
	t.Run("as the first", func(t *testing.T) {
		d := freshDB(t)
		m := migration.NewWithDir(d.conn, d.dialect, brokenDir(t, d.dialect, false))
		err := m.Apply(ctx, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "29990101000000_broken.sql")
		assert.False(t, d.tableExists(t, "widgets"))
		assert.False(t, d.tableExists(t, migration.RevisionTable), "not even the revision table stays")
	})
}

func TestEditedMigrationFilesAreRefused(t *testing.T) {
	d := freshDB(t)
	dir := brokenDir(t, d.dialect, true)
	require.NoError(t, dir.WriteFile("29990101000000_broken.sql", []byte("SELECT 1;\n")))
	err := migration.NewWithDir(d.conn, d.dialect, dir).Apply(context.Background(), nil)
	require.Error(t, err)
	assert.True(t, errors.Is(err, migrate.ErrChecksumMismatch), err)
}

func appOptions() app.Options { return app.Options{Logs: io.Discard} }

// newApp starts (and leaves to the caller to close) an app on url.
func newApp(url string) (*app.App, error) {
	return app.New(context.Background(), apptest.Config(url), appOptions())
}
