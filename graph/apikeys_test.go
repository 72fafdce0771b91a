package graph_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent/apikey"
	"github.com/inferiallm/orgserver/ent/auditlog"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/auth"
)

// Organization API keys: a script's credential, acting with exactly its role's permissions in
// its organization, refused everywhere else, and gone the moment it is revoked or expires.

const (
	createKeyMutation = `mutation($in: CreateAPIKeyInput!) { createApiKey(input: $in) { secret apiKey { id name prefix active expiresAt role { name } } } }`
	revokeKeyMutation = `mutation($id: ID!) { revokeApiKey(id: $id) { id active revokedAt } }`
	keysQuery         = `{ viewer { organization { apiKeys { edges { node { id name prefix active lastUsedAt createdBy { email } role { name } } } } } } }`
	keyViewerQuery    = `{ viewer { role { name } permissions organization { name } apiKey { name } } }`
)

// createKey creates a key as bearer and returns its secret and id.
func createKey(t *testing.T, s *apptest.Server, bearer string, in map[string]any) (secret, id string) {
	t.Helper()
	r := s.Do(t, bearer, createKeyMutation, map[string]any{"in": in})
	require.Empty(t, r.Errors)
	return r.Str("createApiKey.secret"), r.Str("createApiKey.apiKey.id")
}

func TestAnAPIKeyLivesFromCreationToRevocation(t *testing.T) {
	logs := &apptest.Logs{}
	s := apptest.Start(t, func(c *app.Config, o *app.Options) { c.LogLevel = "debug"; o.Logs = logs })
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)

	r := s.Do(t, admin.Access, createKeyMutation, map[string]any{"in": map[string]any{"name": " ci deploy ", "role": "developer", "daysValid": 30}})
	require.Empty(t, r.Errors)
	secret, id := r.Str("createApiKey.secret"), r.Str("createApiKey.apiKey.id")
	assert.NoError(t, auth.CheckAPIKey(secret), "a well-formed key")
	assert.True(t, strings.HasPrefix(secret, "iorg_"))
	assert.Equal(t, "ci deploy", r.Str("createApiKey.apiKey.name"))
	assert.Equal(t, secret[:11], r.Str("createApiKey.apiKey.prefix"))
	assert.Equal(t, "developer", r.Str("createApiKey.apiKey.role.name"))
	assert.Equal(t, true, r.Get("createApiKey.apiKey.active"))
	assert.NotEmpty(t, r.Str("createApiKey.apiKey.expiresAt"))

	// The key acts with its role's permissions, in its organization.
	r = s.Do(t, secret, keyViewerQuery, nil)
	require.Empty(t, r.Errors)
	assert.Equal(t, "developer", r.Str("viewer.role.name"))
	assert.Equal(t, "ci deploy", r.Str("viewer.apiKey.name"))
	assert.Equal(t, apptest.RootOrg, r.Str("viewer.organization.name"))
	r = s.Do(t, secret, `{ viewer { organization { memberList { user { email } } } } }`, nil)
	require.Empty(t, r.Errors, "developers list members")
	r = s.Do(t, secret, `{ viewer { organization { auditLogList { id } } } }`, nil)
	assertError(t, r, "FORBIDDEN", "Permission denied: audit_log:list required")

	// The list shows it, used, and who created it; never the secret or its hash.
	r = s.Do(t, admin.Access, keysQuery, nil)
	require.Empty(t, r.Errors)
	require.Len(t, r.Get("viewer.organization.apiKeys.edges"), 1)
	node := r.Dig("viewer.organization.apiKeys.edges.0.node").(map[string]any)
	assert.Equal(t, id, node["id"])
	assert.NotNil(t, node["lastUsedAt"], "its use is recorded")
	assert.Equal(t, apptest.RootEmail, apptest.Dig(node, "createdBy.email"))

	// An action of the key is audited with the key as the actor.
	_, otherID := createKey(t, s, admin.Access, map[string]any{"name": "other", "role": "viewer"})
	r = s.Do(t, secret, revokeKeyMutation, map[string]any{"id": otherID})
	require.Empty(t, r.Errors)
	entry, err := s.App.Client().AuditLog.Query().Where(auditlog.Action("api_key.revoke"), auditlog.ActorAPIKeyIDNotNil()).Only(apptest.SystemContext())
	require.NoError(t, err)
	assert.Nil(t, entry.ActorID)
	if assert.NotNil(t, entry.ActorAPIKeyID) {
		assert.Equal(t, id, entry.ActorAPIKeyID.String())
	}
	assert.Equal(t, "api_key:"+secret[:11], entry.ActorEmail)

	// Revoked, it stops working on the next request.
	r = s.Do(t, admin.Access, revokeKeyMutation, map[string]any{"id": id})
	require.Empty(t, r.Errors)
	assert.Equal(t, false, r.Get("revokeApiKey.active"))
	assertError(t, s.Do(t, secret, keyViewerQuery, nil), "UNAUTHENTICATED", "Invalid or expired token")

	// Created and revoked are in the api_key category; no entry holds the secret, nor do the logs.
	entries, err := s.App.Client().AuditLog.Query().Where(auditlog.Category("api_key")).All(apptest.SystemContext())
	require.NoError(t, err)
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	assert.ElementsMatch(t, []string{"api_key.create", "api_key.create", "api_key.revoke", "api_key.revoke"}, actions)
	all, err := s.App.Client().AuditLog.Query().All(apptest.SystemContext())
	require.NoError(t, err)
	for _, e := range all {
		assert.NotContains(t, e.ActorEmail+e.ResourceID+e.UserAgent+toJSON(t, e.Details), secret[11:], "secret in the audit log")
	}
	assert.NotContains(t, logs.String(), secret[11:], "secret in the logs")
	k, err := s.App.Client().APIKey.Query().Where(apikey.Prefix(secret[:11])).Only(apptest.SystemContext())
	require.NoError(t, err)
	assert.NotContains(t, k.SecretHash, secret[11:])
	assert.Len(t, k.SecretHash, 64, "hex HMAC-SHA256")
}

func TestAnAPIKeyIsNotAPerson(t *testing.T) {
	s := apptest.Start(t)
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	secret, _ := createKey(t, s, admin.Access, map[string]any{"name": "bot", "role": "admin"})
	for _, op := range []string{
		`{ viewer { user { id } } }`,
		`{ viewer { session { id } } }`,
		`{ viewer { sessions { id } } }`,
		`{ viewer { memberships { id } } }`,
		`mutation { logout }`,
		`mutation { beginTwoFactorSetup { secret } }`,
		`mutation { changePassword(currentPassword: "x", newPassword: "yyyyyyyyyyyy") }`,
		`mutation { revokeOtherSessions }`,
		`mutation { leaveOrganization }`,
		`mutation($o: ID!) { switchOrganization(organizationId: $o) { accessToken } }`,
		`mutation { acceptInvitation(input: {token: "x"}) { accessToken } }`,
	} {
		t.Run(op, func(t *testing.T) {
			vars := map[string]any{}
			if strings.Contains(op, "$o") {
				vars["o"] = s.Org(t, apptest.RootOrg).ID.String()
			}
			assertError(t, s.Do(t, secret, op, vars), "FORBIDDEN", "API keys cannot do this: it needs a person's sign-in")
		})
	}
	// Even an admin key is no super admin.
	assertError(t, s.Do(t, secret, `mutation { createOrganization(input: {name: "Evil"}) { id } }`, nil), "FORBIDDEN", "")
}

func TestAnAPIKeyCannotReachBeyondItsRole(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	s.AddUser(t, "dev@acme.test", acme, "developer")
	dev := s.Login(t, "dev@acme.test", apptest.Password("dev@acme.test"))
	adminKey, adminKeyID := createKey(t, s, admin.Access, map[string]any{"name": "admin bot", "role": "admin"})
	memberKey, memberKeyID := createKey(t, s, admin.Access, map[string]any{"name": "member bot", "role": "member"})

	cases := []struct {
		name, bearer, query string
		vars                map[string]any
		code, msg           string
	}{
		{"a developer cannot create an admin key", dev.Access, createKeyMutation,
			map[string]any{"in": map[string]any{"name": "x", "role": "admin"}}, "FORBIDDEN", ""},
		{"a member key cannot create an admin key", memberKey, createKeyMutation,
			map[string]any{"in": map[string]any{"name": "x", "role": "admin"}}, "FORBIDDEN", ""},
		{"a member key cannot create a developer key", memberKey, createKeyMutation,
			map[string]any{"in": map[string]any{"name": "x", "role": "developer"}}, "FORBIDDEN", ""},
		{"a developer cannot revoke an admin key", dev.Access, revokeKeyMutation,
			map[string]any{"id": adminKeyID}, "FORBIDDEN", "Cannot revoke an API key whose role has permissions you do not have"},
		{"a member key cannot revoke an admin key", memberKey, revokeKeyMutation,
			map[string]any{"id": adminKeyID}, "FORBIDDEN", "Cannot revoke an API key whose role has permissions you do not have"},
		{"a member key cannot change roles", memberKey, `mutation { createRole(input: {name: "x", permissions: []}) { name } }`,
			nil, "FORBIDDEN", "Permission denied: role:create required"},
		{"an expiry more than a year ahead is refused", admin.Access, createKeyMutation,
			map[string]any{"in": map[string]any{"name": "x", "daysValid": 366}}, "BAD_USER_INPUT", ""},
		{"an expiry in the past is refused", admin.Access, createKeyMutation,
			map[string]any{"in": map[string]any{"name": "x", "expiresAt": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}}, "BAD_USER_INPUT", ""},
		{"a blank name is refused", admin.Access, createKeyMutation,
			map[string]any{"in": map[string]any{"name": "  "}}, "BAD_USER_INPUT", "Name must be 1 to 100 characters"},
		{"an unknown role is refused", admin.Access, createKeyMutation,
			map[string]any{"in": map[string]any{"name": "x", "role": "god"}}, "BAD_USER_INPUT", "Role 'god' does not exist"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assertError(t, s.Do(t, c.bearer, c.query, c.vars), c.code, c.msg)
		})
	}
	// A key holding api_key:create still creates no key, even of its own role: a leaked key
	// must not mint others that outlive its revocation. It may revoke itself.
	assertError(t, s.Do(t, memberKey, createKeyMutation, map[string]any{"in": map[string]any{"name": "child"}}),
		"FORBIDDEN", "API keys cannot do this: it needs a person's sign-in")
	require.Empty(t, s.Do(t, memberKey, revokeKeyMutation, map[string]any{"id": memberKeyID}).Errors)
	assertError(t, s.Do(t, memberKey, keyViewerQuery, nil), "UNAUTHENTICATED", "")
	// The admin key still works.
	require.Empty(t, s.Do(t, adminKey, keyViewerQuery, nil).Errors)
}

func TestAnAPIKeyOfOneOrganizationIsRefusedInAnother(t *testing.T) {
	s := apptest.Start(t)
	globex := s.CreateOrg(t, "Globex")
	s.AddUser(t, "bob@globex.test", globex, "admin")
	bob := s.Login(t, "bob@globex.test", apptest.Password("bob@globex.test"))
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	acmeKey, acmeKeyID := createKey(t, s, admin.Access, map[string]any{"name": "acme bot", "role": "admin"})
	_, globexKeyID := createKey(t, s, bob.Access, map[string]any{"name": "globex bot", "role": "admin"})

	// Globex cannot see or revoke acme's key; acme's key cannot see or revoke globex's.
	assertError(t, s.Do(t, bob.Access, revokeKeyMutation, map[string]any{"id": acmeKeyID}), "NOT_FOUND", "API Key not found")
	assertError(t, s.Do(t, acmeKey, revokeKeyMutation, map[string]any{"id": globexKeyID}), "NOT_FOUND", "API Key not found")
	assertError(t, s.Do(t, bob.Access, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": acmeKeyID}), "NOT_FOUND", "")
	assertError(t, s.Do(t, acmeKey, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": globexKeyID}), "NOT_FOUND", "")
	r := s.Do(t, acmeKey, keysQuery, nil)
	require.Empty(t, r.Errors)
	assert.Len(t, r.Get("viewer.organization.apiKeys.edges"), 1, "only acme's key")
	// Nor can it reach globex's organization or members by id.
	assertError(t, s.Do(t, acmeKey, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": globex.ID.String()}), "NOT_FOUND", "")
	assertError(t, s.Do(t, acmeKey, `mutation($o: ID!) { switchOrganization(organizationId: $o) { accessToken } }`,
		map[string]any{"o": globex.ID.String()}), "FORBIDDEN", "")
}

func TestAnAPIKeyExpires(t *testing.T) {
	clock := apptest.NewWholeSecondClock() // PostgreSQL keeps microseconds, rounded
	s := apptest.Start(t, apptest.WithClock(clock))
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	secret, _ := createKey(t, s, admin.Access, map[string]any{"name": "short", "daysValid": 1})
	require.Empty(t, s.Do(t, secret, keyViewerQuery, nil).Errors)
	clock.Advance(23 * time.Hour)
	require.Empty(t, s.Do(t, secret, keyViewerQuery, nil).Errors, "cached and still valid")
	clock.Advance(time.Hour)
	assertError(t, s.Do(t, secret, keyViewerQuery, nil), "UNAUTHENTICATED", "Invalid or expired token")
	admin = s.Login(t, apptest.RootEmail, apptest.RootPassword)
	r := s.Do(t, admin.Access, keysQuery, nil)
	require.Empty(t, r.Errors)
	assert.Equal(t, false, r.Dig("viewer.organization.apiKeys.edges.0.node.active"))
}

func TestARevokedAPIKeyIsRefusedOnEveryReplica(t *testing.T) {
	a, b := replicas(t)
	caching(t, a, b)
	admin := a.Login(t, apptest.RootEmail, apptest.RootPassword)
	secret, id := createKey(t, a, admin.Access, map[string]any{"name": "bot", "role": "developer"})
	// B has the key cached, and is busy with it.
	require.Empty(t, b.Do(t, secret, keyViewerQuery, nil).Errors)
	require.Empty(t, b.Do(t, secret, keyViewerQuery, nil).Errors)
	stop := underLoad(t, b, secret)
	defer stop()

	require.Empty(t, a.Do(t, admin.Access, revokeKeyMutation, map[string]any{"id": id}).Errors)
	assertError(t, a.Do(t, secret, keyViewerQuery, nil), "UNAUTHENTICATED", "")
	took := within(t, time.Second, "the revocation on B", func() bool {
		return b.Do(t, secret, keyViewerQuery, nil).Code() == "UNAUTHENTICATED"
	})
	t.Logf("revocation reached B in %s", took)
}

func TestAKeysRoleChangeReachesItAtOnce(t *testing.T) {
	s := apptest.Start(t)
	caching(t, s)
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	r := s.Do(t, admin.Access, `mutation { createRole(input: {name: "reader", permissions: ["organization:view", "member:list"]}) { name } }`, nil)
	require.Empty(t, r.Errors)
	secret, _ := createKey(t, s, admin.Access, map[string]any{"name": "bot", "role": "reader"})
	require.Empty(t, s.Do(t, secret, `{ viewer { organization { memberList { id } } } }`, nil).Errors)
	r = s.Do(t, admin.Access, `mutation { updateRole(name: "reader", input: {permissions: ["organization:view"]}) { name } }`, nil)
	require.Empty(t, r.Errors)
	assertError(t, s.Do(t, secret, `{ viewer { organization { memberList { id } } } }`, nil), "FORBIDDEN", "Permission denied: member:list required")
	// A role a key uses cannot be deleted until the key is revoked.
	assertError(t, s.Do(t, admin.Access, `mutation { deleteRole(name: "reader") }`, nil), "CONFLICT", "Role is in use by 1 API key(s); revoke them first")
}

// A malformed key (a typo the checksum catches, a truncated one, junk) is refused before any
// statement; a well-formed key that was never issued costs the one lookup that finds nothing.
// Both read alike to the client.
func TestMalformedAndForgedAPIKeysAreRefusedSafely(t *testing.T) {
	var counter apptest.StatementCounter
	s := apptest.Start(t, apptest.CountStatements(&counter))
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	secret, _ := createKey(t, s, admin.Access, map[string]any{"name": "bot"})
	forged, err := auth.NewAPIKeySecret() // well-formed, never issued
	require.NoError(t, err)
	typo := secret[:20] + flip(secret[20]) + secret[21:]
	for _, c := range []struct {
		name, key  string
		statements int64
	}{
		{"a typo fails the checksum", typo, 0},
		{"a truncated key", secret[:len(secret)-1], 0},
		{"a key with junk", secret + "!", 0},
		{"just the prefix", "iorg_", 0},
		{"a forged key", forged, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := counter.Count()
			assertError(t, s.Do(t, c.key, keyViewerQuery, nil), "UNAUTHENTICATED", "Invalid or expired token")
			assert.Equal(t, c.statements, counter.Count()-before, "statements")
		})
	}
}

func TestAKeyIsRevokedWhenItsCreatorLeavesTheOrganization(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	dev := s.AddUser(t, "dev@acme.test", acme, "developer")
	devTok := s.Login(t, dev.Email, apptest.Password(dev.Email))
	secret, id := createKey(t, s, devTok.Access, map[string]any{"name": "dev's script", "role": "member"})
	adminKey, _ := createKey(t, s, admin.Access, map[string]any{"name": "admin's script", "role": "member"})
	require.Empty(t, s.Do(t, secret, keyViewerQuery, nil).Errors)

	r := s.Do(t, admin.Access, `mutation($u: ID!) { removeMember(userId: $u) }`, map[string]any{"u": dev.ID.String()})
	require.Empty(t, r.Errors)
	assertError(t, s.Do(t, secret, keyViewerQuery, nil), "UNAUTHENTICATED", "")
	require.Empty(t, s.Do(t, adminKey, keyViewerQuery, nil).Errors, "other keys stay")
	entry, err := s.App.Client().AuditLog.Query().
		Where(auditlog.Action("api_key.revoke"), auditlog.ResourceID(id)).Only(apptest.SystemContext())
	require.NoError(t, err)
	assert.Equal(t, "removed from organization", entry.Details["reason"])
}

func TestKeysBeyondTheirCreatorsNewRoleAreRevokedWithTheRoleChange(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	dev := s.AddUser(t, "dev@acme.test", acme, "developer")
	devTok := s.Login(t, dev.Email, apptest.Password(dev.Email))
	memberKey, memberKeyID := createKey(t, s, devTok.Access, map[string]any{"name": "deploys", "role": "member"})
	viewerKey, _ := createKey(t, s, devTok.Access, map[string]any{"name": "reads", "role": "viewer"})

	// To developer's peer, member: the member key holds nothing member lacks, so both stay.
	require.Empty(t, s.Do(t, admin.Access, changeRole, map[string]any{"u": dev.ID, "r": "member"}).Errors)
	require.Empty(t, s.Do(t, memberKey, keyViewerQuery, nil).Errors)
	// To viewer: the member key holds what viewer lacks (api_key:create, deployment:*, ...).
	require.Empty(t, s.Do(t, admin.Access, changeRole, map[string]any{"u": dev.ID, "r": "viewer"}).Errors)
	assertError(t, s.Do(t, memberKey, keyViewerQuery, nil), "UNAUTHENTICATED", "")
	require.Empty(t, s.Do(t, viewerKey, keyViewerQuery, nil).Errors, "the viewer key holds nothing beyond the new role")
	entry, err := s.App.Client().AuditLog.Query().
		Where(auditlog.Action("api_key.revoke"), auditlog.ResourceID(memberKeyID)).Only(apptest.SystemContext())
	require.NoError(t, err)
	assert.Equal(t, "creator's role changed to viewer", entry.Details["reason"])
}

// flip changes one base62 character into another.
func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestTwoRevocationsOfOneKeyAuditOnce(t *testing.T) {
	s := apptest.Start(t)
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	for range 3 {
		_, id := createKey(t, s, admin.Access, map[string]any{"name": "bot"})
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := s.TryDo(admin.Access, revokeKeyMutation, map[string]any{"id": id})
				if err == nil && len(r.Errors) > 0 {
					err = fmt.Errorf("%+v", r.Errors)
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err, "both revocations succeed")
		}
		n, err := s.App.Client().AuditLog.Query().
			Where(auditlog.Action("api_key.revoke"), auditlog.ResourceID(id)).Count(apptest.SystemContext())
		require.NoError(t, err)
		assert.Equal(t, 1, n, "one revocation, one entry")
	}
}

// A custom role's permission edit revokes, with it, the keys that would then hold more than
// their creator's role: those made by its members whose roles it no longer covers, and those of
// its own that its gains put beyond a creator of another role. The others stay.
func TestKeysBeyondTheirCreatorsRoleAreRevokedWithARolesPermissionEdit(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	for name, perms := range map[string][]string{
		"ops":     {"api_key:create", "member:list", "model:list"},
		"lister":  {"member:list"},
		"modeler": {"model:list"},
	} {
		require.Empty(t, s.Do(t, admin.Access, `mutation($n: String!, $p: [String!]!) { createRole(input: {name: $n, permissions: $p}) { name } }`,
			map[string]any{"n": name, "p": perms}).Errors)
	}
	ops := s.AddUser(t, "ops@acme.test", acme, "ops")
	opsTok := s.Login(t, ops.Email, apptest.Password(ops.Email))
	own, _ := createKey(t, s, opsTok.Access, map[string]any{"name": "own role", "role": "ops"})
	listing, listingID := createKey(t, s, opsTok.Access, map[string]any{"name": "lists", "role": "lister"})
	modeling, modelingID := createKey(t, s, opsTok.Access, map[string]any{"name": "models", "role": "modeler"})
	adminModeling, _ := createKey(t, s, admin.Access, map[string]any{"name": "admin's models", "role": "modeler"})
	works := func(secret string) bool { return len(s.Do(t, secret, keyViewerQuery, nil).Errors) == 0 }
	reason := func(id string) any {
		entry, err := s.App.Client().AuditLog.Query().
			Where(auditlog.Action("api_key.revoke"), auditlog.ResourceID(id)).Only(apptest.SystemContext())
		require.NoError(t, err)
		return entry.Details["reason"]
	}
	edit := func(role string, perms ...string) {
		t.Helper()
		require.Empty(t, s.Do(t, admin.Access, `mutation($n: String!, $p: [String!]) { updateRole(name: $n, input: {permissions: $p}) { name } }`,
			map[string]any{"n": role, "p": perms}).Errors)
	}

	// A description edit, or permissions that take nothing a key needs, revoke nothing.
	require.Empty(t, s.Do(t, admin.Access, `mutation { updateRole(name: "ops", input: {description: "Operations"}) { name } }`, nil).Errors)
	edit("ops", "api_key:create", "member:list", "model:list", "audit_log:list")
	for _, k := range []string{own, listing, modeling, adminModeling} {
		require.True(t, works(k))
	}

	// ops loses member:list: the lister key its member made holds it, so it goes.
	edit("ops", "api_key:create", "model:list", "audit_log:list")
	assert.False(t, works(listing))
	assert.Equal(t, "role ops changed: the key holds permissions its creator's role lacks", reason(listingID))
	assert.True(t, works(own), "a key of the creator's own role holds nothing beyond it")
	assert.True(t, works(modeling))

	// modeler gains organization:update, which ops lacks: the ops member's modeler key goes, the
	// admin's stays.
	edit("modeler", "model:list", "organization:update")
	assert.False(t, works(modeling))
	assert.Equal(t, "role modeler changed: the key holds permissions its creator's role lacks", reason(modelingID))
	assert.True(t, works(adminModeling), "the admin holds every permission")
	assert.True(t, works(own))
}

// An address that sent more unknown (well-formed, never issued) keys in a minute than the limit
// is refused, with RATE_LIMITED and a retry time, before any lookup, until the minute ends. Keys
// the authentication cache holds still work from it; other addresses are not affected.
func TestAnAddressSendingUnknownKeysIsRefusedLookupsForAMinute(t *testing.T) {
	var counter apptest.StatementCounter
	clock := apptest.NewWholeSecondClock()
	limits := apptest.RoomyLimits
	limits.APIKeyMissesPerIP = 3
	s := apptest.Start(t, apptest.CountStatements(&counter), apptest.WithClock(clock), apptest.WithLimits(limits))
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	good, _ := createKey(t, s, admin.Access, map[string]any{"name": "script"})
	// Once the cache serves, the good key's first use leaves it there.
	require.Eventually(t, s.App.Service().AuthCacheServing, 10*time.Second, 10*time.Millisecond)
	require.Empty(t, s.Do(t, good, keyViewerQuery, nil).Errors)
	forge := func() string {
		k, err := auth.NewAPIKeySecret()
		require.NoError(t, err)
		return k
	}
	for range 3 {
		before := counter.Count()
		assertError(t, s.Do(t, forge(), keyViewerQuery, nil), "UNAUTHENTICATED", "Invalid or expired token")
		require.Equal(t, int64(1), counter.Count()-before, "an unknown key costs its lookup")
	}
	before := counter.Count()
	r := s.Do(t, forge(), keyViewerQuery, nil)
	assert.Equal(t, http.StatusTooManyRequests, r.Status)
	assertError(t, r, "RATE_LIMITED", "Too many unknown API keys from this address. Try again later.")
	assert.EqualValues(t, 60, r.Errors[0].Extensions["retryAfter"])
	assert.Zero(t, counter.Count()-before, "refused before any lookup")
	require.Eventually(t, s.App.Service().AuthCacheServing, 10*time.Second, 10*time.Millisecond)
	require.Empty(t, s.Do(t, good, keyViewerQuery, nil).Errors, "a cached key still works")

	clock.Advance(59 * time.Second)
	assertError(t, s.Do(t, forge(), keyViewerQuery, nil), "RATE_LIMITED", "")
	clock.Advance(time.Second)
	assertError(t, s.Do(t, forge(), keyViewerQuery, nil), "UNAUTHENTICATED", "Invalid or expired token")
	require.Empty(t, s.Do(t, good, keyViewerQuery, nil).Errors)
}
