package graph_test

import (
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent/auditlog"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/role"
	"github.com/inferiallm/orgserver/ent/session"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/auth"
)

const viewerQuery = `{ viewer {
  user { id email isSuperAdmin twoFactorEnabled }
  organization { id name }
  role { name builtIn }
  permissions
  memberships { organization { name } role { name } }
  session { id current userAgent ipAddress }
} }`

const refreshMutation = `mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken organization { name } } }`

func TestSuperAdminSignsInAndSeesTheViewer(t *testing.T) {
	s := apptest.Start(t)
	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)

	r := s.Do(t, tok.Access, viewerQuery, nil)
	require.Empty(t, r.Errors)
	assert.Equal(t, apptest.RootEmail, r.Str("viewer.user.email"))
	assert.Equal(t, true, r.Get("viewer.user.isSuperAdmin"))
	assert.Equal(t, apptest.RootOrg, r.Str("viewer.organization.name"))
	assert.Equal(t, "admin", r.Str("viewer.role.name"))
	assert.Equal(t, true, r.Get("viewer.session.current"))
	assert.Equal(t, "apptest", r.Str("viewer.session.userAgent"))
	assert.Equal(t, "127.0.0.1", r.Str("viewer.session.ipAddress"))
	assert.Len(t, r.Get("viewer.permissions"), len(auth.Catalog))
	assert.Len(t, r.Get("viewer.memberships"), 1)

	anon := s.Do(t, "", `{ viewer { user { id } } }`, nil)
	require.Empty(t, anon.Errors)
	assert.Nil(t, anon.Get("viewer"), "no token: viewer is null")
}

func TestLoginRefusesBadCredentialsAlikeAndAuditsThem(t *testing.T) {
	s := apptest.Start(t)
	for _, c := range []struct{ name, email, password string }{
		{"wrong password", apptest.RootEmail, "not-the-password"},
		{"unknown e-mail", "nobody@example.com", apptest.RootPassword},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := s.Do(t, "", `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken } }`,
				map[string]any{"e": c.email, "p": c.password})
			require.Len(t, r.Errors, 1)
			assert.Equal(t, "UNAUTHENTICATED", r.Code())
			assert.Equal(t, "Incorrect username or password", r.Errors[0].Message)
			assert.Nil(t, r.Get("login"))
		})
	}
	// The e-mail is case-insensitive.
	s.Login(t, "ROOT@Example.com", apptest.RootPassword)

	ctx := apptest.SystemContext()
	failures, err := s.App.Client().AuditLog.Query().
		Where(auditlog.Action("auth.login"), auditlog.Status("failure")).All(ctx)
	require.NoError(t, err)
	require.Len(t, failures, 2, "each failed login leaves an entry, though its transaction rolled back")
	emails := []string{failures[0].ActorEmail, failures[1].ActorEmail}
	assert.ElementsMatch(t, []string{apptest.RootEmail, "nobody@example.com"}, emails)
	for _, f := range failures {
		assert.Equal(t, "127.0.0.1", f.IPAddress)
		assert.Equal(t, "apptest", f.UserAgent)
	}
	ok, err := s.App.Client().AuditLog.Query().
		Where(auditlog.Action("auth.login"), auditlog.Status("success")).Count(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, ok)
}

func TestSuperAdminCreatesAnOrganizationAndSwitchesToIt(t *testing.T) {
	s := apptest.Start(t)
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)

	r := s.Do(t, root.Access, `mutation { createOrganization(input: {name: "Globex", settings: {logPayloads: true}}) { id name settings { defaultRole logPayloads } } }`, nil)
	require.Empty(t, r.Errors)
	globex := r.Str("createOrganization.id")
	assert.Equal(t, true, r.Get("createOrganization.settings.logPayloads"))
	assert.Equal(t, "member", r.Str("createOrganization.settings.defaultRole"))

	dup := s.Do(t, root.Access, `mutation { createOrganization(input: {name: "globex"}) { id } }`, nil)
	assert.Equal(t, "CONFLICT", dup.Code(), "names are unique whatever the case")

	r = s.Do(t, root.Access, `mutation($o: ID!) { switchOrganization(organizationId: $o) {
	  accessToken refreshToken tokenType expiresIn organization { name } memberships { organization { name } role { name } } } }`,
		map[string]any{"o": globex})
	require.Empty(t, r.Errors)
	assert.Equal(t, "bearer", r.Str("switchOrganization.tokenType"))
	assert.EqualValues(t, 900, r.Get("switchOrganization.expiresIn"))
	assert.Len(t, r.Get("switchOrganization.memberships"), 2)
	switched := r.Str("switchOrganization.accessToken")

	v := s.Do(t, switched, viewerQuery, nil)
	require.Empty(t, v.Errors)
	assert.Equal(t, "Globex", v.Str("viewer.organization.name"))
	assert.Equal(t, "admin", v.Str("viewer.role.name"), "the creator is the admin of the new organization")

	// The old token still speaks for the first organization.
	assert.Equal(t, apptest.RootOrg, s.Do(t, root.Access, viewerQuery, nil).Str("viewer.organization.name"))
	// The switch made Globex the default organization of the next sign-in.
	again := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	assert.Equal(t, globex, again.OrgID)

	// Only super admins create organizations, and nobody switches into a foreign one.
	bob := s.AddUser(t, "bob@example.com", s.Org(t, apptest.RootOrg), "admin")
	bt := s.Login(t, bob.Email, apptest.Password(bob.Email))
	assert.Equal(t, "FORBIDDEN", s.Do(t, bt.Access, `mutation { createOrganization(input: {name: "Bob Inc"}) { id } }`, nil).Code())
	sw := s.Do(t, bt.Access, `mutation($o: ID!) { switchOrganization(organizationId: $o) { accessToken } }`, map[string]any{"o": globex})
	assert.Equal(t, "FORBIDDEN", sw.Code())
	assert.Equal(t, "User is not a member of this organization", sw.Errors[0].Message)
	assert.Equal(t, "FORBIDDEN", s.Do(t, bt.Access, `{ organizations { totalCount } }`, nil).Code())

	// Super admins see every organization.
	list := s.Do(t, root.Access, `{ organizations(where: {nameContainsFold: "GLOB"}) { totalCount edges { node { name } } } }`, nil)
	require.Empty(t, list.Errors)
	assert.EqualValues(t, 1, list.Get("organizations.totalCount"))

	ctx := apptest.SystemContext()
	for _, action := range []string{"organization.create", "auth.switch_org"} {
		n, err := s.App.Client().AuditLog.Query().Where(auditlog.Action(action)).Count(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, n, action)
	}
}

func TestRefreshRotatesAndAReusedTokenRevokesTheSession(t *testing.T) {
	s := apptest.Start(t)
	first := s.Login(t, apptest.RootEmail, apptest.RootPassword)

	r := s.Do(t, "", refreshMutation, map[string]any{"t": first.Refresh})
	require.Empty(t, r.Errors)
	second := r.Str("refreshToken.refreshToken")
	assert.NotEqual(t, first.Refresh, second, "rotated")
	assert.Equal(t, apptest.RootOrg, r.Str("refreshToken.organization.name"))
	access := r.Str("refreshToken.accessToken")
	require.Empty(t, s.Do(t, access, viewerQuery, nil).Errors)

	r = s.Do(t, "", refreshMutation, map[string]any{"t": second})
	require.Empty(t, r.Errors)
	third := r.Str("refreshToken.refreshToken")

	// The first token comes back: somebody copied it. The whole session ends.
	reuse := s.Do(t, "", refreshMutation, map[string]any{"t": first.Refresh})
	assert.Equal(t, "UNAUTHENTICATED", reuse.Code())
	assert.Equal(t, "Refresh failed", reuse.Errors[0].Message)
	assert.Equal(t, "UNAUTHENTICATED", s.Do(t, "", refreshMutation, map[string]any{"t": third}).Code())
	assert.Equal(t, "UNAUTHENTICATED", s.Do(t, access, viewerQuery, nil).Code())

	sess, err := s.App.Client().Session.Query().Where(session.UserID(uuid.MustParse(first.UserID))).Only(apptest.SystemContext())
	require.NoError(t, err)
	assert.NotNil(t, sess.RevokedAt)
	assert.Equal(t, "refresh token reuse", sess.RevokeReason)

	// Garbage is refused without harm.
	for _, tok := range []string{"", "rt_", "rt_" + first.Refresh, first.Access} {
		assert.Equal(t, "UNAUTHENTICATED", s.Do(t, "", refreshMutation, map[string]any{"t": tok}).Code(), tok)
	}
}

func TestOneRefreshTokenUsedTwiceAtOnceSucceedsOnce(t *testing.T) {
	s := apptest.Start(t)
	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	const n = 4
	var wg sync.WaitGroup
	codes := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = s.Do(t, "", refreshMutation, map[string]any{"t": tok.Refresh}).Code()
		}()
	}
	wg.Wait()
	ok := 0
	for _, c := range codes {
		if c == "" {
			ok++
		} else {
			assert.Equal(t, "UNAUTHENTICATED", c)
		}
	}
	assert.Equal(t, 1, ok, "exactly one exchange succeeds: %v", codes)
}

func TestLogoutRevokesTheSessionAtOnce(t *testing.T) {
	s := apptest.Start(t)
	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	other := s.Login(t, apptest.RootEmail, apptest.RootPassword)

	r := s.Do(t, tok.Access, `mutation { logout }`, nil)
	require.Empty(t, r.Errors)
	assert.Equal(t, true, r.Get("logout"))
	assert.Equal(t, "UNAUTHENTICATED", s.Do(t, tok.Access, viewerQuery, nil).Code())
	assert.Equal(t, "UNAUTHENTICATED", s.Do(t, "", refreshMutation, map[string]any{"t": tok.Refresh}).Code())
	assert.Equal(t, "UNAUTHENTICATED", s.Do(t, tok.Access, `mutation { logout }`, nil).Code())
	assert.Empty(t, s.Do(t, other.Access, viewerQuery, nil).Errors, "other sessions live on")

	n, err := s.App.Client().AuditLog.Query().Where(auditlog.Action("auth.logout")).Count(apptest.SystemContext())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

func TestBadTokensAreRefusedAsUnauthenticated(t *testing.T) {
	s := apptest.Start(t)
	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	id, err := s.App.Service().Tokens.ParseAccess(tok.Access)
	require.NoError(t, err)
	secret := s.App.Service().Tokens.Secret

	sign := func(method jwt.SigningMethod, key any, mutate func(*auth.Claims)) string {
		c := auth.Claims{OrgID: id.OrgID.String(), SessionID: id.SessionID.String(), Type: "access",
			RegisteredClaims: jwt.RegisteredClaims{Subject: id.UserID.String(), Issuer: "inferia",
				IssuedAt: jwt.NewNumericDate(time.Now()), ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute))}}
		if mutate != nil {
			mutate(&c)
		}
		s, err := jwt.NewWithClaims(method, c).SignedString(key)
		require.NoError(t, err)
		return s
	}
	// The control: a token built this way with the real key works.
	require.Empty(t, s.Do(t, sign(jwt.SigningMethodHS256, secret, nil), viewerQuery, nil).Errors)

	cases := map[string]string{
		"expired": sign(jwt.SigningMethodHS256, secret, func(c *auth.Claims) {
			c.IssuedAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Minute))
		}),
		"forged":             sign(jwt.SigningMethodHS256, []byte("another secret of enough length!!"), nil),
		"wrong type":         sign(jwt.SigningMethodHS256, secret, func(c *auth.Claims) { c.Type = "refresh" }),
		"wrong algorithm":    sign(jwt.SigningMethodHS512, secret, nil),
		"no algorithm":       sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil),
		"wrong issuer":       sign(jwt.SigningMethodHS256, secret, func(c *auth.Claims) { c.Issuer = "elsewhere" }),
		"other user":         sign(jwt.SigningMethodHS256, secret, func(c *auth.Claims) { c.Subject = uuid.NewString() }),
		"other organization": sign(jwt.SigningMethodHS256, secret, func(c *auth.Claims) { c.OrgID = uuid.NewString() }),
		"unknown session":    sign(jwt.SigningMethodHS256, secret, func(c *auth.Claims) { c.SessionID = uuid.NewString() }),
		"refresh token":      tok.Refresh,
		"garbage":            "not.a.token",
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			r := s.Do(t, bad, viewerQuery, nil)
			assert.Equal(t, "UNAUTHENTICATED", r.Code())
			assert.Equal(t, "UNAUTHENTICATED", s.Do(t, bad, `mutation { logout }`, nil).Code())
		})
	}
}

func TestRoleChangesAndRemovalTakeEffectOnTheNextRequest(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	bob := s.AddUser(t, "bob@example.com", acme, "developer")
	tok := s.Login(t, bob.Email, apptest.Password(bob.Email))
	assert.Contains(t, s.Do(t, tok.Access, viewerQuery, nil).Get("viewer.permissions"), "member:list")

	ctx := apptest.SystemContext()
	c := s.App.Client()
	viewerRole, err := c.Role.Query().Where(role.Name("viewer"), role.BuiltIn(true)).Only(ctx)
	require.NoError(t, err)
	require.NoError(t, c.Membership.Update().Where(membership.UserID(bob.ID)).SetRoleID(viewerRole.ID).Exec(ctx))
	r := s.Do(t, tok.Access, viewerQuery, nil)
	assert.Equal(t, "viewer", r.Str("viewer.role.name"))
	assert.NotContains(t, r.Get("viewer.permissions"), "member:list")

	_, err = c.Membership.Delete().Where(membership.UserID(bob.ID)).Exec(ctx)
	require.NoError(t, err)
	assert.Equal(t, "UNAUTHENTICATED", s.Do(t, tok.Access, viewerQuery, nil).Code())
	assert.Equal(t, "UNAUTHENTICATED", s.Do(t, "", refreshMutation, map[string]any{"t": tok.Refresh}).Code())
}

func TestAFailedSignInShowsInTheAuditLogOfTheUsersOrganization(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	bob := s.AddUser(t, "bob@acme.test", acme, "member") // no default organization yet
	r := s.Do(t, "", `mutation { login(input: {email: "bob@acme.test", password: "wrong-password"}) { accessToken } }`, nil)
	require.Equal(t, "UNAUTHENTICATED", r.Code())
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	logs := s.Do(t, root.Access, `query($a: ID) { viewer { organization { auditLogs(where: {action: "auth.login", actorId: $a}) {
	  edges { node { status actorEmail } } } } } }`, map[string]any{"a": bob.ID})
	require.Empty(t, logs.Errors)
	edges := logs.Get("viewer.organization.auditLogs.edges").([]any)
	require.Len(t, edges, 1)
	assert.Equal(t, "failure", edges[0].(map[string]any)["node"].(map[string]any)["status"])
}
