package graph_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent/invitation"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/auth"
)

// The three Settings pages of the dashboard, each one request.
var settingsPages = map[string]string{
	"users":    `{ viewer { permissions organization { members(first: 20, orderBy: {field: LAST_ACTIVE_AT, direction: DESC}) { totalCount edges { node { role { name } lastActiveAt joinedAt user { id email name twoFactorEnabled } } } pageInfo { endCursor hasNextPage } } invitations { edges { node { id email role { name } expiresAt } } } roles { name } } } }`,
	"roles":    `{ viewer { organization { roles { name description permissions builtIn memberCount } } } permissionCatalog { name description category } }`,
	"security": `{ viewer { user { twoFactorEnabled } organization { securityPolicy { requireTwoFactor sessionIdleTimeoutMinutes sessionMaxLifetimeHours } sessions(first: 50) { edges { node { id userAgent ipAddress lastUsedAt current user { email } } } } } } }`,
}

// statementsFor seeds an organization with n members (each with a session, and a custom role
// per member up to 5) and n pending invitations, then counts the statements of each page.
func statementsFor(t *testing.T, n int) map[string]int {
	var counter apptest.StatementCounter
	s := apptest.Start(t, apptest.CountStatements(&counter))
	acme := s.Org(t, apptest.RootOrg)
	c := s.App.Client()
	ctx := apptest.SystemContext()
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
			SetExpiresAt(time.Now().Add(time.Hour)).Exec(ctx))
	}
	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	require.Empty(t, s.Do(t, tok.Access, `{ viewer { user { id } } }`, nil).Errors) // activity written now, not during the count
	out := map[string]int{}
	for name, q := range settingsPages {
		counter.Record()
		r := s.Do(t, tok.Access, q, nil)
		require.Empty(t, r.Errors, name)
		out[name] = len(counter.Statements())
		if testing.Verbose() {
			t.Logf("%s page, %d members: %d statements", name, n, out[name])
			for _, st := range counter.Statements() {
				t.Log("  ", st)
			}
		}
	}
	return out
}

// An N+1 test reads like a SQL transcript: the Settings pages cost the same number of statements
// for 1 member as for 50.
func TestSettingsPagesCostTheSameStatementsForOneOrFiftyMembers(t *testing.T) {
	one := statementsFor(t, 1)
	fifty := statementsFor(t, 50)
	for name := range settingsPages {
		assert.Equal(t, one[name], fifty[name], "%s page: %d statements for 1 member, %d for 50", name, one[name], fifty[name])
		assert.LessOrEqual(t, fifty[name], 12, "%s page", name)
	}
	t.Logf("statements per page: %v", fifty)
}
