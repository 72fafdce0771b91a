// Package apptest starts the real server in-process for tests: on a fresh SQLite file in a temp
// directory, or, when TEST_DATABASE_URL is set, on a fresh schema of that PostgreSQL database.
// It also has a small GraphQL client and helpers that seed data directly.
package apptest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/role"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/auth"
)

// Super admin credentials of every test server.
const (
	RootEmail    = "root@example.com"
	RootPassword = "root-password-1"
	RootOrg      = "Acme"
)

// Server is a running test server.
type Server struct {
	URL    string
	App    *app.App
	Config app.Config
	Opts   app.Options
	stop   func()
}

// Option changes the configuration of a test server.
type Option func(*app.Config, *app.Options)

// DatabaseURL returns a fresh, empty database for one test: a SQLite file in a temp dir, or a new
// schema in TEST_DATABASE_URL, dropped when the test ends.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		return "sqlite://" + filepath.Join(t.TempDir(), "test.db")
	}
	db, err := sql.Open("postgres", base)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	_, err = db.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := db.Exec("DROP SCHEMA " + schema + " CASCADE")
		if err != nil {
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

// Config returns the configuration test servers start from.
func Config(databaseURL string) app.Config {
	cfg := app.DefaultConfig()
	cfg.DatabaseURL = databaseURL
	cfg.Addr = "127.0.0.1:0"
	cfg.SuperAdminEmail = RootEmail
	cfg.SuperAdminPassword = RootPassword
	cfg.DefaultOrgName = RootOrg
	cfg.Argon2 = auth.TestArgon2Params
	cfg.LogLevel = "warn"
	return cfg
}

// Start starts a server on a fresh database.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := Config(DatabaseURL(t))
	var o app.Options
	for _, opt := range opts {
		opt(&cfg, &o)
	}
	return StartWith(t, cfg, o)
}

// StartWith starts a server with cfg.
func StartWith(t testing.TB, cfg app.Config, o app.Options) *Server {
	t.Helper()
	if o.Logs == nil {
		o.Logs = testWriter{t}
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, o)
	if err != nil {
		cancel()
		t.Fatalf("starting the server: %v", err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	s := &Server{URL: "http://" + ln.Addr().String(), App: a, Config: cfg, Opts: o}
	var once bool
	s.stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		a.Close()
	}
	t.Cleanup(s.stop)
	return s
}

// Restart stops s and starts a new server on the same database.
func (s *Server) Restart(t testing.TB) *Server {
	t.Helper()
	s.stop()
	return StartWith(t, s.Config, s.Opts)
}

// Stop stops the server now (Cleanup would anyway).
func (s *Server) Stop() { s.stop() }

// testWriter sends the server's logs to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// GQLError is one GraphQL error.
type GQLError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Response is a GraphQL response.
type Response struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []GQLError      `json:"errors"`
}

// Code returns the code of the first error, or "" when there is none.
func (r *Response) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// Decode unmarshals the data into v.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	require.Empty(t, r.Errors, "unexpected GraphQL errors")
	require.NoError(t, json.Unmarshal(r.Data, v))
}

// Get returns the value at a dotted path of the data, e.g. "viewer.user.email".
func (r *Response) Get(path string) any {
	var v any
	if err := json.Unmarshal(r.Data, &v); err != nil {
		return nil
	}
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// Str returns the string at a dotted path of the data.
func (r *Response) Str(path string) string {
	s, _ := r.Get(path).(string)
	return s
}

// Do sends a GraphQL request with an optional bearer token.
func (s *Server) Do(t testing.TB, token, query string, vars map[string]any) *Response {
	t.Helper()
	return s.post(t, token, map[string]any{"query": query, "variables": vars})
}

// post sends a GraphQL request body to /graphql with an optional bearer token.
func (s *Server) post(t testing.TB, token string, request map[string]any) *Response {
	t.Helper()
	r, err := s.send(token, request)
	require.NoError(t, err)
	return r
}

// TryDo is Do for goroutines: it returns what went wrong instead of failing the test.
func (s *Server) TryDo(token, query string, vars map[string]any) (*Response, error) {
	return s.send(token, map[string]any{"query": query, "variables": vars})
}

func (s *Server) send(token string, request map[string]any) (*Response, error) {
	body, err := json.Marshal(request)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "apptest")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	r := &Response{Status: resp.StatusCode}
	if err := json.Unmarshal(raw, r); err != nil {
		return nil, fmt.Errorf("response %s: %w", raw, err)
	}
	return r, nil
}

// Tokens are the tokens of a session.
type Tokens struct {
	Access, Refresh string
	UserID, OrgID   string
}

const loginMutation = `mutation($email: String!, $password: String!, $org: ID) {
  login(input: {email: $email, password: $password, organizationId: $org}) {
    accessToken refreshToken user { id } organization { id }
  }
}`

// Login signs in and fails the test if that does not work.
func (s *Server) Login(t testing.TB, email, password string) Tokens {
	t.Helper()
	r := s.Do(t, "", loginMutation, map[string]any{"email": email, "password": password})
	require.Empty(t, r.Errors, "login of %s", email)
	return Tokens{
		Access: r.Str("login.accessToken"), Refresh: r.Str("login.refreshToken"),
		UserID: r.Str("login.user.id"), OrgID: r.Str("login.organization.id"),
	}
}

// SystemContext is a context that bypasses privacy, for seeding data in tests.
func SystemContext() context.Context {
	return privacy.DecisionContext(context.Background(), privacy.Allow)
}

// CreateOrg creates an organization directly in the database.
func (s *Server) CreateOrg(t testing.TB, name string) *ent.Organization {
	t.Helper()
	o, err := s.App.Client().Organization.Create().SetName(name).Save(SystemContext())
	require.NoError(t, err)
	return o
}

// Org returns the organization called name.
func (s *Server) Org(t testing.TB, name string) *ent.Organization {
	t.Helper()
	orgs, err := s.App.Client().Organization.Query().All(SystemContext())
	require.NoError(t, err)
	for _, o := range orgs {
		if o.Name == name {
			return o
		}
	}
	t.Fatalf("no organization %q", name)
	return nil
}

// testHasher hashes the passwords of seeded accounts, with the tests' cheap parameters.
var testHasher = auth.NewPasswordHasher(auth.TestArgon2Params, auth.HashLimits{})

// Password is the password AddUser gives an account.
func Password(email string) string { return "password-" + email }

// AddUser creates a user with password Password(email), unless it exists, and makes it a
// member of org with the built-in or custom role roleName.
func (s *Server) AddUser(t testing.TB, email string, org *ent.Organization, roleName string) *ent.User {
	t.Helper()
	ctx := SystemContext()
	c := s.App.Client()
	u, err := c.User.Query().Where(user.Email(email)).Only(ctx)
	if ent.IsNotFound(err) {
		hash, herr := testHasher.Hash(context.Background(), Password(email))
		require.NoError(t, herr)
		u, err = c.User.Create().SetEmail(email).SetName(strings.Split(email, "@")[0]).SetPasswordHash(hash).Save(ctx)
	}
	require.NoError(t, err)
	r, err := c.Role.Query().Where(role.Name(roleName), role.Or(role.OrganizationIDIsNil(), role.OrganizationID(org.ID))).Only(ctx)
	require.NoError(t, err, "role %s", roleName)
	require.NoError(t, c.Membership.Create().SetUserID(u.ID).SetOrganizationID(org.ID).SetRoleID(r.ID).Exec(ctx))
	return u
}
