package graph_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent/invitation"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/graph/documents"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/auth"
)

// The dashboard's Settings pages, each one request: the documents of graph/documents/dashboard,
// exactly as the dashboard sends them.
var settingsPages = func() map[string]string {
	pages := map[string]string{}
	for _, p := range documents.Dashboard() {
		pages[p.Name] = p.Text
	}
	return pages
}()

// pageOrder is the order the pages are visited in, the viewer request first.
var pageOrder = []string{"viewer", "users", "roles", "invitations", "security", "sessions", "auditlog", "organization"}

// The viewer request the dashboard sends on every page.
const viewerPage = `{ viewer { user { email name } organization { name } permissions } }`

// statementsFor seeds an organization with n members (each with a session, and a custom role
// per member up to 5), n pending invitations (each sent by another member), n sessions of the
// viewer and n audit entries, then counts the statements of each page: cold
// (the first visit, which fills the caches) and warm (the visits after).
func statementsFor(t *testing.T, n int) (cold, warm map[string]int) {
	var counter apptest.StatementCounter
	s := apptest.Start(t, apptest.CountStatements(&counter))
	acme := s.Org(t, apptest.RootOrg)
	c := s.App.Client()
	ctx := apptest.SystemContext()
	root, err := c.User.Query().Where(user.Email(apptest.RootEmail)).Only(ctx)
	require.NoError(t, err)
	for i := range n {
		roleName := "member"
		if i < 5 {
			roleName = fmt.Sprintf("custom-%d", i)
			_, err := c.Role.Create().SetOrganizationID(acme.ID).SetName(roleName).SetPermissions([]string{"model:list"}).Save(ctx)
			require.NoError(t, err)
		}
		u := s.AddUser(t, fmt.Sprintf("m%03d@acme.test", i), acme, roleName)
		require.NoError(t, c.Session.Create().SetUserID(u.ID).SetOrganizationID(acme.ID).SetRefreshTokenHash(auth.HashToken(u.Email)).
			SetUserAgent("agent").SetIPAddress("10.0.0.1").SetExpiresAt(time.Now().Add(time.Hour)).Exec(ctx))
		require.NoError(t, c.Invitation.Create().SetOrganizationID(acme.ID).SetEmail(fmt.Sprintf("i%03d@acme.test", i)).
			SetRoleID(builtInRoleID(t, s, "viewer")).SetTokenHash(auth.HashToken(u.Email+"inv")).SetStatus(invitation.StatusPENDING).
			SetInvitedByID(u.ID).SetExpiresAt(time.Now().Add(time.Hour)).Exec(ctx))
		require.NoError(t, c.Session.Create().SetUserID(root.ID).SetOrganizationID(acme.ID).SetRefreshTokenHash(auth.HashToken(u.Email+"root")).
			SetUserAgent("agent").SetIPAddress("10.0.0.2").SetExpiresAt(time.Now().Add(time.Hour)).Exec(ctx))
		require.NoError(t, c.AuditLog.Create().SetOrganizationID(acme.ID).SetActorID(u.ID).SetActorEmail(u.Email).
			SetAction("member.add").SetCategory("member").SetResourceType("user").SetResourceID(u.ID.String()).
			SetDetails(map[string]any{"role": roleName}).Exec(ctx))
	}
	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	// On PostgreSQL the cache serves once its change notifications arrive.
	require.Eventually(t, s.App.Service().AuthCacheServing, 10*time.Second, 10*time.Millisecond)
	require.Empty(t, s.Do(t, tok.Access, `{ viewer { user { id } } }`, nil).Errors) // activity written now, not during the count
	pages := map[string]string{"viewer": viewerPage}
	for name, q := range settingsPages {
		pages[name] = q
	}
	cold, warm = map[string]int{}, map[string]int{}
	for _, visit := range []map[string]int{cold, warm} {
		// In one order, so that what one page leaves in the cache is there for the next alike.
		for _, name := range pageOrder {
			q := pages[name]
			counter.Record()
			r := s.Do(t, tok.Access, q, nil)
			require.Empty(t, r.Errors, name)
			visit[name] = len(counter.Statements())
			if testing.Verbose() {
				t.Logf("%s page, %d members: %d statements", name, n, visit[name])
				for _, st := range counter.Statements() {
					t.Log("  ", st)
				}
			}
		}
	}
	return cold, warm
}

// An N+1 test reads like a SQL transcript: each Settings page of the dashboard (one document of
// graph/documents/dashboard, one request) costs the same number of statements for 1 row as for
// 50: members, invitations, sessions, audit entries.
func TestSettingsPagesCostTheSameStatementsForOneOrFiftyMembers(t *testing.T) {
	oneCold, oneWarm := statementsFor(t, 1)
	fiftyCold, fiftyWarm := statementsFor(t, 50)
	// Warm, as every visit after the first: authentication, the organization and its roles come
	// from the cache, the total from the organization's kept count.
	most := map[string]int{"viewer": 2, "users": 2, "roles": 2, "invitations": 4, "security": 3, "sessions": 3, "auditlog": 3, "organization": 3}
	require.ElementsMatch(t, pageOrder[1:], slices.Collect(maps.Keys(settingsPages)), "every dashboard page is counted")
	for name := range most {
		assert.Equal(t, oneCold[name], fiftyCold[name], "%s page, cold: %d statements for 1 member, %d for 50", name, oneCold[name], fiftyCold[name])
		assert.Equal(t, oneWarm[name], fiftyWarm[name], "%s page: %d statements for 1 member, %d for 50", name, oneWarm[name], fiftyWarm[name])
		assert.LessOrEqual(t, fiftyWarm[name], most[name], "%s page", name)
		assert.LessOrEqual(t, fiftyCold[name], 12, "%s page, cold", name)
	}
	t.Logf("statements per page, cold: %v; warm: %v", fiftyCold, fiftyWarm)
}

const loginWithMemberships = `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) {
	accessToken refreshToken tokenType expiresIn memberships { organization { id name } role { name } } } }`

// loginStatements counts the statements of one successful sign-in of a member of two
// organizations, with the rate limiter as configured.
func loginStatements(t *testing.T, limits graph.Limits) (sts []string, inTx int64) {
	var counter apptest.StatementCounter
	s := apptest.Start(t, apptest.CountStatements(&counter), func(cfg *app.Config, _ *app.Options) { cfg.Limits = limits })
	u := s.AddUser(t, "two@acme.test", s.Org(t, apptest.RootOrg), "member")
	s.AddUser(t, u.Email, s.CreateOrg(t, "Other"), "admin")
	// On PostgreSQL the cache serves once its change notifications arrive.
	require.Eventually(t, s.App.Service().AuthCacheServing, 10*time.Second, 10*time.Millisecond)
	s.Login(t, u.Email, apptest.Password(u.Email)) // whatever a first sign-in leaves, not counted
	counter.Record()
	before := counter.InTransactions()
	// What the REST route asks for: the tokens and every membership with its organization and role.
	r := s.Do(t, "", loginWithMemberships, map[string]any{"e": u.Email, "p": apptest.Password(u.Email)})
	require.Empty(t, r.Errors)
	return counter.Statements(), counter.InTransactions() - before
}

// A sign-in reads what the token needs once: the account (before the hash and again, with the
// hash checked, in the transaction), the memberships with their organization and role, and
// writes the session, the audit entry and the rate limiter's state only when there is some.
func TestLoginStatements(t *testing.T) {
	for _, c := range []struct {
		name   string
		limits graph.Limits
	}{{"limiter-on", graph.DefaultLimits}, {"limiter-off", graph.Limits{Window: time.Minute}}} {
		t.Run(c.name, func(t *testing.T) {
			sts, inTx := loginStatements(t, c.limits)
			t.Logf("%d statements", len(sts))
			for _, st := range sts {
				t.Log("  ", st)
			}
			count := func(prefix string) (n int) {
				for _, st := range sts {
					if strings.HasPrefix(strings.ReplaceAll(st, `"`, "`"), prefix) {
						n++
					}
				}
				return n
			}
			// Before: 15 with the limiter on, 13 off (memberships, organizations and roles read twice,
			// a DELETE FROM rate_limits on every success, the payload's memberships loaded again).
			want := map[string]int{"limiter-on": 9, "limiter-off": 7}[c.name]
			assert.Equal(t, want, len(sts))
			assert.Zero(t, count("DELETE FROM `rate_limits`"), "nothing to clear")
			assert.Equal(t, 2, count("SELECT `users`"), "the account, before the hash and in the transaction")
			assert.Equal(t, 1, count("SELECT `memberships`"), "for the token and the payload")
			assert.Equal(t, 1, count("SELECT `organizations`"))
			assert.Equal(t, 1, count("SELECT `roles`"), "the organizations' roles")
			assert.Equal(t, map[string]int{"limiter-on": 2, "limiter-off": 0}[c.name], count("SELECT `rate_limits`"))
			// The memberships, organizations and roles are read while the hash runs, before the
			// transaction: it holds its connection (and on SQLite the write lock) for the account's
			// re-read, the session and the audit entry only (it was 6 statements).
			assert.Equal(t, int64(3), inTx, "statements inside the transaction")
		})
	}
}

// A success forgets the account's failures, and only the account's; with none to forget it
// writes nothing to the limiter.
func TestLoginClearsTheAccountsFailuresOnlyWhenThereAreSome(t *testing.T) {
	var counter apptest.StatementCounter
	s := apptest.Start(t, apptest.CountStatements(&counter))
	u := s.AddUser(t, "fails@acme.test", s.Org(t, apptest.RootOrg), "member")
	for range 2 {
		r := s.Do(t, "", loginWithMemberships, map[string]any{"e": u.Email, "p": "wrong password"})
		require.NotEmpty(t, r.Errors)
	}
	rows := func() int { return s.App.Client().RateLimit.Query().CountX(apptest.SystemContext()) }
	require.Equal(t, 2, rows(), "the account's and the address's")
	deletes := func() (n int) {
		for _, st := range counter.Statements() {
			if strings.HasPrefix(strings.ReplaceAll(st, `"`, "`"), "DELETE FROM `rate_limits`") {
				n++
			}
		}
		return n
	}
	counter.Record()
	s.Login(t, u.Email, apptest.Password(u.Email))
	assert.Equal(t, 1, deletes())
	assert.Equal(t, 1, rows(), "the address's failures stay")
	counter.Record()
	s.Login(t, u.Email, apptest.Password(u.Email))
	assert.Zero(t, deletes())
}

// A page that asks for its page info but not the total is not counted: the page info comes
// from the page (one row more than it shows), whatever the list's length.
func TestAMembersPageWithPageInfoButNoTotalIsNotCounted(t *testing.T) {
	var counter apptest.StatementCounter
	s := apptest.Start(t, apptest.CountStatements(&counter))
	acme := s.Org(t, apptest.RootOrg)
	for i := range 3 {
		s.AddUser(t, fmt.Sprintf("p%d@acme.test", i), acme, "member")
	}
	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	require.Eventually(t, s.App.Service().AuthCacheServing, 10*time.Second, 10*time.Millisecond)
	const page = `query($after: Cursor) { viewer { organization { members(first: 3, after: $after, orderBy: {field: EMAIL, direction: ASC}) {
	  edges { node { user { email } } } pageInfo { hasNextPage hasPreviousPage endCursor } } } } }`
	counter.Record()
	r := s.Do(t, tok.Access, page, nil)
	require.Empty(t, r.Errors)
	for _, st := range counter.Statements() {
		assert.NotContains(t, strings.ToUpper(st), "COUNT(", "no count for a page without totalCount")
	}
	assert.Equal(t, true, r.Get("viewer.organization.members.pageInfo.hasNextPage"), "4 members, 3 shown")
	assert.Equal(t, false, r.Get("viewer.organization.members.pageInfo.hasPreviousPage"))
	r = s.Do(t, tok.Access, page, map[string]any{"after": r.Get("viewer.organization.members.pageInfo.endCursor")})
	require.Empty(t, r.Errors)
	assert.Len(t, r.Get("viewer.organization.members.edges"), 1)
	assert.Equal(t, false, r.Get("viewer.organization.members.pageInfo.hasNextPage"))
	assert.Equal(t, true, r.Get("viewer.organization.members.pageInfo.hasPreviousPage"))
	// With no page at all, the page info still says whether there is one.
	r = s.Do(t, tok.Access, `{ viewer { organization { members(first: 0) { edges { node { id } } pageInfo { hasNextPage } } } } }`, nil)
	require.Empty(t, r.Errors)
	assert.Equal(t, true, r.Get("viewer.organization.members.pageInfo.hasNextPage"))
}
