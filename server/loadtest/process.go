package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/database"
)

// serverAppName is the application_name of the server's PostgreSQL connections, and
// pgbenchAppName that of pgbench's: their backends' CPU time is measured apart from the rest.
const (
	serverAppName  = "loadtest-server"
	pgbenchAppName = "loadtest-pgbench"
)

// buildServer builds the server binary into dir once, for -process.
func buildServer(dir string) (string, error) {
	bin := filepath.Join(dir, "server")
	t0 := time.Now()
	fmt.Printf("building the server (go build -o %s ./server) ...\n", bin)
	out, err := exec.Command("go", "build", "-o", bin, "github.com/inferiallm/orgserver/server").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./server (run inside the module, or give -server-bin): %v\n%s", err, out)
	}
	fmt.Printf("built in %s\n", time.Since(t0).Round(100*time.Millisecond))
	return bin, nil
}

// child is the server running as a separate process.
type child struct {
	cmd    *exec.Cmd
	base   string
	exited chan struct{} // closed when the process has exited
	once   sync.Once
}

// startServer starts bin on a free loopback port with cfg's settings in its environment (the
// configuration of the in-process run, which seeded the database it is given) and waits until
// it answers /readyz. Its logs go to logs.
func startServer(bin string, cfg app.Config, o options, logs io.Writer) (*child, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	// A clean environment: only what the server's configuration says, so that a variable of the
	// caller's shell cannot make the two runs differ; the Go runtime's knobs pass.
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ", "GOMAXPROCS", "GOGC", "GOMEMLIMIT", "GODEBUG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	var proxies []string
	for _, p := range cfg.TrustedProxies {
		proxies = append(proxies, p.String())
	}
	ceilSeconds := func(d time.Duration) string { return strconv.Itoa(int((d + time.Second - 1) / time.Second)) }
	for k, v := range map[string]string{
		"DATABASE_URL":                 cfg.DatabaseURL,
		"LISTEN_ADDR":                  addr,
		"DB_MAX_CONNS":                 strconv.Itoa(cfg.DBMaxConns),
		"SQLITE_BUSY_TIMEOUT_MS":       strconv.FormatInt(cfg.SQLiteBusyTimeout.Milliseconds(), 10),
		"AUTH_CACHE_SECONDS":           strconv.Itoa(int(cfg.AuthCacheTTL / time.Second)),
		"REQUEST_TIMEOUT_SECONDS":      ceilSeconds(cfg.RequestTimeout),
		"PASSWORD_HASH_CONCURRENCY":    strconv.Itoa(cfg.Hashing.Concurrency),
		"PASSWORD_HASH_MAX_WAIT_MS":    strconv.FormatInt(max(1, cfg.Hashing.MaxWait.Milliseconds()), 10),
		"RATE_LIMIT_LOGIN_PER_ACCOUNT": strconv.Itoa(cfg.Limits.LoginPerAccount),
		"RATE_LIMIT_LOGIN_PER_IP":      strconv.Itoa(cfg.Limits.LoginPerIP),
		"TRUSTED_PROXIES":              strings.Join(proxies, ","),
		"SUPERADMIN_EMAIL":             cfg.SuperAdminEmail,
		"SUPERADMIN_PASSWORD":          cfg.SuperAdminPassword,
		"DEFAULT_ORG_NAME":             cfg.DefaultOrgName,
		"LOG_LEVEL":                    cfg.LogLevel,
		"LOG_FORMAT":                   "json",
	} {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	cmd := exec.Command(bin)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, io.Discard, logs
	return startChild(cmd, "http://"+addr, "/readyz")
}

// startChild starts cmd, a server at base, and waits (a minute at most) until a GET of
// readyPath answers 200.
func startChild(cmd *exec.Cmd, base, readyPath string) (*child, error) {
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, base: base, exited: make(chan struct{})}
	go func() {
		cmd.Wait() //nolint:errcheck // the exit is reported by exited and ProcessState
		close(c.exited)
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-c.exited:
			return nil, fmt.Errorf("%s exited before it was ready: %s", cmd.Path, cmd.ProcessState)
		default:
		}
		resp, err := http.Get(c.base + readyPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, nil
			}
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("%s did not get ready within a minute: %v", cmd.Path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop asks the server to shut down gracefully, and kills it if it does not within 20 s.
func (c *child) stop() {
	c.once.Do(func() {
		c.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may be gone already
		select {
		case <-c.exited:
		case <-time.After(20 * time.Second):
			fmt.Fprintln(os.Stderr, "loadtest: the server did not stop within 20 s: killing it")
			c.cmd.Process.Kill() //nolint:errcheck
			<-c.exited
		}
	})
}

// cpu is the server process's CPU time so far, or -1 without a process.
func (c *child) cpu() time.Duration {
	if c == nil {
		return -1
	}
	d, err := processCPU(c.cmd.Process.Pid)
	if err != nil {
		return -1
	}
	return d
}

// processCPU reads a process's user and system CPU time, all its threads, from /proc (Linux).
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: the fields that count come after it.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, errors.New("short /proc stat")
	}
	// utime and stime (fields 14 and 15 of the line) in USER_HZ ticks, 100 a second on Linux.
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// openClient opens the database for the command's own small writes while a server process runs.
func openClient(ctx context.Context, dbURL string) (*ent.Client, error) {
	if u, err := url.Parse(dbURL); err == nil && strings.HasPrefix(dbURL, "postgres") {
		q := u.Query()
		q.Set("application_name", "loadtest")
		u.RawQuery = q.Encode()
		dbURL = u.String()
	}
	db, err := database.Open(ctx, dbURL, database.Options{MaxConns: 2})
	if err != nil {
		return nil, err
	}
	return ent.NewClient(ent.Driver(db.Direct)), nil
}

// backendCPU measures the CPU time of the PostgreSQL backends of one application_name, read from
// /proc: PostgreSQL must run on this machine. Backends that come and go during a run are
// sampled every 100 ms, so one that ends loses at most its last 100 ms.
type backendCPU struct {
	db      *sql.DB
	appName string

	mu     sync.Mutex
	before map[int]time.Duration // at start
	last   map[int]time.Duration // the latest sample of each backend seen since
	halt   chan struct{}
	done   chan struct{}
}

// newBackendCPU returns nil (measuring nothing) when PostgreSQL's backends are not on this
// machine.
func newBackendCPU(pgURL, appName string) (*backendCPU, error) {
	db, err := sql.Open("postgres", pgURL)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	var pid int
	if err := db.QueryRow("SELECT pg_backend_pid()").Scan(&pid); err != nil {
		db.Close()
		return nil, err
	}
	if _, err := processCPU(pid); err != nil {
		db.Close()
		fmt.Println("PostgreSQL backends' CPU time: not measured (not on this machine)")
		return nil, nil
	}
	return &backendCPU{db: db, appName: appName}, nil
}

func (b *backendCPU) close() {
	if b != nil {
		b.db.Close()
	}
}

func (b *backendCPU) sample() map[int]time.Duration {
	m := map[int]time.Duration{}
	rows, err := b.db.Query("SELECT pid FROM pg_stat_activity WHERE application_name = $1", b.appName)
	if err != nil {
		return m
	}
	defer rows.Close()
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) == nil {
			if d, err := processCPU(pid); err == nil {
				m[pid] = d
			}
		}
	}
	return m
}

// start takes the first sample and samples on until stop.
func (b *backendCPU) start() {
	if b == nil {
		return
	}
	b.before = b.sample()
	b.last = map[int]time.Duration{}
	for pid, d := range b.before {
		b.last[pid] = d
	}
	b.halt, b.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(b.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-b.halt:
				return
			case <-t.C:
				b.merge(b.sample())
			}
		}
	}()
}

func (b *backendCPU) merge(m map[int]time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for pid, d := range m {
		b.last[pid] = d
	}
}

// stop takes the last sample and returns the CPU time the backends spent since start, or -1
// when nothing is measured.
func (b *backendCPU) stop() time.Duration {
	if b == nil {
		return -1
	}
	close(b.halt)
	<-b.done
	b.merge(b.sample())
	var total time.Duration
	for pid, d := range b.last {
		total += d - b.before[pid]
	}
	return total
}
