package graph_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/server/apptest"
)

// The Users page reads its members and their users in one joined statement; a filtered list
// goes through entgql's Paginate. A search every member matches ("@") makes the same list take
// the second path, so the two must agree page by page: order, ties broken by id, cursors both
// ways, page info, and every user field.
func TestTheOneStatementMembersPageAnswersLikePaginate(t *testing.T) {
	var counter apptest.StatementCounter
	s := apptest.Start(t, apptest.CountStatements(&counter))
	acme := s.Org(t, apptest.RootOrg)
	c := s.App.Client()
	ctx := apptest.SystemContext()
	same := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range 7 {
		u := s.AddUser(t, fmt.Sprintf("m%d@acme.test", 7-i), acme, "member")
		if i%2 == 0 { // ties, so that the id decides
			_, err := c.Membership.Update().Where(membership.UserID(u.ID)).SetLastActiveAt(same).Save(ctx)
			require.NoError(t, err)
		}
	}
	s.AddUser(t, "outsider@globex.test", s.CreateOrg(t, "Globex"), "admin")
	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)

	const query = `query($first: Int, $last: Int, $after: Cursor, $before: Cursor, $f: MembershipOrderField!, $d: OrderDirection!, $w: MemberFilter) {
	  viewer { organization { members(first: $first, last: $last, after: $after, before: $before, orderBy: {field: $f, direction: $d}, where: $w) {
	    edges { cursor node { id joinedAt lastActiveAt role { name } organization { name }
	      user { %s } } }
	    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } } }`
	// The Users page's user fields, and all of them (a wider statement).
	for _, userFields := range []string{"id email name twoFactorEnabled", "id email name createdAt updatedAt isSuperAdmin lastActiveAt twoFactorEnabled"} {
		t.Run(userFields, func(t *testing.T) { comparePages(t, s, &counter, tok.Access, fmt.Sprintf(query, userFields)) })
	}
}

// comparePages walks the members list with the query q in every ordering, both ways, through
// both paths, and requires the same pages.
func comparePages(t *testing.T, s *apptest.Server, counter *apptest.StatementCounter, access, q string) {
	page := func(vars map[string]any, filtered bool) (any, []string) {
		t.Helper()
		if filtered {
			vars["w"] = map[string]any{"search": "@"}
		}
		counter.Record()
		r := s.Do(t, access, q, vars)
		require.Empty(t, r.Errors, vars)
		return r.Get("viewer.organization.members"), counter.Statements()
	}
	vars := func(f, d string, kv ...any) map[string]any {
		m := map[string]any{"f": f, "d": d}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	joined := func(statements []string) bool {
		for _, st := range statements {
			if strings.Contains(st, "JOIN users") {
				return true
			}
		}
		return false
	}
	for _, f := range []string{"EMAIL", "JOINED_AT", "LAST_ACTIVE_AT"} {
		for _, d := range []string{"ASC", "DESC"} {
			// Forward with first and after, then back with last and before, until the end.
			for _, dir := range []struct{ size, cursor, next, more string }{
				{"first", "after", "endCursor", "hasNextPage"},
				{"last", "before", "startCursor", "hasPreviousPage"},
			} {
				var cursor any
				seen := 0
				for {
					v := vars(f, d, dir.size, 2)
					if cursor != nil {
						v[dir.cursor] = cursor
					}
					fast, fastSQL := page(v, false)
					delete(v, "w")
					slow, slowSQL := page(v, true)
					require.Equal(t, slow, fast, "%s %s %s after %d rows", f, d, dir.size, seen)
					assert.True(t, joined(fastSQL), "the page is one joined statement: %v", fastSQL)
					assert.False(t, joined(slowSQL), "a filtered page goes through Paginate: %v", slowSQL)
					m := fast.(map[string]any)
					seen += len(m["edges"].([]any))
					info := m["pageInfo"].(map[string]any)
					if info[dir.more] != true {
						break
					}
					cursor = info[dir.next]
				}
				assert.Equal(t, 8, seen, "%s %s %s: every member of acme once, none of globex", f, d, dir.size)
			}
			// A window with both cursors.
			all, _ := page(vars(f, d, "first", 8), false)
			edges := all.(map[string]any)["edges"].([]any)
			require.Len(t, edges, 8)
			from, to := edges[1].(map[string]any)["cursor"], edges[6].(map[string]any)["cursor"]
			for _, size := range []string{"first", "last"} {
				fast, _ := page(vars(f, d, size, 3, "after", from, "before", to), false)
				slow, _ := page(vars(f, d, size, 3, "after", from, "before", to), true)
				assert.Equal(t, slow, fast, "%s %s %s between two cursors", f, d, size)
			}
		}
	}
}

// A selection below the member that the joined statement does not read (here the listed
// organization's own member list) sends the page through Paginate, which loads it per page.
func TestAMembersPageAskingForMoreThanTheJoinReadsUsesPaginate(t *testing.T) {
	var counter apptest.StatementCounter
	s := apptest.Start(t, apptest.CountStatements(&counter))
	s.AddUser(t, "a@acme.test", s.Org(t, apptest.RootOrg), "member")
	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	counter.Record()
	r := s.Do(t, tok.Access, `{ viewer { organization { members(first: 5) { edges { node { user { email }
	  organization { members(first: 1) { totalCount } } } } } } } }`, nil)
	require.Empty(t, r.Errors)
	for _, st := range counter.Statements() {
		assert.NotContains(t, st, "JOIN users", "Paginate, not the joined page")
	}
	assert.Len(t, r.Get("viewer.organization.members.edges"), 2)
}
