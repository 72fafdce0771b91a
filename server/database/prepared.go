package database

import (
	"container/list"
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// DefaultStatementCache is how many prepared statements a pool keeps by default.
const DefaultStatementCache = 256

// Statements is a bounded cache of prepared statements of one pool, by SQL text.
//
// ent builds its SQL with placeholders, so the statements of the request path are few and
// repeat. Preparing each once lets the database parse (and, on PostgreSQL, after a few runs,
// plan) it once per connection instead of once per execution, and lib/pq then sends one round
// trip per execution instead of two. database/sql prepares a cached statement again on each
// connection that runs it, by itself; a transaction runs it through Tx.StmtContext, which
// reuses the connection's prepared copy.
//
// The cache is bounded: past its size the least recently used statement is closed (once no
// caller is using it), so statements with one-off texts (IN lists of varying length) cannot
// grow it without bound, on the server or in the database.
type Statements struct {
	db   *sql.DB
	size int

	mu     sync.Mutex
	byText map[string]*list.Element
	lru    list.List // of *stmtEntry, most recently used first
	closed bool

	hits, misses, evictions atomic.Int64

	// later takes texts first met inside a transaction, to prepare on the pool after it:
	// preparing there would take a second connection while the transaction holds one.
	later chan string
	stop  context.Context // done when the cache closes
	halt  context.CancelFunc
	done  sync.WaitGroup
}

type stmtEntry struct {
	text    string
	stmt    *sql.Stmt
	users   int
	evicted bool
}

// StatementStats are a cache's counters since it opened.
type StatementStats struct {
	// Cached is how many statements it holds now.
	Cached int
	// Hits and Misses count executions that found their statement prepared or had to prepare it.
	Hits, Misses int64
	// Evictions counts statements closed to make room.
	Evictions int64
}

func newStatements(db *sql.DB, size int) *Statements {
	s := &Statements{db: db, size: size, byText: make(map[string]*list.Element),
		later: make(chan string, 64)}
	s.stop, s.halt = context.WithCancel(context.Background())
	s.done.Add(1)
	go s.prepareLater()
	return s
}

// prepareLater prepares the texts transactions met uncached, one at a time, outside any
// request.
func (s *Statements) prepareLater() {
	defer s.done.Done()
	for {
		select {
		case <-s.stop.Done():
			return
		case q := <-s.later:
			if e := s.use(q); e != nil {
				s.release(e)
				continue
			}
			ctx, cancel := context.WithTimeout(s.stop, 5*time.Second)
			stmt, err := s.db.PrepareContext(ctx, q)
			cancel()
			if err == nil {
				if e := s.insert(q, stmt); e != nil {
					s.release(e)
				} else {
					stmt.Close()
				}
			}
		}
	}
}

// Stats returns the cache's counters.
func (s *Statements) Stats() StatementStats {
	s.mu.Lock()
	n := s.lru.Len()
	s.mu.Unlock()
	return StatementStats{Cached: n, Hits: s.hits.Load(), Misses: s.misses.Load(), Evictions: s.evictions.Load()}
}

// acquire returns the prepared statement of query, preparing it if needed, and the function
// that ends its use.
func (s *Statements) acquire(ctx context.Context, query string) (*sql.Stmt, func(), error) {
	if e := s.use(query); e != nil {
		s.hits.Add(1)
		return e.stmt, func() { s.release(e) }, nil
	}
	s.misses.Add(1)
	// Prepared outside the lock: two callers missing the same text at once both prepare, and
	// the second keeps the first's statement.
	stmt, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, nil, err
	}
	e := s.insert(query, stmt)
	if e == nil {
		return stmt, func() { stmt.Close() }, nil
	}
	return e.stmt, func() { s.release(e) }, nil
}

// acquireInTx returns the prepared statement of query if the cache has it, or nil after
// asking for it to be prepared once the caller's transaction no longer holds a connection.
func (s *Statements) acquireInTx(query string) (*sql.Stmt, func()) {
	if e := s.use(query); e != nil {
		s.hits.Add(1)
		return e.stmt, func() { s.release(e) }
	}
	s.misses.Add(1)
	select {
	case s.later <- query:
	default: // busy: a later transaction asks again
	}
	return nil, nil
}

func (s *Statements) use(query string) *stmtEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.byText[query]
	if !ok {
		return nil
	}
	s.lru.MoveToFront(el)
	e := el.Value.(*stmtEntry)
	e.users++
	return e
}

// insert adds stmt as query's statement, in use by the caller, and evicts the least recently
// used statement past the size. If another caller inserted the text first it closes stmt and
// returns theirs; if the cache is closed it returns nil and the caller owns stmt.
func (s *Statements) insert(query string, stmt *sql.Stmt) *stmtEntry {
	var unused []*sql.Stmt
	defer closeAll(&unused)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if el, ok := s.byText[query]; ok {
		unused = append(unused, stmt)
		s.lru.MoveToFront(el)
		e := el.Value.(*stmtEntry)
		e.users++
		return e
	}
	e := &stmtEntry{text: query, stmt: stmt, users: 1}
	s.byText[query] = s.lru.PushFront(e)
	for s.lru.Len() > s.size {
		unused = s.remove(s.lru.Back(), unused)
		s.evictions.Add(1)
	}
	return e
}

// remove takes el out of the cache and appends its statement to unused if no one uses it (else
// its last user closes it). s.mu is held.
func (s *Statements) remove(el *list.Element, unused []*sql.Stmt) []*sql.Stmt {
	e := el.Value.(*stmtEntry)
	s.lru.Remove(el)
	delete(s.byText, e.text)
	e.evicted = true
	if e.users == 0 {
		unused = append(unused, e.stmt)
	}
	return unused
}

// closeAll closes statements after s.mu is released: closing one may talk to the database
// (PostgreSQL deallocates it on each idle connection), which must not hold up the cache.
func closeAll(stmts *[]*sql.Stmt) {
	for _, st := range *stmts {
		st.Close()
	}
}

func (s *Statements) release(e *stmtEntry) {
	s.mu.Lock()
	e.users--
	last := e.evicted && e.users == 0
	s.mu.Unlock()
	if last {
		e.stmt.Close()
	}
}

// close stops preparing and closes every statement (those in use once their users are done).
func (s *Statements) close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.halt()
	}
	s.mu.Unlock()
	s.done.Wait()
	var unused []*sql.Stmt
	defer closeAll(&unused)
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.lru.Len() > 0 {
		unused = s.remove(s.lru.Back(), unused)
	}
}

// poolStatements runs statements outside transactions through the cache.
type poolStatements struct{ s *Statements }

func (p poolStatements) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	stmt, done, err := p.s.acquire(ctx, query)
	if err != nil {
		return nil, err
	}
	defer done()
	return stmt.ExecContext(ctx, args...)
}

// QueryContext may end the statement's use before the rows are read: database/sql keeps a
// statement with open rows alive until they close, even if it is closed meanwhile.
func (p poolStatements) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	stmt, done, err := p.s.acquire(ctx, query)
	if err != nil {
		return nil, err
	}
	defer done()
	return stmt.QueryContext(ctx, args...)
}

// txStatements runs a transaction's statements through the cache: Tx.StmtContext uses the
// copy prepared on the transaction's connection, or prepares one there (and keeps it for the
// connection's later users).
type txStatements struct {
	tx *sql.Tx
	s  *Statements
}

func (t txStatements) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	stmt, done := t.s.acquireInTx(query)
	if stmt == nil {
		return t.tx.ExecContext(ctx, query, args...)
	}
	defer done()
	ts := t.tx.StmtContext(ctx, stmt)
	defer ts.Close()
	return ts.ExecContext(ctx, args...)
}

func (t txStatements) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	stmt, done := t.s.acquireInTx(query)
	if stmt == nil {
		return t.tx.QueryContext(ctx, query, args...)
	}
	defer done()
	// Not closed here: the transaction closes its statements when it ends, after its rows.
	return t.tx.StmtContext(ctx, stmt).QueryContext(ctx, args...)
}

// preparedDriver is an ent driver over one pool whose statements go through a Statements
// cache.
type preparedDriver struct {
	entsql.Conn
	db      *sql.DB
	dialect string
	stmts   *Statements
}

func newPreparedDriver(d string, db *sql.DB, size int) *preparedDriver {
	s := newStatements(db, size)
	return &preparedDriver{Conn: entsql.Conn{ExecQuerier: poolStatements{s}}, db: db, dialect: d, stmts: s}
}

func (d *preparedDriver) Dialect() string { return d.dialect }

func (d *preparedDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &entsql.Tx{Conn: entsql.Conn{ExecQuerier: txStatements{tx: tx, s: d.stmts}}, Tx: tx}, nil
}

// Close closes the cached statements; the pool is the DB's to close.
func (d *preparedDriver) Close() error {
	d.stmts.close()
	return nil
}

// ConnDriver is an ent driver over one connection, for start-up work that must run on the
// connection it already holds (on PostgreSQL, the one holding the migration lock). Closing it
// leaves the connection to its owner.
func ConnDriver(d string, conn *sql.Conn) dialect.Driver {
	return connDriver{Conn: entsql.Conn{ExecQuerier: conn}, conn: conn, dialect: d}
}

type connDriver struct {
	entsql.Conn
	conn    *sql.Conn
	dialect string
}

func (d connDriver) Dialect() string { return d.dialect }
func (d connDriver) Close() error    { return nil }

func (d connDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &entsql.Tx{Conn: entsql.Conn{ExecQuerier: tx}, Tx: tx}, nil
}
