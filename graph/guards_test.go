package graph_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/invitation"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/organization"
	"github.com/inferiallm/orgserver/ent/session"
	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/server/apptest"
)

// Guards that no other check stands in front of. Each test below is built so that the guard it
// names is the only thing between the caller and the harm: remove that guard alone and the test
// fails (issue 16). The REST side of the same rules is in rest/guards_test.go.

// replicas starts two servers on one fresh database, as two replicas behind a load balancer
// run, with the same options (and so the same clock).
func replicas(t *testing.T, opts ...apptest.Option) (*apptest.Server, *apptest.Server) {
	t.Helper()
	a := apptest.Start(t, opts...)
	return a, apptest.StartWith(t, a.Config, a.Opts)
}

func TestOneAddressSprayingOnePasswordAcrossAccountsIsBlockedOnEveryReplica(t *testing.T) {
	require.Equal(t, 30, graph.DefaultLimits.LoginPerIP, "the default this test is about")
	require.Equal(t, 5, graph.DefaultLimits.LoginPerAccount)
	clock := apptest.NewWholeSecondClock()
	a, b := replicas(t, apptest.WithClock(clock), apptest.WithLimits(graph.DefaultLimits))
	acme := a.Org(t, apptest.RootOrg)
	// Thirty accounts, each tried once with the same password: far below the per-account limit.
	// Half exist, half do not; the sign-ins alternate between the two replicas.
	var targets []string
	for i := range 15 {
		targets = append(targets, a.AddUser(t, fmt.Sprintf("user%02d@acme.test", i), acme, "member").Email)
		targets = append(targets, fmt.Sprintf("nobody%02d@acme.test", i))
	}
	carol := a.AddUser(t, "carol@acme.test", acme, "member")
	mallory := a.AddUser(t, "mallory@acme.test", acme, "member")
	spray := func(from int, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			s := []*apptest.Server{a, b}[i%2]
			assertError(t, plainLogin(t, s, targets[i], "Spring2025!"), "UNAUTHENTICATED", "Incorrect username or password")
		}
	}

	spray(0, 20)
	// The attacker's own account signs in: that must not wipe what the address did to others.
	require.Empty(t, plainLogin(t, a, mallory.Email, apptest.Password(mallory.Email)).Errors)
	spray(20, 29)
	require.Empty(t, plainLogin(t, b, carol.Email, apptest.Password(carol.Email)).Errors, "29 failures: still below the limit")
	spray(29, 30)

	// Thirty failures from this address: it is blocked on both replicas, for every account,
	// whether it exists or not, even with the right password.
	for _, s := range []*apptest.Server{a, b} {
		assert.Equal(t, 15, assertRateLimited(t, plainLogin(t, s, carol.Email, apptest.Password(carol.Email))))
		assert.Equal(t, 15, assertRateLimited(t, plainLogin(t, s, "someone-new@acme.test", "Spring2025!")))
		assert.Equal(t, 15, assertRateLimited(t, plainLogin(t, s, targets[0], "Spring2025!")))
	}

	// The block ends on its own; the next failure from the address blocks it twice as long.
	clock.Advance(15 * time.Second)
	require.Empty(t, plainLogin(t, a, carol.Email, apptest.Password(carol.Email)).Errors, "the block is over")
	assertError(t, plainLogin(t, b, "another@acme.test", "Spring2025!"), "UNAUTHENTICATED", "Incorrect username or password")
	for _, s := range []*apptest.Server{a, b} {
		assert.Equal(t, 30, assertRateLimited(t, plainLogin(t, s, carol.Email, apptest.Password(carol.Email))))
	}
}

func TestOneAccountIsBlockedAfterFiveFailuresSpreadOverReplicas(t *testing.T) {
	clock := apptest.NewWholeSecondClock()
	a, b := replicas(t, apptest.WithClock(clock), apptest.WithLimits(graph.DefaultLimits))
	acme := a.Org(t, apptest.RootOrg)
	bob := a.AddUser(t, "bob@acme.test", acme, "member")
	carol := a.AddUser(t, "carol@acme.test", acme, "member")

	for i := range 5 {
		s := []*apptest.Server{a, b}[i%2]
		assertError(t, plainLogin(t, s, bob.Email, fmt.Sprintf("guess-%d", i)), "UNAUTHENTICATED", "Incorrect username or password")
	}
	for _, s := range []*apptest.Server{a, b} {
		assert.Equal(t, 15, assertRateLimited(t, plainLogin(t, s, bob.Email, apptest.Password(bob.Email))), "even the right password")
		require.Empty(t, plainLogin(t, s, carol.Email, apptest.Password(carol.Email)).Errors,
			"five failures do not block the address")
	}
	clock.Advance(15 * time.Second)
	require.Empty(t, plainLogin(t, b, bob.Email, apptest.Password(bob.Email)).Errors, "the block is over")
}

// sessionsOf returns the stored sessions of the user in the organization.
func sessionsOf(t *testing.T, s *apptest.Server, userID, orgID uuid.UUID) []*ent.Session {
	t.Helper()
	all, err := s.App.Client().Session.Query().
		Where(session.UserID(userID), session.OrganizationID(orgID)).All(apptest.SystemContext())
	require.NoError(t, err)
	return all
}

func TestAMemberRemovedAndAddedBackCannotUseTheirOldTokens(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	c := s.App.Client()
	ctx := apptest.SystemContext()
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	developer, err := c.Role.Query().Where(roleNamed("developer")).Only(ctx)
	require.NoError(t, err)

	// How the member leaves, and how they come back.
	leave := []struct {
		name, reason string
		do           func(t *testing.T, u *ent.User, own apptest.Tokens)
	}{
		{"removed by an admin", "removed from organization", func(t *testing.T, u *ent.User, _ apptest.Tokens) {
			r := s.Do(t, root.Access, `mutation($u: ID!) { removeMember(userId: $u) }`, map[string]any{"u": u.ID})
			require.Empty(t, r.Errors)
		}},
		{"leaving", "left organization", func(t *testing.T, _ *ent.User, own apptest.Tokens) {
			require.Empty(t, s.Do(t, own.Access, `mutation { leaveOrganization }`, nil).Errors)
		}},
	}
	back := []struct {
		name string
		do   func(t *testing.T, u *ent.User) apptest.Tokens
	}{
		{"a new invitation", func(t *testing.T, u *ent.User) apptest.Tokens {
			inv := inviteAs(t, s, root.Access, u.Email, "developer")
			r := s.Do(t, "", acceptInvitationMutation, acceptVars(inv.Token, apptest.Password(u.Email), ""))
			require.Empty(t, r.Errors, "accepting with the account's password")
			return apptest.Tokens{Access: r.Str("acceptInvitation.accessToken"), Refresh: r.Str("acceptInvitation.refreshToken")}
		}},
		{"a membership written to the database", func(t *testing.T, u *ent.User) apptest.Tokens {
			require.NoError(t, c.Membership.Create().SetUserID(u.ID).SetOrganizationID(acme.ID).SetRoleID(developer.ID).Exec(ctx))
			return s.Login(t, u.Email, apptest.Password(u.Email))
		}},
	}
	for i, l := range leave {
		for j, b := range back {
			t.Run(l.name+", back by "+b.name, func(t *testing.T) {
				u := s.AddUser(t, fmt.Sprintf("leaver%d%d@acme.test", i, j), acme, "developer")
				// Two sessions; the second has rotated its tokens once.
				first := s.Login(t, u.Email, apptest.Password(u.Email))
				second := mustRefresh(t, s, s.Login(t, u.Email, apptest.Password(u.Email)).Refresh)

				l.do(t, u, first)
				assert.False(t, signedIn(t, s, first.Access), "refused at once")

				fresh := b.do(t, u)
				require.True(t, signedIn(t, s, fresh.Access), "the member is back, with new tokens")
				for i, old := range []apptest.Tokens{first, second} {
					assert.False(t, signedIn(t, s, old.Access), "old access token %d", i)
					assertError(t, refreshWith(t, s, old.Refresh), "UNAUTHENTICATED", "Refresh failed")
				}
				var ended []string
				for _, sess := range sessionsOf(t, s, u.ID, acme.ID) {
					if sess.RevokedAt != nil {
						ended = append(ended, sess.RevokeReason)
					}
				}
				assert.Equal(t, []string{l.reason, l.reason}, ended, "both old sessions ended when the member left")
				mustRefresh(t, s, fresh.Refresh)
			})
		}
	}
}

// roleOf returns the role the user holds in the organization.
func roleOf(t *testing.T, s *apptest.Server, userID, orgID uuid.UUID) *ent.Role {
	t.Helper()
	m, err := s.App.Client().Membership.Query().
		Where(membership.UserID(userID), membership.OrganizationID(orgID)).WithRole().Only(apptest.SystemContext())
	require.NoError(t, err)
	return m.Edges.Role
}

func TestARoleIsLookedUpAmongTheActiveOrganizationsRolesOnly(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	globex := s.CreateOrg(t, "Globex")
	c := s.App.Client()
	ctx := apptest.SystemContext()
	// Globex's admins decide what globex-ops may do. Both organizations have an "auditor".
	globexOps, err := c.Role.Create().SetOrganizationID(globex.ID).SetName("globex-ops").
		SetPermissions([]string{"member:list", "model:list"}).Save(ctx)
	require.NoError(t, err)
	acmeAuditor, err := c.Role.Create().SetOrganizationID(acme.ID).SetName("auditor").
		SetPermissions([]string{"audit_log:list", "organization:view"}).Save(ctx)
	require.NoError(t, err)
	_, err = c.Role.Create().SetOrganizationID(globex.ID).SetName("auditor").
		SetPermissions([]string{"model:list"}).Save(ctx)
	require.NoError(t, err)
	// Ann is an admin of acme and a viewer of globex: privacy lets her see both organizations'
	// custom roles, so only the lookup's scope keeps globex's roles out of acme.
	ann := s.AddUser(t, "ann@acme.test", acme, "admin")
	s.AddUser(t, ann.Email, globex, "viewer")
	bob := s.AddUser(t, "bob@acme.test", acme, "member")
	tok := s.Login(t, ann.Email, apptest.Password(ann.Email))
	require.Equal(t, acme.ID.String(), tok.OrgID)

	t.Run("another organization's role is not assigned by a role change", func(t *testing.T) {
		assertError(t, s.Do(t, tok.Access, changeRole, map[string]any{"u": bob.ID, "r": "globex-ops"}),
			"BAD_USER_INPUT", "Role 'globex-ops' does not exist")
		assert.Equal(t, "member", roleOf(t, s, bob.ID, acme.ID).Name)
	})
	t.Run("nor offered by an invitation", func(t *testing.T) {
		r := s.Do(t, tok.Access, inviteMemberMutation, inviteVars("new@acme.test", "globex-ops"))
		assertError(t, r, "BAD_USER_INPUT", "Role 'globex-ops' does not exist")
		n, err := c.Invitation.Query().Where(invitation.RoleID(globexOps.ID)).Count(ctx)
		require.NoError(t, err)
		assert.Zero(t, n)
	})
	t.Run("nor made the default role of new members", func(t *testing.T) {
		r := s.Do(t, tok.Access, `mutation { updateOrganization(input: {settings: {defaultRole: "globex-ops"}}) { settings { defaultRole } } }`, nil)
		assertError(t, r, "BAD_USER_INPUT", "Role 'globex-ops' does not exist")
		o, err := c.Organization.Query().Where(organization.ID(acme.ID)).Only(ctx)
		require.NoError(t, err)
		assert.Equal(t, "member", o.Settings.DefaultRole)
	})
	t.Run("a name both organizations use means the active organization's role", func(t *testing.T) {
		r := s.Do(t, tok.Access, changeRole, map[string]any{"u": bob.ID, "r": "auditor"})
		require.Empty(t, r.Errors)
		assert.Equal(t, acmeAuditor.ID, roleOf(t, s, bob.ID, acme.ID).ID)

		inv := inviteAs(t, s, tok.Access, "auditor@acme.test", "auditor")
		assert.Equal(t, acmeAuditor.ID, storedInvitation(t, s, inv.ID).RoleID)

		r = s.Do(t, tok.Access, `mutation { updateOrganization(input: {settings: {defaultRole: "auditor"}}) { settings { defaultRole } } }`, nil)
		require.Empty(t, r.Errors)
		inv = inviteAs(t, s, tok.Access, "default@acme.test", "")
		assert.Equal(t, acmeAuditor.ID, storedInvitation(t, s, inv.ID).RoleID, "the default role is acme's auditor")
	})
}

func TestAMemberWhoMayRemoveMembersCannotRemoveSomeoneMorePowerful(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	_, err := s.App.Client().Role.Create().SetOrganizationID(acme.ID).SetName("offboarder").
		SetPermissions([]string{"api_key:list", "deployment:list", "model:access", "model:list", "organization:view",
			"member:list", "member:delete"}).Save(apptest.SystemContext())
	require.NoError(t, err)
	olga := s.AddUser(t, "olga@acme.test", acme, "offboarder")
	tok := s.Login(t, olga.Email, apptest.Password(olga.Email))
	// Root stays an admin throughout, so the last-admin rule never stands in the way.
	ada := s.AddUser(t, "ada@acme.test", acme, "admin")
	adaTok := s.Login(t, ada.Email, apptest.Password(ada.Email))
	remove := func(u *ent.User) *apptest.Response {
		return s.Do(t, tok.Access, `mutation($u: ID!) { removeMember(userId: $u) }`, map[string]any{"u": u.ID})
	}

	for _, c := range []struct {
		name string
		user *ent.User
		// allowed: the target's role holds nothing olga lacks.
		allowed bool
	}{
		{"an admin", ada, false},
		{"a developer", s.AddUser(t, "dev@acme.test", acme, "developer"), false},
		{"a member", s.AddUser(t, "mem@acme.test", acme, "member"), false},
		{"a viewer", s.AddUser(t, "vic@acme.test", acme, "viewer"), true},
		{"another offboarder", s.AddUser(t, "otto@acme.test", acme, "offboarder"), true},
	} {
		t.Run("olga removing "+c.name, func(t *testing.T) {
			r := remove(c.user)
			if c.allowed {
				require.Empty(t, r.Errors)
				assert.Equal(t, 0, membershipsWithEmail(t, s, acme.ID, c.user.Email))
				return
			}
			assertError(t, r, "FORBIDDEN", "Cannot manage a member whose role has permissions you do not have")
			assert.Equal(t, 1, membershipsWithEmail(t, s, acme.ID, c.user.Email), "still a member")
		})
	}
	assert.True(t, signedIn(t, s, adaTok.Access), "the admin's session was not touched")
}

// organizationsNamed counts the organizations called name.
func organizationsNamed(t *testing.T, s *apptest.Server, name string) int {
	t.Helper()
	n, err := s.App.Client().Organization.Query().Where(organization.Name(name)).Count(apptest.SystemContext())
	require.NoError(t, err)
	return n
}

func TestASuperAdminWithoutTwoFactorIsRefusedLikeEveryoneWhereTheOrganizationRequiresIt(t *testing.T) {
	clock := apptest.NewWholeSecondClock()
	s := apptest.Start(t, apptest.WithClock(clock), apptest.WithLimits(apptest.RoomyLimits))
	acme := s.Org(t, apptest.RootOrg)
	globex := s.CreateOrg(t, "Globex")
	s.AddUser(t, apptest.RootEmail, globex, "admin")
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	require.Equal(t, acme.ID.String(), root.OrgID)
	mustSetSecurityPolicy(t, s, root.Access, map[string]any{"requireTwoFactor": true})
	const (
		create = `mutation($n: String!) { createOrganization(input: {name: $n}) { id name } }`
		list   = `{ organizations { totalCount } }`
	)

	// In acme, which requires 2FA, the super admin without it gets no further than anyone else.
	assertError(t, s.Do(t, root.Access, create, map[string]any{"n": "Initech"}),
		"TWO_FACTOR_REQUIRED", "Two-factor authentication is required by this organization")
	assertError(t, s.Do(t, root.Access, list, nil),
		"TWO_FACTOR_REQUIRED", "Two-factor authentication is required by this organization")
	assert.Zero(t, organizationsNamed(t, s, "Initech"))

	// In globex, which does not, the same account is a super admin as usual.
	r := s.Do(t, root.Access, `mutation($o: ID!) { switchOrganization(organizationId: $o) { accessToken } }`,
		map[string]any{"o": globex.ID})
	require.Empty(t, r.Errors)
	inGlobex := r.Str("switchOrganization.accessToken")
	require.Empty(t, s.Do(t, inGlobex, create, map[string]any{"n": "Initech"}).Errors)
	require.Empty(t, s.Do(t, inGlobex, list, nil).Errors)

	// With 2FA set up, acme lets the super admin through on the same token.
	enableTwoFactor(t, s, clock, root.Access)
	require.Empty(t, s.Do(t, root.Access, create, map[string]any{"n": "Hooli"}).Errors)
	assert.EqualValues(t, 4, s.Do(t, root.Access, list, nil).Get("organizations.totalCount"), "acme, globex, initech, hooli")
}
