package main

import (
	"bufio"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"

	"github.com/inferiallm/orgserver/server/app"
)

// The SQL of the endpoints, recorded from the server.

// statement is one statement the server sent, with its arguments.
type statement struct {
	query string
	args  []any
}

// recorder wraps the server's database driver; while on, it keeps the statements sent through
// it, with BEGIN, COMMIT and ROLLBACK around those of transactions.
type recorder struct {
	mu    sync.Mutex
	on    bool
	stmts []statement
}

func (r *recorder) wrap(d dialect.Driver) dialect.Driver { return &recDriver{Driver: d, r: r} }

func (r *recorder) add(query string, args any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.on {
		return
	}
	a, _ := args.([]any)
	r.stmts = append(r.stmts, statement{query, slices.Clone(a)})
}

// record runs f with the recorder on and returns what it recorded.
func (r *recorder) record(f func()) []statement {
	r.mu.Lock()
	r.on, r.stmts = true, nil
	r.mu.Unlock()
	f()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on = false
	return r.stmts
}

type recDriver struct {
	dialect.Driver
	r *recorder
}

func (d *recDriver) Exec(ctx context.Context, query string, args, v any) error {
	d.r.add(query, args)
	return d.Driver.Exec(ctx, query, args, v)
}

func (d *recDriver) Query(ctx context.Context, query string, args, v any) error {
	d.r.add(query, args)
	return d.Driver.Query(ctx, query, args, v)
}

// ExecContext and QueryContext serve callers that ask the driver for database/sql's methods.
func (d *recDriver) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	d.r.add(query, args)
	return d.Driver.(interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}).ExecContext(ctx, query, args...)
}

func (d *recDriver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	d.r.add(query, args)
	return d.Driver.(interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}).QueryContext(ctx, query, args...)
}

func (d *recDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	d.r.add("BEGIN", nil)
	return &recTx{Tx: tx, r: d.r}, nil
}

type recTx struct {
	dialect.Tx
	r *recorder
}

func (t *recTx) Exec(ctx context.Context, query string, args, v any) error {
	t.r.add(query, args)
	return t.Tx.Exec(ctx, query, args, v)
}

func (t *recTx) Query(ctx context.Context, query string, args, v any) error {
	t.r.add(query, args)
	return t.Tx.Query(ctx, query, args, v)
}

func (t *recTx) Commit() error {
	t.r.add("COMMIT", nil)
	return t.Tx.Commit()
}

func (t *recTx) Rollback() error {
	t.r.add("ROLLBACK", nil)
	return t.Tx.Rollback()
}

// script is a pgbench script that sends what one request of an endpoint sends.
type script struct {
	text string
	vars []string // name=value, for pgbench -D
	n    int      // statements in the script
	// warm is how many statements a warm request sends: when none (the authentication cache
	// answers), the script holds those of a request the cache does not answer.
	warm int
	// sent are the statements as recorded, for the floor.
	sent []statement
}

// stmts reads "2", or "0/2" when a warm request sends none and pgbench runs a cold one's.
func (s *script) stmts() string {
	if s.warm == s.n {
		return strconv.Itoa(s.n)
	}
	return fmt.Sprintf("%d/%d", s.warm, s.n)
}

// captureSQL records, for each selected read endpoint, the statements of one request once the
// server is warm (the authentication cache serving, the endpoint requested a few times), and
// writes them as pgbench scripts: each argument a variable set with -D, named org and user for
// the seeded organization and the super admin. An endpoint that sends no statement when warm
// gets those of a server without the authentication cache (AUTH_CACHE_SECONDS=0): what a
// request costs the database when the cache misses.
func captureSQL(ctx context.Context, f *fixture, o options, a *app.App, cfg app.Config, rec *recorder) (map[string]*script, error) {
	for t0 := time.Now(); !a.Service().AuthCacheServing(); time.Sleep(10 * time.Millisecond) {
		if time.Since(t0) > 10*time.Second {
			return nil, fmt.Errorf("the authentication cache is not serving after 10 s")
		}
	}
	one := func(base string, e endpoint) ([]statement, error) {
		for range 3 {
			if ans, body := send(f.http, base, e.req); !ans.ok() {
				return nil, fmt.Errorf("%s: %s %s", e.name, ans.class(), truncate(string(body), 300))
			}
		}
		var ans answer
		stmts := rec.record(func() { ans, _ = send(f.http, base, e.req) })
		if !ans.ok() {
			return nil, fmt.Errorf("%s: %s", e.name, ans.class())
		}
		return stmts, nil
	}
	// cold starts, once, a server without the authentication cache.
	coldBase, coldClose := "", func() {}
	cold := func() (string, error) {
		if coldBase != "" {
			return coldBase, nil
		}
		c := cfg
		c.AuthCacheTTL = 0
		b, err := app.New(ctx, c, app.Options{Logs: io.Discard, Out: io.Discard, WrapDriver: rec.wrap})
		if err != nil {
			return "", err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Close()
			return "", err
		}
		sctx, stop := context.WithCancel(ctx)
		go b.Serve(sctx, ln) //nolint:errcheck
		coldClose = func() { stop(); b.Close() }
		coldBase = "http://" + ln.Addr().String()
		return coldBase, nil
	}
	defer func() { coldClose() }()
	scripts := map[string]*script{}
	fmt.Println("\nSQL of one request, warm, as pgbench runs it:")
	for _, e := range endpointList(f) {
		if !e.read || !e.selected(o.only) {
			continue
		}
		stmts, err := one(f.base, e)
		if err != nil {
			return nil, err
		}
		warm := len(stmts)
		if warm == 0 {
			base, err := cold()
			if err != nil {
				return nil, err
			}
			if stmts, err = one(base, e); err != nil {
				return nil, err
			}
		}
		s := makeScript(stmts, map[string]string{f.org: "org", f.adminID: "user"})
		s.warm, s.sent = warm, stmts
		scripts[e.key] = s
		how := ""
		if warm == 0 {
			how = " none when warm; these are a cache miss's (AUTH_CACHE_SECONDS=0)"
		}
		fmt.Printf("-- %s: %d statements%s; %d parameters\n%s", e.name, s.n, how, len(s.vars), s.text)
	}
	return scripts, nil
}

var placeholder = regexp.MustCompile(`\$(\d+)`)

// makeScript turns statements into a pgbench script. Each distinct argument becomes a variable
// (named by names when it is one of theirs) so that -M prepared and -M extended send it as a
// parameter, as the server does; a NULL argument is written into the text.
func makeScript(stmts []statement, names map[string]string) *script {
	s := &script{n: len(stmts)}
	vars := map[string]string{} // value → variable
	var b strings.Builder
	for _, st := range stmts {
		q := placeholder.ReplaceAllStringFunc(st.query, func(p string) string {
			i, _ := strconv.Atoi(p[1:])
			if i < 1 || i > len(st.args) {
				return p
			}
			v, null := argText(st.args[i-1])
			if null {
				return "NULL"
			}
			name, ok := vars[v]
			if !ok {
				if name = names[v]; name == "" {
					name = fmt.Sprintf("p%d", len(vars)+1)
				}
				vars[v] = name
				s.vars = append(s.vars, name+"="+v)
			}
			return ":" + name
		})
		b.WriteString(strings.TrimSpace(q) + ";\n")
	}
	s.text = b.String()
	return s
}

// argText is an argument as the text PostgreSQL reads it, or null.
func argText(v any) (string, bool) {
	if vr, ok := v.(driver.Valuer); ok {
		var err error
		if v, err = vr.Value(); err != nil {
			return fmt.Sprint(v), false
		}
	}
	switch x := v.(type) {
	case nil:
		return "", true
	case []byte:
		return `\x` + hex.EncodeToString(x), false
	case time.Time:
		return x.Format(time.RFC3339Nano), false
	case string:
		return x, false
	}
	return fmt.Sprint(v), false
}

// pgbench.

// benchResult is what one pgbench run measured.
type benchResult struct {
	tps        float64
	took       latencies
	failed     int
	backendCPU time.Duration
	err        error
}

// compare runs pgbench on each endpoint's script for -duration with -concurrency clients, in
// prepared and extended mode, and prints the endpoints and pgbench side by side.
func compare(f *fixture, o options, results []endpointResult, scripts map[string]*script, dir string) error {
	backends, err := newBackendCPU(o.database, pgbenchAppName)
	if err != nil {
		return err
	}
	defer backends.close()
	modes := []string{"prepared", "extended"}
	bench := map[string]map[string]benchResult{}
	fmt.Printf("\npgbench: %d clients, %s, each endpoint's script in modes %s\n", o.concurrency, o.duration, strings.Join(modes, ", "))
	for _, r := range results {
		s := scripts[r.key]
		if s == nil {
			continue
		}
		bench[r.key] = map[string]benchResult{}
		for _, m := range modes {
			b := runPgbench(f.dbURL, o, s, m, filepath.Join(dir, r.key+"-"+m), backends)
			if b.err != nil {
				fmt.Printf("!! pgbench %s -M %s: %v\n", r.key, m, b.err)
			}
			bench[r.key][m] = b
		}
	}
	fmt.Printf("\nserver (%s) and pgbench sending the same SQL, %d clients, %s each\n", serverKind(f), o.concurrency, o.duration)
	fmt.Printf("%-16s %5s | %8s %8s %8s %6s %6s | %8s %8s %6s | %8s %8s %6s | %6s %6s\n",
		"endpoint", "stmt", "req/s", "p50", "p99", "µsCPU", "µsPG",
		"prep tps", "p50", "µsPG", "ext tps", "p50", "µsPG", "/prep", "/ext")
	for _, r := range results {
		s := scripts[r.key]
		if s == nil {
			continue
		}
		p, e := bench[r.key]["prepared"], bench[r.key]["extended"]
		fmt.Printf("%-16s %5s | %8.1f %8s %8s %6s %6s | %8.1f %8s %6s | %8.1f %8s %6s | %6s %6s\n",
			r.key, s.stmts(), r.rate, r.took.at(0.5), r.took.at(0.99), r.perRequest(r.serverCPU), r.perRequest(r.backendCPU),
			p.tps, p.took.at(0.5), p.perTx(), e.tps, e.took.at(0.5), e.perTx(), ratio(r.rate, p.tps), ratio(r.rate, e.tps))
	}
	fmt.Println("stmt: statements per request (0/2: none when the authentication cache answers, pgbench runs a miss's 2); µsCPU: server process CPU per request (-process only); µsPG: PostgreSQL " +
		"backend CPU per request or transaction; /prep, /ext: server req/s ÷ pgbench tps")

	// The floor, for the endpoints that send statements when warm.
	header := false
	for _, r := range results {
		s := scripts[r.key]
		if s == nil || s.warm == 0 {
			continue
		}
		if !header {
			fmt.Printf("\nbare Go floor (a separate process: net/http, database/sql, lib/pq prepared, the same statements, rows as JSON; "+
				"no authentication, no GraphQL), %d clients, %s each\n", o.concurrency, o.duration)
			fmt.Printf("%-16s | %8s %8s %6s %6s | %10s %12s %12s\n", "endpoint", "req/s", "p50", "µsCPU", "µsPG", "floor/prep", "server/floor", "server/prep")
			header = true
		}
		fl := runFloor(f, o, s.sent, dir)
		if fl.err != nil {
			fmt.Printf("!! floor %s: %v\n", r.key, fl.err)
			continue
		}
		if fl.bad > 0 {
			fmt.Printf("!! floor %s: %d requests failed\n", r.key, fl.bad)
		}
		p := bench[r.key]["prepared"]
		fmt.Printf("%-16s | %8.1f %8s %6s %6s | %10s %12s %12s\n", r.key, fl.rate, fl.took.at(0.5), fl.perRequest(fl.cpu),
			fl.perRequest(fl.backendCPU), ratio(fl.rate, p.tps), ratio(r.rate, fl.rate), ratio(r.rate, p.tps))
	}
	if header {
		fmt.Println("floor/prep: the most a Go server on lib/pq reaches here, against pgbench; server/floor: the server against that floor")
	}
	return nil
}

func ratio(a, b float64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func (b benchResult) perTx() string {
	if b.tps <= 0 {
		return "-"
	}
	return perRequest(b.backendCPU, len(b.took))
}

var tpsLine = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)
var failedLine = regexp.MustCompile(`(?m)^number of failed transactions: (\d+)`)

// runPgbench runs pgbench on s in mode against the scratch schema, logging each transaction
// under prefix for the latencies.
func runPgbench(dbURL string, o options, s *script, mode, prefix string, backends *backendCPU) benchResult {
	file := prefix + ".sql"
	if err := os.WriteFile(file, []byte(s.text), 0o600); err != nil {
		return benchResult{err: err}
	}
	conn, schema, err := pgbenchConn(dbURL)
	if err != nil {
		return benchResult{err: err}
	}
	secs := max(1, int((o.duration+time.Second-1)/time.Second))
	args := []string{"-n", "-M", mode, "-f", file, "-c", strconv.Itoa(o.concurrency),
		"-j", strconv.Itoa(min(o.concurrency, runtime.NumCPU())), "-T", strconv.Itoa(secs),
		"-l", "--log-prefix", prefix}
	for _, v := range s.vars {
		args = append(args, "-D", v)
	}
	args = append(args, conn)
	cmd := exec.Command("pgbench", args...)
	cmd.Env = append(os.Environ(), "PGOPTIONS=-c search_path="+schema, "PGAPPNAME="+pgbenchAppName)
	cmd.Dir = filepath.Dir(prefix)
	backends.start()
	out, err := cmd.CombinedOutput()
	b := benchResult{backendCPU: backends.stop()}
	if err != nil {
		b.err = fmt.Errorf("%v: %s", err, truncate(string(out), 2000))
		return b
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		b.err = fmt.Errorf("no tps in its output: %s", truncate(string(out), 2000))
		return b
	}
	b.tps, _ = strconv.ParseFloat(string(m[1]), 64)
	if m := failedLine.FindSubmatch(out); m != nil {
		b.failed, _ = strconv.Atoi(string(m[1]))
		if b.failed > 0 {
			b.err = fmt.Errorf("%d failed transactions: %s", b.failed, truncate(string(out), 2000))
		}
	}
	b.took, err = pgbenchLatencies(prefix)
	if err != nil && b.err == nil {
		b.err = err
	}
	return b
}

// pgbenchConn is the URL of the scratch database for libpq (which refuses search_path and
// application_name in it) and the schema, which pgbench gets through PGOPTIONS.
func pgbenchConn(pg string) (conn, schema string, err error) {
	u, err := url.Parse(pg)
	if err != nil {
		return "", "", err
	}
	q := u.Query()
	schema = q.Get("search_path")
	q.Del("search_path")
	q.Del("application_name")
	u.RawQuery = q.Encode()
	return u.String(), schema, nil
}

// pgbenchLatencies reads the transaction logs pgbench wrote under prefix (one file a thread):
// the third field of each line is the latency in microseconds.
func pgbenchLatencies(prefix string) (latencies, error) {
	files, err := filepath.Glob(prefix + ".[0-9]*")
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no pgbench log under %s", prefix)
	}
	var l latencies
	for _, name := range files {
		fh, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 3 {
				continue
			}
			if us, err := strconv.ParseInt(fields[2], 10, 64); err == nil {
				l = append(l, time.Duration(us)*time.Microsecond)
			}
		}
		fh.Close()
	}
	return l, nil
}
