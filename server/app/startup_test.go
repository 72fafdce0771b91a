package app_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

// tablesIn counts the tables of the database at url; a SQLite file that does not exist has none.
func tablesIn(t *testing.T, url string) int {
	t.Helper()
	if path, ok := strings.CutPrefix(url, "sqlite://"); ok {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return 0
		}
		db, err := sql.Open("sqlite", path)
		require.NoError(t, err)
		defer db.Close()
		var n int
		require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").Scan(&n))
		return n
	}
	db, err := sql.Open("postgres", url)
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()").Scan(&n))
	return n
}

// A busy port, the API's or the management listener's, fails the start before anything is
// created, migrated or bootstrapped: no password is generated, so none is lost.
func TestABusyPortFailsTheStartBeforeTheDatabaseIsTouched(t *testing.T) {
	for _, c := range []struct {
		name, env, message string
	}{
		{"LISTEN_ADDR", "LISTEN_ADDR", "address already in use"},
		{"MANAGEMENT_ADDR", "MANAGEMENT_ADDR", "MANAGEMENT_ADDR"},
	} {
		t.Run(c.name, func(t *testing.T) {
			busy, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer busy.Close()
			url := apptest.DatabaseURL(t)
			if strings.HasPrefix(url, "sqlite://") {
				url = "sqlite://" + filepath.Join(t.TempDir(), "fresh.db")
			}
			env := map[string]string{"DATABASE_URL": url, "LOG_LEVEL": "error", "LISTEN_ADDR": "127.0.0.1:0", c.env: busy.Addr().String()}
			var out bytes.Buffer
			err = app.Run(context.Background(), nil, func(k string) string { return env[k] }, &out)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.message)
			assert.Empty(t, out.String(), "no password was generated, so none is lost")
			assert.Zero(t, tablesIn(t, url), "nothing was created, migrated or bootstrapped")
			if path, ok := strings.CutPrefix(url, "sqlite://"); ok {
				assert.NoFileExists(t, path)
			}
		})
	}
}

// listeningCheck is the standard output of a server that, when the first-start banner is written
// to it, checks that the server is listening.
type listeningCheck struct {
	addr string
	mu   sync.Mutex
	buf  bytes.Buffer
	// listening says whether the server accepted a connection when the banner was written.
	listening *bool
}

func (w *listeningCheck) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if bytes.Contains(p, []byte("Password:")) && w.listening == nil {
		conn, err := net.DialTimeout("tcp", w.addr, time.Second)
		if err == nil {
			conn.Close()
		}
		ok := err == nil
		w.listening = &ok
	}
	return w.buf.Write(p)
}

func (w *listeningCheck) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestTheFirstPasswordIsPrintedOnceTheServerListensWithTheWayBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	env := map[string]string{"DATABASE_URL": apptest.DatabaseURL(t), "LISTEN_ADDR": addr, "LOG_LEVEL": "error"}
	out := &listeningCheck{addr: addr}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.RunWith(ctx, nil, app.Process{Getenv: func(k string) string { return env[k] }, Stdout: out})
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "Password:") }, 60*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	require.NotNil(t, out.listening)
	assert.True(t, *out.listening, "the server listened when it printed the password")
	assert.Regexp(t, `^\n  Super admin: admin@example.com\n  Password:    \S+\n  \(shown once; set SUPERADMIN_PASSWORD to choose it, change it after signing in;\n`+
		`   if it is lost: go run ./server admin reset-password --email admin@example.com\)\n\n$`, out.String())
}

// The first start bootstraps on the connection that holds the migration lock: with a pool of
// one connection, taking a second would wait forever.
func TestAFirstStartWithAPoolOfOneConnectionFinishes(t *testing.T) {
	cfg := apptest.Config(apptest.DatabaseURL(t))
	cfg.DBMaxConns = 1
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		a, err := app.New(ctx, cfg, app.Options{Out: io.Discard, Logs: io.Discard})
		if err == nil {
			a.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("the first start with DB_MAX_CONNS=1 still waits after 20 s")
	}
}
