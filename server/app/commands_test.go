package app_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"regexp"
	"testing"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/database"
)

// run runs the binary's Run with args and DATABASE_URL=url, and returns what it printed.
func run(t *testing.T, url string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := app.Run(context.Background(), args, func(k string) string {
		return map[string]string{"DATABASE_URL": url, "LOG_LEVEL": "error"}[k]
	}, &out)
	return out.String(), err
}

func TestMigrateAndMigrateStatusSayWhereTheDatabaseStands(t *testing.T) {
	url := apptest.DatabaseURL(t)
	migration := `\d{14}_[a-z_]+\.sql`

	out, err := run(t, url, "migrate", "status")
	require.NoError(t, err)
	assert.Regexp(t, `^current revision: none \(empty database\)\npending:\n(  `+migration+`\n)+$`, out)
	pending := regexp.MustCompile(migration).FindAllString(out, -1)
	require.NotEmpty(t, pending)

	out, err = run(t, url, "migrate")
	require.NoError(t, err)
	want := ""
	for _, f := range pending {
		want += "applied " + f + "\n"
	}
	last := pending[len(pending)-1]
	want += "the database is at revision " + last[:len(last)-len(".sql")] + "\n"
	assert.Equal(t, want, out)

	// Flags before or after the words.
	out, err = run(t, "", "-database-url", url, "migrate", "status")
	require.NoError(t, err)
	assert.Equal(t, "current revision: "+last[:len(last)-len(".sql")]+"\npending: none\n", out)
	out, err = run(t, "", "migrate", "-database-url", url)
	require.NoError(t, err)
	assert.Equal(t, "nothing to apply; the database is at revision "+last[:len(last)-len(".sql")]+"\n", out)

	// migrate applies and exits; the server's first start then bootstraps as usual.
	s := apptest.StartWith(t, apptest.Config(url), app.Options{})
	s.Login(t, apptest.RootEmail, apptest.RootPassword)
}

func TestUnknownCommandsAndHelp(t *testing.T) {
	_, err := run(t, apptest.DatabaseURL(t), "migrate", "sideways")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown command "migrate sideways"`)
	_, err = run(t, apptest.DatabaseURL(t), "serve")
	assert.ErrorContains(t, err, `unknown command "serve"`)

	out, err := run(t, "", "-h")
	require.ErrorIs(t, err, flag.ErrHelp)
	assert.Contains(t, out, "migrate status")
	assert.Contains(t, out, "-database-url")
	assert.Contains(t, out, "DATABASE_URL")
}

func TestMigrateAdoptsADatabaseOfTheAutoMigratingRelease(t *testing.T) {
	url := apptest.DatabaseURL(t)
	ctx := context.Background()
	db, err := database.Open(ctx, url, database.Options{StatementCache: -1})
	require.NoError(t, err)
	name := "../migration/testdata/automigrated-" + map[string]string{dialect.SQLite: "sqlite", dialect.Postgres: "postgres"}[db.Dialect] + ".sql"
	data, err := os.ReadFile(name)
	require.NoError(t, err)
	stmts, err := migrate.NewLocalFile(name, data).Stmts()
	require.NoError(t, err)
	conn, err := db.WritePool().Conn(ctx)
	require.NoError(t, err)
	for _, s := range stmts {
		_, err := conn.ExecContext(ctx, s)
		require.NoError(t, err, s)
	}
	conn.Close()
	db.Close()

	out, err := run(t, url, "migrate", "status")
	require.NoError(t, err)
	assert.Regexp(t, `^current revision: none \(tables made by an auto-migrating release; the next start or `+
		"`server migrate`"+` adopts them as \d{14}_baseline\.sql\)\n`, out)
	out, err = run(t, url, "migrate")
	require.NoError(t, err)
	assert.Regexp(t, `^adopted the database of an auto-migrating release as \d{14}_baseline\.sql\n(applied .*\n)*the database is at revision \d{14}_[a-z_]+\n$`, out)
	out, err = run(t, url, "migrate", "status")
	require.NoError(t, err)
	assert.Contains(t, out, "pending: none\n")
}
