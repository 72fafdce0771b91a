package rest_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent/role"
	"github.com/inferiallm/orgserver/server/apptest"
)

// BenchmarkRESTUsers measures the REST member list (GET /management/users, the dashboard's
// path) over an organization of 10,001 members: the first page and a deep one (skip=9000), both
// of 50. It reports the SQL statements per request. Run with TEST_DATABASE_URL for PostgreSQL.
func BenchmarkRESTUsers(b *testing.B) {
	var counter apptest.StatementCounter
	s := apptest.Start(b, apptest.CountStatements(&counter))
	acme := s.Org(b, apptest.RootOrg)
	member, err := s.App.Client().Role.Query().Where(role.Name("member"), role.BuiltIn(true)).First(apptest.SystemContext())
	require.NoError(b, err)
	require.NoError(b, apptest.SeedMembers(context.Background(), s.App.Client(), acme.ID, member.ID, 10_000, "bench.test"))
	s.SettleAfterSeeding(b)
	require.Eventually(b, s.App.Service().AuthCacheServing, 10*time.Second, 10*time.Millisecond)
	tok := s.Login(b, apptest.RootEmail, apptest.RootPassword)
	for _, c := range []struct{ name, query string }{
		{"first", "?limit=50"},
		{"skip9000", "?skip=9000&limit=50"},
	} {
		b.Run(c.name, func(b *testing.B) {
			benchREST(b, s, &counter, tok.Access, "/management/users"+c.query)
		})
	}
}

// benchREST sends one GET per iteration through the real HTTP stack, fails on anything but a
// 200, and reports the SQL statements per request.
func benchREST(b *testing.B, s *apptest.Server, counter *apptest.StatementCounter, token, path string) {
	b.Helper()
	client := &http.Client{}
	b.ReportAllocs()
	before := counter.Count()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(out, []byte(`[{`)) {
			b.Fatalf("%s: %s", resp.Status, out)
		}
	}
	b.ReportMetric(float64(counter.Count()-before)/float64(b.N), "stmts/op")
}
