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
					assert.Equal(t, []string{"joined"}, memberReads(fastSQL), "the page is one joined statement")
					assert.Equal(t, []string{"ent", "ent"}, memberReads(slowSQL), "a filtered page goes through Paginate: memberships, then users")
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
	assert.Equal(t, []string{"ent", "ent"}, memberReads(counter.Statements()), "Paginate, not the joined page")
	assert.Len(t, r.Get("viewer.organization.members.edges"), 2)
}

// The offset list REST's member routes use reads its first page the same way, and answers like
// the filtered (ent) path; deeper pages keep their two steps.
func TestTheOneStatementMemberListAnswersLikeTheFilteredList(t *testing.T) {
	var counter apptest.StatementCounter
	s := apptest.Start(t, apptest.CountStatements(&counter))
	acme := s.Org(t, apptest.RootOrg)
	for i := range 7 {
		s.AddUser(t, fmt.Sprintf("l%d@acme.test", 7-i), acme, "member")
	}
	s.AddUser(t, "outsider@globex.test", s.CreateOrg(t, "Globex"), "admin")
	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	const q = `query($o: Int, $l: Int, $f: MembershipOrderField!, $d: OrderDirection!, $w: MemberFilter) { viewer { organization {
	  memberList(offset: $o, limit: $l, orderBy: {field: $f, direction: $d}, where: $w) {
	    id joinedAt lastActiveAt role { name } organization { id } user { id email name createdAt twoFactorEnabled } } } } }`
	list := func(vars map[string]any) (any, []string) {
		t.Helper()
		counter.Record()
		r := s.Do(t, tok.Access, q, vars)
		require.Empty(t, r.Errors, vars)
		return r.Get("viewer.organization.memberList"), counter.Statements()
	}
	for _, f := range []string{"EMAIL", "JOINED_AT", "LAST_ACTIVE_AT"} {
		for _, d := range []string{"ASC", "DESC"} {
			var all []any
			for _, o := range []int{0, 3, 6, 8, 20} {
				v := map[string]any{"o": o, "l": 3, "f": f, "d": d}
				fast, fastSQL := list(v)
				v["w"] = map[string]any{"search": "@"}
				slow, _ := list(v)
				require.Equal(t, slow, fast, "%s %s offset %d", f, d, o)
				if o == 0 {
					assert.Equal(t, []string{"joined"}, memberReads(fastSQL), "one statement: %v", fastSQL)
				} else if o < 8 {
					assert.Equal(t, []string{"ent", "ent", "ent"}, memberReads(fastSQL), "ids, rows, users: %v", fastSQL)
				}
				all = append(all, fast.([]any)...)
			}
			// Offsets 0, 3 and 6 show the 8 members in three pages; 8 and 20 are past the end.
			assert.Len(t, all, 8, "%s %s: each of acme's 8 members once, none of globex", f, d)
		}
	}
}

// memberReads names the statements that read memberships or users: "joined" for memberRows's,
// "ent" for ent's.
func memberReads(statements []string) []string {
	var reads []string
	for _, st := range statements {
		st = strings.ReplaceAll(st, `"`, "`")
		switch {
		case strings.HasPrefix(st, "SELECT m.id") && strings.Contains(st, "JOIN users"):
			reads = append(reads, "joined")
		case strings.HasPrefix(st, "SELECT `memberships`.") || strings.HasPrefix(st, "SELECT `users`."):
			reads = append(reads, "ent")
		}
	}
	return reads
}
