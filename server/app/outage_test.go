package app_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/auth"
)

// Outages and disconnects, on the real server and a real database: a PostgreSQL that goes away
// (behind a TCP proxy the test controls), a database locked by another process, clients that
// hang up, requests that cannot get their turn in time. Every refusal is a 503 with Retry-After
// (GraphQL: UNAVAILABLE with extensions.retryAfter), never a 500 and never a hang; a client that
// hangs up is a 499 at INFO; and nothing of it is logged at ERROR.

// hang bounds every wait of these tests: far beyond what they need on a loaded machine, so that
// reaching it means a hang, not slowness.
const hang = 30 * time.Second

// logs keeps the server's JSON log records, for concurrent writers, and shows them in the test
// log.
type logs struct {
	t       testing.TB
	mu      sync.Mutex
	records []map[string]any
}

func (l *logs) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	var rec map[string]any
	if err := json.Unmarshal(p, &rec); err != nil {
		rec = map[string]any{"level": "UNPARSED", "msg": string(p)}
	}
	l.mu.Lock()
	l.records = append(l.records, rec)
	l.mu.Unlock()
	return len(p), nil
}

func (l *logs) all() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]map[string]any(nil), l.records...)
}

// assertNoErrors fails the test for every record logged at ERROR.
func (l *logs) assertNoErrors(t *testing.T) {
	t.Helper()
	for _, rec := range l.all() {
		assert.NotEqual(t, "ERROR", rec["level"], "logged at ERROR: %v", rec)
	}
}

// waitFor returns the first record that matches, waiting for it up to hang.
func (l *logs) waitFor(t *testing.T, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	var found map[string]any
	waitUntil(t, what, func() bool {
		for _, rec := range l.all() {
			if match(rec) {
				found = rec
				return true
			}
		}
		return false
	})
	return found
}

// waitUntil polls cond until it holds, and fails the test after hang.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hang)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still waiting after %v", what, hang)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// server is a test server whose logs are kept, with the super admin signed in.
type server struct {
	*apptest.Server
	logs  *logs
	clock *apptest.Clock
	admin apptest.Tokens
	http  *http.Client
}

// startServer starts a server on databaseURL, logging at INFO, changed by opts, and signs the
// super admin in.
//
// Its clock stands still unless a test moves it: an authenticated request records the viewer's
// activity (a write) when the last record is a minute old, and these tests must not depend on
// when that happens. The first authenticated request, here, records it.
func startServer(t *testing.T, databaseURL string, opts ...apptest.Option) *server {
	t.Helper()
	cfg := apptest.Config(databaseURL)
	cfg.LogLevel = "info"
	l := &logs{t: t}
	o := app.Options{Logs: l}
	clock := apptest.NewClock()
	for _, opt := range append([]apptest.Option{apptest.WithClock(clock)}, opts...) {
		opt(&cfg, &o)
	}
	s := &server{Server: apptest.StartWith(t, cfg, o), logs: l, clock: clock, http: &http.Client{Timeout: hang}}
	s.admin = s.Login(t, apptest.RootEmail, apptest.RootPassword)
	assertServed(t, s.gql(s.admin.Access, `{ viewer { user { email } } }`, nil), http.StatusOK, "the first authenticated request")
	return s
}

// answer is one HTTP answer.
type answer struct {
	id     string // the request id
	path   string
	status int
	header http.Header
	raw    string
	body   map[string]any
	err    error
}

var nextID atomic.Int64

// send sends a request; it may run in any goroutine (it never stops the test).
func (s *server) send(ctx context.Context, method, path, bearer string, body any) answer {
	a := answer{id: "outage-" + strconv.FormatInt(nextID.Add(1), 10), path: path}
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			a.err = err
			return a
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, rd)
	if err != nil {
		a.err = err
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-ID", a.id)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		a.err = err
		return a
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	a.status, a.header, a.raw, a.err = resp.StatusCode, resp.Header, string(raw), err
	if strings.HasPrefix(a.raw, "{") {
		a.err = errors.Join(a.err, json.Unmarshal(raw, &a.body))
	}
	return a
}

func (s *server) gql(bearer, query string, vars map[string]any) answer {
	return s.send(context.Background(), http.MethodPost, "/graphql", bearer, map[string]any{"query": query, "variables": vars})
}

// gqlError returns the first GraphQL error's extensions, nil without errors.
func (a answer) gqlError() map[string]any {
	errs, _ := a.body["errors"].([]any)
	if len(errs) == 0 {
		return nil
	}
	first, _ := errs[0].(map[string]any)
	ext, _ := first["extensions"].(map[string]any)
	if ext == nil {
		ext = map[string]any{}
	}
	return ext
}

// assertUnavailable checks a refusal to serve now: on /graphql an UNAVAILABLE error with
// extensions.retryAfter, elsewhere a 503; a Retry-After header on both; and nothing of the
// database's own words.
func assertUnavailable(t *testing.T, a answer, what string) {
	t.Helper()
	if !assert.NoError(t, a.err, what) {
		return
	}
	if a.path == "/graphql" {
		ext := a.gqlError()
		if assert.NotNil(t, ext, "%s: no error: %s", what, a.raw) {
			assert.Equal(t, "UNAVAILABLE", ext["code"], "%s: %s", what, a.raw)
			retry, _ := ext["retryAfter"].(float64)
			assert.GreaterOrEqual(t, retry, 1.0, "%s: extensions.retryAfter: %s", what, a.raw)
		}
		assert.Contains(t, []int{http.StatusOK, http.StatusServiceUnavailable}, a.status, what)
	} else {
		assert.Equal(t, http.StatusServiceUnavailable, a.status, "%s: %s", what, a.raw)
	}
	assert.NotEmpty(t, a.header.Get("Retry-After"), "%s: Retry-After", what)
	for _, leak := range []string{"locked", "SQLITE_BUSY", "bad connection", "driver", "pq:", "sqlite", "refused", "deadline", "INTERNAL"} {
		assert.NotContains(t, strings.ToLower(a.raw), strings.ToLower(leak), "%s: the answer names the database's trouble", what)
	}
}

// assertServed checks an answer of a healthy server: the status expected, no GraphQL error.
func assertServed(t *testing.T, a answer, status int, what string) {
	t.Helper()
	if !assert.NoError(t, a.err, what) {
		return
	}
	assert.Equal(t, status, a.status, "%s: %s", what, a.raw)
	if a.path == "/graphql" {
		assert.Nil(t, a.gqlError(), "%s: %s", what, a.raw)
	}
}

// The requests an outage is tried with: a query and a mutation that need no viewer, and one that
// does and reads the database, on GraphQL and on REST.
type probe struct {
	name   string
	ok     int  // the status of a healthy server
	write  bool // it writes (a sign-in starts a session)
	viewer bool // it is authenticated
	do     func(s *server) answer
}

var probes = []probe{
	{name: "a GraphQL query", ok: http.StatusOK, do: func(s *server) answer {
		return s.gql("", `query($t: String!) { invitationPreview(token: $t) { email } }`, map[string]any{"t": "no-such-invitation"})
	}},
	{name: "a GraphQL mutation", ok: http.StatusOK, write: true, do: func(s *server) answer {
		return s.gql("", `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken } }`,
			map[string]any{"e": apptest.RootEmail, "p": apptest.RootPassword})
	}},
	// (Authentication and the viewer itself may come from the cache: these read members too.)
	{name: "an authenticated GraphQL query", ok: http.StatusOK, viewer: true, do: func(s *server) answer {
		return s.gql(s.admin.Access, `{ viewer { user { email } organization { members(first: 1) { edges { node { id } } } } } }`, nil)
	}},
	{name: "a REST query", ok: http.StatusNotFound, do: func(s *server) answer {
		return s.send(context.Background(), http.MethodGet, "/auth/invitations/no-such-invitation", "", nil)
	}},
	{name: "a REST mutation", ok: http.StatusOK, write: true, do: func(s *server) answer {
		return s.send(context.Background(), http.MethodPost, "/auth/login", "",
			map[string]any{"username": apptest.RootEmail, "password": apptest.RootPassword})
	}},
	{name: "an authenticated REST request", ok: http.StatusOK, viewer: true, do: func(s *server) answer {
		return s.send(context.Background(), http.MethodGet, "/admin/users?limit=1", s.admin.Access, nil)
	}},
}

// renameOrg renames the admin's organization through GraphQL or REST: a write in a transaction.
func (s *server) renameOrg(ctx context.Context, via, name string) answer {
	if via == "REST" {
		return s.send(ctx, http.MethodPatch, "/management/organizations/me", s.admin.Access, map[string]any{"name": name})
	}
	return s.send(ctx, http.MethodPost, "/graphql", s.admin.Access, map[string]any{
		"query":     `mutation($n: String!) { updateOrganization(input: {name: $n}) { name } }`,
		"variables": map[string]any{"n": name}})
}

// orgName reads the admin's organization's name through the API.
func (s *server) orgName(t *testing.T) string {
	t.Helper()
	a := s.gql(s.admin.Access, `{ organization { name } }`, nil)
	assertServed(t, a, http.StatusOK, "reading the organization")
	name, _ := dig(a.body, "data", "organization", "name").(string)
	return name
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// dbProxy is a TCP proxy between the server and PostgreSQL that can fail like a network or a
// restarting database: freeze forwarding, cut every connection, refuse new ones, and come back
// on the same address.
type dbProxy struct {
	upstream, addr string

	mu      sync.Mutex
	cond    *sync.Cond
	ln      net.Listener      // nil while refusing
	conns   map[net.Conn]bool // open connections, both sides
	frozen  bool              // forwarding stopped
	trigger []byte            // freeze when a client sends this
	tripped chan struct{}
}

func startProxy(t *testing.T, upstream string) *dbProxy {
	t.Helper()
	p := &dbProxy{upstream: upstream, conns: map[net.Conn]bool{}}
	p.cond = sync.NewCond(&p.mu)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.refuse)
	return p
}

func (p *dbProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

func (p *dbProxy) forward(client net.Conn) {
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // refused while this one was being accepted
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	p.conns[client], p.conns[server] = true, true
	p.mu.Unlock()
	go p.pipe(server, client, true)
	go p.pipe(client, server, false)
}

func (p *dbProxy) pipe(dst, src net.Conn, fromClient bool) {
	defer func() {
		p.mu.Lock()
		delete(p.conns, dst)
		delete(p.conns, src)
		p.mu.Unlock()
		dst.Close()
		src.Close()
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.pass(buf[:n], fromClient, dst) {
				return
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// pass waits while forwarding is frozen, freezing it first if chunk trips the trigger; false
// once dst has been cut meanwhile.
func (p *dbProxy) pass(chunk []byte, fromClient bool, dst net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if fromClient && p.trigger != nil && bytes.Contains(chunk, p.trigger) {
		p.trigger, p.frozen = nil, true
		close(p.tripped)
	}
	for p.frozen && p.conns[dst] {
		p.cond.Wait()
	}
	return p.conns[dst]
}

// freezeOn stops all forwarding once a client sends text (a statement), before it reaches the
// database; the channel is closed then.
func (p *dbProxy) freezeOn(text string) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trigger, p.tripped = []byte(text), make(chan struct{})
	return p.tripped
}

// cut closes every connection, as a lost network or a crashed database does, and forwards
// again (new connections work unless refused).
func (p *dbProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	p.frozen = false
	p.cond.Broadcast()
}

// refuse stops listening, so that new connections are refused, and cuts the open ones.
func (p *dbProxy) refuse() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	p.mu.Unlock()
	p.cut()
}

// restore listens again on the same address.
func (p *dbProxy) restore(t *testing.T) {
	t.Helper()
	var ln net.Listener
	waitUntil(t, "listening again on "+p.addr, func() bool {
		var err error
		ln, err = net.Listen("tcp", p.addr)
		return err == nil
	})
	p.serve(ln)
}

// behindProxy returns a fresh PostgreSQL database (a schema of TEST_DATABASE_URL, kept as the
// search_path) reached through a proxy, and skips the test on SQLite.
func behindProxy(t *testing.T) (databaseURL string, p *dbProxy) {
	t.Helper()
	if os.Getenv("TEST_DATABASE_URL") == "" {
		t.Skip("PostgreSQL only: a network between the server and its database (set TEST_DATABASE_URL)")
	}
	u, err := url.Parse(apptest.DatabaseURL(t))
	require.NoError(t, err)
	p = startProxy(t, u.Host)
	u.Host = p.addr
	return u.String(), p
}

func TestAPostgreSQLOutageIsA503WithRetryAfterUntilTheDatabaseIsBack(t *testing.T) {
	databaseURL, p := behindProxy(t)
	s := startServer(t, databaseURL, func(c *app.Config, _ *app.Options) { c.DBMaxConns = 4 })
	for _, pr := range probes {
		assertServed(t, pr.do(s), pr.ok, "before the outage: "+pr.name)
	}

	// The database goes away: open connections are cut, new ones refused.
	p.refuse()
	for _, pr := range probes {
		assertUnavailable(t, pr.do(s), "during the outage: "+pr.name)
	}
	a := s.send(context.Background(), http.MethodGet, "/readyz", "", nil)
	assert.Equal(t, http.StatusServiceUnavailable, a.status, "/readyz during the outage: %s", a.raw)
	a = s.send(context.Background(), http.MethodGet, "/healthz", "", nil)
	assert.Equal(t, http.StatusOK, a.status, "the process itself is alive")

	// It comes back on the same address: the same server serves again, without a restart.
	p.restore(t)
	waitUntil(t, "/readyz after the outage", func() bool {
		a := s.send(context.Background(), http.MethodGet, "/readyz", "", nil)
		require.Contains(t, []int{http.StatusOK, http.StatusServiceUnavailable}, a.status, a.raw)
		return a.status == http.StatusOK
	})
	for _, pr := range probes {
		assertServed(t, pr.do(s), pr.ok, "after the outage: "+pr.name)
	}
	s.logs.assertNoErrors(t)
}

func TestAWriteCutMidRequestIsA503NotA500(t *testing.T) {
	databaseURL, p := behindProxy(t)
	// The proxy knows the write by its SQL text on the wire. A prepared statement sends its
	// text once per connection, and the statement cache may prepare it on another connection
	// in the background (tripping the proxy there), so here every statement sends its text.
	s := startServer(t, databaseURL, func(cfg *app.Config, _ *app.Options) { cfg.DBStatementCache = 0 })
	for _, via := range []string{"GraphQL", "REST"} {
		// The UPDATE is sent inside the mutation's transaction; the connection is cut before
		// PostgreSQL sees it.
		tripped := p.freezeOn(`UPDATE "organizations"`)
		done := make(chan answer, 1)
		go func() { done <- s.renameOrg(context.Background(), via, "Renamed by "+via) }()
		select {
		case <-tripped:
		case a := <-done:
			t.Fatalf("%s: answered before its UPDATE was sent: %s", via, a.raw)
		case <-time.After(hang):
			t.Fatalf("%s: the UPDATE was never sent", via)
		}
		p.cut()
		select {
		case a := <-done:
			assertUnavailable(t, a, via+": a write cut mid-request")
		case <-time.After(hang):
			t.Fatalf("%s: no answer after the cut", via)
		}
	}
	// Nothing was written, and writes work again on new connections.
	assert.Equal(t, apptest.RootOrg, s.orgName(t))
	assertServed(t, s.renameOrg(context.Background(), "GraphQL", "Acme Renamed"), http.StatusOK, "a write after the cut")
	assert.Equal(t, "Acme Renamed", s.orgName(t))
	s.logs.assertNoErrors(t)
}

// lockWrites holds a write lock on the server's database from outside the server, as a backup
// tool, a migration or a second server would, until release is called or the test ends.
// SQLite: BEGIN IMMEDIATE on another handle of the file. PostgreSQL: another session locks the
// tables these tests write against writes (reads go on).
func lockWrites(t *testing.T, databaseURL string) (release func()) {
	t.Helper()
	ctx := context.Background()
	driver, dsn := "postgres", databaseURL
	if path, ok := strings.CutPrefix(databaseURL, "sqlite://"); ok {
		driver, dsn = "sqlite", "file:"+path+"?_pragma=busy_timeout(5000)"
	}
	db, err := sql.Open(driver, dsn)
	require.NoError(t, err)
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	if driver == "sqlite" {
		_, err = conn.ExecContext(ctx, "BEGIN IMMEDIATE")
	} else {
		_, err = conn.ExecContext(ctx, "BEGIN; LOCK TABLE organizations, users, memberships, sessions IN EXCLUSIVE MODE")
	}
	require.NoError(t, err)
	var once sync.Once
	release = func() {
		once.Do(func() {
			_, err := conn.ExecContext(ctx, "ROLLBACK")
			assert.NoError(t, err)
			conn.Close()
			db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

func skipOnPostgreSQL(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("TEST_DATABASE_URL") != "" {
		t.Skip("SQLite only: " + why)
	}
}

func TestASQLiteFileLockedByAnotherProcessTurnsWritesAwayWith503(t *testing.T) {
	skipOnPostgreSQL(t, "a lock on the database file held by another process")
	databaseURL := apptest.DatabaseURL(t)
	s := startServer(t, databaseURL, func(c *app.Config, _ *app.Options) { c.SQLiteBusyTimeout = 100 * time.Millisecond })
	release := lockWrites(t, databaseURL)

	renames := []string{"GraphQL", "REST"}
	for _, via := range renames {
		assertUnavailable(t, s.renameOrg(context.Background(), via, "Locked Out"), "while another process holds the lock: a rename through "+via)
	}
	for _, pr := range probes {
		if pr.write {
			assertUnavailable(t, pr.do(s), "while another process holds the lock: "+pr.name)
		} else {
			assertServed(t, pr.do(s), pr.ok, "reads go on while another process holds the lock: "+pr.name)
		}
	}
	assert.Equal(t, apptest.RootOrg, s.orgName(t))
	// Even when recording the viewer's activity, a write, waits for the lock and gives up.
	s.clock.Advance(2 * time.Minute)
	for _, pr := range probes {
		if !pr.write {
			assertServed(t, pr.do(s), pr.ok, "reads whose activity cannot be recorded: "+pr.name)
		}
	}
	rec := s.logs.waitFor(t, "the activity record given up", func(rec map[string]any) bool { return rec["msg"] == "recording activity" })
	assert.Equal(t, "WARN", rec["level"])

	release()
	for _, via := range renames {
		assertServed(t, s.renameOrg(context.Background(), via, "Renamed through "+via), http.StatusOK, "once released: a rename through "+via)
	}
	for _, pr := range probes {
		assertServed(t, pr.do(s), pr.ok, "once released: "+pr.name)
	}
	assert.Equal(t, "Renamed through REST", s.orgName(t))
	s.logs.assertNoErrors(t)
}

// writeWaiting reports whether a write of the server waits for a lock held by another session:
// on PostgreSQL, by asking it; on SQLite, which cannot tell, once the request has sent its
// first statements and some time has passed.
func writeWaiting(t *testing.T, databaseURL string, statements *apptest.StatementCounter) func() bool {
	t.Helper()
	if strings.HasPrefix(databaseURL, "sqlite:") {
		// Authentication may be cached (no statement): the write is known by its statements or
		// by the transaction it asks for.
		base := statements.Count() + statements.Transactions()
		return func() bool {
			if statements.Count()+statements.Transactions() <= base {
				return false
			}
			time.Sleep(300 * time.Millisecond)
			return true
		}
	}
	u, err := url.Parse(databaseURL)
	require.NoError(t, err)
	schema := u.Query().Get("search_path")
	db, err := sql.Open("postgres", databaseURL)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return func() bool {
		var n int
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
			JOIN pg_namespace s ON s.oid = c.relnamespace WHERE NOT l.granted AND s.nspname = $1`, schema).Scan(&n))
		return n > 0
	}
}

// hashingWaiting reports, once a sign-in has sent the statements it runs before the hashing
// queue and some time has passed, that it waits in the queue.
func hashingWaiting(statements *apptest.StatementCounter) func() bool {
	base := statements.Count()
	return func() bool {
		if statements.Count() < base+2 {
			return false
		}
		time.Sleep(200 * time.Millisecond)
		return true
	}
}

func TestAClientThatHangsUpIsLoggedAs499AtInfoAndNotAsAnError(t *testing.T) {
	databaseURL := apptest.DatabaseURL(t)
	statements := &apptest.StatementCounter{}
	s := startServer(t, databaseURL, apptest.CountStatements(statements), func(c *app.Config, _ *app.Options) {
		// Waits end only when the client goes.
		c.Hashing = auth.HashLimits{Concurrency: 1, MaxWait: time.Minute}
		c.SQLiteBusyTimeout = time.Minute
		c.RequestTimeout = time.Minute
	})

	// hangUp sends a request, hangs up once waiting says it waits, and returns its access log.
	hangUp := func(t *testing.T, what string, send func(ctx context.Context) answer, waiting func() bool) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan answer, 1)
		go func() { done <- send(ctx) }()
		waitUntil(t, what+" waiting", waiting)
		cancel()
		var a answer
		select {
		case a = <-done:
		case <-time.After(hang):
			t.Fatalf("%s: the client could not hang up", what)
		}
		require.ErrorIs(t, a.err, context.Canceled, "%s: answered before the client hung up: %s", what, a.raw)
		rec := s.logs.waitFor(t, "the access log of "+what, func(rec map[string]any) bool {
			return rec["request_id"] == a.id && rec["status"] != nil
		})
		assert.Equal(t, "request cancelled by the client", rec["msg"], what)
		assert.EqualValues(t, 499, rec["status"], what)
		assert.Equal(t, "INFO", rec["level"], what)
	}

	login := func(path string) func(ctx context.Context) answer {
		return func(ctx context.Context) answer {
			if path == "/graphql" {
				return s.send(ctx, http.MethodPost, path, "", map[string]any{
					"query":     `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken } }`,
					"variables": map[string]any{"e": apptest.RootEmail, "p": apptest.RootPassword}})
			}
			return s.send(ctx, http.MethodPost, path, "", map[string]any{"username": apptest.RootEmail, "password": apptest.RootPassword})
		}
	}
	t.Run("a sign-in waiting for the hashing queue", func(t *testing.T) {
		turn, err := s.App.Service().Hasher.Turn(context.Background())
		require.NoError(t, err)
		defer turn.Done()
		for _, path := range []string{"/graphql", "/auth/login"} {
			hangUp(t, path, login(path), hashingWaiting(statements))
		}
	})
	t.Run("a write waiting for a lock another session holds", func(t *testing.T) {
		release := lockWrites(t, databaseURL)
		defer release()
		for _, via := range []string{"GraphQL", "REST"} {
			hangUp(t, via, func(ctx context.Context) answer { return s.renameOrg(ctx, via, "Never") }, writeWaiting(t, databaseURL, statements))
		}
	})

	// The server goes on serving.
	assertServed(t, login("/graphql")(context.Background()), http.StatusOK, "a sign-in afterwards")
	assertServed(t, s.renameOrg(context.Background(), "REST", "Acme Again"), http.StatusOK, "a write afterwards")
	s.logs.assertNoErrors(t)
}

func TestARequestThatCannotGetItsTurnInTimeIsA503(t *testing.T) {
	databaseURL := apptest.DatabaseURL(t)
	const pool = 2
	s := startServer(t, databaseURL, func(c *app.Config, _ *app.Options) {
		c.RequestTimeout = 2 * time.Second
		// Longer than the request: the request's deadline ends the waits.
		c.Hashing = auth.HashLimits{Concurrency: 1, MaxWait: time.Minute}
		c.SQLiteBusyTimeout = time.Minute
		c.DBMaxConns = pool
	})

	t.Run("the hashing queue is held", func(t *testing.T) {
		turn, err := s.App.Service().Hasher.Turn(context.Background())
		require.NoError(t, err)
		defer turn.Done()
		for _, pr := range probes {
			if pr.write {
				assertUnavailable(t, pr.do(s), pr.name)
			}
		}
	})
	t.Run("another process holds a write lock", func(t *testing.T) {
		release := lockWrites(t, databaseURL)
		defer release()
		for _, via := range []string{"GraphQL", "REST"} {
			assertUnavailable(t, s.renameOrg(context.Background(), via, "Never"), "a rename through "+via)
		}
		assert.Equal(t, apptest.RootOrg, s.orgName(t), "reads go on")
		// An authenticated read records the viewer's activity once a minute, a write that waits
		// for the lock: past the deadline the read is turned away too.
		s.clock.Advance(2 * time.Minute)
		for _, pr := range probes {
			switch {
			case pr.viewer:
				assertUnavailable(t, pr.do(s), "a read whose activity waits for the lock: "+pr.name)
			case !pr.write:
				assertServed(t, pr.do(s), pr.ok, "reads without a viewer go on: "+pr.name)
			}
		}
		release()
		assertServed(t, s.gql(s.admin.Access, `{ viewer { user { email } } }`, nil), http.StatusOK, "once released, the activity is recorded")
	})
	t.Run("the server's own connections are all held", func(t *testing.T) {
		// On SQLite the writer: writes wait for it, reads go on. On PostgreSQL the whole pool:
		// everything waits, authentication included.
		held := 1
		if !strings.HasPrefix(databaseURL, "sqlite:") {
			held = pool
		}
		for range held {
			tx, err := s.App.Client().Tx(context.Background())
			require.NoError(t, err)
			defer tx.Rollback()
		}
		for _, via := range []string{"GraphQL", "REST"} {
			assertUnavailable(t, s.renameOrg(context.Background(), via, "Never"), "a rename through "+via)
		}
		for _, pr := range probes {
			if held == pool || pr.write {
				assertUnavailable(t, pr.do(s), pr.name)
			} else {
				assertServed(t, pr.do(s), pr.ok, "reads go on: "+pr.name)
			}
		}
	})

	for _, pr := range probes {
		assertServed(t, pr.do(s), pr.ok, "afterwards: "+pr.name)
	}
	assertServed(t, s.renameOrg(context.Background(), "GraphQL", "Acme Again"), http.StatusOK, "a write afterwards")
	s.logs.assertNoErrors(t)
}
