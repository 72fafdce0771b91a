package database

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/lib/pq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The gate and the SQLite split, proved on a real database: a scratch SQLite file, or a scratch
// schema of TEST_DATABASE_URL. Connections are counted two ways: by the rows a goroutine holds
// open (an open result set holds its connection), and by sampling the pools' own statistics.

// hang is how long a test waits for something that must happen, far beyond what it needs even
// on a loaded machine; reaching it means a hang, not slowness.
const hang = 20 * time.Second

// scratchURL returns a fresh database for one test, as apptest.DatabaseURL does (which this
// package cannot import).
func scratchURL(t *testing.T) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		return "sqlite://" + filepath.Join(t.TempDir(), "gate.db")
	}
	admin, err := sql.Open("postgres", base)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "g_" + hex.EncodeToString(b)
	_, err = admin.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Logf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openScratch opens a fresh database with a table items(n integer unique).
func openScratch(t *testing.T, o Options) *DB {
	t.Helper()
	db, err := Open(context.Background(), scratchURL(t), o)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	require.NoError(t, db.Direct.Exec(context.Background(), "CREATE TABLE items (n INTEGER NOT NULL UNIQUE)", []any{}, nil))
	return db
}

func skipUnlessSQLite(t *testing.T) {
	t.Helper()
	if os.Getenv("TEST_DATABASE_URL") != "" {
		t.Skip("SQLite only: PostgreSQL has one pool for reads and writes and no writer to queue for")
	}
}

// inUse is the number of connections the pools have handed out right now.
func (db *DB) inUse() int {
	n := db.write.Stats().InUse
	if db.read != db.write {
		n += db.read.Stats().InUse
	}
	return n
}

// inUseNow is inUse read without counting twice a connection that a request gives back to one
// pool and takes from the other between the two pools' counts: SQLite's writer and readers are
// counted in both orders, and the smaller sum taken. A request that really holds two connections
// holds them across both counts.
func (db *DB) inUseNow() int {
	if db.read == db.write {
		return db.write.Stats().InUse
	}
	w1 := db.write.Stats().InUse
	r1 := db.read.Stats().InUse
	r2 := db.read.Stats().InUse
	w2 := db.write.Stats().InUse
	return min(w1+r1, r2+w2)
}

// sampler records the most connections in use at once while it runs.
type sampler struct {
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func sample(db *DB) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			if n := int64(db.inUseNow()); n > s.peak.Load() {
				s.peak.Store(n)
			}
			select {
			case <-s.stop:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	return s
}

func (s *sampler) Peak() int {
	close(s.stop)
	<-s.done
	return int(s.peak.Load())
}

// holders counts the goroutines of one request that hold an open result set, and remembers the
// most at once.
type holders struct{ now, peak atomic.Int64 }

func (h *holders) enter() {
	n := h.now.Add(1)
	for {
		p := h.peak.Load()
		if n <= p || h.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (h *holders) leave() { h.now.Add(-1) }

// query runs a SELECT through the request path's driver and returns its open rows.
func query(ctx context.Context, db *DB, q string) (*entsql.Rows, error) {
	var rows entsql.Rows
	if err := db.Driver.Query(ctx, q, []any{}, &rows); err != nil {
		return nil, err
	}
	return &rows, nil
}

// begin opens a transaction of the request of ctx, rolled back when the test ends if it is
// still open (a failing test must not leave locks that hang the clean-up).
func begin(t *testing.T, ctx context.Context, db *DB) dialect.Tx {
	t.Helper()
	tx, err := db.Driver.Tx(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback() })
	return tx
}

func exec(ctx context.Context, db *DB, q string) error {
	return db.Driver.Exec(ctx, q, []any{}, nil)
}

func count(t *testing.T, db *DB) int {
	t.Helper()
	rows, err := query(context.Background(), db, "SELECT COUNT(*) FROM items")
	require.NoError(t, err)
	defer rows.Close()
	require.True(t, rows.Next())
	var n int
	require.NoError(t, rows.Scan(&n))
	return n
}

// within runs f and fails the test if it has not returned after hang.
func within(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(hang):
		t.Fatalf("%s: still waiting after %v", what, hang)
		return nil
	}
}

func TestTheGoroutinesOfOneRequestHoldOneConnectionAtATime(t *testing.T) {
	db := openScratch(t, Options{MaxConns: 8})
	const requests, goroutines, rounds = 3, 6, 8
	peaks := make([]*holders, requests)
	var n atomic.Int64
	errs := make(chan error, requests*goroutines*rounds*2)
	s := sample(db)
	var wg sync.WaitGroup
	for r := range requests {
		ctx := WithGate(context.Background())
		peaks[r] = &holders{}
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range rounds {
					// A read holds the connection until its rows are closed: keep it a while, so
					// that a second one taken meanwhile would be seen.
					rows, err := query(ctx, db, "SELECT n FROM items")
					if err != nil {
						errs <- err
						continue
					}
					peaks[r].enter()
					time.Sleep(time.Millisecond)
					peaks[r].leave()
					rows.Close()
					// A write: on SQLite to the writer, beside the readers.
					if err := exec(ctx, db, fmt.Sprintf("INSERT INTO items (n) VALUES (%d)", n.Add(1))); err != nil {
						errs <- fmt.Errorf("request %d goroutine %d round %d: %w", r, g, i, err)
					}
				}
			}()
		}
	}
	require.NoError(t, within(t, "the requests", func() error { wg.Wait(); return nil }))
	peak := s.Peak()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for r, h := range peaks {
		assert.EqualValues(t, 1, h.peak.Load(), "request %d held more than one result set at once", r)
	}
	assert.LessOrEqual(t, peak, requests, "never more connections in use than requests")
	assert.Equal(t, requests*goroutines*rounds, count(t, db))
	assert.Zero(t, db.inUse(), "every connection went back to its pool")
}

func TestSeparateRequestsRunInParallel(t *testing.T) {
	const requests = 4
	db := openScratch(t, Options{MaxConns: requests})
	// Each request opens a result set and keeps it open until every request holds one: they
	// can all get there only if they run at once.
	var wg sync.WaitGroup
	all := make(chan struct{})
	var holding atomic.Int64
	errs := make(chan error, requests)
	for range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(WithGate(context.Background()), hang)
			defer cancel()
			rows, err := query(ctx, db, "SELECT n FROM items")
			if err != nil {
				errs <- err
				return
			}
			defer rows.Close()
			if holding.Add(1) == requests {
				close(all)
			}
			select {
			case <-all:
			case <-ctx.Done():
				errs <- fmt.Errorf("only %d requests held a connection at once", holding.Load())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestAStatementOutsideTheTransactionTheRequestHoldsFailsAtOnce(t *testing.T) {
	// One connection in the pool: a statement that waited for a second one would wait forever.
	db := openScratch(t, Options{MaxConns: 1})
	ctx := WithGate(context.Background())
	tx := begin(t, ctx, db)
	require.NoError(t, tx.Exec(ctx, "INSERT INTO items (n) VALUES (1)", []any{}, nil))
	assert.True(t, InTransaction(ctx))

	for name, stmt := range map[string]func() error{
		"an exec": func() error { return exec(ctx, db, "INSERT INTO items (n) VALUES (2)") },
		"a query": func() error { _, err := query(ctx, db, "SELECT n FROM items"); return err },
		"a second transaction": func() error {
			tx2, err := db.Driver.Tx(ctx)
			if err == nil {
				tx2.Rollback()
			}
			return err
		},
	} {
		err := within(t, name, stmt)
		assert.ErrorIs(t, err, ErrSecondConnection, name)
		assert.False(t, IsUnavailable(err), "%s: a misplaced statement is a bug, not an outage", name)
	}

	// The transaction is intact and commits; afterwards the request's statements run again.
	require.NoError(t, tx.Commit())
	assert.False(t, InTransaction(ctx))
	require.NoError(t, within(t, "a statement after the commit", func() error {
		return exec(ctx, db, "INSERT INTO items (n) VALUES (3)")
	}))
	assert.Equal(t, 2, count(t, db), "the transaction's row and the one after it")
}

func TestAQuerysTurnEndsWhenItsRowsAreClosedAndWaitingEndsAtTheDeadline(t *testing.T) {
	db := openScratch(t, Options{})
	ctx := WithGate(context.Background())
	rows, err := query(ctx, db, "SELECT n FROM items")
	require.NoError(t, err)

	// Another goroutine of the request waits for the turn, and gives up at its deadline.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err = within(t, "a statement waiting for the turn", func() error { return exec(short, db, "INSERT INTO items (n) VALUES (1)") })
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, IsUnavailable(err), "a deadline passed while waiting is a 503")

	// Closing the rows ends the turn: a waiting statement goes on.
	waiting := make(chan error, 1)
	go func() { waiting <- exec(ctx, db, "INSERT INTO items (n) VALUES (2)") }()
	select {
	case err := <-waiting:
		t.Fatalf("a statement ran while the request's rows were open: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	require.NoError(t, rows.Close())
	select {
	case err := <-waiting:
		require.NoError(t, err)
	case <-time.After(hang):
		t.Fatal("closing the rows did not end the turn")
	}

	// A failed query, an exec and a rolled-back transaction end their turns too.
	_, err = query(ctx, db, "SELECT no_such_column FROM items")
	require.Error(t, err)
	tx := begin(t, ctx, db)
	require.NoError(t, tx.Exec(ctx, "INSERT INTO items (n) VALUES (3)", []any{}, nil))
	require.NoError(t, tx.Rollback())
	quick, cancel2 := context.WithTimeout(ctx, hang)
	defer cancel2()
	require.NoError(t, exec(quick, db, "INSERT INTO items (n) VALUES (4)"))
	assert.Equal(t, 2, count(t, db))
}

func TestWaitingForAPooledConnectionEndsAtTheDeadline(t *testing.T) {
	// One connection (on SQLite: the one writer), held by another request's transaction.
	db := openScratch(t, Options{MaxConns: 1})
	holder := WithGate(context.Background())
	begin(t, holder, db)

	ctx, cancel := context.WithTimeout(WithGate(context.Background()), 200*time.Millisecond)
	defer cancel()
	err := within(t, "a transaction waiting for the pool", func() error {
		tx2, err := db.Driver.Tx(ctx)
		if err == nil {
			tx2.Rollback()
		}
		return err
	})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, IsUnavailable(err))
}

func TestSQLiteSendsTransactionsAndWritesToTheWriterAndSelectsToTheReaders(t *testing.T) {
	skipUnlessSQLite(t)
	db := openScratch(t, Options{MaxConns: 2})
	require.NotSame(t, db.read, db.write)

	// A transaction holds the writer, and only the writer.
	holder := WithGate(context.Background())
	tx := begin(t, holder, db)
	require.NoError(t, tx.Exec(holder, "INSERT INTO items (n) VALUES (1)", []any{}, nil))
	assert.Equal(t, 1, db.write.Stats().InUse, "the transaction is on the writer")
	assert.Zero(t, db.read.Stats().InUse)

	// Meanwhile another request reads at once, from a reader...
	other, cancel := context.WithTimeout(WithGate(context.Background()), hang)
	defer cancel()
	rows, err := query(other, db, "SELECT n FROM items")
	require.NoError(t, err)
	assert.Equal(t, 1, db.read.Stats().InUse, "the SELECT is on a reader")
	assert.False(t, rows.Next(), "the uncommitted row is not seen")
	require.NoError(t, rows.Close())

	// ...but its writes, with or without a transaction, queue for the writer: they wait, and
	// end at their deadline, instead of failing with SQLITE_BUSY or running on a reader.
	for name, write := range map[string]func(context.Context) error{
		"an insert": func(ctx context.Context) error { return exec(ctx, db, "INSERT INTO items (n) VALUES (2)") },
		"an insert … returning": func(ctx context.Context) error {
			rows, err := query(ctx, db, "INSERT INTO items (n) VALUES (3) RETURNING n")
			if err == nil {
				rows.Close()
			}
			return err
		},
		"a transaction": func(ctx context.Context) error {
			tx, err := db.Driver.Tx(ctx)
			if err == nil {
				tx.Rollback()
			}
			return err
		},
	} {
		ctx, cancel := context.WithTimeout(other, 200*time.Millisecond)
		err := within(t, name, func() error { return write(ctx) })
		cancel()
		assert.ErrorIs(t, err, context.DeadlineExceeded, "%s waits for the writer", name)
	}
	require.NoError(t, tx.Commit())

	// Once committed, the readers see the write.
	assert.Equal(t, 1, count(t, db))
	// The writer is free again (the statement cache may briefly prepare on it what the
	// transaction ran unprepared).
	assert.Eventually(t, func() bool { return db.write.Stats().InUse == 0 }, hang, time.Millisecond)

	// A reader refuses to write.
	_, err = db.read.ExecContext(context.Background(), "INSERT INTO items (n) VALUES (4)")
	require.Error(t, err, "a write sent to a reader")
	assert.Contains(t, err.Error(), "readonly")
	assert.Equal(t, 1, count(t, db))
}

func TestManySQLiteWritersOfSeparateRequestsAllSucceed(t *testing.T) {
	// A busy timeout of a millisecond: if two of the server's connections ever wrote at once,
	// the second would fail with SQLITE_BUSY instead of waiting its turn in the server.
	skipUnlessSQLite(t)
	db := openScratch(t, Options{MaxConns: 4, BusyTimeout: time.Millisecond})
	const requests, rounds = 16, 10
	var n atomic.Int64
	errs := make(chan error, requests*rounds*3)
	var wg sync.WaitGroup
	for r := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := WithGate(context.Background())
			for i := range rounds {
				if err := exec(ctx, db, fmt.Sprintf("INSERT INTO items (n) VALUES (%d)", n.Add(1))); err != nil {
					errs <- fmt.Errorf("request %d round %d, insert: %w", r, i, err)
				}
				err := func() error {
					tx, err := db.Driver.Tx(ctx)
					if err != nil {
						return err
					}
					for range 2 {
						if err := tx.Exec(ctx, fmt.Sprintf("INSERT INTO items (n) VALUES (%d)", n.Add(1)), []any{}, nil); err != nil {
							tx.Rollback()
							return err
						}
					}
					return tx.Commit()
				}()
				if err != nil {
					errs <- fmt.Errorf("request %d round %d, transaction: %w", r, i, err)
				}
				rows, err := query(ctx, db, "SELECT COUNT(*) FROM items")
				if err != nil {
					errs <- fmt.Errorf("request %d round %d, read: %w", r, i, err)
					continue
				}
				rows.Close()
			}
		}()
	}
	require.NoError(t, within(t, "the writers", func() error { wg.Wait(); return nil }))
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.Equal(t, requests*rounds*3, count(t, db))
}

// sqliteErrors returns real SQLite errors: a write lock held by another connection past the busy
// timeout, and a unique constraint.
func sqliteErrors(t *testing.T) (busy, constraint error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "errors.db")
	open := func() *sql.DB {
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)&_pragma=journal_mode(WAL)")
		require.NoError(t, err)
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	ctx := context.Background()
	_, err := a.ExecContext(ctx, "CREATE TABLE items (n INTEGER NOT NULL UNIQUE)")
	require.NoError(t, err)
	_, err = a.ExecContext(ctx, "INSERT INTO items (n) VALUES (1)")
	require.NoError(t, err)
	_, constraint = a.ExecContext(ctx, "INSERT INTO items (n) VALUES (1)")
	require.Error(t, constraint)
	_, err = a.ExecContext(ctx, "BEGIN IMMEDIATE")
	require.NoError(t, err)
	defer a.ExecContext(ctx, "ROLLBACK") //nolint:errcheck
	_, busy = b.ExecContext(ctx, "INSERT INTO items (n) VALUES (2)")
	require.Error(t, busy)
	return busy, constraint
}

func TestIsUnavailableTellsOutagesFromOtherErrors(t *testing.T) {
	busy, constraint := sqliteErrors(t)
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	timeout := &net.DNSError{Err: "i/o timeout", Name: "db.internal", IsTimeout: true}
	wrap := func(err error) error { return fmt.Errorf("ent: querying users: %w", err) }
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"a connection the driver found broken", driver.ErrBadConn, true},
		{"a connection the pool had closed", sql.ErrConnDone, true},
		{"a connection cut mid-answer", io.ErrUnexpectedEOF, true},
		{"a connection closed by the server", io.EOF, true},
		{"a refused connection", refused, true},
		{"a reset connection", reset, true},
		{"a broken pipe", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}, true},
		{"a network timeout", timeout, true},
		{"a wrapped refused connection", wrap(refused), true},
		{"PostgreSQL: connection failure (08006)", &pq.Error{Code: "08006"}, true},
		{"PostgreSQL: cannot connect now (57P03)", &pq.Error{Code: "57P03"}, true},
		{"PostgreSQL: terminating on administrator command (57P01)", &pq.Error{Code: "57P01"}, true},
		{"PostgreSQL: too many connections (53300)", &pq.Error{Code: "53300"}, true},
		{"PostgreSQL: a wrapped shutdown", wrap(&pq.Error{Code: "57P02"}), true},
		{"PostgreSQL: a serialization failure, worth a retry (40001)", &pq.Error{Code: "40001"}, true},
		{"SQLite: a lock held past the busy timeout", busy, true},
		{"SQLite: a wrapped busy lock", wrap(busy), true},
		{"the request's deadline", context.DeadlineExceeded, true},
		{"a wrapped deadline", wrap(context.DeadlineExceeded), true},

		{"no error", nil, false},
		{"a plain error", errors.New("boom"), false},
		{"no rows", sql.ErrNoRows, false},
		{"a misplaced statement (a bug)", ErrSecondConnection, false},
		{"PostgreSQL: a unique violation (23505)", &pq.Error{Code: "23505"}, false},
		{"PostgreSQL: a foreign key violation (23503)", wrap(&pq.Error{Code: "23503"}), false},
		{"PostgreSQL: a syntax error (42601)", &pq.Error{Code: "42601"}, false},
		{"PostgreSQL: an undefined table (42P01)", &pq.Error{Code: "42P01"}, false},
		{"SQLite: a unique constraint", constraint, false},
		{"SQLite: a wrapped unique constraint", wrap(constraint), false},
	} {
		assert.Equal(t, c.want, IsUnavailable(c.err), "%s: %v", c.name, c.err)
	}
}
