package graph_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/auditlog"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/session"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

// Single sign-on with OpenID Connect, through a provider running in-process: an admin sets a
// connection up, people sign in through it, and every way a hostile or broken provider, a
// forged callback or a careless configuration could let the wrong person in is refused.

const (
	completeSSO   = `mutation($code: String!, $totp: String) { completeSsoSignIn(input: {code: $code, totpCode: $totp}) { accessToken refreshToken user { email } organization { name } } }`
	linkSSO       = `mutation($code: String!, $pw: String!, $totp: String) { linkSsoIdentity(input: {code: $code, password: $pw, totpCode: $totp}) { accessToken user { email } } }`
	ssoViewer     = `{ viewer { user { email } organization { name } role { name } signInMethod ssoConnectionId ssoRequired ssoIdentities { id subject } } }`
	discoverQuery = `query($e: String!) { ssoDiscover(email: $e) { sso startUrl } }`
)

// ssoSetup is acme with an active connection to a provider, for the domain acme.test.
type ssoSetup struct {
	s    *apptest.Server
	idp  *apptest.IdP
	dns  *apptest.FakeDNS
	root apptest.Tokens
	conn string
}

func startSSO(t *testing.T, extra map[string]any, opts ...apptest.Option) *ssoSetup {
	t.Helper()
	dns := &apptest.FakeDNS{}
	s := apptest.Start(t, append([]apptest.Option{apptest.WithSSO(dns)}, opts...)...)
	idp := apptest.StartIdP(t)
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	conn := s.SetUpSSO(t, root.Access, idp, dns, "acme.test", extra)
	return &ssoSetup{s: s, idp: idp, dns: dns, root: root, conn: conn}
}

// start is the URL that starts a sign-in through the connection.
func (e *ssoSetup) start() string {
	return e.s.Config.SSOBaseURL + "/auth/sso/" + e.conn + "/start?return_to=/models"
}

// signIn walks a browser through a sign-in of who and returns the flow.
func (e *ssoSetup) signIn(t *testing.T, who apptest.Person, tamper func(map[string]any)) apptest.Flow {
	t.Helper()
	e.idp.SignIn(who, tamper)
	return apptest.NewBrowser(t).Run(t, e.start())
}

// refusedWith checks that the callback refused and the audit log says why.
func (e *ssoSetup) refusedWith(t *testing.T, f apptest.Flow, reason string) {
	t.Helper()
	assert.Equal(t, http.StatusBadRequest, f.Status, "refused: %s", reason)
	assert.Contains(t, f.Body, "Single sign-on failed")
	assert.Empty(t, f.Location)
	// The newest refusal, this flow's: an earlier case's reason must not satisfy a later one.
	last, err := e.s.App.Client().AuditLog.Query().Where(auditlog.Action("sso.signin"), auditlog.Status("failure")).
		Order(ent.Desc(auditlog.FieldCreatedAt), ent.Desc(auditlog.FieldID)).First(apptest.SystemContext())
	require.NoError(t, err)
	assert.Contains(t, last.Details["reason"], reason)
}

func person(sub, email string) apptest.Person {
	return apptest.Person{Subject: sub, Email: email, EmailVerified: true, Name: "Pat " + sub}
}

func TestAFirstSSOSignInCreatesTheAccountJustInTimeAndIssuesTheSameTokensAsAPassword(t *testing.T) {
	e := startSSO(t, map[string]any{"jitEnabled": true, "defaultRole": "developer"})
	s := e.s

	f := e.signIn(t, person("u-1", "Pat@Acme.test"), nil)
	require.Equal(t, http.StatusSeeOther, f.Status, f.Body)
	assert.True(t, strings.HasPrefix(f.Location, apptest.DashboardURL+"/models#sso_code="), f.Location)
	code := f.Fragment("sso_code")

	r := s.Do(t, "", completeSSO, map[string]any{"code": code})
	require.Empty(t, r.Errors)
	assert.Equal(t, "pat@acme.test", r.Str("completeSsoSignIn.user.email"))
	assert.Equal(t, apptest.RootOrg, r.Str("completeSsoSignIn.organization.name"))
	access, refresh := r.Str("completeSsoSignIn.accessToken"), r.Str("completeSsoSignIn.refreshToken")

	r = s.Do(t, access, ssoViewer, nil)
	require.Empty(t, r.Errors)
	assert.Equal(t, "developer", r.Str("viewer.role.name"), "the connection's default role")
	assert.Equal(t, "SSO", r.Str("viewer.signInMethod"))
	assert.Equal(t, e.conn, r.Str("viewer.ssoConnectionId"))
	assert.Equal(t, false, r.Get("viewer.ssoRequired"))
	assert.Len(t, r.Get("viewer.ssoIdentities"), 1)

	// The code works once.
	r = s.Do(t, "", completeSSO, map[string]any{"code": code})
	assertError(t, r, "UNAUTHENTICATED", "Invalid or expired sign-in code")

	// The session refreshes like any other.
	r = s.Do(t, "", `mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }`, map[string]any{"t": refresh})
	require.Empty(t, r.Errors)

	// The next sign-in of the same subject is the same account, whatever e-mail it now shows.
	f = e.signIn(t, person("u-1", "pat.renamed@acme.test"), nil)
	require.Equal(t, http.StatusSeeOther, f.Status, f.Body)
	r = s.Do(t, "", completeSSO, map[string]any{"code": f.Fragment("sso_code")})
	require.Empty(t, r.Errors)
	assert.Equal(t, "pat@acme.test", r.Str("completeSsoSignIn.user.email"))
	n, err := s.App.Client().User.Query().Where(user.EmailHasSuffix("@acme.test")).Count(apptest.SystemContext())
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	// The account has no password: a password sign-in is refused like a wrong password.
	r = s.Do(t, "", `mutation { login(input: {email: "pat@acme.test", password: ""}) { accessToken } }`, nil)
	assertError(t, r, "UNAUTHENTICATED", "Incorrect username or password")

	// Attempts are kept until they can no longer be used, then pruned.
	require.NoError(t, s.App.Service().PruneSSOAttempts(context.Background()))
	n0, err := s.App.Client().SSOAttempt.Query().Count(apptest.SystemContext())
	require.NoError(t, err)
	assert.Positive(t, n0, "recent attempts stay")

	// Audited: the creation and the sign-ins.
	for _, action := range []string{"sso.jit_create", "auth.login", "sso.connection_test", "sso.connection_create", "sso.domain_verify"} {
		ok, err := s.App.Client().AuditLog.Query().Where(auditlog.Action(action)).Exist(apptest.SystemContext())
		require.NoError(t, err)
		assert.True(t, ok, action)
	}
	// Sessions say how they signed in.
	ss, err := s.App.Client().Session.Query().Where(session.SignInMethodEQ(session.SignInMethodSSO)).All(apptest.SystemContext())
	require.NoError(t, err)
	assert.Len(t, ss, 2)
}

func TestEverySSORefusalLetsNobodyIn(t *testing.T) {
	e := startSSO(t, map[string]any{"jitEnabled": true})
	s := e.s
	// globex verifies its own domain with a connection of its own.
	globex := s.CreateOrg(t, "Globex")
	s.AddUser(t, "gadmin@globex.test", globex, "admin")
	gadmin := s.Login(t, "gadmin@globex.test", apptest.Password("gadmin@globex.test"))
	gidp := apptest.StartIdP(t)
	s.SetUpSSO(t, gadmin.Access, gidp, e.dns, "globex.test", nil)

	ok := person("x-1", "x1@acme.test")
	cases := []struct {
		name   string
		who    apptest.Person
		tamper func(map[string]any)
		reason string
	}{
		{"a nonce other than the attempt's", ok, func(c map[string]any) { c["nonce"] = "someone-elses-nonce" }, "nonce does not match"},
		{"no nonce", ok, func(c map[string]any) { delete(c, "nonce") }, "nonce does not match"},
		{"another audience", ok, func(c map[string]any) { c["aud"] = "another-client" }, "ID token refused"},
		{"a second audience", ok, func(c map[string]any) { c["aud"] = []string{e.idp.ClientID, "another-client"} }, "more than one audience"},
		{"an azp other than the client", ok, func(c map[string]any) { c["azp"] = "another-client" }, "azp is not the client"},
		{"another issuer", ok, func(c map[string]any) { c["iss"] = "https://evil.example" }, "ID token refused"},
		{"an expired token", ok, func(c map[string]any) { c["exp"] = int64(1_000_000_000) }, "ID token refused"},
		{"email_verified false", apptest.Person{Subject: "x-2", Email: "x2@acme.test", EmailVerified: false}, nil, "email_verified is not true"},
		{"email_verified as a string", apptest.Person{Subject: "x-3", Email: "x3@acme.test", EmailVerified: "true"}, nil, "email_verified is not true"},
		{"no email_verified", apptest.Person{Subject: "x-4", Email: "x4@acme.test"}, nil, "email_verified is not true"},
		{"an e-mail outside the verified domains", person("x-5", "x5@elsewhere.test"), nil, "email outside the domains verified for this connection"},
		{"an e-mail of another organization's verified domain", person("x-6", "x6@globex.test"), nil, "email outside the domains verified for this connection"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := e.signIn(t, c.who, c.tamper)
			e.refusedWith(t, f, c.reason)
		})
	}

	t.Run("a tampered state", func(t *testing.T) {
		e.idp.SignIn(ok, nil)
		b := apptest.NewBrowser(t)
		authz := b.Get(t, e.start()).Location
		cb := b.Get(t, authz).Location
		f := apptest.Flow{Step: b.Get(t, strings.Replace(cb, "state=", "state=x", 1))}
		e.refusedWith(t, f, "unknown, used or expired state")
	})
	t.Run("a replayed callback", func(t *testing.T) {
		e.idp.SignIn(ok, nil)
		b := apptest.NewBrowser(t)
		f := b.Run(t, e.start())
		require.Equal(t, http.StatusSeeOther, f.Status, f.Body)
		e.refusedWith(t, apptest.Flow{Step: b.Get(t, f.Callback)}, "unknown, used or expired state")
	})
	t.Run("a callback without the state cookie", func(t *testing.T) {
		e.idp.SignIn(ok, nil)
		b := apptest.NewBrowser(t)
		authz := b.Get(t, e.start()).Location
		cb := b.Get(t, authz).Location
		// Another browser: the victim's, into which an attacker's callback is planted.
		e.refusedWith(t, apptest.Flow{Step: apptest.NewBrowser(t).Get(t, cb)}, "missing state cookie")
	})
	t.Run("a code obtained for another attempt (PKCE)", func(t *testing.T) {
		e.idp.SignIn(ok, nil)
		attacker, victim := apptest.NewBrowser(t), apptest.NewBrowser(t)
		stolen := attacker.Get(t, attacker.Get(t, e.start()).Location).Location
		mine := victim.Get(t, victim.Get(t, e.start()).Location).Location
		code := queryOf(t, stolen, "code")
		forged := strings.Replace(mine, "code="+queryOf(t, mine, "code"), "code="+code, 1)
		e.refusedWith(t, apptest.Flow{Step: victim.Get(t, forged)}, "token exchange refused: invalid_grant")
	})
	t.Run("an iss response parameter of another issuer", func(t *testing.T) {
		e.idp.SignIn(ok, nil)
		b := apptest.NewBrowser(t)
		cb := b.Get(t, b.Get(t, e.start()).Location).Location
		forged := strings.Replace(cb, "iss=", "iss=https%3A%2F%2Fevil.example&x=", 1)
		e.refusedWith(t, apptest.Flow{Step: b.Get(t, forged)}, "iss response parameter does not match")
	})
	t.Run("the provider's error", func(t *testing.T) {
		e.idp.SignIn(ok, nil)
		b := apptest.NewBrowser(t)
		cb := b.Get(t, b.Get(t, e.start()).Location).Location
		forged := strings.Replace(cb, "code=", "error=access_denied&code=", 1)
		e.refusedWith(t, apptest.Flow{Step: b.Get(t, forged)}, "provider error: access_denied")
	})

	// None of it created an account (x1 signed in once, in the replay's first callback) or a
	// session.
	n, err := s.App.Client().User.Query().Where(user.EmailHasPrefix("x"), user.EmailNEQ("x1@acme.test")).Count(apptest.SystemContext())
	require.NoError(t, err)
	assert.Zero(t, n)
	n, err = s.App.Client().Session.Query().Where(session.SignInMethodEQ(session.SignInMethodSSO)).Count(apptest.SystemContext())
	require.NoError(t, err)
	assert.Zero(t, n)
}

func queryOf(t *testing.T, raw, key string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Query().Get(key)
}

func TestWithoutJustInTimeMembershipAnUnknownPersonIsRefused(t *testing.T) {
	e := startSSO(t, nil)
	e.refusedWith(t, e.signIn(t, person("n-1", "new@acme.test"), nil), "not a member of the organization, no pending invitation, and just-in-time membership is off")
}

func TestAnExistingAccountIsLinkedOnlyWithItsOwnProof(t *testing.T) {
	clock := apptest.NewClock()
	e := startSSO(t, map[string]any{"jitEnabled": true}, apptest.WithClock(clock))
	s := e.s
	acme := s.Org(t, apptest.RootOrg)
	dana := s.AddUser(t, "dana@acme.test", acme, "member")
	pw := apptest.Password(dana.Email)
	danaTokens := s.Login(t, dana.Email, pw)
	tf := enableTwoFactor(t, s, clock, danaTokens.Access)

	// The provider says it is dana, verified: no session, a link code instead.
	f := e.signIn(t, person("d-1", "dana@acme.test"), nil)
	require.Equal(t, http.StatusSeeOther, f.Status, f.Body)
	assert.Empty(t, f.Fragment("sso_code"), "never signed in silently")
	link := f.Fragment("sso_link")
	require.NotEmpty(t, link)

	r := s.Do(t, "", completeSSO, map[string]any{"code": link})
	assertError(t, r, "UNAUTHENTICATED", "Invalid or expired sign-in code")
	r = s.Do(t, "", linkSSO, map[string]any{"code": link, "pw": "not dana's password"})
	assertError(t, r, "UNAUTHENTICATED", "Incorrect username or password")
	r = s.Do(t, "", linkSSO, map[string]any{"code": link, "pw": pw})
	assertError(t, r, "TWO_FACTOR_CODE_REQUIRED", "TOTP_REQUIRED")
	r = s.Do(t, "", linkSSO, map[string]any{"code": link, "pw": pw, "totp": totpCode(t, tf.Secret, clock.Now())})
	require.Empty(t, r.Errors)
	access := r.Str("linkSsoIdentity.accessToken")
	assert.Equal(t, "dana@acme.test", r.Str("linkSsoIdentity.user.email"))

	r = s.Do(t, access, ssoViewer, nil)
	require.Empty(t, r.Errors)
	assert.Equal(t, "SSO", r.Str("viewer.signInMethod"))
	require.Len(t, r.Get("viewer.ssoIdentities"), 1)
	identity, _ := r.Dig("viewer.ssoIdentities.0.id").(string)
	assert.Equal(t, "d-1", r.Dig("viewer.ssoIdentities.0.subject"))
	r = s.Do(t, "", linkSSO, map[string]any{"code": link, "pw": pw})
	assertError(t, r, "UNAUTHENTICATED", "Invalid or expired sign-in code")

	// Linked: the next sign-in goes straight through (with dana's 2FA code: the connection
	// does not trust the provider's MFA).
	f = e.signIn(t, person("d-1", "dana@acme.test"), nil)
	code := f.Fragment("sso_code")
	require.NotEmpty(t, code, f.Location)
	r = s.Do(t, "", completeSSO, map[string]any{"code": code})
	assertError(t, r, "TWO_FACTOR_CODE_REQUIRED", "TOTP_REQUIRED")
	clock.Advance(30 * time.Second)
	r = s.Do(t, "", completeSSO, map[string]any{"code": code, "totp": totpCode(t, tf.Secret, clock.Now())})
	require.Empty(t, r.Errors)

	// Another member cannot unlink it (an admin with sso:manage could); dana can.
	s.AddUser(t, "eve@acme.test", acme, "developer")
	eve := s.Login(t, "eve@acme.test", apptest.Password("eve@acme.test"))
	r = s.Do(t, eve.Access, `mutation($id: ID!) { unlinkSsoIdentity(id: $id) }`, map[string]any{"id": identity})
	assertError(t, r, "NOT_FOUND", "Identity not found")
	r = s.Do(t, access, `mutation($id: ID!) { unlinkSsoIdentity(id: $id) }`, map[string]any{"id": identity})
	require.Empty(t, r.Errors)
	f = e.signIn(t, person("d-1", "dana@acme.test"), nil)
	assert.NotEmpty(t, f.Fragment("sso_link"), "unlinked: proof again")

	for _, action := range []string{"sso.link_required", "sso.link", "sso.unlink"} {
		ok, err := s.App.Client().AuditLog.Query().Where(auditlog.Action(action), auditlog.Status("success")).Exist(apptest.SystemContext())
		require.NoError(t, err)
		assert.True(t, ok, action)
	}
	failed, err := s.App.Client().AuditLog.Query().Where(auditlog.Action("sso.link"), auditlog.Status("failure")).Exist(apptest.SystemContext())
	require.NoError(t, err)
	assert.True(t, failed, "the wrong password is audited")
}

func TestRequiringSSOKeepsBreakGlassAdminsAndEndsPasswordSessions(t *testing.T) {
	e := startSSO(t, map[string]any{"jitEnabled": true})
	s := e.s
	acme := s.Org(t, apptest.RootOrg)
	bob := s.AddUser(t, "bob@acme.test", acme, "member")
	dev := s.AddUser(t, "dev@acme.test", acme, "developer")
	bobTokens := s.Login(t, bob.Email, apptest.Password(bob.Email))
	globex := s.CreateOrg(t, "Globex")
	s.AddUser(t, bob.Email, globex, "member")
	rootID := e.root.UserID

	const enforce = `mutation($req: Boolean!, $ids: [ID!]!) { updateSsoEnforcement(input: {required: $req, breakGlassUserIds: $ids}) { required breakGlassUserIds } }`
	for _, c := range []struct {
		ids     []string
		message string
	}{
		{[]string{}, "Requiring SSO needs at least one break-glass admin, for when the identity provider is down"},
		{[]string{dev.ID.String()}, "At least one break-glass account must be an admin"},
		{[]string{globex.ID.String()}, "Break-glass accounts must be members of the organization"},
	} {
		r := s.Do(t, e.root.Access, enforce, map[string]any{"req": true, "ids": c.ids})
		assertError(t, r, "BAD_USER_INPUT", c.message)
	}
	// A second admin, signed in with a password and not on the list, would lock themselves out.
	s.AddUser(t, "ada@acme.test", acme, "admin")
	ada := s.Login(t, "ada@acme.test", apptest.Password("ada@acme.test"))
	r := s.Do(t, ada.Access, enforce, map[string]any{"req": true, "ids": []string{rootID}})
	assertError(t, r, "BAD_USER_INPUT", "This would lock you out: sign in through SSO first, or put yourself on the break-glass list")
	r = s.Do(t, bobTokens.Access, enforce, map[string]any{"req": true, "ids": []string{rootID}})
	assertError(t, r, "FORBIDDEN", "Permission denied: sso:manage required")

	r = s.Do(t, e.root.Access, enforce, map[string]any{"req": true, "ids": []string{rootID}})
	require.Empty(t, r.Errors)
	assert.Equal(t, true, r.Get("updateSsoEnforcement.required"))

	// Bob's password session ended at once; a password sign-in lands in his other organization.
	r = s.Do(t, bobTokens.Access, ssoViewer, nil)
	assertError(t, r, "UNAUTHENTICATED", "")
	r = s.Do(t, "", `mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }`, map[string]any{"t": bobTokens.Refresh})
	assertError(t, r, "UNAUTHENTICATED", "Refresh failed")
	bobTokens = s.Login(t, bob.Email, apptest.Password(bob.Email))
	assert.Equal(t, globex.ID.String(), bobTokens.OrgID)
	r = s.Do(t, "", `mutation($e: String!, $p: String!, $o: ID) { login(input: {email: $e, password: $p, organizationId: $o}) { accessToken } }`,
		map[string]any{"e": bob.Email, "p": apptest.Password(bob.Email), "o": acme.ID.String()})
	assertError(t, r, "FORBIDDEN", "This organization requires single sign-on")
	r = s.Do(t, bobTokens.Access, `mutation($o: ID!) { switchOrganization(organizationId: $o) { accessToken } }`, map[string]any{"o": acme.ID.String()})
	assertError(t, r, "FORBIDDEN", "This organization requires single sign-on")
	r = s.Do(t, "", `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken } }`,
		map[string]any{"e": dev.Email, "p": apptest.Password(dev.Email)})
	assertError(t, r, "FORBIDDEN", "This organization requires single sign-on")

	// The break-glass admin still signs in with a password: the provider may be down.
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)

	// An invitation cannot open a password session in it either, for a new account or an
	// existing one (which stays out of the organization).
	for _, email := range []string{"invitee@example.com", bob.Email} {
		if email == bob.Email {
			_, err := s.App.Client().Membership.Delete().Where(membership.UserID(bob.ID), membership.OrganizationID(acme.ID)).Exec(apptest.SystemContext())
			require.NoError(t, err)
		}
		inv := s.Do(t, root.Access, `mutation($e: String!) { inviteMember(input: {email: $e, role: "member"}) { token } }`, map[string]any{"e": email})
		require.Empty(t, inv.Errors)
		in := map[string]any{"token": inv.Str("inviteMember.token"), "password": "a long password", "name": "Invitee"}
		if email == bob.Email {
			in = map[string]any{"token": inv.Str("inviteMember.token"), "password": apptest.Password(bob.Email)}
		}
		r = s.Do(t, "", `mutation($in: AcceptInvitationInput!) { acceptInvitation(input: $in) { accessToken } }`, map[string]any{"in": in})
		assertError(t, r, "FORBIDDEN", "This organization requires single sign-on: join it by signing in through its identity provider")
		n, err := s.App.Client().Membership.Query().Where(membership.Email(email), membership.OrganizationID(acme.ID)).Count(apptest.SystemContext())
		require.NoError(t, err)
		assert.Zero(t, n, "%s did not join", email)
	}
	r = s.Do(t, root.Access, ssoViewer, nil)
	require.Empty(t, r.Errors)
	assert.Equal(t, true, r.Get("viewer.ssoRequired"))
	assert.Equal(t, "PASSWORD", r.Str("viewer.signInMethod"))

	// Through SSO, members get in.
	f := e.signIn(t, person("dev-1", "newdev@acme.test"), nil)
	r = s.Do(t, "", completeSSO, map[string]any{"code": f.Fragment("sso_code")})
	require.Empty(t, r.Errors)
	r = s.Do(t, r.Str("completeSsoSignIn.accessToken"), ssoViewer, nil)
	require.Empty(t, r.Errors)
	assert.Equal(t, true, r.Get("viewer.ssoRequired"))

	// The last active connection cannot be disabled while SSO is required.
	r = s.Do(t, root.Access, `mutation($id: ID!) { disableSsoConnection(id: $id) { status } }`, map[string]any{"id": e.conn})
	assertError(t, r, "CONFLICT", "")
	r = s.Do(t, root.Access, enforce, map[string]any{"req": false, "ids": []string{}})
	require.Empty(t, r.Errors)
	s.Login(t, dev.Email, apptest.Password(dev.Email))
}

func TestTheProvidersMFAStandsInFor2FAOnlyWhenTrustedAndRecent(t *testing.T) {
	clock := apptest.NewClock()
	e := startSSO(t, map[string]any{"jitEnabled": true}, apptest.WithClock(clock))
	s := e.s
	mfa := func(sub string, at time.Time) apptest.Person {
		p := person(sub, sub+"@acme.test")
		p.AMR, p.AuthTime = []string{"pwd", "mfa"}, at
		return p
	}
	r := s.Do(t, e.root.Access, `mutation($id: ID!) { updateSsoConnection(id: $id, input: {trustIdpMfa: true, defaultRole: "developer"}) { status trustIdpMfa } }`,
		map[string]any{"id": e.conn})
	require.Empty(t, r.Errors)
	assert.Equal(t, "active", r.Str("updateSsoConnection.status"), "trusting MFA needs no new test")
	trust := func(on bool) {
		require.NoError(t, s.App.Client().SSOConnection.UpdateOneID(uuid.MustParse(e.conn)).SetTrustIdpMfa(on).Exec(apptest.SystemContext()))
	}
	trust(false)
	// The organization requires 2FA; the new members have none.
	r = s.Do(t, e.root.Access, `mutation { updateSecurityPolicy(input: {requireTwoFactor: true}) { requireTwoFactor } }`, nil)
	require.Empty(t, r.Errors)
	const guarded = `{ viewer { organization { memberList { user { email } } } } }`

	// Not trusted: MFA at the provider changes nothing; the member must set 2FA up first.
	f := e.signIn(t, mfa("m1", time.Now()), nil)
	r = s.Do(t, "", completeSSO, map[string]any{"code": f.Fragment("sso_code")})
	require.Empty(t, r.Errors)
	r = s.Do(t, r.Str("completeSsoSignIn.accessToken"), guarded, nil)
	assertError(t, r, "TWO_FACTOR_REQUIRED", "")
	trust(true)

	// Trusted, with evidence and a recent auth_time: no 2FA prompt, and the requirement is met.
	f = e.signIn(t, mfa("m2", time.Now()), nil)
	r = s.Do(t, "", completeSSO, map[string]any{"code": f.Fragment("sso_code")})
	require.Empty(t, r.Errors)
	r = s.Do(t, r.Str("completeSsoSignIn.accessToken"), guarded, nil)
	assert.Empty(t, r.Errors)

	// Trusted, but the authentication is an hour old, or shows no second factor: not met.
	for _, p := range []apptest.Person{mfa("m3", time.Now().Add(-time.Hour)), person("m4", "m4@acme.test")} {
		f = e.signIn(t, p, nil)
		r = s.Do(t, "", completeSSO, map[string]any{"code": f.Fragment("sso_code")})
		require.Empty(t, r.Errors)
		r = s.Do(t, r.Str("completeSsoSignIn.accessToken"), guarded, nil)
		assertError(t, r, "TWO_FACTOR_REQUIRED", "")
	}

	// An account with 2FA of its own is asked for its code unless the provider's MFA counts.
	u := s.AddUser(t, "tf@acme.test", s.Org(t, apptest.RootOrg), "member")
	tokens := s.Login(t, u.Email, apptest.Password(u.Email))
	tf := enableTwoFactor(t, s, clock, tokens.Access)
	f = e.signIn(t, person("tf", u.Email), nil)
	r = s.Do(t, "", linkSSO, map[string]any{"code": f.Fragment("sso_link"), "pw": apptest.Password(u.Email), "totp": totpCode(t, tf.Secret, clock.Now())})
	require.Empty(t, r.Errors)
	f = e.signIn(t, person("tf", u.Email), nil)
	r = s.Do(t, "", completeSSO, map[string]any{"code": f.Fragment("sso_code")})
	assertError(t, r, "TWO_FACTOR_CODE_REQUIRED", "TOTP_REQUIRED")
	p := mfa("tf", time.Now())
	p.Email = u.Email
	f = e.signIn(t, p, nil)
	r = s.Do(t, "", completeSSO, map[string]any{"code": f.Fragment("sso_code")})
	require.Empty(t, r.Errors, "trusted MFA with a recent auth_time")
}

func TestASessionThroughSSOLastsTheShorterOfThePolicyAndTheConnection(t *testing.T) {
	e := startSSO(t, map[string]any{"jitEnabled": true, "maxSessionHours": 2})
	f := e.signIn(t, person("l-1", "l1@acme.test"), nil)
	r := e.s.Do(t, "", completeSSO, map[string]any{"code": f.Fragment("sso_code")})
	require.Empty(t, r.Errors)
	sess, err := e.s.App.Client().Session.Query().Where(session.SignInMethodEQ(session.SignInMethodSSO)).Only(apptest.SystemContext())
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(2*time.Hour), sess.ExpiresAt, time.Minute)
}

func TestAConnectionCanNameTheClaimThatVerifiesTheEmail(t *testing.T) {
	// Entra ID sends no email_verified; xms_edov says the tenant's owner verified the domain.
	e := startSSO(t, map[string]any{"jitEnabled": true, "emailVerifiedClaim": "xms_edov"})
	e.refusedWith(t, e.signIn(t, person("e-1", "e1@acme.test"), nil), "email_verified is not true")
	f := e.signIn(t, apptest.Person{Subject: "e-2", Email: "e2@acme.test"}, func(c map[string]any) { c["xms_edov"] = true })
	require.Equal(t, http.StatusSeeOther, f.Status, f.Body)
	assert.NotEmpty(t, f.Fragment("sso_code"))
}

// Every start stores an attempt for whoever asks, so starts are counted per address: past the
// limit the start answers 429 with Retry-After, and stores nothing.
func TestSSOStartsAreLimitedPerAddress(t *testing.T) {
	limits := graph.DefaultLimits
	limits.SSOStartPerIP = 3
	e := startSSO(t, nil, apptest.WithLimits(limits)) // its test sign-in started one
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	attempts := func() int {
		n, err := e.s.App.Client().SSOAttempt.Query().Count(apptest.SystemContext())
		require.NoError(t, err)
		return n
	}
	started := attempts()
	var statuses []int
	for range 5 {
		resp, err := client.Get(e.start())
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		statuses = append(statuses, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests {
			assert.NotEmpty(t, resp.Header.Get("Retry-After"))
		}
	}
	// Three starts from the address (the setup's and two more), then refusals.
	assert.Equal(t, []int{http.StatusFound, http.StatusFound, http.StatusTooManyRequests, http.StatusTooManyRequests, http.StatusTooManyRequests}, statuses)
	assert.Equal(t, started+2, attempts(), "a refused start stores no attempt")
}

// ssoCallbackFrom sends a bare callback, as anyone can, from the address from (through the
// trusted proxy at 127.0.0.1; none: from the proxy itself), with query.
func ssoCallbackFrom(t *testing.T, e *ssoSetup, from, query string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.s.Config.SSOBaseURL+"/auth/sso/"+e.conn+"/callback"+query, nil)
	require.NoError(t, err)
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp
}

// ssoCallbackLimits limit refused callbacks to 3 per address, and trust the loopback proxy so
// that tests can speak from several addresses.
func ssoCallbackLimits() apptest.Option {
	limits := graph.DefaultLimits
	limits.SSOCallbackFailuresPerIP = 3
	return func(c *app.Config, o *app.Options) {
		apptest.WithLimits(limits)(c, o)
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}
}

// Anyone can send a callback, and each refusal reads the connection and the attempts and
// writes an audit entry: refusals are counted per address, and past the limit the callback
// answers 429 with Retry-After having read only the limiter's row. Other addresses are served.
func TestRefusedSSOCallbacksAreLimitedPerAddress(t *testing.T) {
	var counter apptest.StatementCounter
	e := startSSO(t, map[string]any{"jitEnabled": true}, ssoCallbackLimits(), apptest.CountStatements(&counter))
	audits := func() int {
		n, err := e.s.App.Client().AuditLog.Query().Count(apptest.SystemContext())
		require.NoError(t, err)
		return n
	}
	const attacker, neighbour = "203.0.113.7", "198.51.100.9"
	for i, query := range []string{"", "?state=forged&code=x", "?error=access_denied"} {
		before := audits()
		resp := ssoCallbackFrom(t, e, attacker, query)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "refusal %d", i+1)
		require.Equal(t, before+1, audits(), "refusal %d is audited", i+1)
	}

	auditsBefore := audits() // through the counted driver too: read before counting
	counter.Record()
	before := counter.Count()
	resp := ssoCallbackFrom(t, e, attacker, "?state=forged&code=x")
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	statements := counter.Statements()
	assert.Equal(t, int64(1), counter.Count()-before, "only the limiter's row is read: %v", statements)
	for _, st := range statements {
		assert.Contains(t, st, "rate_limits")
	}
	assert.Equal(t, auditsBefore, audits(), "a limited callback writes no audit entry")

	resp = ssoCallbackFrom(t, e, neighbour, "")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "another address is refused for its own reason, not limited")
	f := e.signIn(t, person("n-1", "n1@acme.test"), nil) // from the proxy's own address
	assert.Equal(t, http.StatusSeeOther, f.Status, "and signs in: %s", f.Body)
}

// Only refusals count: an address whose people sign in successfully all day is never limited
// for it, while its refusals still are.
func TestSuccessfulSSOCallbacksDoNotCountAgainstTheAddress(t *testing.T) {
	e := startSSO(t, map[string]any{"jitEnabled": true}, ssoCallbackLimits())
	refuse := func() int { return ssoCallbackFrom(t, e, "", "").StatusCode }
	require.Equal(t, http.StatusBadRequest, refuse())
	require.Equal(t, http.StatusBadRequest, refuse())
	for i := range 5 {
		f := e.signIn(t, person(fmt.Sprintf("ok-%d", i), fmt.Sprintf("ok%d@acme.test", i)), nil)
		require.Equal(t, http.StatusSeeOther, f.Status, f.Body)
	}
	row, err := e.s.App.Client().RateLimit.Get(apptest.SystemContext(), "sso_callback:ip:127.0.0.1")
	require.NoError(t, err)
	assert.Equal(t, 2, row.Failures, "the sign-ins counted nothing")
	assert.Equal(t, http.StatusBadRequest, refuse(), "the third refusal is served")
	assert.Equal(t, http.StatusTooManyRequests, refuse(), "the fourth is limited")
}

// Linking reads the account's memberships once in its transaction: the read that decides
// whether the account is a member is the one the session starts from.
func TestLinkingReadsTheMembershipsOnce(t *testing.T) {
	var counter apptest.StatementCounter
	e := startSSO(t, nil, apptest.CountStatements(&counter))
	u := e.s.AddUser(t, "member@acme.test", e.s.Org(t, apptest.RootOrg), "member")
	f := e.signIn(t, person("m-1", u.Email), nil)
	require.NotEmpty(t, f.Fragment("sso_link"), f.Location)

	counter.Record()
	before := counter.InTransactions()
	r := e.s.Do(t, "", linkSSO, map[string]any{"code": f.Fragment("sso_link"), "pw": apptest.Password(u.Email)})
	require.Empty(t, r.Errors)
	inTx := counter.InTransactions() - before
	var memberships int
	for _, st := range counter.Statements() {
		if strings.Contains(strings.ReplaceAll(st, `"`, "`"), "FROM `memberships`") {
			memberships++
		}
	}
	assert.Equal(t, 1, memberships, "%v", counter.Statements())
	// The account's re-read; the memberships, their organizations and roles; the identity, its
	// audit entry, the code used up, the session and the sign-in's audit entry.
	assert.Equal(t, int64(9), inTx, "%v", counter.Statements())
}

// The state cookie that binds an attempt to its browser: out of scripts' reach, sent on the
// provider's top-level redirect back (Lax, not Strict), only to the SSO paths, for as long as
// the attempt lives, and cleared by the callback that uses it.
func TestTheStateCookieIsHttpOnlyLaxScopedAndLivesAsLongAsTheAttempt(t *testing.T) {
	e := startSSO(t, map[string]any{"jitEnabled": true})
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	stateCookie := func(resp *http.Response) *http.Cookie {
		t.Helper()
		for _, c := range resp.Cookies() {
			if c.Name == graph.SSOCookie {
				return c
			}
		}
		t.Fatalf("no %s cookie in %v", graph.SSOCookie, resp.Header["Set-Cookie"])
		return nil
	}
	resp, err := noRedirects.Get(e.start())
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	c := stateCookie(resp)
	assert.NotEmpty(t, c.Value)
	assert.True(t, c.HttpOnly)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
	assert.Equal(t, "/auth/sso/", c.Path)
	assert.Equal(t, int(graph.SSOAttemptTTL/time.Second), c.MaxAge)
	assert.False(t, c.Secure, "the test server's SSO base URL is plain http")

	resp, err = noRedirects.Get(e.s.Config.SSOBaseURL + "/auth/sso/" + e.conn + "/callback?state=unknown")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Negative(t, stateCookie(resp).MaxAge, "the callback clears it, used or not")
}
