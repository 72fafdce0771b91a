package graph_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent/auditlog"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/server/apptest"
)

const membersQuery = `query($first: Int, $after: Cursor, $where: MemberFilter, $order: MembershipOrder) {
  viewer { organization { members(first: $first, after: $after, where: $where, orderBy: $order) {
    totalCount
    edges { node { role { name } joinedAt lastActiveAt user { id email name } } }
    pageInfo { endCursor hasNextPage }
  } } }
}`

type membersPage struct {
	Viewer struct {
		Organization struct {
			Members struct {
				TotalCount int
				Edges      []struct {
					Node struct {
						Role         struct{ Name string }
						JoinedAt     time.Time
						LastActiveAt time.Time
						User         struct{ ID, Email, Name string }
					}
				}
				PageInfo struct {
					EndCursor   string
					HasNextPage bool
				}
			}
		}
	}
}

func (p membersPage) emails() []string {
	var out []string
	for _, e := range p.Viewer.Organization.Members.Edges {
		out = append(out, e.Node.User.Email)
	}
	return out
}

func TestTheUsersPageSearchesFiltersSortsAndPages(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	roles := []string{"developer", "member", "viewer"}
	for i := range 12 {
		s.AddUser(t, fmt.Sprintf("user%02d@acme.test", i), acme, roles[i%3])
	}
	s.AddUser(t, "zed@other.test", s.CreateOrg(t, "Other"), "admin")
	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	page := func(vars map[string]any) membersPage {
		t.Helper()
		var p membersPage
		s.Do(t, tok.Access, membersQuery, vars).Decode(t, &p)
		return p
	}

	all := page(map[string]any{"first": 50})
	assert.Equal(t, 13, all.Viewer.Organization.Members.TotalCount, "12 users and root; not zed of another org")
	emails := all.emails()
	assert.True(t, sortedStrings(emails), "e-mail order by default: %v", emails)

	dev := page(map[string]any{"where": map[string]any{"role": "developer"}})
	assert.Equal(t, 4, dev.Viewer.Organization.Members.TotalCount)
	for _, e := range dev.Viewer.Organization.Members.Edges {
		assert.Equal(t, "developer", e.Node.Role.Name)
	}

	search := page(map[string]any{"where": map[string]any{"search": "USER1"}})
	assert.ElementsMatch(t, []string{"user10@acme.test", "user11@acme.test"}, search.emails())
	byName := page(map[string]any{"where": map[string]any{"search": "user03", "role": "developer"}})
	assert.Equal(t, []string{"user03@acme.test"}, byName.emails())

	// Walk the pages of 5 by join time: every member once, in order.
	var seen []string
	var after any
	for {
		p := page(map[string]any{"first": 5, "after": after, "order": map[string]any{"field": "JOINED_AT", "direction": "ASC"}})
		m := p.Viewer.Organization.Members
		assert.LessOrEqual(t, len(m.Edges), 5)
		assert.Equal(t, 13, m.TotalCount)
		seen = append(seen, p.emails()...)
		if !m.PageInfo.HasNextPage {
			break
		}
		after = m.PageInfo.EndCursor
	}
	assert.ElementsMatch(t, emails, seen)
	assert.Len(t, seen, 13)

	desc := page(map[string]any{"first": 3, "order": map[string]any{"field": "EMAIL", "direction": "DESC"}})
	assert.Equal(t, []string{"user11@acme.test", "user10@acme.test", "user09@acme.test"}, desc.emails())

	r := s.Do(t, tok.Access, membersQuery, map[string]any{"first": 101})
	assert.Equal(t, "BAD_USER_INPUT", r.Code())
}

func sortedStrings(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] > s[i] {
			return false
		}
	}
	return true
}

func TestLastActivityIsWrittenAtMostOncePerMinute(t *testing.T) {
	clock := apptest.NewClock()
	var counter apptest.StatementCounter
	s := apptest.Start(t, apptest.WithClock(clock), apptest.CountStatements(&counter))
	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	writes := func() int {
		n := 0
		for _, q := range counter.Statements() {
			if strings.HasPrefix(q, "UPDATE") && (strings.Contains(q, `"memberships"`) || strings.Contains(q, "`memberships`")) {
				n++
			}
		}
		return n
	}
	clock.Advance(2 * time.Minute)
	counter.Record()
	for range 30 {
		require.Empty(t, s.Do(t, tok.Access, `{ viewer { user { id } } }`, nil).Errors)
	}
	assert.Equal(t, 1, writes(), "30 requests in one minute write lastActiveAt once")

	var p membersPage
	s.Do(t, tok.Access, membersQuery, nil).Decode(t, &p)
	last := p.Viewer.Organization.Members.Edges[0].Node.LastActiveAt
	assert.WithinDuration(t, clock.Now(), last, time.Second)

	clock.Advance(61 * time.Second)
	counter.Record()
	for range 10 {
		s.Do(t, tok.Access, `{ viewer { user { lastActiveAt } } }`, nil)
	}
	assert.Equal(t, 1, writes())
	r := s.Do(t, tok.Access, `{ viewer { user { lastActiveAt } } }`, nil)
	ts, err := time.Parse(time.RFC3339Nano, r.Str("viewer.user.lastActiveAt"))
	require.NoError(t, err)
	assert.WithinDuration(t, clock.Now(), ts, time.Second)
}

const changeRole = `mutation($u: ID!, $r: String!) { updateMemberRole(userId: $u, role: $r) { role { name } user { email } } }`

func TestRoleChangesFollowTheRules(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	ctx := apptest.SystemContext()
	_, err := s.App.Client().Role.Create().SetOrganizationID(acme.ID).SetName("people-ops").
		SetPermissions([]string{"member:list", "role:update", "model:access", "model:list", "api_key:list", "deployment:list", "organization:view"}).Save(ctx)
	require.NoError(t, err)
	_, err = s.App.Client().Role.Create().SetOrganizationID(acme.ID).SetName("everything").
		SetPermissions(authAll()).Save(ctx)
	require.NoError(t, err)
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	ops := s.AddUser(t, "ops@acme.test", acme, "people-ops")
	opsTok := s.Login(t, ops.Email, apptest.Password(ops.Email))
	bob := s.AddUser(t, "bob@acme.test", acme, "member")
	bobTok := s.Login(t, bob.Email, apptest.Password(bob.Email))
	vic := s.AddUser(t, "vic@acme.test", acme, "viewer")

	r := s.Do(t, root.Access, changeRole, map[string]any{"u": bob.ID, "r": "Developer"})
	require.Empty(t, r.Errors)
	assert.Equal(t, "developer", r.Str("updateMemberRole.role.name"))
	assert.Equal(t, "developer", s.Do(t, bobTok.Access, `{ viewer { role { name } } }`, nil).Str("viewer.role.name"), "on bob's next request")

	cases := []struct {
		name, token, user, role, code, msg string
	}{
		{"nobody changes their own role", root.Access, root.UserID, "viewer", "FORBIDDEN", "You cannot change your own role"},
		{"an unknown role is refused", root.Access, bob.ID.String(), "overlord", "BAD_USER_INPUT", "Role 'overlord' does not exist"},
		{"a stranger is not found", root.Access, s.AddUser(t, "x@else.test", s.CreateOrg(t, "Else"), "admin").ID.String(), "viewer", "NOT_FOUND", "User not found in this organization"},
		{"people-ops cannot grant more than it has", opsTok.Access, bob.ID.String(), "admin", "FORBIDDEN", ""},
		{"people-ops cannot demote someone more powerful", opsTok.Access, root.UserID, "viewer", "FORBIDDEN", "Cannot manage a member whose role has permissions you do not have"},
		{"people-ops cannot manage a developer, who has more", opsTok.Access, bob.ID.String(), "viewer", "FORBIDDEN", "Cannot manage a member whose role has permissions you do not have"},
		{"people-ops can give a viewer its own role", opsTok.Access, vic.ID.String(), "people-ops", "", ""},
		{"a developer has no role:update", bobTok.Access, ops.ID.String(), "viewer", "FORBIDDEN", "Permission denied: role:update required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.Do(t, c.token, changeRole, map[string]any{"u": c.user, "r": c.role})
			assert.Equal(t, c.code, r.Code())
			if c.msg != "" && assert.NotEmpty(t, r.Errors) {
				assert.Equal(t, c.msg, r.Errors[0].Message)
			}
		})
	}

	// The last admin: an "everything" member may demote root, but not the last admin.
	boss := s.AddUser(t, "boss@acme.test", acme, "everything")
	bossTok := s.Login(t, boss.Email, apptest.Password(boss.Email))
	r = s.Do(t, bossTok.Access, changeRole, map[string]any{"u": root.UserID, "r": "member"})
	assert.Equal(t, "CONFLICT", r.Code())
	assert.Equal(t, "Organization must keep at least one admin", r.Errors[0].Message)
	require.Empty(t, s.Do(t, bossTok.Access, changeRole, map[string]any{"u": bob.ID, "r": "admin"}).Errors)
	require.Empty(t, s.Do(t, bossTok.Access, changeRole, map[string]any{"u": root.UserID, "r": "member"}).Errors, "bob is admin now")

	entries, err := s.App.Client().AuditLog.Query().Where(auditlog.Action("member.role_change")).All(ctx)
	require.NoError(t, err)
	require.Len(t, entries, 4)
	assert.Equal(t, "member", entries[0].Details["old_role"])
	assert.Equal(t, "developer", entries[0].Details["new_role"])
	assert.Equal(t, bob.ID.String(), entries[0].ResourceID)
	assert.Equal(t, "127.0.0.1", entries[0].IPAddress)
}

func TestTwoAdminsDemotingEachOtherAtOnceLeaveOneAdmin(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	// Root is an admin too; work in a fresh organization with exactly two admins.
	org := s.CreateOrg(t, "Duo")
	a := s.AddUser(t, "a@duo.test", org, "admin")
	b := s.AddUser(t, "b@duo.test", org, "admin")
	_ = acme
	for round := range 5 {
		ta := s.Login(t, a.Email, apptest.Password(a.Email))
		tb := s.Login(t, b.Email, apptest.Password(b.Email))
		var wg sync.WaitGroup
		codes := make([]string, 2)
		for i, pair := range [][2]string{{ta.Access, b.ID.String()}, {tb.Access, a.ID.String()}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i] = s.Do(t, pair[0], changeRole, map[string]any{"u": pair[1], "r": "member"}).Code()
			}()
		}
		wg.Wait()
		admins, err := s.App.Client().Membership.Query().
			Where(membership.OrganizationID(org.ID), membership.HasRoleWith(roleNamed("admin"))).Count(apptest.SystemContext())
		require.NoError(t, err)
		require.Equal(t, 1, admins, "round %d: %v", round, codes)
		ok := 0
		for _, c := range codes {
			if c == "" {
				ok++
			} else {
				assert.Contains(t, []string{"CONFLICT", "UNAUTHENTICATED", "FORBIDDEN"}, c)
			}
		}
		require.Equal(t, 1, ok, "round %d: %v", round, codes)
		// Make both admins again for the next round.
		ctx := apptest.SystemContext()
		adminRole, err := s.App.Client().Role.Query().Where(roleNamed("admin")).Only(ctx)
		require.NoError(t, err)
		require.NoError(t, s.App.Client().Membership.Update().Where(membership.OrganizationID(org.ID)).SetRoleID(adminRole.ID).Exec(ctx))
	}
}

func TestRemovingAMemberEndsTheirSessionsThereOnly(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	other := s.CreateOrg(t, "Other")
	bob := s.AddUser(t, "bob@acme.test", acme, "developer")
	s.AddUser(t, bob.Email, other, "member")
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	bobAcme := s.Login(t, bob.Email, apptest.Password(bob.Email))
	require.Equal(t, acme.ID.String(), bobAcme.OrgID)
	sw := s.Do(t, bobAcme.Access, `mutation($o: ID!) { switchOrganization(organizationId: $o) { accessToken } }`, map[string]any{"o": other.ID})
	require.Empty(t, sw.Errors)
	bobOther := sw.Str("switchOrganization.accessToken")

	dev := s.AddUser(t, "dev@acme.test", acme, "developer")
	devTok := s.Login(t, dev.Email, apptest.Password(dev.Email))
	r := s.Do(t, devTok.Access, `mutation($u: ID!) { removeMember(userId: $u) }`, map[string]any{"u": bob.ID})
	assert.Equal(t, "FORBIDDEN", r.Code())
	assert.Equal(t, "Permission denied: member:delete required", r.Errors[0].Message)

	r = s.Do(t, root.Access, `mutation($u: ID!) { removeMember(userId: $u) }`, map[string]any{"u": bob.ID})
	require.Empty(t, r.Errors)
	assert.Equal(t, true, r.Get("removeMember"))
	assert.Equal(t, "UNAUTHENTICATED", s.Do(t, bobAcme.Access, `{ viewer { user { id } } }`, nil).Code(), "at once")
	assert.Empty(t, s.Do(t, bobOther, `{ viewer { user { id } } }`, nil).Errors, "the other organization's session lives on")
	again := s.Login(t, bob.Email, apptest.Password(bob.Email))
	assert.Equal(t, other.ID.String(), again.OrgID, "the account remains, in its other organization")

	r = s.Do(t, root.Access, `mutation($u: ID!) { removeMember(userId: $u) }`, map[string]any{"u": bob.ID})
	assert.Equal(t, "NOT_FOUND", r.Code())
	r = s.Do(t, root.Access, `mutation($u: ID!) { removeMember(userId: $u) }`, map[string]any{"u": root.UserID})
	assert.Equal(t, "BAD_USER_INPUT", r.Code())

	// Leaving: the last admin cannot; a member can, and their session ends.
	r = s.Do(t, root.Access, `mutation { leaveOrganization }`, nil)
	assert.Equal(t, "CONFLICT", r.Code())
	r = s.Do(t, devTok.Access, `mutation { leaveOrganization }`, nil)
	require.Empty(t, r.Errors)
	assert.Equal(t, "UNAUTHENTICATED", s.Do(t, devTok.Access, `{ viewer { user { id } } }`, nil).Code())

	n, err := s.App.Client().AuditLog.Query().Where(auditlog.ActionIn("member.remove", "member.leave")).Count(apptest.SystemContext())
	require.NoError(t, err)
	assert.Equal(t, 2, n)
}
