package rest_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent/invitation"
	"github.com/inferiallm/orgserver/server/apptest"
)

// Over REST as over GraphQL, an invitation into an organization that requires SSO is accepted by
// signing in through its provider: a new account at the callback, an existing one when it links
// with its password; each gets the invitation's role, and the invitation is used up.
func TestRESTInvitationsIntoAnOrganizationThatRequiresSSOAreAcceptedThroughIt(t *testing.T) {
	dns := &apptest.FakeDNS{}
	s := apptest.Start(t, apptest.WithSSO(dns))
	idp := apptest.StartIdP(t)
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	conn := s.SetUpSSO(t, root.Access, idp, dns, "acme.test", nil) // nobody joins just in time
	start := s.Config.SSOBaseURL + "/auth/sso/" + conn + "/start"
	call := func(method, path, bearer string, body any) *apptest.RESTResponse {
		t.Helper()
		return s.REST(t, apptest.RESTRequest{Method: method, Path: path, Bearer: bearer, Body: body})
	}
	r := call("PUT", "/management/organizations/me/sso/enforcement", root.Access, map[string]any{"required": true, "break_glass_user_ids": []string{root.UserID}})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	invite := func(email, role string) string {
		t.Helper()
		r := call("POST", "/management/invitations", root.Access, map[string]any{"email": email, "role": role})
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Raw)
		inv, err := s.App.Client().Invitation.Query().Where(invitation.Email(email)).Only(apptest.SystemContext())
		require.NoError(t, err)
		return inv.ID.String()
	}
	accepted := func(id string) bool {
		t.Helper()
		inv, err := s.App.Client().Invitation.Get(apptest.SystemContext(), uuid.MustParse(id))
		require.NoError(t, err)
		return inv.Status == invitation.StatusACCEPTED
	}

	// A new account, at the callback.
	newbie := invite("newbie@acme.test", "developer")
	idp.SignIn(apptest.Person{Subject: "n-1", Email: "newbie@acme.test", EmailVerified: true}, nil)
	f := apptest.NewBrowser(t).Run(t, start)
	require.Equal(t, http.StatusSeeOther, f.Status, f.Body)
	r = call("POST", "/auth/sso/exchange", "", map[string]any{"code": f.Fragment("sso_code")})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	assert.Equal(t, "developer", r.Str("organizations.0.role"))
	assert.True(t, accepted(newbie))

	// An existing account of another organization, once it proves itself.
	globex := s.CreateOrg(t, "Globex")
	kim := s.AddUser(t, "kim@acme.test", globex, "member")
	kimInvite := invite(kim.Email, "viewer")
	idp.SignIn(apptest.Person{Subject: "k-1", Email: kim.Email, EmailVerified: true}, nil)
	f = apptest.NewBrowser(t).Run(t, start)
	link := f.Fragment("sso_link")
	require.NotEmpty(t, link, f.Location)
	assert.False(t, accepted(kimInvite), "nothing is accepted before the account proves itself")
	r = call("POST", "/auth/sso/link", "", map[string]any{"code": link, "password": apptest.Password(kim.Email)})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	r = call("GET", "/auth/me", r.Str("access_token"), nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	assert.True(t, accepted(kimInvite))

	// Without an invitation, nobody new gets in.
	idp.SignIn(apptest.Person{Subject: "x-1", Email: "stranger@acme.test", EmailVerified: true}, nil)
	f = apptest.NewBrowser(t).Run(t, start)
	assert.Equal(t, http.StatusBadRequest, f.Status)
	assert.Contains(t, f.Body, "Single sign-on failed")
}
