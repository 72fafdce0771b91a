package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

// benchGraphQL posts one GraphQL request per iteration through the real HTTP stack, fails on
// any error, and reports the SQL statements per request.
func benchGraphQL(b *testing.B, s *apptest.Server, counter *apptest.StatementCounter, token string, request map[string]any) {
	b.Helper()
	body, err := json.Marshal(request)
	require.NoError(b, err)
	client := &http.Client{}
	before := counter.Count()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte(`"errors"`)) {
			b.Fatalf("%s: %s", resp.Status, out)
		}
	}
	b.ReportMetric(float64(counter.Count()-before)/float64(b.N), "stmts/op")
}

// BenchmarkViewerOverHTTP measures an authenticated viewer request through the whole stack:
// HTTP, middleware, token check, session and membership lookup, GraphQL execution, database.
// Run it on PostgreSQL with TEST_DATABASE_URL set.
func BenchmarkViewerOverHTTP(b *testing.B) {
	var counter apptest.StatementCounter
	s := apptest.Start(b, apptest.CountStatements(&counter))
	require.Eventually(b, s.App.Service().AuthCacheServing, 10*time.Second, 10*time.Millisecond)
	tok := s.Login(b, apptest.RootEmail, apptest.RootPassword)
	benchGraphQL(b, s, &counter, tok.Access, map[string]any{"query": `{ viewer { user { email } organization { name } permissions } }`})
}

// BenchmarkAuthenticate measures authentication alone: the access token's signature and claims
// plus what the session, membership, role and policy say: warm from the authentication cache,
// cold from the one-statement lookup (the cache off). It reports statements per op.
func BenchmarkAuthenticate(b *testing.B) {
	for _, c := range []struct {
		name string
		ttl  time.Duration
	}{{"warm", time.Minute}, {"cold", 0}} {
		b.Run(c.name, func(b *testing.B) {
			var counter apptest.StatementCounter
			s := apptest.Start(b, apptest.CountStatements(&counter), func(cfg *app.Config, _ *app.Options) { cfg.AuthCacheTTL = c.ttl })
			if c.ttl > 0 {
				require.Eventually(b, s.App.Service().AuthCacheServing, 10*time.Second, 10*time.Millisecond)
			}
			tok := s.Login(b, apptest.RootEmail, apptest.RootPassword)
			svc := s.App.Service()
			ctx := context.Background()
			_, err := svc.Authenticate(ctx, tok.Access)
			require.NoError(b, err)
			before := counter.Count()
			for b.Loop() {
				if _, err := svc.Authenticate(ctx, tok.Access); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(counter.Count()-before)/float64(b.N), "stmts/op")
		})
	}
}

// BenchmarkTokenCheck measures the signature and claims check without the database.
func BenchmarkTokenCheck(b *testing.B) {
	s := apptest.Start(b)
	tok := s.Login(b, apptest.RootEmail, apptest.RootPassword)
	tk := s.App.Service().Tokens
	for b.Loop() {
		if _, err := tk.ParseAccess(tok.Access); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoginRateLimiter measures what the rate limiter adds to a successful sign-in (its
// check and the reset of the account's count), with cheap password hashing so that the
// difference shows.
func BenchmarkLoginRateLimiter(b *testing.B) {
	for _, c := range []struct {
		name   string
		limits graph.Limits
	}{
		{"limiter-on", graph.DefaultLimits},
		{"limiter-off", graph.Limits{Window: time.Minute}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var counter apptest.StatementCounter
			s := apptest.Start(b, apptest.CountStatements(&counter), func(cfg *app.Config, _ *app.Options) { cfg.Limits = c.limits })
			benchGraphQL(b, s, &counter, "", map[string]any{"query": `mutation { login(input: {email: "` + apptest.RootEmail +
				`", password: "` + apptest.RootPassword + `"}) { accessToken } }`})
		})
	}
}
