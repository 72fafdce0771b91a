package graph_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent/auditlog"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/auth"
)

// A password stored with other hashing parameters than the server's is hashed again with the
// current ones on its next successful sign-in, and on nothing else. That is no password change:
// the account's other sessions stay, and nothing but the sign-in is audited.
func TestASignInRehashesAPasswordStoredWithOtherParameters(t *testing.T) {
	s := apptest.Start(t)
	ctx := apptest.SystemContext()
	c := s.App.Client()
	u := s.AddUser(t, "old@acme.test", s.Org(t, apptest.RootOrg), "member")
	pw := apptest.Password(u.Email)
	other := s.Login(t, u.Email, pw) // a session from before the parameters changed

	old := auth.NewPasswordHasher(auth.Argon2Params{Memory: 2048, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}, auth.HashLimits{})
	oldHash, err := old.Hash(context.Background(), pw)
	require.NoError(t, err)
	require.NoError(t, c.User.UpdateOneID(u.ID).SetPasswordHash(oldHash).Exec(ctx))
	stored := func() string { return c.User.Query().Where(user.ID(u.ID)).OnlyX(ctx).PasswordHash }
	current := "$argon2id$v=19$m=1024,t=1,p=1$" // apptest's parameters

	// A wrong password, and a right one refused for another reason, re-hash nothing.
	r := s.Do(t, "", `mutation($e: String!) { login(input: {email: $e, password: "wrong password"}) { accessToken } }`, map[string]any{"e": u.Email})
	require.NotEmpty(t, r.Errors)
	r = s.Do(t, "", `mutation($e: String!, $p: String!, $o: ID!) { login(input: {email: $e, password: $p, organizationId: $o}) { accessToken } }`,
		map[string]any{"e": u.Email, "p": pw, "o": s.CreateOrg(t, "Elsewhere").ID.String()})
	require.NotEmpty(t, r.Errors)
	assert.Equal(t, oldHash, stored())

	audits := func() int {
		return c.AuditLog.Query().Where(auditlog.ActorID(u.ID)).CountX(ctx)
	}
	before := audits()
	tok := s.Login(t, u.Email, pw)
	now := stored()
	assert.True(t, strings.HasPrefix(now, current), now)
	assert.NotEqual(t, oldHash, now)
	ok, err := old.Verify(context.Background(), pw, now)
	require.NoError(t, err)
	assert.True(t, ok, "the new hash is of the same password")
	assert.Equal(t, before+1, audits(), "the sign-in alone is audited")
	assert.Zero(t, c.AuditLog.Query().Where(auditlog.ActionContains("password")).CountX(ctx))

	// Both sessions live on: the new one and the one from before.
	for _, tk := range []apptest.Tokens{tok, other} {
		r := s.Do(t, tk.Access, `{ viewer { user { email } } }`, nil)
		require.Empty(t, r.Errors)
		assert.Equal(t, u.Email, r.Str("viewer.user.email"))
	}
	r = s.Do(t, "", `mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }`, map[string]any{"t": other.Refresh})
	require.Empty(t, r.Errors, "the earlier session still refreshes")

	// Signed in again with the current parameters, the hash stays.
	s.Login(t, u.Email, pw)
	assert.Equal(t, now, stored())
}

// Linking an SSO identity proves the account with its password as a sign-in does, and re-hashes
// it the same way: only when the link succeeds, in the transaction that links.
func TestLinkingAnSSOIdentityRehashesAPasswordStoredWithOtherParameters(t *testing.T) {
	e := startSSO(t, nil) // no members just in time
	s := e.s
	ctx := apptest.SystemContext()
	c := s.App.Client()
	// An account of acme.test's domain, not yet a member of acme.
	u := s.AddUser(t, "old@acme.test", s.CreateOrg(t, "Elsewhere"), "member")
	pw := apptest.Password(u.Email)
	old := auth.NewPasswordHasher(auth.Argon2Params{Memory: 2048, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}, auth.HashLimits{})
	oldHash, err := old.Hash(context.Background(), pw)
	require.NoError(t, err)
	require.NoError(t, c.User.UpdateOneID(u.ID).SetPasswordHash(oldHash).Exec(ctx))
	stored := func() string { return c.User.Query().Where(user.ID(u.ID)).OnlyX(ctx).PasswordHash }
	current := "$argon2id$v=19$m=1024,t=1,p=1$" // apptest's parameters
	link := func(pw string) *apptest.Response {
		f := e.signIn(t, person("old", u.Email), nil)
		require.NotEmpty(t, f.Fragment("sso_link"), f.Location)
		return s.Do(t, "", linkSSO, map[string]any{"code": f.Fragment("sso_link"), "pw": pw})
	}

	// A wrong password, and the right one refused later in the transaction, re-hash nothing.
	assertError(t, link("wrong password"), "UNAUTHENTICATED", "Incorrect username or password")
	assert.Equal(t, oldHash, stored())
	assertError(t, link(pw), "FORBIDDEN", "User is not a member of this organization")
	assert.Equal(t, oldHash, stored(), "the refused link's transaction took its re-hash with it")

	require.NoError(t, c.SSOConnection.UpdateOneID(uuid.MustParse(e.conn)).SetJitEnabled(true).Exec(ctx))
	r := link(pw)
	require.Empty(t, r.Errors)
	assert.Equal(t, u.Email, r.Str("linkSsoIdentity.user.email"))
	now := stored()
	assert.True(t, strings.HasPrefix(now, current), now)
	ok, err := old.Verify(context.Background(), pw, now)
	require.NoError(t, err)
	assert.True(t, ok, "the new hash is of the same password")
	assert.Zero(t, c.AuditLog.Query().Where(auditlog.ActionContains("password")).CountX(ctx), "no password change")

	// The password signs in as before, and is not hashed again.
	s.Login(t, u.Email, pw)
	assert.Equal(t, now, stored())
}
