package rest_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/role"
	"github.com/inferiallm/orgserver/server/apptest"
)

// Skip pages of the member list are the list cut where skip and limit say, on every ordering
// and filter, in a constant number of statements (the first page one, a deeper one four: the
// page's ids, then the rows, organization and users): members whose ordering column ties keep
// their id order, the last page is short and a skip past the end is empty.
func TestRESTUsersSkipPages(t *testing.T) {
	var counter apptest.StatementCounter
	s := apptest.Start(t, apptest.CountStatements(&counter))
	acme := s.Org(t, apptest.RootOrg)
	c := s.App.Client()
	member, err := c.Role.Query().Where(role.Name("member"), role.BuiltIn(true)).First(apptest.SystemContext())
	require.NoError(t, err)
	const n = 230
	require.NoError(t, apptest.SeedMembers(context.Background(), c, acme.ID, member.ID, n, "skip.test"))
	// Ties: ten members active at one instant, listed by id among themselves.
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	_, err = c.Membership.Update().Where(membership.EmailHasPrefix("user0010")).SetLastActiveAt(at).Save(apptest.SystemContext())
	require.NoError(t, err)
	globex := s.CreateOrg(t, "Globex")
	require.NoError(t, apptest.SeedMembers(context.Background(), c, globex.ID, member.ID, 20, "globex.test"))
	require.Eventually(t, s.App.Service().AuthCacheServing, 10*time.Second, 10*time.Millisecond)
	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)

	get := func(t *testing.T, query string) []string {
		t.Helper()
		r := s.REST(t, apptest.RESTRequest{Method: "GET", Path: "/management/users" + query, Bearer: tok.Access})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
		return column(r.Body, "email")
	}
	// The oracle: the organization's members as the database orders them, read without the
	// paging code under test.
	ordered := func(field string, desc bool) (emails, ids []string) {
		order := ent.Asc(field, membership.FieldID)
		if desc {
			order = ent.Desc(field, membership.FieldID)
		}
		ms, err := c.Membership.Query().Where(membership.OrganizationID(acme.ID)).Order(order).All(apptest.SystemContext())
		require.NoError(t, err)
		for _, m := range ms {
			emails, ids = append(emails, m.Email), append(ids, m.ID.String())
		}
		return emails, ids
	}
	all, _ := ordered(membership.FieldEmail, false)
	require.Len(t, all, n+1)
	require.True(t, slices.IsSorted(all), "by e-mail")
	assert.Equal(t, all[:100], get(t, "?limit=100"))
	assert.Equal(t, all[100:200], get(t, "?skip=100&limit=100"))
	assert.Equal(t, all[200:], get(t, "?skip=200&limit=100"))

	for _, c := range []struct{ skip, limit int }{{1, 50}, {49, 3}, {50, 50}, {180, 50}, {181, 50}, {200, 100}, {230, 5}, {231, 5}, {5000, 50}} {
		t.Run(fmt.Sprintf("skip=%d&limit=%d", c.skip, c.limit), func(t *testing.T) {
			want := all[min(c.skip, len(all)):min(c.skip+c.limit, len(all))]
			before := counter.Count()
			got := get(t, fmt.Sprintf("?skip=%d&limit=%d", c.skip, c.limit))
			assert.Equal(t, want, got)
			stmts := counter.Count() - before
			switch {
			case len(want) == 0:
				assert.EqualValues(t, 1, stmts, "the ids only")
			default:
				assert.EqualValues(t, 4, stmts, "ids, rows, organization, users")
			}
		})
	}
	t.Run("first page", func(t *testing.T) {
		before := counter.Count()
		assert.Equal(t, all[:50], get(t, ""))
		assert.EqualValues(t, 1, counter.Count()-before, "the rows with their users")
	})
	t.Run("filtered", func(t *testing.T) {
		var matching []string
		for _, e := range all {
			if strings.Contains(e, "user0001") {
				matching = append(matching, e)
			}
		}
		require.Len(t, matching, 10)
		assert.Equal(t, matching[3:8], get(t, "?search=USER0001&skip=3&limit=5"))
		assert.Equal(t, matching[9:], get(t, "?search=user0001&skip=9"))
		assert.Empty(t, get(t, "?search=user0001&skip=10"))
		assert.Equal(t, all[100:110], get(t, "?role=member&skip=99&limit=10"), "the root is admin")
	})
	// Through GraphQL, every ordering: ties on last_active_at go by id, and each skip page is
	// the same cut of the whole list.
	for _, o := range []struct {
		order, field string
		desc         bool
	}{
		{"{field: LAST_ACTIVE_AT, direction: DESC}", membership.FieldLastActiveAt, true},
		{"{field: LAST_ACTIVE_AT, direction: ASC}", membership.FieldLastActiveAt, false},
		{"{field: JOINED_AT, direction: DESC}", membership.FieldJoinedAt, true},
		{"{field: EMAIL, direction: DESC}", membership.FieldEmail, true},
	} {
		order := o.order
		t.Run(order, func(t *testing.T) {
			list := func(offset, limit int) []string {
				r := s.Do(t, tok.Access, fmt.Sprintf(`{ viewer { organization { memberList(offset: %d, limit: %d, orderBy: %s) { id } } } }`, offset, limit, order), nil)
				require.Empty(t, r.Errors)
				out := []string{}
				for _, m := range r.Get("viewer.organization.memberList").([]any) {
					out = append(out, m.(map[string]any)["id"].(string))
				}
				return out
			}
			_, whole := ordered(o.field, o.desc)
			require.Len(t, whole, n+1)
			assert.Equal(t, whole, append(append(list(0, 100), list(100, 100)...), list(200, 100)...))
			for _, skip := range []int{1, 95, 97, 99, 104, 229, 231, 300} {
				assert.Equal(t, whole[min(skip, len(whole)):min(skip+7, len(whole))], list(skip, 7), "offset %d", skip)
			}
		})
	}
}
