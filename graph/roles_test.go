package graph_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent/auditlog"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/auth"
)

const rolesPage = `{ viewer { organization { roles { name description permissions builtIn memberCount } } } permissionCatalog { name description category } }`

type roleRow struct {
	Name        string
	Description string
	Permissions []string
	BuiltIn     bool
	MemberCount int
}

func rolesOf(t *testing.T, s *apptest.Server, token string) map[string]roleRow {
	t.Helper()
	var out struct {
		Viewer struct{ Organization struct{ Roles []roleRow } }
	}
	s.Do(t, token, rolesPage, nil).Decode(t, &out)
	m := map[string]roleRow{}
	for _, r := range out.Viewer.Organization.Roles {
		m[r.Name] = r
	}
	return m
}

const createRole = `mutation($n: String!, $d: String, $p: [String!]!) { createRole(input: {name: $n, description: $d, permissions: $p}) { name permissions builtIn memberCount } }`

func TestCustomRolesAreValidatedBoundedAndScopedToTheirOrganization(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	s.AddUser(t, "d1@acme.test", acme, "developer")
	s.AddUser(t, "d2@acme.test", acme, "developer")

	roles := rolesOf(t, s, root.Access)
	require.Len(t, roles, 4)
	assert.True(t, roles["admin"].BuiltIn)
	assert.Equal(t, 1, roles["admin"].MemberCount)
	assert.Equal(t, 2, roles["developer"].MemberCount)
	assert.Equal(t, 0, roles["viewer"].MemberCount)
	assert.Len(t, roles["admin"].Permissions, len(auth.Catalog))

	r := s.Do(t, root.Access, createRole, map[string]any{"n": "Auditor", "d": "Reads logs", "p": []string{"audit_log:list", "user:view", "organization:view", "audit_log:list"}})
	require.Empty(t, r.Errors)
	assert.Equal(t, "auditor", r.Str("createRole.name"))
	assert.Equal(t, []any{"member:list", "audit_log:list", "organization:view"}, r.Get("createRole.permissions"), "aliases normalized, catalog order, no duplicates")
	assert.Equal(t, false, r.Get("createRole.builtIn"))

	cases := []struct {
		name string
		vars map[string]any
		code string
		msg  string
	}{
		{"names are unique in the organization", map[string]any{"n": "AUDITOR", "p": []string{}}, "BAD_USER_INPUT", "Role already exists"},
		{"built-in names are taken", map[string]any{"n": "admin", "p": []string{}}, "BAD_USER_INPUT", "Role already exists"},
		{"unknown permissions are listed", map[string]any{"n": "x", "p": []string{"model:list", "rocket:launch", "moon:land"}}, "BAD_USER_INPUT", "Invalid permissions: rocket:launch, moon:land"},
		{"bad names are refused", map[string]any{"n": "no spaces!", "p": []string{}}, "BAD_USER_INPUT", "Role names are 1 to 64 lower-case letters, digits, '-' or '_'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.Do(t, root.Access, createRole, c.vars)
			assert.Equal(t, c.code, r.Code())
			if assert.NotEmpty(t, r.Errors) {
				assert.Equal(t, c.msg, r.Errors[0].Message)
			}
		})
	}

	// A role manager cannot put into a role what they lack themselves.
	_, err := s.App.Client().Role.Create().SetOrganizationID(acme.ID).SetName("role-manager").
		SetPermissions([]string{"role:create", "role:update", "role:delete", "role:list", "model:list"}).Save(apptest.SystemContext())
	require.NoError(t, err)
	rm := s.AddUser(t, "rm@acme.test", acme, "role-manager")
	rmTok := s.Login(t, rm.Email, apptest.Password(rm.Email))
	r = s.Do(t, rmTok.Access, createRole, map[string]any{"n": "sneaky", "p": []string{"model:list", "member:delete"}})
	assert.Equal(t, "FORBIDDEN", r.Code())
	assert.Equal(t, "Cannot grant permissions you do not have: member:delete", r.Errors[0].Message)
	// memberCount summarises the member list, which a role manager may not read: asking for it
	// refuses the whole mutation, and nothing is created.
	r = s.Do(t, rmTok.Access, createRole, map[string]any{"n": "lister", "p": []string{"model:list"}})
	assert.Equal(t, "FORBIDDEN", r.Code())
	assert.Equal(t, "Permission denied: member:list required", r.Errors[0].Message)
	r = s.Do(t, rmTok.Access, `mutation($n: String!, $p: [String!]!) { createRole(input: {name: $n, permissions: $p}) { name } }`,
		map[string]any{"n": "lister", "p": []string{"model:list"}})
	require.Empty(t, r.Errors)
	r = s.Do(t, rmTok.Access, `mutation { updateRole(name: "auditor", input: {description: "x"}) { name } }`, nil)
	assert.Equal(t, "FORBIDDEN", r.Code(), "auditor holds permissions the role manager lacks")

	// Built-ins are read-only.
	r = s.Do(t, root.Access, `mutation { updateRole(name: "viewer", input: {permissions: ["model:list"]}) { name } }`, nil)
	assert.Equal(t, "BAD_USER_INPUT", r.Code())
	assert.Equal(t, "Built-in roles cannot be changed", r.Errors[0].Message)
	r = s.Do(t, root.Access, `mutation { deleteRole(name: "member") }`, nil)
	assert.Equal(t, "BAD_USER_INPUT", r.Code())
	assert.Equal(t, "Cannot delete default system roles", r.Errors[0].Message)
	r = s.Do(t, root.Access, `mutation { deleteRole(name: "nope") }`, nil)
	assert.Equal(t, "NOT_FOUND", r.Code())
	assert.Equal(t, "Role not found", r.Errors[0].Message)

	// Updating takes effect on the holders' next request.
	aud := s.AddUser(t, "aud@acme.test", acme, "auditor")
	audTok := s.Login(t, aud.Email, apptest.Password(aud.Email))
	assert.Contains(t, s.Do(t, audTok.Access, `{ viewer { permissions } }`, nil).Get("viewer.permissions"), "audit_log:list")
	r = s.Do(t, root.Access, `mutation { updateRole(name: "auditor", input: {permissions: ["organization:view"], description: "Less"}) { permissions description } }`, nil)
	require.Empty(t, r.Errors)
	assert.Equal(t, []any{"organization:view"}, s.Do(t, audTok.Access, `{ viewer { permissions } }`, nil).Get("viewer.permissions"))

	// In use by a member: refused; then by a pending invitation: refused; then free.
	r = s.Do(t, root.Access, `mutation { deleteRole(name: "auditor") }`, nil)
	assert.Equal(t, "CONFLICT", r.Code())
	require.Empty(t, s.Do(t, root.Access, `mutation($u: ID!) { removeMember(userId: $u) }`, map[string]any{"u": aud.ID}).Errors)
	inv := s.Do(t, root.Access, `mutation { inviteMember(input: {email: "later@acme.test", role: "auditor"}) { invitation { id } } }`, nil)
	require.Empty(t, inv.Errors)
	r = s.Do(t, root.Access, `mutation { deleteRole(name: "auditor") }`, nil)
	assert.Equal(t, "CONFLICT", r.Code())
	assert.Equal(t, "Role is in use by 0 member(s) and 1 pending invitation(s)", r.Errors[0].Message)
	require.Empty(t, s.Do(t, root.Access, `mutation($i: ID!) { revokeInvitation(id: $i) { id } }`, map[string]any{"i": inv.Str("inviteMember.invitation.id")}).Errors)
	r = s.Do(t, root.Access, `mutation { deleteRole(name: "auditor") }`, nil)
	require.Empty(t, r.Errors)
	assert.Equal(t, true, r.Get("deleteRole"))

	// Another organization neither sees nor touches acme's roles.
	globex := s.CreateOrg(t, "Globex")
	gina := s.AddUser(t, "gina@globex.test", globex, "admin")
	gTok := s.Login(t, gina.Email, apptest.Password(gina.Email))
	groles := rolesOf(t, s, gTok.Access)
	assert.Len(t, groles, 4, "only the built-ins")
	assert.Equal(t, 1, groles["admin"].MemberCount, "counts are per organization")
	assert.Equal(t, "NOT_FOUND", s.Do(t, gTok.Access, `mutation { deleteRole(name: "lister") }`, nil).Code())
	assert.Equal(t, "NOT_FOUND", s.Do(t, gTok.Access, `mutation { updateRole(name: "lister", input: {description: "mine"}) { name } }`, nil).Code())
	require.Empty(t, s.Do(t, gTok.Access, createRole, map[string]any{"n": "lister", "p": []string{"model:list"}}).Errors, "names are unique per organization only")

	// The catalog.
	var cat struct {
		PermissionCatalog []struct{ Name, Description, Category string }
	}
	s.Do(t, root.Access, rolesPage, nil).Decode(t, &cat)
	require.Len(t, cat.PermissionCatalog, len(auth.Catalog))
	assert.Equal(t, "api_key:create", cat.PermissionCatalog[0].Name)
	assert.Equal(t, "organization:update", cat.PermissionCatalog[20].Name)
	assert.NotEmpty(t, cat.PermissionCatalog[0].Description)

	ctx := apptest.SystemContext()
	for _, action := range []string{"role.create", "role.update", "role.delete"} {
		n, err := s.App.Client().AuditLog.Query().Where(auditlog.Action(action)).Count(ctx)
		require.NoError(t, err)
		assert.Positive(t, n, action)
	}
}

func TestTheAuditLogIsFilteredAndPaged(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	start := time.Now().Add(-time.Second)
	bob := s.AddUser(t, "bob@acme.test", acme, "member")
	require.Empty(t, s.Do(t, root.Access, changeRole, map[string]any{"u": bob.ID, "r": "viewer"}).Errors)
	require.Empty(t, s.Do(t, root.Access, createRole, map[string]any{"n": "r1", "p": []string{"model:list"}}).Errors)
	bobTok := s.Login(t, bob.Email, apptest.Password(bob.Email))

	const q = `query($w: AuditLogFilterInput, $first: Int) { viewer { organization { auditLogs(first: $first, where: $w) {
	  totalCount edges { node { action category status actorEmail ipAddress resourceType resourceID details createdAt actor { email } } }
	} } } }`
	r := s.Do(t, root.Access, q, nil)
	require.Empty(t, r.Errors)
	total := r.Get("viewer.organization.auditLogs.totalCount").(float64)
	assert.GreaterOrEqual(t, total, 4.0)
	first := r.Get("viewer.organization.auditLogs.edges").([]any)[0].(map[string]any)["node"].(map[string]any)
	assert.Equal(t, "auth.login", first["action"], "newest first: bob's sign-in")

	r = s.Do(t, root.Access, q, map[string]any{"w": map[string]any{"category": "user_management"}})
	assert.EqualValues(t, 2, r.Get("viewer.organization.auditLogs.totalCount"), "the role's creation and bob's role change")
	for _, e := range r.Get("viewer.organization.auditLogs.edges").([]any) {
		assert.Equal(t, "user_management", e.(map[string]any)["node"].(map[string]any)["category"])
	}
	r = s.Do(t, root.Access, q, map[string]any{"w": map[string]any{"category": "role"}})
	assert.EqualValues(t, 1, r.Get("viewer.organization.auditLogs.totalCount"), "a former category's name selects its actions")
	r = s.Do(t, root.Access, q, map[string]any{"w": map[string]any{"action": "member.role_change"}})
	node := r.Get("viewer.organization.auditLogs.edges").([]any)[0].(map[string]any)["node"].(map[string]any)
	assert.Equal(t, "root@example.com", node["actorEmail"])
	assert.Equal(t, map[string]any{"email": "bob@acme.test", "old_role": "member", "new_role": "viewer"}, node["details"])
	r = s.Do(t, root.Access, q, map[string]any{"w": map[string]any{"actorId": bob.ID}})
	assert.EqualValues(t, 1, r.Get("viewer.organization.auditLogs.totalCount"))
	r = s.Do(t, root.Access, q, map[string]any{"w": map[string]any{"since": time.Now().Add(time.Hour).Format(time.RFC3339)}})
	assert.EqualValues(t, 0, r.Get("viewer.organization.auditLogs.totalCount"))
	r = s.Do(t, root.Access, q, map[string]any{"w": map[string]any{"since": start.Format(time.RFC3339Nano), "until": time.Now().Add(time.Hour).Format(time.RFC3339)}})
	assert.Equal(t, total, r.Get("viewer.organization.auditLogs.totalCount"))
	r = s.Do(t, root.Access, q, map[string]any{"first": 2})
	assert.Len(t, r.Get("viewer.organization.auditLogs.edges"), 2)

	assert.Equal(t, "FORBIDDEN", s.Do(t, bobTok.Access, q, nil).Code(), "a viewer has no audit_log:list")
}
