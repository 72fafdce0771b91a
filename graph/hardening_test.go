package graph_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

const acceptMutation = `mutation($t: String!, $p: String) { acceptInvitation(input: {token: $t, password: $p}) { accessToken } }`

func TestAcceptingAnInvitationIsNoWayAroundTwoFactorOrTheSignInLimits(t *testing.T) {
	clock := apptest.NewClock()
	s := apptest.Start(t, apptest.WithClock(clock), func(c *app.Config, _ *app.Options) {
		c.Limits = graph.Limits{LoginPerAccount: 3, LoginPerIP: 100, AcceptPerIP: 100, TwoFactorPerIP: 100,
			Window: 15 * time.Minute, BaseDelay: 15 * time.Second, MaxDelay: 15 * time.Minute}
	})
	acme := s.Org(t, apptest.RootOrg)
	globex := s.CreateOrg(t, "Globex")
	alice := s.AddUser(t, "alice@acme.test", acme, "admin")
	aliceTok := s.Login(t, alice.Email, apptest.Password(alice.Email))
	enableTwoFactor(t, s, clock, aliceTok.Access)

	// Eve, admin of globex, invites alice and knows her password: that is not enough.
	eve := s.AddUser(t, "eve@globex.test", globex, "admin")
	eveTok := s.Login(t, eve.Email, apptest.Password(eve.Email))
	r := s.Do(t, eveTok.Access, `mutation { inviteMember(input: {email: "alice@acme.test", role: "viewer"}) { token } }`, nil)
	require.Empty(t, r.Errors)
	token := r.Str("inviteMember.token")
	r = s.Do(t, "", acceptMutation, map[string]any{"t": token, "p": apptest.Password(alice.Email)})
	assert.Equal(t, "BAD_USER_INPUT", r.Code())
	assert.Equal(t, "User already exists. Please login and accept the invitation.", r.Errors[0].Message)

	// For an account without 2FA, wrong passwords here count with the sign-in's.
	bob := s.AddUser(t, "bob@acme.test", acme, "member")
	r = s.Do(t, eveTok.Access, `mutation { inviteMember(input: {email: "bob@acme.test", role: "viewer"}) { token } }`, nil)
	require.Empty(t, r.Errors)
	bobToken := r.Str("inviteMember.token")
	for range 3 {
		assert.Equal(t, "UNAUTHENTICATED", s.Do(t, "", acceptMutation, map[string]any{"t": bobToken, "p": "guess"}).Code())
	}
	login := s.Do(t, "", `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken } }`,
		map[string]any{"e": bob.Email, "p": apptest.Password(bob.Email)})
	assert.Equal(t, "RATE_LIMITED", login.Code())
}

func TestOneRequestChecksOneCredential(t *testing.T) {
	s := apptest.Start(t)
	var aliases []string
	for i := range 5 {
		aliases = append(aliases, `a`+string(rune('0'+i))+`: login(input: {email: "root@example.com", password: "guess`+string(rune('0'+i))+`"}) { tokenType }`)
	}
	r := s.Do(t, "", `mutation { `+strings.Join(aliases, " ")+` }`, nil)
	require.Len(t, r.Errors, 1)
	assert.Equal(t, "BAD_USER_INPUT", r.Code())
	assert.Equal(t, "Only one sign-in, token or code check per request", r.Errors[0].Message)
	r = s.Do(t, "", `mutation { a: login(input: {email: "root@example.com", password: "x"}) { tokenType } b: refreshToken(refreshToken: "x") { tokenType } }`, nil)
	assert.Equal(t, "BAD_USER_INPUT", r.Code())
}

func TestSwitchingOrganizationsDoesNotExtendTheSignIn(t *testing.T) {
	clock := apptest.NewClock()
	s := apptest.Start(t, apptest.WithClock(clock))
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	require.Empty(t, s.Do(t, root.Access, `mutation { updateSecurityPolicy(input: {sessionMaxLifetimeHours: 1}) { sessionMaxLifetimeHours } }`, nil).Errors)
	refresh := root.Refresh
	// Every 25 minutes: refresh, then switch (to the same organization), which starts a new session.
	for range 2 {
		clock.Advance(25 * time.Minute)
		r := s.Do(t, "", refreshMutation, map[string]any{"t": refresh})
		require.Empty(t, r.Errors)
		sw := s.Do(t, r.Str("refreshToken.accessToken"), `mutation($o: ID!) { switchOrganization(organizationId: $o) { refreshToken } }`,
			map[string]any{"o": root.OrgID})
		require.Empty(t, sw.Errors)
		refresh = sw.Str("switchOrganization.refreshToken")
	}
	// 75 minutes after signing in, the newest session, started 25 minutes ago, is past the
	// one-hour maximum of the sign-in it came from.
	clock.Advance(25 * time.Minute)
	assert.Equal(t, "UNAUTHENTICATED", s.Do(t, "", refreshMutation, map[string]any{"t": refresh}).Code())
}

func TestAnotherOrganizationsBillingAndPolicyStayHidden(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	globex := s.CreateOrg(t, "Globex")
	m := s.AddUser(t, "mallory@acme.test", acme, "admin")
	s.AddUser(t, m.Email, globex, "viewer")
	tok := s.Login(t, m.Email, apptest.Password(m.Email))
	require.Equal(t, acme.ID.String(), tok.OrgID)
	r := s.Do(t, tok.Access, `{ viewer { memberships { organization { name billing { taxId } } } } }`, nil)
	require.Empty(t, r.Errors)
	for _, ms := range r.Get("viewer.memberships").([]any) {
		org := ms.(map[string]any)["organization"].(map[string]any)
		if org["name"] == "Globex" {
			assert.Nil(t, org["billing"], "globex's billing, read from an acme session")
		} else {
			assert.NotNil(t, org["billing"], "acme's own billing")
		}
	}
	r = s.Do(t, tok.Access, `query($id: ID!) { node(id: $id) { ... on Organization { securityPolicy { requireTwoFactor } } } }`, map[string]any{"id": globex.ID})
	assert.Equal(t, "FORBIDDEN", r.Code())
	r = s.Do(t, tok.Access, `query($id: ID!) { node(id: $id) { ... on Organization { securityPolicy { requireTwoFactor } } } }`, map[string]any{"id": acme.ID})
	assert.Empty(t, r.Errors)
}

func TestSecurityPermissionsAloneManageSecurity(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	ctx := apptest.SystemContext()
	_, err := s.App.Client().Role.Create().SetOrganizationID(acme.ID).SetName("security-officer").
		SetPermissions([]string{"security:update", "organization:view"}).Save(ctx)
	require.NoError(t, err)
	officer := s.AddUser(t, "sec@acme.test", acme, "security-officer")
	tok := s.Login(t, officer.Email, apptest.Password(officer.Email))
	r := s.Do(t, tok.Access, `mutation { updateSecurityPolicy(input: {passwordMinLength: 12}) { passwordMinLength } }`, nil)
	require.Empty(t, r.Errors, "security:update is what the policy needs")
	assert.EqualValues(t, 12, r.Get("updateSecurityPolicy.passwordMinLength"))
	assert.Equal(t, "FORBIDDEN", s.Do(t, tok.Access, `mutation { updateOrganization(input: {name: "x"}) { name } }`, nil).Code())

	member := s.AddUser(t, "m@acme.test", acme, "member")
	mTok := s.Login(t, member.Email, apptest.Password(member.Email))
	v := s.Do(t, mTok.Access, `{ viewer { session { id } } }`, nil)
	r = s.Do(t, tok.Access, `mutation($id: ID!) { revokeSession(id: $id) }`, map[string]any{"id": v.Str("viewer.session.id")})
	require.Empty(t, r.Errors, "security:update revokes members' sessions")
	assert.Equal(t, "UNAUTHENTICATED", s.Do(t, mTok.Access, `{ viewer { user { id } } }`, nil).Code())
}

func TestOddUserAgentsAreStoredNotRefused(t *testing.T) {
	s := apptest.Start(t)
	for _, ua := range []string{"Mozilla \xff\xfe", strings.Repeat("a", 511) + "é", strings.Repeat("ü", 600)} {
		body, _ := json.Marshal(map[string]any{"query": `mutation { login(input: {email: "root@example.com", password: "root-password-1"}) { accessToken } }`})
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", ua)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var out apptest.Response
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Empty(t, out.Errors, "%q", ua[:10])
	}
}

func TestBillingAndSessionListsWaitForTheRequiredTwoFactor(t *testing.T) {
	s := apptest.Start(t)
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	require.Empty(t, s.Do(t, root.Access, `{ viewer { sessions { id } organization { billing { plan } } } }`, nil).Errors)
	require.Empty(t, s.Do(t, root.Access, `mutation { updateSecurityPolicy(input: {requireTwoFactor: true}) { requireTwoFactor } }`, nil).Errors)
	for _, q := range []string{`{ viewer { sessions { id } } }`, `{ viewer { organization { billing { plan } } } }`} {
		r := s.Do(t, root.Access, q, nil)
		assert.Equal(t, "TWO_FACTOR_REQUIRED", r.Code(), q)
	}
	assert.Empty(t, s.Do(t, root.Access, `{ viewer { user { email } memberships { organization { name } } } }`, nil).Errors)
}
