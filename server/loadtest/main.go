// Command loadtest measures the hot paths of a real server on loopback: it starts the server
// in-process on a fresh database (SQLite in a temp dir, or a new schema of the PostgreSQL
// database in -database), seeds an organization of -members members, and drives each endpoint
// with -concurrency clients for -duration, printing requests per second and latency percentiles.
// Every run is bounded in time and sends traffic to 127.0.0.1 only.
//
//	go run ./server/loadtest -database 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/organization"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/role"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/auth"
)

func main() {
	var (
		database    = flag.String("database", "", "PostgreSQL URL to create a scratch schema in (default: SQLite in a temp dir)")
		members     = flag.Int("members", 10_000, "members to seed")
		duration    = flag.Duration("duration", 10*time.Second, "how long to drive each endpoint")
		concurrency = flag.Int("concurrency", 8, "concurrent clients")
		only        = flag.String("only", "", "comma-separated endpoint names to run (default: all)")
	)
	flag.Parse()
	if err := run(*database, *members, *duration, *concurrency, *only); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run(database string, members int, duration time.Duration, concurrency int, only string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dbURL, cleanup, err := scratchDatabase(database)
	if err != nil {
		return err
	}
	defer cleanup()
	cfg := app.DefaultConfig()
	cfg.DatabaseURL = dbURL
	cfg.SuperAdminEmail, cfg.SuperAdminPassword = "admin@example.com", "load-test-password"
	cfg.LogLevel = "error"
	// Production password hashing: login costs what it costs in production.
	cfg.Argon2 = auth.DefaultArgon2Params
	cfg.Limits.LoginPerAccount, cfg.Limits.LoginPerIP = 0, 0 // measure hashing, not the limiter's refusals
	a, err := app.New(ctx, cfg, app.Options{Logs: io.Discard, Out: io.Discard})
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go a.Serve(ctx, ln) //nolint:errcheck
	base := "http://" + ln.Addr().String()
	fmt.Printf("server on %s, database %s, seeding %d members...\n", base, strings.SplitN(dbURL, "?", 2)[0], members)
	t0 := time.Now()
	if err := seed(a.Client(), members); err != nil {
		return err
	}
	fmt.Printf("seeded in %s\n", time.Since(t0).Round(time.Millisecond))

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency * 2}}
	login, err := post(client, base+"/auth/login", "", `{"username":"admin@example.com","password":"load-test-password"}`)
	if err != nil {
		return err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(login, &tok); err != nil || tok.AccessToken == "" {
		return fmt.Errorf("login: %s", login)
	}
	usersGQL := `{"query":"{ viewer { organization { memberList(limit: 50) { role { name } lastActiveAt organization { id } user { id email name createdAt twoFactorEnabled } } } } }"}`
	endpoints := []struct {
		name, method, path, body, token string
	}{
		{"rest GET /admin/users (50 per page)", "GET", "/admin/users?limit=50", "", tok.AccessToken},
		{"graphql same query as GET /admin/users", "POST", "/graphql", usersGQL, tok.AccessToken},
		{"rest GET /admin/users deep page (skip 9000)", "GET", "/admin/users?limit=50&skip=9000", "", tok.AccessToken},
		{"graphql viewer", "POST", "/graphql", `{"query":"{ viewer { user { email } organization { name } permissions } }"}`, tok.AccessToken},
		{"rest POST /auth/login", "POST", "/auth/login", `{"username":"admin@example.com","password":"load-test-password"}`, ""},
	}
	fmt.Printf("\n%-46s %8s %9s %9s %9s %7s\n", "endpoint", "req/s", "p50", "p99", "max", "errors")
	for _, e := range endpoints {
		if only != "" && !strings.Contains(only, strings.Fields(e.name)[0]) && !strings.Contains(e.name, only) {
			continue
		}
		r := drive(client, base, e.method, e.path, e.body, e.token, duration, concurrency)
		fmt.Printf("%-46s %8.1f %9s %9s %9s %7d\n", e.name, r.rps, r.p50, r.p99, r.max, r.errors)
	}
	return nil
}

type result struct {
	rps           float64
	p50, p99, max time.Duration
	errors        int
}

// drive sends requests from concurrency clients for d and measures them.
func drive(client *http.Client, base, method, path, body, token string, d time.Duration, concurrency int) result {
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      int
		wg        sync.WaitGroup
	)
	deadline := time.Now().Add(d)
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			bad := 0
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				local = append(local, time.Since(t0))
				if err != nil || resp.StatusCode != http.StatusOK {
					bad++
				}
			}
			mu.Lock()
			latencies = append(latencies, local...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(float64(len(latencies))*p))].Round(10 * time.Microsecond)
	}
	return result{rps: float64(len(latencies)) / elapsed.Seconds(), p50: pct(0.50), p99: pct(0.99),
		max: pct(1), errors: errs}
}

func post(client *http.Client, u, token, body string) ([]byte, error) {
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// seed adds n members to the default organization.
func seed(c *ent.Client, n int) error {
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	org, err := c.Organization.Query().Where(organization.Name(app.DefaultConfig().DefaultOrgName)).Only(ctx)
	if err != nil {
		return err
	}
	r, err := c.Role.Query().Where(role.Name("member"), role.BuiltIn(true)).Only(ctx)
	if err != nil {
		return err
	}
	return apptest.SeedMembers(ctx, c, org.ID, r.ID, n, "load.test")
}

// scratchDatabase returns a fresh database URL and a function that drops it.
func scratchDatabase(pg string) (string, func(), error) {
	if pg == "" {
		dir, err := os.MkdirTemp("", "loadtest")
		if err != nil {
			return "", nil, err
		}
		return "sqlite://" + filepath.Join(dir, "load.db"), func() { os.RemoveAll(dir) }, nil
	}
	db, err := sql.Open("postgres", pg)
	if err != nil {
		return "", nil, err
	}
	schema := fmt.Sprintf("loadtest_%d", time.Now().UnixNano())
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		return "", nil, err
	}
	u, err := url.Parse(pg)
	if err != nil {
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func() {
		_, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE")
		db.Close()
	}, nil
}
