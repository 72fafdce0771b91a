package database

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// SQLite says "unable to open database file (14)" for every file it cannot open; Open names
// the path and what is wrong with it instead.
func TestSQLiteRefusalsNameThePathAndTheProblem(t *testing.T) {
	dir := t.TempDir()
	open := func(path string) error {
		db, err := Open(context.Background(), "sqlite://"+path, Options{})
		if err == nil {
			db.Close()
		}
		return err
	}

	missing := filepath.Join(dir, "no-such-dir", "inferia.db")
	err := open(missing)
	require.Error(t, err)
	assert.Contains(t, err.Error(), missing)
	assert.Contains(t, err.Error(), "directory "+filepath.Dir(missing)+" does not exist")

	file := filepath.Join(dir, "a-file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	err = open(filepath.Join(file, "inferia.db"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), file+" is not a directory")

	err = open(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), dir+" is a directory, not a file")

	require.NoError(t, open(filepath.Join(dir, "inferia.db")), "a writable directory is fine")

	if os.Geteuid() == 0 {
		t.Skip("permissions do not bind root: the unwritable directory and file cases need another user")
	}
	closed := filepath.Join(dir, "read-only")
	require.NoError(t, os.Mkdir(closed, 0o555))
	err = open(filepath.Join(closed, "inferia.db"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(closed, "inferia.db"))
	assert.Contains(t, err.Error(), "cannot create files in directory "+closed)
	assert.Contains(t, err.Error(), "permission denied")

	readOnly := filepath.Join(dir, "read-only.db")
	require.NoError(t, os.WriteFile(readOnly, nil, 0o400))
	err = open(readOnly)
	require.Error(t, err)
	assert.Contains(t, err.Error(), readOnly)
	assert.Contains(t, err.Error(), "permission denied")
}
