package graph_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/auditlog"
	"github.com/inferiallm/orgserver/ent/invitation"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/auth"
)

const (
	inviteMemberMutation = `mutation($in: InviteMemberInput!) {
  inviteMember(input: $in) { token inviteLink invitation { id email status expiresAt role { name } } }
}`
	acceptInvitationMutation = `mutation($in: AcceptInvitationInput!) {
  acceptInvitation(input: $in) { accessToken refreshToken user { email name } organization { id name } }
}`
	resendInvitationMutation = `mutation($id: ID!) {
  resendInvitation(id: $id) { token inviteLink invitation { id status expiresAt } }
}`
	revokeInvitationMutation = `mutation($id: ID!) { revokeInvitation(id: $id) { id status } }`
	invitationPreviewQuery   = `query($t: String!) {
  invitationPreview(token: $t) { email role organizationName invitedBy status expiresAt }
}`
	invitationListQuery = `query($s: InvitationStatus) {
  viewer { organization { invitations(status: $s) { totalCount edges { node { id email status } } } } }
}`
)

// sentInvitation is what inviteMember answered.
type sentInvitation struct {
	ID, Email, Status, Role, Token, Link string
}

func inviteVars(email, role string) map[string]any {
	in := map[string]any{"email": email}
	if role != "" {
		in["role"] = role
	}
	return map[string]any{"in": in}
}

// inviteAs invites email with role (or the default role, when empty) and fails the test if that
// does not work.
func inviteAs(t *testing.T, s *apptest.Server, bearer, email, role string) sentInvitation {
	t.Helper()
	r := s.Do(t, bearer, inviteMemberMutation, inviteVars(email, role))
	require.Empty(t, r.Errors, "inviting %s", email)
	return sentInvitation{
		ID: r.Str("inviteMember.invitation.id"), Email: r.Str("inviteMember.invitation.email"),
		Status: r.Str("inviteMember.invitation.status"), Role: r.Str("inviteMember.invitation.role.name"),
		Token: r.Str("inviteMember.token"), Link: r.Str("inviteMember.inviteLink"),
	}
}

func acceptVars(token, password, name string) map[string]any {
	in := map[string]any{"token": token}
	if password != "" {
		in["password"] = password
	}
	if name != "" {
		in["name"] = name
	}
	return map[string]any{"in": in}
}

// previewStatus is the status the invitation link shows, or "" when the token is unknown.
func previewStatus(t *testing.T, s *apptest.Server, token string) string {
	t.Helper()
	r := s.Do(t, "", invitationPreviewQuery, map[string]any{"t": token})
	require.Empty(t, r.Errors)
	return r.Str("invitationPreview.status")
}

// listedInvitations returns the IDs the organization's invitations list shows for status.
func listedInvitations(t *testing.T, s *apptest.Server, bearer, status string) []string {
	t.Helper()
	r := s.Do(t, bearer, invitationListQuery, map[string]any{"s": status})
	require.Empty(t, r.Errors)
	var data struct {
		Viewer struct {
			Organization struct {
				Invitations struct {
					TotalCount int
					Edges      []struct {
						Node struct{ ID, Email, Status string }
					}
				}
			}
		}
	}
	r.Decode(t, &data)
	conn := data.Viewer.Organization.Invitations
	ids := []string{}
	for _, e := range conn.Edges {
		assert.Equal(t, status, e.Node.Status, "the %s list shows only %s invitations", status, status)
		ids = append(ids, e.Node.ID)
	}
	assert.Equal(t, len(ids), conn.TotalCount)
	return ids
}

// usersWithEmail counts the accounts of email.
func usersWithEmail(t *testing.T, s *apptest.Server, email string) int {
	t.Helper()
	n, err := s.App.Client().User.Query().Where(user.Email(email)).Count(apptest.SystemContext())
	require.NoError(t, err)
	return n
}

// membershipsWithEmail counts the memberships of email in org.
func membershipsWithEmail(t *testing.T, s *apptest.Server, org uuid.UUID, email string) int {
	t.Helper()
	n, err := s.App.Client().Membership.Query().
		Where(membership.OrganizationID(org), membership.Email(email)).Count(apptest.SystemContext())
	require.NoError(t, err)
	return n
}

func storedInvitation(t *testing.T, s *apptest.Server, id string) *ent.Invitation {
	t.Helper()
	inv, err := s.App.Client().Invitation.Get(apptest.SystemContext(), uuid.MustParse(id))
	require.NoError(t, err)
	return inv
}

func assertError(t *testing.T, r *apptest.Response, code, message string) {
	t.Helper()
	if assert.NotEmpty(t, r.Errors, "expected %s %q", code, message) {
		assert.Equal(t, code, r.Code())
		if message != "" {
			assert.Equal(t, message, r.Errors[0].Message)
		}
	}
}

func TestAnAdminInvitesANewPersonWhoSignsUp(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)

	inv := inviteAs(t, s, admin.Access, "new@example.com", "developer")
	assert.Equal(t, "new@example.com", inv.Email)
	assert.Equal(t, "PENDING", inv.Status)
	assert.Equal(t, "developer", inv.Role)
	assert.Equal(t, "/auth/accept-invite?token="+inv.Token, inv.Link, "no PUBLIC_URL: a relative link")

	// The token carries 256 random bits; the database holds only its hash and a sealed copy.
	require.Len(t, inv.Token, 43)
	raw, err := base64.RawURLEncoding.DecodeString(inv.Token)
	require.NoError(t, err)
	assert.Len(t, raw, 32)
	stored := storedInvitation(t, s, inv.ID)
	assert.Equal(t, auth.HashToken(inv.Token), stored.TokenHash)
	assert.Len(t, stored.TokenHash, 64)
	assert.NotEmpty(t, stored.TokenEncrypted)
	assert.NotEqual(t, inv.Token, stored.TokenEncrypted)
	assert.NotContains(t, stored.TokenEncrypted, inv.Token)
	assert.Equal(t, acme.ID, stored.OrganizationID)

	// The link shows what it leads to, to anyone holding it.
	r := s.Do(t, "", invitationPreviewQuery, map[string]any{"t": inv.Token})
	require.Empty(t, r.Errors)
	assert.Equal(t, "new@example.com", r.Str("invitationPreview.email"))
	assert.Equal(t, "developer", r.Str("invitationPreview.role"))
	assert.Equal(t, apptest.RootOrg, r.Str("invitationPreview.organizationName"))
	assert.Equal(t, "Super Admin", r.Str("invitationPreview.invitedBy"))
	assert.Equal(t, "PENDING", r.Str("invitationPreview.status"))
	unknown := s.Do(t, "", invitationPreviewQuery, map[string]any{"t": "not-a-token"})
	require.Empty(t, unknown.Errors)
	assert.Nil(t, unknown.Get("invitationPreview"), "an unknown token previews as null")

	// A short password creates nothing and leaves the invitation open.
	short := s.Do(t, "", acceptInvitationMutation, acceptVars(inv.Token, "short", "New Person"))
	assertError(t, short, "BAD_USER_INPUT", "Password must be at least 8 characters")
	assert.Zero(t, usersWithEmail(t, s, "new@example.com"))
	assert.Equal(t, "PENDING", previewStatus(t, s, inv.Token))

	r = s.Do(t, "", acceptInvitationMutation, acceptVars(inv.Token, "a long password", "New Person"))
	require.Empty(t, r.Errors)
	assert.Equal(t, acme.ID.String(), r.Str("acceptInvitation.organization.id"))
	assert.Equal(t, "new@example.com", r.Str("acceptInvitation.user.email"))
	assert.Equal(t, "New Person", r.Str("acceptInvitation.user.name"))

	v := s.Do(t, r.Str("acceptInvitation.accessToken"), viewerQuery, nil)
	require.Empty(t, v.Errors)
	assert.Equal(t, "new@example.com", v.Str("viewer.user.email"))
	assert.Equal(t, apptest.RootOrg, v.Str("viewer.organization.name"))
	assert.Equal(t, "developer", v.Str("viewer.role.name"))
	assert.Len(t, v.Get("viewer.memberships"), 1)
	// The new account signs in with the password it chose.
	assert.Equal(t, acme.ID.String(), s.Login(t, "new@example.com", "a long password").OrgID)

	assert.Equal(t, "ACCEPTED", previewStatus(t, s, inv.Token))
	again := s.Do(t, "", acceptInvitationMutation, acceptVars(inv.Token, "a long password", ""))
	assertError(t, again, "BAD_USER_INPUT", "Invitation already accepted")
	assert.Equal(t, 1, usersWithEmail(t, s, "new@example.com"))
	assert.Equal(t, 1, membershipsWithEmail(t, s, acme.ID, "new@example.com"))

	t.Run("with PUBLIC_URL the link is absolute", func(t *testing.T) {
		s := apptest.Start(t, func(c *app.Config, _ *app.Options) { c.PublicURL = "https://dash.example" })
		admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)
		inv := inviteAs(t, s, admin.Access, "new@example.com", "developer")
		assert.Equal(t, "https://dash.example/auth/accept-invite?token="+inv.Token, inv.Link)
	})
}

func TestAnExistingUserAcceptsWithTheirPasswordOrSignedIn(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	globex := s.CreateOrg(t, "Globex")
	gina := s.AddUser(t, "gina@globex.test", globex, "member")
	hank := s.AddUser(t, "hank@globex.test", globex, "member")
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)

	t.Run("with the account's password", func(t *testing.T) {
		inv := inviteAs(t, s, admin.Access, gina.Email, "developer")

		r := s.Do(t, "", acceptInvitationMutation, acceptVars(inv.Token, "", ""))
		assertError(t, r, "BAD_USER_INPUT", "User already exists. Please login and accept the invitation.")
		r = s.Do(t, "", acceptInvitationMutation, acceptVars(inv.Token, "not-her-password", ""))
		assertError(t, r, "UNAUTHENTICATED", "")
		assert.Zero(t, membershipsWithEmail(t, s, acme.ID, gina.Email), "refused accepts join nobody")
		assert.Equal(t, "PENDING", previewStatus(t, s, inv.Token))

		r = s.Do(t, "", acceptInvitationMutation, acceptVars(inv.Token, apptest.Password(gina.Email), ""))
		require.Empty(t, r.Errors)
		assert.Equal(t, acme.ID.String(), r.Str("acceptInvitation.organization.id"))
		assert.Equal(t, gina.Email, r.Str("acceptInvitation.user.email"))
		assert.Equal(t, 1, usersWithEmail(t, s, gina.Email), "no second account")

		v := s.Do(t, r.Str("acceptInvitation.accessToken"), viewerQuery, nil)
		require.Empty(t, v.Errors)
		assert.Equal(t, "developer", v.Str("viewer.role.name"))
		assert.Len(t, v.Get("viewer.memberships"), 2)

		// Her Globex membership stays: she can switch back to it.
		sw := s.Do(t, r.Str("acceptInvitation.accessToken"), `mutation($o: ID!) { switchOrganization(organizationId: $o) {
		  accessToken organization { name } memberships { organization { name } role { name } } } }`,
			map[string]any{"o": globex.ID})
		require.Empty(t, sw.Errors)
		assert.Equal(t, "Globex", sw.Str("switchOrganization.organization.name"))
		v = s.Do(t, sw.Str("switchOrganization.accessToken"), viewerQuery, nil)
		require.Empty(t, v.Errors)
		assert.Equal(t, "member", v.Str("viewer.role.name"))
		assert.Len(t, v.Get("viewer.memberships"), 2)
	})

	t.Run("signed in", func(t *testing.T) {
		inv := inviteAs(t, s, admin.Access, hank.Email, "viewer")

		ginaTok := s.Login(t, gina.Email, apptest.Password(gina.Email))
		r := s.Do(t, ginaTok.Access, acceptInvitationMutation, acceptVars(inv.Token, "", ""))
		assertError(t, r, "FORBIDDEN", "Invitation email does not match logged in user")
		assert.Zero(t, membershipsWithEmail(t, s, acme.ID, hank.Email))

		hankTok := s.Login(t, hank.Email, apptest.Password(hank.Email))
		require.Equal(t, globex.ID.String(), hankTok.OrgID)
		r = s.Do(t, hankTok.Access, acceptInvitationMutation, acceptVars(inv.Token, "", ""))
		require.Empty(t, r.Errors)
		assert.Equal(t, acme.ID.String(), r.Str("acceptInvitation.organization.id"))
		v := s.Do(t, r.Str("acceptInvitation.accessToken"), viewerQuery, nil)
		require.Empty(t, v.Errors)
		assert.Equal(t, hank.Email, v.Str("viewer.user.email"))
		assert.Equal(t, "viewer", v.Str("viewer.role.name"))
		assert.Len(t, v.Get("viewer.memberships"), 2)
		assert.Equal(t, "ACCEPTED", previewStatus(t, s, inv.Token))
	})
}

func TestAnInvitationExpiresAfterItsLifetime(t *testing.T) {
	clock := apptest.NewClock()
	s := apptest.Start(t, apptest.WithClock(clock))
	acme := s.Org(t, apptest.RootOrg)
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)

	old := inviteAs(t, s, admin.Access, "late@example.com", "member")
	assert.Contains(t, listedInvitations(t, s, admin.Access, "PENDING"), old.ID)
	assert.NotContains(t, listedInvitations(t, s, admin.Access, "EXPIRED"), old.ID)

	// A minute before the seven days are up the link still works...
	clock.Advance(7*24*time.Hour - time.Minute)
	assert.Equal(t, "PENDING", previewStatus(t, s, old.Token))
	// ...and a minute after, it does not.
	clock.Advance(2 * time.Minute)
	r := s.Do(t, "", acceptInvitationMutation, acceptVars(old.Token, "a long password", ""))
	assertError(t, r, "BAD_USER_INPUT", "Invitation expired")
	assert.Zero(t, usersWithEmail(t, s, "late@example.com"))
	assert.Equal(t, "EXPIRED", previewStatus(t, s, old.Token))

	// The admin's week-old session has ended too; a fresh one sees the invitation as expired.
	admin = s.Login(t, apptest.RootEmail, apptest.RootPassword)
	assert.Contains(t, listedInvitations(t, s, admin.Access, "EXPIRED"), old.ID)
	assert.NotContains(t, listedInvitations(t, s, admin.Access, "PENDING"), old.ID)

	// Inviting the same address again closes the expired invitation and opens a new one.
	renewed := inviteAs(t, s, admin.Access, "late@example.com", "member")
	assert.NotEqual(t, old.ID, renewed.ID)
	assert.Equal(t, "PENDING", renewed.Status)
	assert.Equal(t, invitation.StatusEXPIRED, storedInvitation(t, s, old.ID).Status)
	assert.Equal(t, []string{renewed.ID}, listedInvitations(t, s, admin.Access, "PENDING"))
	assert.Equal(t, []string{old.ID}, listedInvitations(t, s, admin.Access, "EXPIRED"))
	assert.Equal(t, "EXPIRED", previewStatus(t, s, old.Token))

	r = s.Do(t, "", acceptInvitationMutation, acceptVars(renewed.Token, "a long password", ""))
	require.Empty(t, r.Errors)
	assert.Equal(t, acme.ID.String(), r.Str("acceptInvitation.organization.id"))
	assert.Equal(t, 1, membershipsWithEmail(t, s, acme.ID, "late@example.com"))
}

func TestRevokingOrResendingAnInvitationRetiresItsLink(t *testing.T) {
	clock := apptest.NewClock()
	s := apptest.Start(t, apptest.WithClock(clock))
	acme := s.Org(t, apptest.RootOrg)
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)

	t.Run("revoke", func(t *testing.T) {
		inv := inviteAs(t, s, admin.Access, "revoked@example.com", "member")
		r := s.Do(t, admin.Access, revokeInvitationMutation, map[string]any{"id": inv.ID})
		require.Empty(t, r.Errors)
		assert.Equal(t, inv.ID, r.Str("revokeInvitation.id"))
		assert.Equal(t, "REVOKED", r.Str("revokeInvitation.status"))
		assert.Equal(t, invitation.StatusREVOKED, storedInvitation(t, s, inv.ID).Status)

		r = s.Do(t, "", acceptInvitationMutation, acceptVars(inv.Token, "a long password", ""))
		assertError(t, r, "NOT_FOUND", "Invalid invitation token")
		assert.Zero(t, usersWithEmail(t, s, "revoked@example.com"))

		r = s.Do(t, admin.Access, revokeInvitationMutation, map[string]any{"id": inv.ID})
		assertError(t, r, "BAD_USER_INPUT", "Only pending invitations can be revoked")
		r = s.Do(t, admin.Access, resendInvitationMutation, map[string]any{"id": inv.ID})
		assertError(t, r, "BAD_USER_INPUT", "Only pending invitations can be resent")
		assert.NotContains(t, listedInvitations(t, s, admin.Access, "PENDING"), inv.ID)
		assert.Contains(t, listedInvitations(t, s, admin.Access, "REVOKED"), inv.ID)

		// The address may be invited afresh.
		again := inviteAs(t, s, admin.Access, "revoked@example.com", "member")
		assert.NotEqual(t, inv.ID, again.ID)
	})

	t.Run("resend", func(t *testing.T) {
		inv := inviteAs(t, s, admin.Access, "resent@example.com", "developer")
		before := storedInvitation(t, s, inv.ID)
		clock.Advance(time.Hour)
		admin := s.Login(t, apptest.RootEmail, apptest.RootPassword) // the old access token has expired

		r := s.Do(t, admin.Access, resendInvitationMutation, map[string]any{"id": inv.ID})
		require.Empty(t, r.Errors)
		fresh := r.Str("resendInvitation.token")
		assert.Len(t, fresh, 43)
		assert.NotEqual(t, inv.Token, fresh)
		assert.Equal(t, inv.ID, r.Str("resendInvitation.invitation.id"), "the same invitation, renewed")
		assert.Equal(t, "PENDING", r.Str("resendInvitation.invitation.status"))
		assert.Equal(t, "/auth/accept-invite?token="+fresh, r.Str("resendInvitation.inviteLink"))
		after := storedInvitation(t, s, inv.ID)
		assert.Equal(t, auth.HashToken(fresh), after.TokenHash)
		assert.NotEqual(t, before.TokenEncrypted, after.TokenEncrypted)
		assert.WithinDuration(t, before.ExpiresAt.Add(time.Hour), after.ExpiresAt, time.Second, "a new expiry from now")

		// The old link is dead; the new one works.
		assert.Empty(t, previewStatus(t, s, inv.Token))
		r = s.Do(t, "", acceptInvitationMutation, acceptVars(inv.Token, "a long password", ""))
		assertError(t, r, "NOT_FOUND", "Invalid invitation token")
		assert.Equal(t, "PENDING", previewStatus(t, s, fresh))
		r = s.Do(t, "", acceptInvitationMutation, acceptVars(fresh, "a long password", ""))
		require.Empty(t, r.Errors)
		assert.Equal(t, acme.ID.String(), r.Str("acceptInvitation.organization.id"))
		assert.Equal(t, 1, membershipsWithEmail(t, s, acme.ID, "resent@example.com"))

		r = s.Do(t, admin.Access, resendInvitationMutation, map[string]any{"id": inv.ID})
		assertError(t, r, "BAD_USER_INPUT", "Only pending invitations can be resent")
	})
}

func TestInvitationsOnlyGoWhereTheRulesAllow(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	ctx := apptest.SystemContext()
	c := s.App.Client()
	// An inviter may invite and holds exactly the viewer role's permissions besides.
	_, err := c.Role.Create().SetOrganizationID(acme.ID).SetName("inviter").SetPermissions([]string{
		"api_key:list", "deployment:list", "model:access", "model:list", "organization:view", "member:invite",
	}).Save(ctx)
	require.NoError(t, err)

	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	dev := s.AddUser(t, "dev@acme.test", acme, "developer")
	ivan := s.AddUser(t, "ivan@acme.test", acme, "inviter")
	devTok := s.Login(t, dev.Email, apptest.Password(dev.Email))
	ivanTok := s.Login(t, ivan.Email, apptest.Password(ivan.Email))
	pending := inviteAs(t, s, admin.Access, "new@example.com", "developer")

	cases := []struct {
		name  string
		token string
		email string
		role  string
		code  string
		msg   string
		// granted is the role of a successful invitation.
		granted string
	}{
		{"an admin invites with the organization's default role", admin.Access, "plain@example.com", "", "", "", "member"},
		{"an existing member cannot be invited", admin.Access, "dev@acme.test", "viewer", "BAD_USER_INPUT", "User is already a member of this organization", ""},
		{"an existing member cannot be invited in capitals either", admin.Access, " DEV@Acme.TEST ", "viewer", "BAD_USER_INPUT", "User is already a member of this organization", ""},
		{"a second pending invitation for an address is refused", admin.Access, "new@example.com", "viewer", "BAD_USER_INPUT", "Pending invitation already exists for this email", ""},
		{"addresses compare case-insensitively", admin.Access, "New@Example.com", "developer", "BAD_USER_INPUT", "Pending invitation already exists for this email", ""},
		{"an invalid address is refused", admin.Access, "not-an-address", "viewer", "BAD_USER_INPUT", "Invalid e-mail address", ""},
		{"an address with a display name is refused", admin.Access, "Eve <eve@example.com>", "viewer", "BAD_USER_INPUT", "Invalid e-mail address", ""},
		{"an unknown role is refused", admin.Access, "x@example.com", "x", "BAD_USER_INPUT", "Role 'x' does not exist", ""},
		{"an inviter cannot grant the developer's permissions", ivanTok.Access, "d@example.com", "developer", "FORBIDDEN", "", ""},
		{"an inviter cannot grant admin", ivanTok.Access, "a@example.com", "admin", "FORBIDDEN", "", ""},
		{"an inviter invites a viewer", ivanTok.Access, "v@example.com", "viewer", "", "", "viewer"},
		{"an inviter invites with a custom role it holds", ivanTok.Access, "i@example.com", "inviter", "", "", "inviter"},
		{"a developer cannot invite", devTok.Access, "dd@example.com", "viewer", "FORBIDDEN", "Permission denied: member:invite required", ""},
		{"nobody invites anonymously", "", "anon@example.com", "viewer", "UNAUTHENTICATED", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.Do(t, tc.token, inviteMemberMutation, inviteVars(tc.email, tc.role))
			if tc.code == "" {
				require.Empty(t, r.Errors)
				assert.Equal(t, tc.granted, r.Str("inviteMember.invitation.role.name"))
				assert.Equal(t, "PENDING", r.Str("inviteMember.invitation.status"))
				return
			}
			assertError(t, r, tc.code, tc.msg)
			assert.Nil(t, r.Get("inviteMember"))
			if tc.code == "FORBIDDEN" && tc.msg == "" {
				assert.True(t, strings.HasPrefix(r.Errors[0].Message, "Cannot grant permissions you do not have: "), r.Errors[0].Message)
			}
		})
	}
	t.Run("the refusal names what the inviter lacks", func(t *testing.T) {
		r := s.Do(t, ivanTok.Access, inviteMemberMutation, inviteVars("d@example.com", "developer"))
		require.NotEmpty(t, r.Errors)
		assert.Contains(t, r.Errors[0].Message, "member:list")
		assert.Contains(t, r.Errors[0].Message, "api_key:create")
	})
	t.Run("refusals leave no invitation behind", func(t *testing.T) {
		var emails []string
		invs, err := c.Invitation.Query().Where(invitation.OrganizationID(acme.ID)).All(ctx)
		require.NoError(t, err)
		for _, inv := range invs {
			emails = append(emails, inv.Email)
		}
		assert.ElementsMatch(t, []string{"new@example.com", "plain@example.com", "v@example.com", "i@example.com"}, emails)
		assert.Equal(t, auth.HashToken(pending.Token), storedInvitation(t, s, pending.ID).TokenHash, "the refused duplicate did not renew it")
	})

	t.Run("allowed e-mail domains", func(t *testing.T) {
		p := acme.SecurityPolicy
		p.AllowedEmailDomains = []string{"acme.test"}
		require.NoError(t, c.Organization.UpdateOneID(acme.ID).SetSecurityPolicy(p).Exec(ctx))

		r := s.Do(t, admin.Access, inviteMemberMutation, inviteVars("outsider@example.com", "viewer"))
		assertError(t, r, "BAD_USER_INPUT", "E-mail domain example.com is not allowed by this organization")
		r = s.Do(t, admin.Access, inviteMemberMutation, inviteVars("sneaky@evilacme.test", "viewer"))
		assertError(t, r, "BAD_USER_INPUT", "")
		inv := inviteAs(t, s, admin.Access, "Insider@ACME.test", "viewer")
		assert.Equal(t, "insider@acme.test", inv.Email)
	})

	t.Run("another organization cannot touch acme's invitations", func(t *testing.T) {
		globex := s.CreateOrg(t, "Globex")
		gina := s.AddUser(t, "gina@globex.test", globex, "admin")
		ginaTok := s.Login(t, gina.Email, apptest.Password(gina.Email))
		require.Equal(t, globex.ID.String(), ginaTok.OrgID)

		r := s.Do(t, ginaTok.Access, revokeInvitationMutation, map[string]any{"id": pending.ID})
		assertError(t, r, "NOT_FOUND", "")
		r = s.Do(t, ginaTok.Access, resendInvitationMutation, map[string]any{"id": pending.ID})
		assertError(t, r, "NOT_FOUND", "")
		// Both answer like an invitation that does not exist.
		unknown := s.Do(t, ginaTok.Access, revokeInvitationMutation, map[string]any{"id": uuid.NewString()})
		assertError(t, unknown, "NOT_FOUND", r.Errors[0].Message)

		stored := storedInvitation(t, s, pending.ID)
		assert.Equal(t, invitation.StatusPENDING, stored.Status)
		assert.Equal(t, auth.HashToken(pending.Token), stored.TokenHash, "the link still works")
		assert.Equal(t, "PENDING", previewStatus(t, s, pending.Token))

		// Neither do acme's members without member:delete revoke.
		r = s.Do(t, devTok.Access, revokeInvitationMutation, map[string]any{"id": pending.ID})
		assertError(t, r, "FORBIDDEN", "Permission denied: member:delete required")
		r = s.Do(t, ivanTok.Access, revokeInvitationMutation, map[string]any{"id": pending.ID})
		assertError(t, r, "FORBIDDEN", "Permission denied: member:delete required")
		// An inviter cannot renew an invitation to a role above its own.
		r = s.Do(t, ivanTok.Access, resendInvitationMutation, map[string]any{"id": pending.ID})
		assertError(t, r, "FORBIDDEN", "")
		assert.Equal(t, auth.HashToken(pending.Token), storedInvitation(t, s, pending.ID).TokenHash)
	})
}

func TestOneInvitationAcceptedFourTimesAtOnceJoinsOnce(t *testing.T) {
	const n = 4
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	globex := s.CreateOrg(t, "Globex")
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	s.AddUser(t, "olga@globex.test", globex, "member")

	for _, tc := range []struct{ name, email, password string }{
		{"a new account", "race@example.com", "a long password"},
		{"an existing account", "olga@globex.test", apptest.Password("olga@globex.test")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := inviteAs(t, s, admin.Access, tc.email, "developer")
			responses := make([]*apptest.Response, n)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					responses[i], errs[i] = s.TryDo("", acceptInvitationMutation, acceptVars(inv.Token, tc.password, ""))
				}()
			}
			close(start)
			wg.Wait()

			var winners []*apptest.Response
			for i, r := range responses {
				require.NoError(t, errs[i])
				if len(r.Errors) == 0 {
					winners = append(winners, r)
					continue
				}
				assert.Equal(t, "BAD_USER_INPUT", r.Code(), "a losing accept: %+v", r.Errors)
			}
			require.Len(t, winners, 1, "exactly one accept succeeds")
			assert.Equal(t, acme.ID.String(), winners[0].Str("acceptInvitation.organization.id"))
			assert.Equal(t, 1, membershipsWithEmail(t, s, acme.ID, tc.email))
			assert.Equal(t, 1, usersWithEmail(t, s, tc.email))
			assert.Equal(t, invitation.StatusACCEPTED, storedInvitation(t, s, inv.ID).Status)

			v := s.Do(t, winners[0].Str("acceptInvitation.accessToken"), viewerQuery, nil)
			require.Empty(t, v.Errors)
			assert.Equal(t, "developer", v.Str("viewer.role.name"))
		})
	}
}

// sentMail is one message the test SMTP server accepted.
type sentMail struct {
	User, Password string
	From           string
	To             []string
	Data           string
}

// mailbox is an in-process SMTP server that keeps what it is sent. It accepts only the
// credentials user/secret, over AUTH PLAIN.
type mailbox struct {
	addr string
	mu   sync.Mutex
	mail []sentMail
}

func startMailbox(t *testing.T) *mailbox {
	t.Helper()
	box := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &mailSession{box: box}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	box.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return box
}

// to returns the messages sent to addr.
func (b *mailbox) to(addr string) []sentMail {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []sentMail
	for _, m := range b.mail {
		for _, rcpt := range m.To {
			if rcpt == addr {
				out = append(out, m)
			}
		}
	}
	return out
}

func (b *mailbox) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.mail)
}

type mailSession struct {
	box  *mailbox
	cur  sentMail
	auth bool
}

var _ smtp.AuthSession = (*mailSession)(nil)

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != "user" || password != "secret" {
			return errors.New("invalid credentials")
		}
		s.auth, s.cur.User, s.cur.Password = true, username, password
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.auth {
		return smtp.ErrAuthRequired
	}
	s.cur.From = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = string(b)
	s.box.mu.Lock()
	s.box.mail = append(s.box.mail, s.cur)
	s.box.mu.Unlock()
	s.cur = sentMail{User: s.cur.User, Password: s.cur.Password}
	return nil
}

func (s *mailSession) Reset()        { s.cur = sentMail{User: s.cur.User, Password: s.cur.Password} }
func (s *mailSession) Logout() error { return nil }

func TestInvitationsAreEmailedAfterCommit(t *testing.T) {
	box := startMailbox(t)
	s := apptest.Start(t, func(c *app.Config, _ *app.Options) {
		c.PublicURL = "https://dash.example"
		c.SMTPURL = "smtp://user:secret@" + box.addr + "?from=noreply@acme.test"
	})
	acme := s.Org(t, apptest.RootOrg)
	require.NoError(t, s.App.Client().Organization.UpdateOneID(acme.ID).SetName("Acme Rockets").Exec(apptest.SystemContext()))
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)

	inv := inviteAs(t, s, admin.Access, "new@example.com", "developer")
	require.Eventually(t, func() bool { return len(box.to("new@example.com")) > 0 }, 5*time.Second, 20*time.Millisecond)
	mails := box.to("new@example.com")
	require.Len(t, mails, 1)
	m := mails[0]
	assert.Equal(t, "noreply@acme.test", m.From)
	assert.Equal(t, []string{"new@example.com"}, m.To)
	assert.Equal(t, "user", m.User)
	assert.Equal(t, "secret", m.Password)
	assert.Contains(t, m.Data, "Subject: ")
	assert.Contains(t, m.Data, "From: noreply@acme.test")
	assert.Contains(t, m.Data, "To: new@example.com")
	assert.Contains(t, m.Data, "https://dash.example/auth/accept-invite?token="+inv.Token)
	assert.Contains(t, m.Data, "Acme Rockets")
	assert.Contains(t, m.Data, "developer")

	// An invitation by an API key names the organization as the inviter, not the key's label.
	keyR := s.Do(t, admin.Access, `mutation { createApiKey(input: {name: "onboarding", role: "admin"}) { secret } }`, nil)
	require.Empty(t, keyR.Errors)
	inviteAs(t, s, keyR.Str("createApiKey.secret"), "bykey@example.com", "viewer")
	require.Eventually(t, func() bool { return len(box.to("bykey@example.com")) > 0 }, 5*time.Second, 20*time.Millisecond)
	assert.Contains(t, box.to("bykey@example.com")[0].Data, "Acme Rockets has")
	assert.NotContains(t, box.to("bykey@example.com")[0].Data, "api_key:")

	// A refused invitation mails nothing, and neither does one rolled back with it: two
	// invitations in one mutation share its transaction.
	r := s.Do(t, admin.Access, inviteMemberMutation, inviteVars("NEW@example.com", "developer"))
	assertError(t, r, "BAD_USER_INPUT", "Pending invitation already exists for this email")
	r = s.Do(t, admin.Access, `mutation {
	  a: inviteMember(input: {email: "rolled-back@example.com"}) { token }
	  b: inviteMember(input: {email: "new@example.com"}) { token }
	}`, nil)
	assertError(t, r, "BAD_USER_INPUT", "Pending invitation already exists for this email")
	assert.Nil(t, r.Get("a"), "no partial data from a rolled-back mutation")
	n, err := s.App.Client().Invitation.Query().Where(invitation.Email("rolled-back@example.com")).Count(apptest.SystemContext())
	require.NoError(t, err)
	assert.Zero(t, n, "the first invitation rolled back with the second")

	// A later invitation arrives; nothing was sent for the refused ones in the meantime.
	inviteAs(t, s, admin.Access, "sentinel@example.com", "viewer")
	require.Eventually(t, func() bool { return len(box.to("sentinel@example.com")) == 1 }, 5*time.Second, 20*time.Millisecond)
	assert.Never(t, func() bool { return box.count() != 3 }, 300*time.Millisecond, 20*time.Millisecond)
	assert.Empty(t, box.to("rolled-back@example.com"))
	assert.Len(t, box.to("new@example.com"), 1)

	// Resending mails the new link.
	r = s.Do(t, admin.Access, resendInvitationMutation, map[string]any{"id": inv.ID})
	require.Empty(t, r.Errors)
	fresh := r.Str("resendInvitation.token")
	require.Eventually(t, func() bool { return len(box.to("new@example.com")) == 2 }, 5*time.Second, 20*time.Millisecond)
	resent := box.to("new@example.com")[1]
	assert.Contains(t, resent.Data, "https://dash.example/auth/accept-invite?token="+fresh)
	assert.NotContains(t, resent.Data, inv.Token)

	t.Run("without SMTP_URL the link is logged", func(t *testing.T) {
		logs := &apptest.Logs{}
		s := apptest.Start(t, func(c *app.Config, o *app.Options) {
			c.LogLevel = "info"
			o.Logs = logs
		})
		admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)
		inv := inviteAs(t, s, admin.Access, "logged@example.com", "viewer")
		require.Eventually(t, func() bool {
			return strings.Contains(logs.String(), "/auth/accept-invite?token="+inv.Token)
		}, 5*time.Second, 20*time.Millisecond)
		assert.Contains(t, logs.String(), "not e-mailed")
		assert.Equal(t, "PENDING", previewStatus(t, s, inv.Token))
	})

	t.Run("an unreachable SMTP server does not fail the invitation", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		closed := ln.Addr().String()
		require.NoError(t, ln.Close())
		logs := &apptest.Logs{}
		s := apptest.Start(t, func(c *app.Config, o *app.Options) {
			c.SMTPURL = "smtp://user:secret@" + closed + "?from=noreply@acme.test"
			o.Logs = logs
		})
		admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)
		inv := inviteAs(t, s, admin.Access, "unlucky@example.com", "viewer")
		assert.Equal(t, "PENDING", previewStatus(t, s, inv.Token))
		require.Eventually(t, func() bool { return strings.Contains(logs.String(), "sending invitation e-mail") }, 5*time.Second, 20*time.Millisecond)
	})
}

func TestInvitationWorkflowsAreAudited(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	globex := s.CreateOrg(t, "Globex")
	gina := s.AddUser(t, "gina@globex.test", globex, "member")
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)

	created := inviteAs(t, s, admin.Access, "new@example.com", "developer")
	revoked := inviteAs(t, s, admin.Access, "revoked@example.com", "viewer")
	forGina := inviteAs(t, s, admin.Access, gina.Email, "viewer")
	// A refused duplicate leaves no entry: its transaction rolled back.
	assertError(t, s.Do(t, admin.Access, inviteMemberMutation, inviteVars("new@example.com", "viewer")), "BAD_USER_INPUT", "")

	r := s.Do(t, admin.Access, resendInvitationMutation, map[string]any{"id": created.ID})
	require.Empty(t, r.Errors)
	fresh := r.Str("resendInvitation.token")
	require.Empty(t, s.Do(t, admin.Access, revokeInvitationMutation, map[string]any{"id": revoked.ID}).Errors)
	r = s.Do(t, "", acceptInvitationMutation, acceptVars(fresh, "a long password", ""))
	require.Empty(t, r.Errors)
	// Gina accepts signed in to Globex: the entry still belongs to Acme, which she joined.
	ginaTok := s.Login(t, gina.Email, apptest.Password(gina.Email))
	require.Empty(t, s.Do(t, ginaTok.Access, acceptInvitationMutation, acceptVars(forGina.Token, "", "")).Errors)

	newUser, err := s.App.Client().User.Query().Where(user.Email("new@example.com")).Only(apptest.SystemContext())
	require.NoError(t, err)
	root, err := s.App.Client().User.Query().Where(user.Email(apptest.RootEmail)).Only(apptest.SystemContext())
	require.NoError(t, err)

	entries := func(action string) []*ent.AuditLog {
		t.Helper()
		all, err := s.App.Client().AuditLog.Query().Where(auditlog.Action(action)).
			Order(ent.Asc(auditlog.FieldCreatedAt)).All(apptest.SystemContext())
		require.NoError(t, err)
		return all
	}
	type want struct {
		email, resource string
		actor           uuid.UUID
	}
	for action, wants := range map[string][]want{
		"invitation.create": {
			{"new@example.com", created.ID, root.ID},
			{"revoked@example.com", revoked.ID, root.ID},
			{gina.Email, forGina.ID, root.ID},
		},
		"invitation.resend": {{"new@example.com", created.ID, root.ID}},
		"invitation.revoke": {{"revoked@example.com", revoked.ID, root.ID}},
		"invitation.accept": {
			{"new@example.com", created.ID, newUser.ID},
			{gina.Email, forGina.ID, gina.ID},
		},
	} {
		t.Run(action, func(t *testing.T) {
			got := entries(action)
			require.Len(t, got, len(wants))
			byResource := map[string]*ent.AuditLog{}
			for _, e := range got {
				byResource[e.ResourceID] = e
			}
			for _, w := range wants {
				e := byResource[w.resource]
				require.NotNil(t, e, "an entry for invitation %s", w.resource)
				if assert.NotNil(t, e.OrganizationID) {
					assert.Equal(t, acme.ID, *e.OrganizationID)
				}
				if assert.NotNil(t, e.ActorID) {
					assert.Equal(t, w.actor, *e.ActorID)
				}
				assert.Equal(t, w.email, e.Details["email"])
				category := "organization" // as the dashboard files invitations
				if action == "invitation.accept" {
					category = "auth" // and signing up by one
				}
				assert.Equal(t, category, e.Category)
				assert.Equal(t, "invitation", e.ResourceType)
				assert.Equal(t, "success", e.Status)
				assert.Equal(t, "127.0.0.1", e.IPAddress)
			}
		})
	}
	// The token never reaches the audit log.
	all, err := s.App.Client().AuditLog.Query().Where(auditlog.ActionHasPrefix("invitation.")).All(apptest.SystemContext())
	require.NoError(t, err)
	for _, e := range all {
		raw, err := json.Marshal(e.Details)
		require.NoError(t, err)
		for _, tok := range []string{created.Token, fresh, revoked.Token, forGina.Token} {
			assert.NotContains(t, string(raw), tok)
		}
	}
}
