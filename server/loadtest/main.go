// Command loadtest measures a real server on loopback. It starts the server in-process on a fresh
// database (SQLite in a temp dir, or a new schema of the PostgreSQL database in -database), seeds
// an organization of -members members, and runs the scenarios named in -scenario:
//
//	endpoints  each endpoint in turn, driven by -concurrency clients for -duration
//	storm      -storm-clients clients send one sign-in each, all at once (with -storm-repeat, again
//	           and again for -duration, waiting as Retry-After says): GraphQL login and
//	           REST /auth/login, right passwords, wrong ones and unknown e-mails
//	mixed      -concurrency clients mix reads and writes for -duration
//
// Each scenario prints a small table, short enough to paste into a note, and what the server
// logged at WARN or above. Every run is bounded in time and sends traffic to 127.0.0.1 only.
//
//	go run ./server/loadtest -scenario storm,mixed -duration 10s \
//	    -database 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//
// With -process the database is seeded as before, then the server runs as a separate process
// (go build ./server into a temp dir, or -server-bin) with the same settings in its environment
// (DATABASE_URL naming the same scratch schema through search_path, LISTEN_ADDR on a free
// loopback port), so that the clients do not share its CPUs' accounting: each endpoint's row adds
// the server process's CPU time per request (utime+stime from /proc) and, on PostgreSQL, its
// backends' (found by application_name). The process is stopped at the end and on Ctrl-C.
//
// With -pgbench (PostgreSQL), the endpoints scenario records the SQL one warm request of each
// read endpoint sends (through a wrapper of the server's driver; for an endpoint the
// authentication cache answers without SQL, the statements of a cache miss), writes it as a
// pgbench script with each argument a -D variable, and after the endpoints runs pgbench with
// as many clients for as long, -M prepared and -M extended, against the same scratch schema
// (PGOPTIONS=-c search_path=...). A last table puts server req/s and pgbench tps side by side;
// for an endpoint that sends statements when warm, a bare Go floor follows (see floor.go).
// -only takes endpoint keys: users (the Users page of graph/users_bench_test.go), admin-users,
// member-list, admin-users-deep, viewer, me (GET /auth/me), login.
//
//	go run ./server/loadtest -process -pgbench -scenario endpoints -only users,viewer,me \
//	    -duration 10s -concurrency 8 -database 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/inferiallm/orgserver/ent/organization"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/role"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/auth"
)

// options are the command's flags.
type options struct {
	database     string
	members      int
	duration     time.Duration
	concurrency  int
	only         string
	scenarios    []string
	pool         int
	hashing      auth.HashLimits
	timeout      time.Duration
	limits       string
	stormClients int
	stormRepeat  bool
	// process runs the server as a child process (serverBin, or one built for the run).
	process   bool
	serverBin string
	// pgbench compares the endpoints with pgbench running the SQL they send.
	pgbench bool
}

func main() {
	def := app.DefaultConfig()
	var o options
	flag.StringVar(&o.database, "database", "", "PostgreSQL URL to create a scratch schema in (default: SQLite in a temp dir)")
	flag.IntVar(&o.members, "members", 10_000, "members to seed (at least 300)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long to drive each endpoint, the mixed load, and a repeated storm")
	flag.IntVar(&o.concurrency, "concurrency", 8, "concurrent clients of the endpoints and mixed scenarios")
	flag.StringVar(&o.only, "only", "", "comma-separated endpoint names to run (default: all)")
	scenario := flag.String("scenario", "endpoints", "comma-separated scenarios: endpoints, storm, mixed")
	flag.IntVar(&o.pool, "pool", def.DBMaxConns, "DB_MAX_CONNS: PostgreSQL pool size, or SQLite's read connections beside its writer")
	flag.IntVar(&o.hashing.Concurrency, "hash-concurrency", def.Hashing.Concurrency, "PASSWORD_HASH_CONCURRENCY: hashes at once")
	flag.DurationVar(&o.hashing.MaxWait, "hash-wait", def.Hashing.MaxWait, "PASSWORD_HASH_MAX_WAIT_MS: longest wait for a hashing slot")
	flag.DurationVar(&o.timeout, "request-timeout", def.RequestTimeout, "REQUEST_TIMEOUT_SECONDS: longest wait for the database or the hashing queue")
	flag.StringVar(&o.limits, "limits", "default", "sign-in limits: default (the server's, every client 127.0.0.1), "+
		"spread (the server's, each client its own address via X-Forwarded-For), off (none: the hashing queue alone)")
	flag.IntVar(&o.stormClients, "storm-clients", 200, "clients of the sign-in storm")
	flag.BoolVar(&o.stormRepeat, "storm-repeat", false, "storm clients sign in again until -duration is over")
	flag.BoolVar(&o.process, "process", false, "drive a separate server process (built from ./server unless -server-bin) instead of an in-process one")
	flag.StringVar(&o.serverBin, "server-bin", "", "server binary for -process (default: go build ./server into a temp dir)")
	flag.BoolVar(&o.pgbench, "pgbench", false, "after the endpoints, run pgbench for as long with as many clients on the SQL each endpoint sends (PostgreSQL only)")
	floor := flag.String("floor-serve", "", "(used by -pgbench) serve the statements of this spec file as the bare Go floor, until killed")
	flag.Parse()
	if *floor != "" {
		if err := serveFloor(*floor); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest floor:", err)
			os.Exit(1)
		}
		return
	}
	o.scenarios = strings.Split(*scenario, ",")
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	for _, s := range o.scenarios {
		if s != "endpoints" && s != "storm" && s != "mixed" {
			return fmt.Errorf("unknown scenario %q", s)
		}
	}
	if o.members < 300 {
		return errors.New("-members must be at least 300")
	}
	if o.pgbench && !strings.HasPrefix(o.database, "postgres") {
		return errors.New("-pgbench needs a PostgreSQL -database")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// undo runs what must be undone (the server process, the scratch database, temp files),
	// latest first, once: at the end or on Ctrl-C.
	var undo undoList
	defer undo.run()
	dbURL, dbInfo, dropDB, err := scratchDatabase(o.database)
	if err != nil {
		return err
	}
	undo.add(dropDB)
	// An interrupted run drops its scratch database too; a second Ctrl-C stops at once.
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-interrupted
		signal.Stop(interrupted)
		undo.run()
		os.Exit(130)
	}()
	tmp, err := os.MkdirTemp("", "loadtest-files")
	if err != nil {
		return err
	}
	undo.add(func() { os.RemoveAll(tmp) })
	bin := o.serverBin
	if o.process && bin == "" {
		// Built before seeding, so that a build that fails fails fast.
		if bin, err = buildServer(tmp); err != nil {
			return err
		}
	}
	cfg := app.DefaultConfig()
	cfg.DatabaseURL = dbURL
	cfg.SuperAdminEmail, cfg.SuperAdminPassword = adminEmail, "load-test-password"
	cfg.LogLevel = "warn"
	// Production password hashing: a sign-in costs what it costs in production.
	cfg.Argon2 = auth.DefaultArgon2Params
	cfg.DBMaxConns, cfg.Hashing, cfg.RequestTimeout = o.pool, o.hashing, o.timeout
	switch o.limits {
	case "default":
	case "spread":
		// Loopback is the proxy; each client's address comes in X-Forwarded-For.
		cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
	case "off":
		cfg.Limits.LoginPerAccount, cfg.Limits.LoginPerIP = 0, 0
	default:
		return fmt.Errorf("-limits must be default, spread or off")
	}
	logs := &serverLog{counts: map[string]int{}}
	// With -process, what this process's server logs as it closes is not the server's report.
	appLogs := &switchWriter{w: logs}
	opts := app.Options{Logs: appLogs, Out: io.Discard}
	rec := &recorder{}
	if o.pgbench {
		opts.WrapDriver = rec.wrap
	}
	a, err := app.New(ctx, cfg, opts)
	if err != nil {
		return err
	}
	serveCtx, stopServing := context.WithCancel(ctx)
	closeApp := sync.OnceFunc(func() { stopServing(); a.Close() })
	defer closeApp()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go a.Serve(serveCtx, ln) //nolint:errcheck
	base := "http://" + ln.Addr().String()

	t0 := time.Now()
	f, err := prepare(ctx, a, base, o.members)
	if err != nil {
		return err
	}
	f.dbURL = dbURL
	if err := analyze(dbURL); err != nil {
		return err
	}
	fmt.Printf("database %s; DB_MAX_CONNS %d (%s)\n", dbInfo, cfg.DBMaxConns, poolMeaning(dbURL, cfg.DBMaxConns))
	fmt.Printf("hashing: argon2id %d MiB t=%d p=%d, %d at once, max wait %s; request timeout %s\n",
		cfg.Argon2.Memory/1024, cfg.Argon2.Iterations, cfg.Argon2.Parallelism, a.Service().Hasher.Concurrency(),
		cfg.Hashing.MaxWait, cfg.RequestTimeout)
	// The machine's own numbers: what one hash costs here and now, and how busy it already is.
	fmt.Printf("machine: %d CPUs; one hash alone took %s; load average %s\n", runtime.NumCPU(),
		f.oneHash.Round(time.Millisecond), loadAverage())
	fmt.Printf("sign-in limits: %s; %d members seeded in %s\n", limitsMeaning(o.limits, cfg), o.members,
		time.Since(t0).Round(100*time.Millisecond))

	clients := max(o.concurrency, o.stormClients)
	f.http = &http.Client{
		Transport: &http.Transport{MaxIdleConns: clients * 2, MaxIdleConnsPerHost: clients * 2},
		// A request the server never answers ends as a timeout row, not a hung run.
		Timeout: cfg.RequestTimeout + 15*time.Second,
	}
	var scripts map[string]*script
	if o.pgbench && slices.Contains(o.scenarios, "endpoints") {
		// The statements come from this process's server: the child runs the same code.
		if scripts, err = captureSQL(ctx, f, o, a, cfg, rec); err != nil {
			return err
		}
	}
	// limits forgets the rate limiter's counts, so that failures of one scenario do not block
	// the next.
	limits := func() error {
		_, err := a.Client().RateLimit.Delete().Exec(privacy.DecisionContext(ctx, privacy.Allow))
		return err
	}
	if o.process {
		appLogs.set(io.Discard)
		closeApp()
		c, err := openClient(ctx, dbURL)
		if err != nil {
			return err
		}
		defer c.Close()
		limits = func() error {
			_, err := c.RateLimit.Delete().Exec(privacy.DecisionContext(ctx, privacy.Allow))
			return err
		}
		srv, err := startServer(bin, cfg, o, logs)
		if err != nil {
			return err
		}
		undo.add(srv.stop)
		f.base, f.server = srv.base, srv
		fmt.Printf("server: separate process %s (pid %d) at %s\n", bin, srv.cmd.Process.Pid, srv.base)
	}
	if strings.HasPrefix(dbURL, "postgres") {
		if f.backends, err = newBackendCPU(o.database, serverAppName); err != nil {
			return err
		}
		defer f.backends.close()
	}
	for _, s := range o.scenarios {
		if err := limits(); err != nil {
			return err
		}
		fmt.Println()
		switch s {
		case "endpoints":
			results := endpoints(f, o)
			if o.pgbench {
				if err := compare(f, o, results, scripts, tmp); err != nil {
					return err
				}
			}
		case "storm":
			storm(f, o)
		case "mixed":
			mixed(f, o)
		}
		logs.report(os.Stdout)
	}
	return nil
}

// switchWriter writes to a writer that can be switched.
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *switchWriter) set(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w = w
}

// undoList is what must be undone at the end, latest first; run runs it once, whoever calls it
// first (the end of run, or the interrupt handler), and the other caller waits for it.
type undoList struct {
	mu    sync.Mutex
	steps []func()
	done  bool
}

func (u *undoList) add(f func()) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.steps = append(u.steps, f)
}

func (u *undoList) run() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done {
		return
	}
	u.done = true
	for i := len(u.steps) - 1; i >= 0; i-- {
		u.steps[i]()
	}
}

// fixture is what the scenarios share: the server, a signed-in admin, accounts that can sign in.
type fixture struct {
	http  *http.Client
	base  string
	admin string // the super admin's access token
	// accounts sign in with accountPassword, hashed with the production parameters.
	accounts []string
	// targets are members whose roles the mixed load changes.
	targets []string
	// oneHash is how long one hash took with nothing else running in the server.
	oneHash time.Duration
	// dbURL is the scratch database's URL.
	dbURL string
	// org and adminID are the seeded organization's and the super admin's ids.
	org, adminID string
	// server is the server process with -process, else nil.
	server *child
	// backends measures the CPU time of the server's PostgreSQL backends; nil on SQLite.
	backends *backendCPU
}

const accountPassword = "correct horse battery staple"

// prepare seeds n members, gives the first 100 a real password, and signs the admin in.
func prepare(ctx context.Context, a *app.App, base string, n int) (*fixture, error) {
	c := a.Client()
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	org, err := c.Organization.Query().Where(organization.Name(app.DefaultConfig().DefaultOrgName)).Only(sys)
	if err != nil {
		return nil, err
	}
	r, err := c.Role.Query().Where(role.Name("member"), role.BuiltIn(true)).Only(sys)
	if err != nil {
		return nil, err
	}
	if err := apptest.SeedMembers(sys, c, org.ID, r.ID, n, "load.test"); err != nil {
		return nil, err
	}
	admin, err := c.User.Query().Where(user.Email(adminEmail)).Only(sys)
	if err != nil {
		return nil, err
	}
	f := &fixture{base: base, org: org.ID.String(), adminID: admin.ID.String()}
	for i := range 100 {
		f.accounts = append(f.accounts, fmt.Sprintf("user%05d@load.test", i))
	}
	// One hash for them all: verifying it costs the same as verifying a hash of one's own.
	t0 := time.Now()
	hash, err := a.Service().Hasher.Hash(ctx, accountPassword)
	if err != nil {
		return nil, err
	}
	f.oneHash = time.Since(t0)
	if err := c.User.Update().Where(user.EmailIn(f.accounts...)).SetPasswordHash(hash).Exec(sys); err != nil {
		return nil, err
	}
	var emails []string
	for i := 100; i < 300; i++ {
		emails = append(emails, fmt.Sprintf("user%05d@load.test", i))
	}
	ids, err := c.User.Query().Where(user.EmailIn(emails...)).IDs(sys)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		f.targets = append(f.targets, id.String())
	}
	ans, body := send(http.DefaultClient, base, restLogin(adminEmail, "load-test-password", ""))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if ans.err != nil || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		return nil, fmt.Errorf("admin login: %v %s", ans.err, body)
	}
	f.admin = tok.AccessToken
	return f, nil
}

const adminEmail = "admin@example.com"

// Requests.

// request is one HTTP request of a scenario.
type request struct {
	method, path, body, token string
	from                      string // X-Forwarded-For, or ""
}

func gql(token, query string, vars map[string]any) request {
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return request{method: "POST", path: "/graphql", body: string(b), token: token}
}

func rest(method, path, token string, body any) request {
	r := request{method: method, path: path, token: token}
	if body != nil {
		b, _ := json.Marshal(body)
		r.body = string(b)
	}
	return r
}

const loginGQL = `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken } }`

func gqlLogin(email, password, from string) request {
	r := gql("", loginGQL, map[string]any{"e": email, "p": password})
	r.from = from
	return r
}

func restLogin(email, password, from string) request {
	r := rest("POST", "/auth/login", "", map[string]string{"username": email, "password": password})
	r.from = from
	return r
}

// answer is how the server answered one request.
type answer struct {
	status     int    // HTTP status; 0 without an answer
	code       string // extensions.code of the first GraphQL error
	retryAfter int    // Retry-After in seconds; 0 without
	took       time.Duration
	err        error
}

// send sends r and reads the whole answer.
func send(c *http.Client, base string, r request) (answer, []byte) {
	req, _ := http.NewRequest(r.method, base+r.path, strings.NewReader(r.body))
	req.Header.Set("Content-Type", "application/json")
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.from != "" {
		req.Header.Set("X-Forwarded-For", r.from)
	}
	t0 := time.Now()
	resp, err := c.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	a := answer{took: time.Since(t0), err: err}
	if resp == nil {
		return a, nil
	}
	a.status = resp.StatusCode
	a.retryAfter, _ = strconv.Atoi(resp.Header.Get("Retry-After"))
	// Only an answer that mentions errors is decoded: the client shares the server's cores, and
	// decoding every 15 KB page would take CPU from what is measured.
	if r.path == "/graphql" && bytes.Contains(body, []byte(`"errors"`)) {
		var g struct {
			Errors []struct {
				Extensions struct{ Code string }
			}
		}
		if json.Unmarshal(body, &g) == nil && len(g.Errors) > 0 {
			a.code = orElse(g.Errors[0].Extensions.Code, "NO_CODE")
		}
	}
	return a, body
}

func orElse(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

// statusOfCode is the HTTP status REST gives each GraphQL error code, so that a GraphQL error
// (HTTP 200) and its REST twin land in the same row.
var statusOfCode = map[string]int{
	"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404, "BAD_USER_INPUT": 400, "CONFLICT": 409,
	"RATE_LIMITED": 429, "TWO_FACTOR_REQUIRED": 403, "TWO_FACTOR_CODE_REQUIRED": 403, "UNAVAILABLE": 503,
	"INTERNAL": 500,
}

var codeOfStatus = map[int]string{200: "ok", 201: "ok", 204: "ok", 401: "UNAUTHENTICATED", 403: "FORBIDDEN",
	404: "NOT_FOUND", 400: "BAD_USER_INPUT", 409: "CONFLICT", 422: "BAD_USER_INPUT", 429: "RATE_LIMITED",
	503: "UNAVAILABLE", 500: "INTERNAL"}

// class names an answer's outcome: "200 ok", "401 UNAUTHENTICATED", "503 UNAVAILABLE", ...
func (a answer) class() string {
	var ne net.Error
	switch {
	case a.err != nil && errors.As(a.err, &ne) && ne.Timeout():
		return "timeout"
	case a.err != nil:
		return "transport error"
	}
	status, code := a.status, a.code
	if code != "" && status == http.StatusOK {
		if status = statusOfCode[code]; status == 0 {
			status = 500 // as REST answers an unknown code
		}
	}
	if code == "" {
		code = orElse(codeOfStatus[status], strings.ToLower(http.StatusText(status)))
	}
	return fmt.Sprintf("%d %s", status, code)
}

func (a answer) ok() bool { return strings.HasSuffix(a.class(), " ok") }

// serious reports a 5xx other than 503, an INTERNAL error, or no answer at all.
func (a answer) serious() bool {
	c := a.class()
	return !strings.HasPrefix(c, "503") && (strings.HasPrefix(c, "5") || strings.Contains(c, "INTERNAL") || a.err != nil)
}

// refusedWithoutRetryAfter reports a 429 or 503 that does not say when to try again.
func (a answer) refusedWithoutRetryAfter() bool {
	c := a.class()
	return (strings.HasPrefix(c, "429") || strings.HasPrefix(c, "503")) && a.retryAfter <= 0
}

// Latencies.

type latencies []time.Duration

// at returns the p-quantile, rounded for reading.
func (l latencies) at(p float64) string {
	if len(l) == 0 {
		return "-"
	}
	s := slices.Clone(l)
	slices.Sort(s)
	d := s[min(len(s)-1, int(float64(len(s))*p))]
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// The endpoints scenario.

// endpoint is one endpoint the endpoints scenario drives; key names it in -only. A read's SQL
// can be run by pgbench.
type endpoint struct {
	key, name string
	req       request
	read      bool
}

// usersPage is the Users page's query, as graph/users_bench_test.go sends it.
const usersPage = `query($after: Cursor) { viewer { permissions organization { members(first: 50, after: $after, orderBy: {field: LAST_ACTIVE_AT, direction: DESC}) {
  totalCount edges { node { role { name } lastActiveAt joinedAt user { id email name twoFactorEnabled } } } pageInfo { endCursor hasNextPage } } } } }`

const viewerGQL = `{ viewer { user { email } organization { name } permissions } }`

func endpointList(f *fixture) []endpoint {
	usersGQL := `{ viewer { organization { memberList(limit: 50) { role { name } lastActiveAt organization { id } user { id email name createdAt twoFactorEnabled } } } } }`
	return []endpoint{
		{"users", "graphql users page (members first:50, totalCount)", gql(f.admin, usersPage, nil), true},
		{"admin-users", "rest GET /admin/users (50 per page)", rest("GET", "/admin/users?limit=50", f.admin, nil), true},
		{"member-list", "graphql same query as GET /admin/users", gql(f.admin, usersGQL, nil), true},
		{"admin-users-deep", "rest GET /admin/users deep page (skip 9000)", rest("GET", "/admin/users?limit=50&skip=9000", f.admin, nil), true},
		{"viewer", "graphql viewer", gql(f.admin, viewerGQL, nil), true},
		{"me", "rest GET /auth/me", rest("GET", "/auth/me", f.admin, nil), true},
		{"login", "rest POST /auth/login", restLogin(adminEmail, "load-test-password", ""), false},
	}
}

// selected reports whether -only picks e: by key; or, for a word that is no endpoint's key, by
// the first word of its name ("rest", "graphql") or a part of its name.
func (e endpoint) selected(only string) bool {
	if only == "" {
		return true
	}
	keys := map[string]bool{}
	for _, x := range endpointList(&fixture{}) {
		keys[x.key] = true
	}
	for _, w := range strings.Split(only, ",") {
		w = strings.TrimSpace(w)
		switch {
		case w == "":
		case keys[w]:
			if w == e.key {
				return true
			}
		case w == strings.Fields(e.name)[0] || strings.Contains(e.name, w):
			return true
		}
	}
	return false
}

// endpointResult is what one endpoint's run measured.
type endpointResult struct {
	endpoint
	rate       float64 // requests per second
	took       latencies
	bad        int
	serverCPU  time.Duration // the server process's CPU time, with -process; else -1
	backendCPU time.Duration // its PostgreSQL backends' CPU time; -1 on SQLite
}

// perRequest reads a CPU time per request in microseconds, or "-".
func (r endpointResult) perRequest(cpu time.Duration) string { return perRequest(cpu, len(r.took)) }

// perRequest reads cpu over n requests in microseconds, or "-" when unmeasured.
func perRequest(cpu time.Duration, n int) string {
	if cpu < 0 || n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(cpu.Microseconds())/float64(n))
}

func endpoints(f *fixture, o options) []endpointResult {
	fmt.Printf("endpoints: %d clients, %s each; server %s\n", o.concurrency, o.duration, serverKind(f))
	fmt.Printf("%-50s %8s %9s %9s %9s %7s %8s %8s\n", "endpoint", "req/s", "p50", "p99", "max", "errors", "µs CPU/r", "µs PG/r")
	var results []endpointResult
	for _, e := range endpointList(f) {
		if !e.selected(o.only) {
			continue
		}
		var (
			mu   sync.Mutex
			took latencies
			bad  int
		)
		cpu0 := f.server.cpu()
		f.backends.start()
		elapsed := drive(f, o.concurrency, o.duration, func(int, int) (request, func(answer)) {
			return e.req, func(a answer) {
				mu.Lock()
				defer mu.Unlock()
				took = append(took, a.took)
				if !a.ok() {
					bad++
				}
			}
		})
		r := endpointResult{endpoint: e, rate: float64(len(took)) / elapsed.Seconds(), took: took, bad: bad,
			serverCPU: -1, backendCPU: f.backends.stop()}
		if cpu1 := f.server.cpu(); cpu0 >= 0 && cpu1 >= 0 {
			r.serverCPU = cpu1 - cpu0
		}
		results = append(results, r)
		fmt.Printf("%-50s %8.1f %9s %9s %9s %7d %8s %8s\n", e.name, r.rate, took.at(0.50), took.at(0.99), took.at(1), bad,
			r.perRequest(r.serverCPU), r.perRequest(r.backendCPU))
	}
	fmt.Println("µs CPU/r: the server process's CPU time (user+system) per request, with -process; " +
		"µs PG/r: its PostgreSQL backends'")
	return results
}

func serverKind(f *fixture) string {
	if f.server != nil {
		return "in a separate process"
	}
	return "in this process (beside the clients)"
}

// drive runs clients that each send next's requests one after another until d has passed, and
// returns how long they took. next gets the client and its request count and returns the
// request and what to do with its answer.
func drive(f *fixture, clients int, d time.Duration, next func(client, n int) (request, func(answer))) time.Duration {
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; time.Now().Before(deadline); n++ {
				r, done := next(c, n)
				a, _ := send(f.http, f.base, r)
				done(a)
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// The sign-in storm.

// signIn is what a storm client tries.
type signIn int

const (
	rightPassword signIn = iota
	wrongPassword
	unknownEmail
)

// stormRequest is what storm client i sends. Of every 20 clients 12 know their password, 5
// mistype it and 3 try an e-mail without an account; the first half use GraphQL, the second
// REST. The clients share the 100 accounts, so a repeated storm takes the wrong passwords past
// the per-account limit.
func stormRequest(f *fixture, o options, i int) (signIn, request) {
	kind := unknownEmail
	switch m := i % 20; {
	case m < 12:
		kind = rightPassword
	case m < 17:
		kind = wrongPassword
	}
	email, password := f.accounts[i%len(f.accounts)], accountPassword
	switch kind {
	case wrongPassword:
		password = "not the " + password
	case unknownEmail:
		email = fmt.Sprintf("nobody%05d@load.test", i)
	}
	from := ""
	if o.limits == "spread" {
		from = fmt.Sprintf("10.1.%d.%d", i/256, i%256)
	}
	if i < o.stormClients/2 {
		return kind, gqlLogin(email, password, from)
	}
	return kind, restLogin(email, password, from)
}

func storm(f *fixture, o options) {
	type result struct {
		kind signIn
		rest bool
		a    answer
	}
	var (
		mu          sync.Mutex
		results     []result
		ready, done sync.WaitGroup
		deadline    time.Time
		kinds       [3]int
	)
	start := make(chan struct{})
	for i := range o.stormClients {
		kind, req := stormRequest(f, o, i)
		kinds[kind]++
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			for {
				a, _ := send(f.http, f.base, req)
				mu.Lock()
				results = append(results, result{kind, req.path != "/graphql", a})
				mu.Unlock()
				wait := time.Duration(a.retryAfter) * time.Second
				if !o.stormRepeat || time.Now().Add(wait).After(deadline) {
					return
				}
				time.Sleep(wait) // a well-behaved client waits as Retry-After says
			}
		}()
	}
	ready.Wait()
	t0 := time.Now()
	deadline = t0.Add(o.duration)
	close(start)
	done.Wait()
	wall := time.Since(t0)

	how := "one sign-in each"
	if o.stormRepeat {
		how = fmt.Sprintf("signing in again until %s are over (after Retry-After when refused)", o.duration)
	}
	fmt.Printf("sign-in storm, limits %s: %d clients at once, %s\n", o.limits, o.stormClients, how)
	fmt.Printf("clients: %d right password, %d wrong, %d unknown e-mail; %d GraphQL login, %d REST POST /auth/login\n",
		kinds[rightPassword], kinds[wrongPassword], kinds[unknownEmail], o.stormClients/2, o.stormClients-o.stormClients/2)
	fmt.Printf("%-22s %5s %5s %5s %6s %6s %7s %9s %9s %9s\n", "outcome", "n", "gql", "rest", "right", "wrong", "unknown", "p50", "p99", "max")
	type row struct {
		n, rest int
		kinds   [3]int
		took    latencies
	}
	rows := map[string]*row{}
	var all row
	noRetry, serious, checked := 0, 0, 0
	var retryAfter []int // seconds, of the refusals that said
	for _, r := range results {
		c := r.a.class()
		if strings.HasPrefix(c, "200") || strings.HasPrefix(c, "401") {
			checked++ // the password was checked: the sign-in had its hashing turn
		}
		if r.a.retryAfter > 0 {
			retryAfter = append(retryAfter, r.a.retryAfter)
		}
		if rows[c] == nil {
			rows[c] = &row{}
		}
		for _, w := range []*row{rows[c], &all} {
			w.n++
			w.kinds[r.kind]++
			w.took = append(w.took, r.a.took)
			if r.rest {
				w.rest++
			}
		}
		if r.a.refusedWithoutRetryAfter() {
			noRetry++
		}
		if r.a.serious() {
			serious++
		}
	}
	line := func(name string, w *row) {
		fmt.Printf("%-22s %5d %5d %5d %6d %6d %7d %9s %9s %9s\n", name, w.n, w.n-w.rest, w.rest,
			w.kinds[rightPassword], w.kinds[wrongPassword], w.kinds[unknownEmail], w.took.at(0.5), w.took.at(0.99), w.took.at(1))
	}
	for _, c := range sortedKeys(rows) {
		line(c, rows[c])
	}
	line("all", &all)
	fmt.Printf("wall %s; passwords checked %d (%.1f/s)", wall.Round(10*time.Millisecond), checked, float64(checked)/wall.Seconds())
	if len(retryAfter) > 0 {
		slices.Sort(retryAfter)
		fmt.Printf("; Retry-After given %d–%d s, median %d s", retryAfter[0], retryAfter[len(retryAfter)-1], retryAfter[len(retryAfter)/2])
	}
	fmt.Printf("\n%s\n", verdict(serious, noRetry))
}

// verdict is the line that says whether anything went wrong.
func verdict(serious, noRetry int) string {
	s := fmt.Sprintf("5xx other than 503, INTERNAL or no answer: %d; 429/503 without Retry-After: %d", serious, noRetry)
	if serious+noRetry > 0 {
		s = "!! " + s
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// The mixed read/write load.

// kind is one kind of request of the mixed load, drawn with its weight.
type kind struct {
	name   string
	write  bool
	weight int
	req    func(f *fixture, o options, c, n int, rnd *rand.Rand) request
}

var mixedKinds = []kind{
	{"viewer (gql)", false, 22, func(f *fixture, _ options, _, _ int, _ *rand.Rand) request {
		return gql(f.admin, `{ viewer { user { email } organization { name } permissions } }`, nil)
	}},
	{"users page (gql)", false, 14, func(f *fixture, _ options, _, _ int, rnd *rand.Rand) request {
		return gql(f.admin, `query($o: Int) { viewer { organization { memberList(offset: $o, limit: 50) {
			role { name } lastActiveAt organization { id } user { id email name createdAt twoFactorEnabled } } } } }`,
			map[string]any{"o": 50 * rnd.IntN(20)})
	}},
	{"GET /admin/users", false, 14, func(f *fixture, _ options, _, _ int, rnd *rand.Rand) request {
		return rest("GET", fmt.Sprintf("/admin/users?limit=50&skip=%d", 50*rnd.IntN(20)), f.admin, nil)
	}},
	{"audit log (gql)", false, 8, func(f *fixture, _ options, _, _ int, _ *rand.Rand) request {
		return gql(f.admin, `{ viewer { organization { auditLogList(limit: 50) {
			id createdAt actorEmail action category resourceType resourceID details ipAddress status } } } }`, nil)
	}},
	{"GET /audit/logs", false, 8, func(f *fixture, _ options, _, _ int, _ *rand.Rand) request {
		return rest("GET", "/audit/logs?limit=50", f.admin, nil)
	}},
	{"inviteMember (gql)", true, 5, func(f *fixture, _ options, c, n int, _ *rand.Rand) request {
		return gql(f.admin, `mutation($e: String!) { inviteMember(input: {email: $e, role: "member"}) { invitation { id } } }`,
			map[string]any{"e": fmt.Sprintf("invitee-g%d-%d@load.test", c, n)})
	}},
	{"POST /management/invitations", true, 5, func(f *fixture, _ options, c, n int, _ *rand.Rand) request {
		return rest("POST", "/management/invitations", f.admin,
			map[string]string{"email": fmt.Sprintf("invitee-r%d-%d@load.test", c, n), "role": "member"})
	}},
	{"updateMemberRole (gql)", true, 6, func(f *fixture, _ options, _, _ int, rnd *rand.Rand) request {
		return gql(f.admin, `mutation($u: ID!, $r: String!) { updateMemberRole(userId: $u, role: $r) { role { name } } }`,
			map[string]any{"u": f.targets[rnd.IntN(len(f.targets))], "r": someRole(rnd)})
	}},
	{"PUT /admin/users/{id}/role", true, 6, func(f *fixture, _ options, _, _ int, rnd *rand.Rand) request {
		return rest("PUT", "/admin/users/"+f.targets[rnd.IntN(len(f.targets))]+"/role", f.admin,
			map[string]string{"role": someRole(rnd)})
	}},
	{"updateOrganization (gql)", true, 5, func(f *fixture, _ options, _, n int, _ *rand.Rand) request {
		return gql(f.admin, `mutation($b: Boolean) { updateOrganization(input: {settings: {logPayloads: $b}}) { id } }`,
			map[string]any{"b": n%2 == 0})
	}},
	{"PATCH /management/organizations/me", true, 3, func(f *fixture, _ options, _, n int, _ *rand.Rand) request {
		return rest("PATCH", "/management/organizations/me", f.admin, map[string]any{"log_payloads": n%2 == 0})
	}},
	{"login (gql)", true, 1, func(f *fixture, o options, c, _ int, rnd *rand.Rand) request {
		return gqlLogin(f.accounts[rnd.IntN(len(f.accounts))], accountPassword, mixedFrom(o, c))
	}},
	{"POST /auth/login", true, 1, func(f *fixture, o options, c, _ int, rnd *rand.Rand) request {
		return restLogin(f.accounts[rnd.IntN(len(f.accounts))], accountPassword, mixedFrom(o, c))
	}},
}

func someRole(rnd *rand.Rand) string { return []string{"member", "developer", "viewer"}[rnd.IntN(3)] }

func mixedFrom(o options, c int) string {
	if o.limits != "spread" {
		return ""
	}
	return fmt.Sprintf("10.2.0.%d", c%256)
}

func mixed(f *fixture, o options) {
	type row struct {
		took latencies
		bad  map[string]int
	}
	rows := make([]row, len(mixedKinds))
	total := 0
	for i, k := range mixedKinds {
		total += k.weight
		rows[i].bad = map[string]int{}
	}
	rnds := make([]*rand.Rand, o.concurrency)
	for c := range rnds {
		rnds[c] = rand.New(rand.NewPCG(1, uint64(c)))
	}
	var (
		mu               sync.Mutex
		serious, noRetry int
		bad              = map[string]int{}
	)
	elapsed := drive(f, o.concurrency, o.duration, func(c, n int) (request, func(answer)) {
		i, w := 0, rnds[c].IntN(total)
		for w >= mixedKinds[i].weight {
			w -= mixedKinds[i].weight
			i++
		}
		return mixedKinds[i].req(f, o, c, n, rnds[c]), func(a answer) {
			mu.Lock()
			defer mu.Unlock()
			rows[i].took = append(rows[i].took, a.took)
			if !a.ok() {
				rows[i].bad[a.class()]++
				bad[a.class()]++
			}
			if a.serious() {
				serious++
			}
			if a.refusedWithoutRetryAfter() {
				noRetry++
			}
		}
	})
	var all latencies
	writes := 0
	for i, r := range rows {
		all = append(all, r.took...)
		if mixedKinds[i].write {
			writes += len(r.took)
		}
	}
	secs := elapsed.Seconds()
	fmt.Printf("mixed read/write, limits %s: %d clients for %s, %d requests (%d%% writes), %.1f req/s\n",
		o.limits, o.concurrency, o.duration, len(all), 100*writes/max(1, len(all)), float64(len(all))/secs)
	fmt.Printf("%-38s %6s %7s %9s %9s %9s  %s\n", "kind", "n", "req/s", "p50", "p99", "max", "not ok")
	for i, r := range rows {
		rw := "r"
		if mixedKinds[i].write {
			rw = "w"
		}
		fmt.Printf("%s %-36s %6d %7.1f %9s %9s %9s  %s\n", rw, mixedKinds[i].name, len(r.took), float64(len(r.took))/secs,
			r.took.at(0.5), r.took.at(0.99), r.took.at(1), counts(r.bad))
	}
	fmt.Printf("%-38s %6d %7.1f %9s %9s %9s  %s\n", "all", len(all), float64(len(all))/secs,
		all.at(0.5), all.at(0.99), all.at(1), counts(bad))
	fmt.Println(verdict(serious, noRetry))
}

// counts reads "503 UNAVAILABLE×2, 409 CONFLICT×1", or "-".
func counts(m map[string]int) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
	}
	return orElse(strings.Join(parts, ", "), "-")
}

// serverLog counts what the server logs at WARN and above, leaving out the request lines of the
// refusals it is meant to make (4xx and 503), for the report after each scenario.
type serverLog struct {
	mu      sync.Mutex
	partial []byte
	counts  map[string]int
}

func (l *serverLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.note(l.partial[:i])
		l.partial = l.partial[i+1:]
	}
}

func (l *serverLog) note(line []byte) {
	var e map[string]any
	if json.Unmarshal(line, &e) != nil {
		l.counts[truncate(string(line), 200)]++
		return
	}
	status, _ := e["status"].(float64)
	if e["msg"] == "request" && (status < 500 || status == 503) {
		return
	}
	key := fmt.Sprintf("%v %v", e["level"], e["msg"])
	for _, f := range []string{"status", "method", "path", "err", "panic"} {
		if v, ok := e[f]; ok {
			key += fmt.Sprintf(" %s=%v", f, v)
		}
	}
	l.counts[truncate(key, 200)]++
}

// report prints what was logged since the last report, and forgets it.
func (l *serverLog) report(w io.Writer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.counts) == 0 {
		fmt.Fprintln(w, "server log: nothing at WARN or above besides 503 request lines")
		return
	}
	fmt.Fprintln(w, "server log, WARN and above (503 request lines left out):")
	for _, k := range sortedKeys(l.counts) {
		fmt.Fprintf(w, "  %5d× %s\n", l.counts[k], k)
	}
	l.counts = map[string]int{}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Configuration, as printed.

// loadAverage is the 1-minute load average where the system tells it (Linux), else "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil || len(bytes.Fields(b)) == 0 {
		return "?"
	}
	return string(bytes.Fields(b)[0])
}

func poolMeaning(dbURL string, n int) string {
	if strings.HasPrefix(dbURL, "sqlite") {
		return fmt.Sprintf("SQLite: 1 writer + %d read-only readers", n)
	}
	return fmt.Sprintf("PostgreSQL pool of %d", n)
}

func limitsMeaning(mode string, cfg app.Config) string {
	l := cfg.Limits
	switch mode {
	case "off":
		return "off (the hashing queue alone)"
	case "spread":
		return fmt.Sprintf("the server's (%d failures per account, %d per IP), each client its own address via X-Forwarded-For",
			l.LoginPerAccount, l.LoginPerIP)
	}
	return fmt.Sprintf("the server's (%d failures per account, %d per IP), every client 127.0.0.1", l.LoginPerAccount, l.LoginPerIP)
}

// analyze has PostgreSQL gather the statistics of the scratch schema's tables, freshly seeded:
// autovacuum would in a minute or so, and until then the planner sees the organization's
// thousands of memberships as one row and picks plans no production database runs (the Users
// page sorting every member instead of reading 51 in index order).
func analyze(dbURL string) error {
	if !strings.HasPrefix(dbURL, "postgres") {
		return nil
	}
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.Query("SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = current_schema()")
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(tables) == 0 {
		return err
	}
	_, err = db.Exec("ANALYZE " + strings.Join(tables, ", "))
	return err
}

// scratchDatabase returns a fresh database URL, what it is, and a function that drops it.
func scratchDatabase(pg string) (dbURL, info string, cleanup func(), err error) {
	if pg == "" {
		dir, err := os.MkdirTemp("", "loadtest")
		if err != nil {
			return "", "", nil, err
		}
		return "sqlite://" + filepath.Join(dir, "load.db"), "SQLite (a file in a temp dir)", func() { os.RemoveAll(dir) }, nil
	}
	db, err := sql.Open("postgres", pg)
	if err != nil {
		return "", "", nil, err
	}
	var version string
	if err := db.QueryRow("SHOW server_version").Scan(&version); err != nil {
		return "", "", nil, err
	}
	schema := fmt.Sprintf("loadtest_%d", time.Now().UnixNano())
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		return "", "", nil, err
	}
	u, err := url.Parse(pg)
	if err != nil {
		return "", "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	// The server's backends, told apart from others' in pg_stat_activity for their CPU time.
	q.Set("application_name", serverAppName)
	u.RawQuery = q.Encode()
	return u.String(), fmt.Sprintf("PostgreSQL %s (scratch schema %s)", strings.Fields(version)[0], schema), func() {
		// An interrupted run's transactions may still hold locks, and PostgreSQL may pick the
		// drop as a deadlock's victim: try again.
		for try := 1; ; try++ {
			_, err := db.Exec("DROP SCHEMA " + schema + " CASCADE")
			if err == nil || try == 5 {
				if err != nil {
					fmt.Fprintf(os.Stderr, "loadtest: dropping schema %s: %v\n", schema, err)
				}
				break
			}
			time.Sleep(time.Duration(try) * 200 * time.Millisecond)
		}
		db.Close()
	}, nil
}
