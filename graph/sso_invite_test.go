package graph_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent/auditlog"
	"github.com/inferiallm/orgserver/ent/invitation"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/server/apptest"
)

// An invitation into an organization is accepted by signing in through its identity provider:
// the way in where SSO is required (a password accept would open a password session there),
// and where the connection admits nobody just in time.

const (
	enforceSSO    = `mutation($ids: [ID!]!) { updateSsoEnforcement(input: {required: true, breakGlassUserIds: $ids}) { required } }`
	acceptByToken = `mutation($in: AcceptInvitationInput!) { acceptInvitation(input: $in) { accessToken } }`
)

// invite has the root admin invite email with role and returns the invitation's id and token.
func (e *ssoSetup) invite(t *testing.T, email, role string) (id uuid.UUID, token string) {
	t.Helper()
	inv := inviteAs(t, e.s, e.root.Access, email, role)
	return uuid.MustParse(inv.ID), inv.Token
}

// invitationStatus reads the invitation's stored status.
func (e *ssoSetup) invitationStatus(t *testing.T, id uuid.UUID) invitation.Status {
	t.Helper()
	inv, err := e.s.App.Client().Invitation.Get(apptest.SystemContext(), id)
	require.NoError(t, err)
	return inv.Status
}

// signsInAs completes the flow's sign-in and returns the role the session has.
func (e *ssoSetup) signsInAs(t *testing.T, f apptest.Flow) string {
	t.Helper()
	require.Equal(t, http.StatusSeeOther, f.Status, f.Body)
	code := f.Fragment("sso_code")
	require.NotEmpty(t, code, f.Location)
	r := e.s.Do(t, "", completeSSO, map[string]any{"code": code})
	require.Empty(t, r.Errors)
	r = e.s.Do(t, r.Str("completeSsoSignIn.accessToken"), ssoViewer, nil)
	require.Empty(t, r.Errors)
	assert.Equal(t, "SSO", r.Str("viewer.signInMethod"))
	return r.Str("viewer.role.name")
}

func TestAnInvitationIntoAnOrganizationThatRequiresSSOIsAcceptedBySigningInThroughIt(t *testing.T) {
	clock := apptest.NewClock()
	e := startSSO(t, nil, apptest.WithClock(clock)) // nobody joins just in time
	s := e.s
	r := s.Do(t, e.root.Access, enforceSSO, map[string]any{"ids": []string{e.root.UserID}})
	require.Empty(t, r.Errors)

	id, token := e.invite(t, "newbie@acme.test", "developer")
	// With a password: refused, as before; the message says what to do instead.
	r = s.Do(t, "", acceptByToken, map[string]any{"in": map[string]any{"token": token, "password": "a long password", "name": "Newbie"}})
	assertError(t, r, "FORBIDDEN", "This organization requires single sign-on: join it by signing in through its identity provider")
	assert.Equal(t, invitation.StatusPENDING, e.invitationStatus(t, id))

	// Through the provider: the account is created with the invitation's role, which is used up.
	assert.Equal(t, "developer", e.signsInAs(t, e.signIn(t, person("n-1", "Newbie@acme.test"), nil)))
	assert.Equal(t, invitation.StatusACCEPTED, e.invitationStatus(t, id))
	accepted, err := s.App.Client().AuditLog.Query().Where(auditlog.Action("invitation.accept"), auditlog.ResourceID(id.String())).Only(apptest.SystemContext())
	require.NoError(t, err)
	assert.Equal(t, "sso", accepted.Details["method"])
	assert.Equal(t, "developer", accepted.Details["role"])
	created, err := s.App.Client().AuditLog.Query().Where(auditlog.Action("sso.jit_create")).Only(apptest.SystemContext())
	require.NoError(t, err)
	assert.Equal(t, id.String(), created.Details["invitation_id"])
	// The next sign-in is the member's own, the invitation spent.
	assert.Equal(t, "developer", e.signsInAs(t, e.signIn(t, person("n-1", "newbie@acme.test"), nil)))

	// An invitation that expired, or was revoked, lets nobody in; nor does one to another address.
	late, _ := e.invite(t, "late@acme.test", "member")
	require.NoError(t, s.App.Client().Invitation.UpdateOneID(late).SetExpiresAt(clock.Now().Add(-time.Minute)).Exec(apptest.SystemContext()))
	e.refusedWith(t, e.signIn(t, person("l-1", "late@acme.test"), nil), "no pending invitation")
	revoked, _ := e.invite(t, "revoked@acme.test", "member")
	r = s.Do(t, e.root.Access, `mutation($id: ID!) { revokeInvitation(id: $id) { status } }`, map[string]any{"id": revoked.String()})
	require.Empty(t, r.Errors)
	e.refusedWith(t, e.signIn(t, person("r-1", "revoked@acme.test"), nil), "no pending invitation")
	_, _ = e.invite(t, "invited@acme.test", "member")
	e.refusedWith(t, e.signIn(t, person("o-1", "other@acme.test"), nil), "no pending invitation")
	for _, email := range []string{"late@acme.test", "revoked@acme.test", "other@acme.test"} {
		account, err := s.App.Client().User.Query().Where(user.Email(email)).Exist(apptest.SystemContext())
		require.NoError(t, err)
		assert.False(t, account, "%s has no account", email)
	}
}

func TestARemovedMemberComesBackThroughSSOByANewInvitationOnly(t *testing.T) {
	e := startSSO(t, map[string]any{"jitEnabled": true, "defaultRole": "developer"})
	s := e.s
	acme := s.Org(t, apptest.RootOrg)
	pat := person("p-1", "pat@acme.test")
	assert.Equal(t, "developer", e.signsInAs(t, e.signIn(t, pat, nil)), "just in time, the default role")

	_, err := s.App.Client().Membership.Delete().Where(membership.Email("pat@acme.test"), membership.OrganizationID(acme.ID)).Exec(apptest.SystemContext())
	require.NoError(t, err)
	// Removed: not back just in time, although the connection admits new people so.
	e.refusedWith(t, e.signIn(t, pat, nil), "no pending invitation (a linked account that left comes back by invitation only)")

	// Invited again, as an admin: the invitation's role, not the connection's default (which
	// may never be admin).
	id, _ := e.invite(t, "pat@acme.test", "admin")
	assert.Equal(t, "admin", e.signsInAs(t, e.signIn(t, pat, nil)))
	assert.Equal(t, invitation.StatusACCEPTED, e.invitationStatus(t, id))
}

func TestAnExistingAccountLinkedWithItsProofJoinsByItsInvitation(t *testing.T) {
	e := startSSO(t, nil) // nobody joins just in time
	s := e.s
	globex := s.CreateOrg(t, "Globex")
	kim := s.AddUser(t, "kim@acme.test", globex, "member")
	id, _ := e.invite(t, kim.Email, "viewer")

	f := e.signIn(t, person("k-1", kim.Email), nil)
	require.Equal(t, http.StatusSeeOther, f.Status, f.Body)
	link := f.Fragment("sso_link")
	require.NotEmpty(t, link, f.Location)
	assert.Equal(t, invitation.StatusPENDING, e.invitationStatus(t, id), "nothing is accepted before the account proves itself")
	r := s.Do(t, "", linkSSO, map[string]any{"code": link, "pw": apptest.Password(kim.Email)})
	require.Empty(t, r.Errors)
	r = s.Do(t, r.Str("linkSsoIdentity.accessToken"), ssoViewer, nil)
	require.Empty(t, r.Errors)
	assert.Equal(t, "viewer", r.Str("viewer.role.name"))
	assert.Equal(t, apptest.RootOrg, r.Str("viewer.organization.name"))
	assert.Equal(t, invitation.StatusACCEPTED, e.invitationStatus(t, id))

	// Without an invitation, an account of another organization is refused after its proof.
	s.AddUser(t, "lee@acme.test", globex, "member")
	f = e.signIn(t, person("l-1", "lee@acme.test"), nil)
	r = s.Do(t, "", linkSSO, map[string]any{"code": f.Fragment("sso_link"), "pw": apptest.Password("lee@acme.test")})
	assertError(t, r, "FORBIDDEN", "User is not a member of this organization")
}
