package database

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The statement cache, proved on the real databases: statements are prepared once and reused
// (on PostgreSQL, pg_prepared_statements shows the plan cached and chosen again), the cache
// stays within its size on the server and in the database, a transaction never takes a second
// connection to prepare, and statements in use survive their eviction.

// countItems counts the rows of query, or reports the error and returns -1 (assert, not
// require: goroutines other than the test's call it).
func countItems(ctx context.Context, t testing.TB, d dialect.ExecQuerier, query string, args ...any) int {
	t.Helper()
	var rows entsql.Rows
	if err := d.Query(ctx, query, args, &rows); !assert.NoError(t, err) {
		return -1
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	if !assert.NoError(t, rows.Err()) {
		return -1
	}
	return n
}

// sqlOf writes query's $n placeholders as the database wants them.
func sqlOf(db *DB, query string) string {
	if db.Dialect == dialect.SQLite {
		for i := 9; i > 0; i-- {
			query = strings.ReplaceAll(query, fmt.Sprintf("$%d", i), "?")
		}
	}
	return query
}

func fillItems(t *testing.T, db *DB, n int) {
	t.Helper()
	for i := range n {
		require.NoError(t, db.Direct.Exec(context.Background(), sqlOf(db, "INSERT INTO items (n) VALUES ($1)"), []any{i}, nil))
	}
}

func TestStatementsArePreparedOnceAndReused(t *testing.T) {
	db := openScratch(t, Options{MaxConns: 1})
	fillItems(t, db, 10)
	ctx := WithGate(context.Background())
	q := sqlOf(db, "SELECT n FROM items WHERE n < $1")
	for i := range 20 {
		assert.Equal(t, i%10, countItems(ctx, t, db.Driver, q, i%10))
	}
	st := db.StatementStats()
	assert.EqualValues(t, 1, st.Misses, "prepared once")
	assert.EqualValues(t, 19, st.Hits)
	assert.Equal(t, 1, st.Cached)

	if db.Dialect != dialect.Postgres {
		return
	}
	// One connection: the pool's own statements are the ones this test prepared.
	var generic, custom int
	require.NoError(t, db.write.QueryRowContext(context.Background(),
		"SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1", q).Scan(&generic, &custom))
	assert.Equal(t, 20, generic+custom, "every run used the one prepared statement")
	assert.Positive(t, generic, "PostgreSQL switched to the cached generic plan (no planning per run)")
	t.Logf("pg_prepared_statements: %d runs on the cached generic plan, %d custom plans", generic, custom)
}

func TestStatementCacheStaysWithinItsSize(t *testing.T) {
	db := openScratch(t, Options{MaxConns: 1, StatementCache: 4})
	fillItems(t, db, 20)
	ctx := WithGate(context.Background())
	for i := range 12 {
		q := sqlOf(db, fmt.Sprintf("SELECT n FROM items WHERE n < $1 AND %d = %d", i, i))
		assert.Equal(t, 5, countItems(ctx, t, db.Driver, q, 5))
	}
	st := db.StatementStats()
	assert.Equal(t, 4, st.Cached)
	assert.EqualValues(t, 8, st.Evictions)
	if db.Dialect == dialect.Postgres {
		var n int
		require.NoError(t, db.write.QueryRowContext(context.Background(), "SELECT count(*) FROM pg_prepared_statements").Scan(&n))
		assert.LessOrEqual(t, n, 4, "evicted statements are deallocated in the database too")
	}
}

// A statement first met inside a transaction is run unprepared there (preparing it would take
// a second connection while the transaction holds one, and wait forever on a full pool), and
// prepared on the pool after; later transactions run the prepared copy on their connection.
func TestTransactionsNeverTakeASecondConnectionToPrepare(t *testing.T) {
	db := openScratch(t, Options{MaxConns: 1})
	fillItems(t, db, 3)
	ctx := WithGate(context.Background())
	q := sqlOf(db, "SELECT n FROM items WHERE n >= $1")
	run := func() error {
		tx, err := db.Driver.Tx(ctx)
		if err != nil {
			return err
		}
		assert.Equal(t, 2, countItems(ctx, t, tx, q, 1))
		if err := tx.Exec(ctx, sqlOf(db, "UPDATE items SET n = n WHERE n = $1"), []any{2}, nil); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	}
	// On a pool of one, a second connection would wait forever here.
	require.NoError(t, within(t, "a transaction meeting its statements for the first time", run))
	require.Eventually(t, func() bool { return db.StatementStats().Cached == 2 }, hang, 10*time.Millisecond)
	before := db.StatementStats()
	require.NoError(t, within(t, "a transaction running them prepared", run))
	after := db.StatementStats()
	assert.Equal(t, before.Hits+2, after.Hits, "the second transaction ran both statements prepared")
	assert.Equal(t, before.Misses, after.Misses)
}

// Many requests share a cache far smaller than their statements, inside and outside
// transactions, so statements are evicted while others run them: every run still answers.
func TestStatementsEvictedWhileInUseStillAnswer(t *testing.T) {
	db := openScratch(t, Options{MaxConns: 4, StatementCache: 2})
	fillItems(t, db, 10)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := WithGate(context.Background())
			rnd := rand.New(rand.NewPCG(uint64(g), 1))
			for range 60 {
				k := rnd.IntN(6)
				q := sqlOf(db, fmt.Sprintf("SELECT n FROM items WHERE n < $1 AND %d = %d", k, k))
				if rnd.IntN(3) == 0 {
					tx, err := db.Driver.Tx(ctx)
					if !assert.NoError(t, err) {
						return
					}
					assert.Equal(t, 4, countItems(ctx, t, tx, q, 4))
					assert.NoError(t, tx.Commit())
					continue
				}
				assert.Equal(t, 4, countItems(ctx, t, db.Driver, q, 4))
			}
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, db.StatementStats().Cached, 2*len(db.prepared), "2 per pool")
	assert.Positive(t, db.StatementStats().Evictions)
}

func TestStatementCacheOff(t *testing.T) {
	// One connection: pg_prepared_statements shows the statements of its own session only.
	db := openScratch(t, Options{StatementCache: -1, MaxConns: 1})
	fillItems(t, db, 3)
	assert.Equal(t, 3, countItems(WithGate(context.Background()), t, db.Driver, "SELECT n FROM items"))
	assert.Equal(t, StatementStats{}, db.StatementStats())
	if db.Dialect == dialect.Postgres {
		var n int
		require.NoError(t, db.write.QueryRowContext(context.Background(), "SELECT count(*) FROM pg_prepared_statements").Scan(&n))
		assert.Zero(t, n)
	}
}
