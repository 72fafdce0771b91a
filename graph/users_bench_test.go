package graph_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/server/apptest"
)

// seedMembers adds n members to org with bulk inserts, bypassing the API.
func seedMembers(b testing.TB, s *apptest.Server, org *ent.Organization, n int) {
	c := s.App.Client()
	ctx := apptest.SystemContext()
	role := builtInRoleID(b, s, "member")
	const batch = 500
	base := time.Now().Add(-time.Duration(n) * time.Minute)
	for i := 0; i < n; i += batch {
		users := make([]*ent.UserCreate, 0, batch)
		for j := i; j < min(i+batch, n); j++ {
			users = append(users, c.User.Create().SetEmail(fmt.Sprintf("user%05d@bench.test", j)).
				SetName(fmt.Sprintf("User %05d", j)).SetPasswordHash("x"))
		}
		created, err := c.User.CreateBulk(users...).Save(ctx)
		require.NoError(b, err)
		ms := make([]*ent.MembershipCreate, 0, len(created))
		for k, u := range created {
			at := base.Add(time.Duration(i+k) * time.Minute)
			ms = append(ms, c.Membership.Create().SetUserID(u.ID).SetOrganizationID(org.ID).SetRoleID(role).
				SetEmail(u.Email).SetJoinedAt(at).SetLastActiveAt(at))
		}
		require.NoError(b, c.Membership.CreateBulk(ms...).Exec(ctx))
	}
}

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
	seedMembers(b, s, acme, 10_000)
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
	client := &http.Client{}
	for _, c := range []struct {
		name  string
		after any
	}{{"first", nil}, {"deep", deep}} {
		body, _ := json.Marshal(map[string]any{"query": q, "variables": map[string]any{"after": c.after}})
		b.Run(c.name, func(b *testing.B) {
			before := counter.Count()
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tok.Access)
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
		})
	}
}
