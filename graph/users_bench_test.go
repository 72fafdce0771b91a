package graph_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/apptest"
)

func builtInRoleID(b testing.TB, s *apptest.Server, name string) [16]byte {
	r, err := s.App.Client().Role.Query().Where(roleNamed(name)).Only(apptest.SystemContext())
	require.NoError(b, err)
	return r.ID
}

// BenchmarkUsersPage measures the Users page query for an organization of 10,000 members:
// the first page and a page deep into the cursor chain (after 9,000 members). Run with
// TEST_DATABASE_URL for PostgreSQL.
func BenchmarkUsersPage(b *testing.B) {
	var counter apptest.StatementCounter
	s := apptest.Start(b, apptest.CountStatements(&counter))
	acme := s.Org(b, apptest.RootOrg)
	require.NoError(b, apptest.SeedMembers(context.Background(), s.App.Client(), acme.ID, builtInRoleID(b, s, "member"), 10_000, "bench.test"))
	s.SettleAfterSeeding(b)
	require.Eventually(b, s.App.Service().AuthCacheServing, 10*time.Second, 10*time.Millisecond)
	tok := s.Login(b, apptest.RootEmail, apptest.RootPassword)
	const q = `query($after: Cursor) { viewer { permissions organization { members(first: 50, after: $after, orderBy: {field: LAST_ACTIVE_AT, direction: DESC}) {
	  totalCount edges { node { role { name } lastActiveAt joinedAt user { id email name twoFactorEnabled } } } pageInfo { endCursor hasNextPage } } } } }`

	// Find the cursor after 9,000 members by walking with big steps.
	var deep any
	for range 9_000 / 100 {
		r := s.Do(b, tok.Access, `query($after: Cursor) { viewer { organization { members(first: 100, after: $after, orderBy: {field: LAST_ACTIVE_AT, direction: DESC}) { edges { cursor } pageInfo { endCursor } } } } }`,
			map[string]any{"after": deep})
		require.Empty(b, r.Errors)
		deep = r.Str("viewer.organization.members.pageInfo.endCursor")
		require.NotEmpty(b, deep, "%s", r.Data)
	}
	for _, c := range []struct {
		name  string
		after any
	}{{"first", nil}, {"deep", deep}} {
		b.Run(c.name, func(b *testing.B) {
			benchGraphQL(b, s, &counter, tok.Access, map[string]any{"query": q, "variables": map[string]any{"after": c.after}})
		})
	}
}
