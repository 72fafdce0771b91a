package graph_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/auth"
)

// The permission × custom role matrices: for every permission of the catalog, a custom role
// holding exactly it can do what it grants and nothing else; and a role that acts on members,
// invitations or roles cannot act on one whose role holds permissions it lacks.

// permissionsCheckedByResolvers are the permissions resolvers check beyond the directives:
// billing:view to read Organization.billing, billing:update to change it, member:invite to read
// an invitation's token and link.
var permissionsCheckedByResolvers = []string{"billing:view", "billing:update", "member:invite"}

// isGatewayPermission tells the catalog's permissions that the inference gateway checks
// (deployments, models): this server stores them in roles and guards nothing with them.
func isGatewayPermission(p string) bool {
	return strings.HasPrefix(p, "deployment:") || strings.HasPrefix(p, "model:")
}

// grantRefusal starts the message of a workflow's refusal to hand out permissions the caller lacks.
const grantRefusal = "Cannot grant permissions you do not have: "

// customRoles makes custom roles of acme directly in the database, and members holding them.
type customRoles struct {
	s    *apptest.Server
	acme *ent.Organization
	root string // the super admin's access token; an admin of acme
	n    int
}

func newCustomRoles(t testing.TB) *customRoles {
	t.Helper()
	s := apptest.Start(t, apptest.WithLimits(apptest.RoomyLimits))
	return &customRoles{s: s, acme: s.Org(t, apptest.RootOrg), root: s.Login(t, apptest.RootEmail, apptest.RootPassword).Access}
}

// unique returns a new name with prefix.
func (w *customRoles) unique(prefix string) string {
	w.n++
	return fmt.Sprintf("%s%d", prefix, w.n)
}

// role creates a custom role holding exactly perms and returns its name.
func (w *customRoles) role(t testing.TB, perms ...string) string {
	t.Helper()
	name := w.unique("holds-")
	_, err := w.s.App.Client().Role.Create().SetOrganizationID(w.acme.ID).SetName(name).
		SetPermissions(append([]string{}, perms...)).Save(apptest.SystemContext())
	require.NoError(t, err)
	return name
}

// member adds a member of acme whose custom role holds exactly perms.
func (w *customRoles) member(t testing.TB, perms ...string) *ent.User {
	t.Helper()
	return w.s.AddUser(t, w.unique("member")+"@acme.test", w.acme, w.role(t, perms...))
}

// signIn returns the access token of a new member whose custom role holds exactly perms.
func (w *customRoles) signIn(t testing.TB, perms ...string) string {
	t.Helper()
	u := w.member(t, perms...)
	return w.s.Login(t, u.Email, apptest.Password(u.Email)).Access
}

// invitation has the root admin invite someone with a custom role holding exactly perms, and
// returns the invitation's id.
func (w *customRoles) invitation(t testing.TB, perms ...string) string {
	t.Helper()
	r := w.s.Do(t, w.root, `mutation($e: String!, $r: String!) { inviteMember(input: {email: $e, role: $r}) { invitation { id } } }`,
		map[string]any{"e": w.unique("invitee") + "@acme.test", "r": w.role(t, perms...)})
	require.Empty(t, r.Errors)
	return r.Str("inviteMember.invitation.id")
}

// key has the root admin create an API key with a custom role holding exactly perms, and returns
// the key's id.
func (w *customRoles) key(t testing.TB, perms ...string) string {
	t.Helper()
	r := w.s.Do(t, w.root, createKeyMutation, map[string]any{"in": map[string]any{"name": w.unique("key"), "role": w.role(t, perms...)}})
	require.Empty(t, r.Errors)
	return r.Str("createApiKey.apiKey.id")
}

// keyOf is signIn for an API key: the secret of a new key whose custom role holds exactly perms.
func (w *customRoles) keyOf(t testing.TB, perms ...string) string {
	t.Helper()
	r := w.s.Do(t, w.root, createKeyMutation, map[string]any{"in": map[string]any{"name": w.unique("key"), "role": w.role(t, perms...)}})
	require.Empty(t, r.Errors)
	return r.Str("createApiKey.secret")
}

// session signs in a new member whose custom role holds exactly perms and returns the session's id.
func (w *customRoles) session(t testing.TB, perms ...string) string {
	t.Helper()
	r := w.s.Do(t, w.signIn(t, perms...), `{ viewer { session { id } } }`, nil)
	require.Empty(t, r.Errors)
	return r.Str("viewer.session.id")
}

// Rows: the 25 permissions of the catalog, each held alone by a custom role. Columns: every field
// behind @hasPermission or @superAdmin, from the schema walk, then the checks resolvers make that
// the schema does not show. A field behind the row's permission is not refused for want of a
// permission; a field behind another permission is refused with "Permission denied: <it>
// required"; a super admin's field is refused. The gateway's permissions (deployment:*,
// model:*) guard nothing here, so their rows are refused everywhere. The callers are members
// signed in and, in the second test, organization API keys of those roles.
func TestACustomRoleOfOnePermissionCanDoWhatItGrantsAndNothingElse(t *testing.T) {
	w := newCustomRoles(t)
	onePermissionMatrix(t, w, w.signIn, false)
}

func TestAnAPIKeyOfOnePermissionCanDoWhatItsRoleGrantsAndNothingElse(t *testing.T) {
	w := newCustomRoles(t)
	onePermissionMatrix(t, w, w.keyOf, true)
}

// onePermissionMatrix runs the matrix above with the callers caller makes.
// keys says the callers are API keys, which createApiKey refuses past its gate (@person): a key
// cannot mint keys.
func onePermissionMatrix(t *testing.T, w *customRoles, caller func(t testing.TB, perms ...string) string, keys bool) {
	var gs []guard
	checked := map[string]bool{}
	for _, g := range guards(t) {
		if g.directive != "authenticated" {
			gs = append(gs, g)
			checked[g.permission] = true
		}
	}
	for _, p := range permissionsCheckedByResolvers {
		checked[p] = true
	}
	var unused, gateway []string
	for _, p := range auth.AllPermissions() {
		if !checked[p] {
			unused = append(unused, p)
		}
		if isGatewayPermission(p) {
			gateway = append(gateway, p)
		}
	}
	require.Len(t, gateway, 8)
	assert.Equal(t, gateway, unused, "the catalog's permissions that guard nothing in this server are the inference gateway's")

	for _, p := range auth.AllPermissions() {
		t.Run(p, func(t *testing.T) {
			tok := caller(t, p)
			r := w.s.Do(t, tok, `{ viewer { permissions } }`, nil)
			require.Empty(t, r.Errors)
			require.Equal(t, []any{p}, r.Get("viewer.permissions"))

			for _, g := range gs {
				t.Run(g.String(), func(t *testing.T) {
					r := w.s.Do(t, tok, g.query, nil)
					e := errorAt(r, g.path)
					want := "Permission denied: " + g.permission + " required"
					switch {
					case g.directive == "superAdmin":
						want = "Permission denied: super admin required"
					case keys && len(g.path) > 0 && g.path[0] == "createApiKey":
						// Whatever its permissions.
						if assert.NotNil(t, e, "%s: a key cannot create keys", g.query) {
							assert.Equal(t, personRefusal, e.Message)
						}
						return
					case g.permission == p:
						// Past the gate, a workflow may still refuse to hand out the
						// organization's default role (a new key's) to a caller lacking its
						// permissions: the escalation matrix is about that rule.
						if e != nil && !strings.HasPrefix(e.Message, grantRefusal) {
							assert.NotEqual(t, "FORBIDDEN", codeOf(e), "%s: %+v", g.query, e)
						}
						return
					}
					if assert.NotNil(t, e, "%s: no error at %v; errors %+v", g.query, g.path, r.Errors) {
						assert.Equal(t, "FORBIDDEN", codeOf(e))
						assert.Equal(t, want, e.Message)
					}
				})
			}
			t.Run("Organization.billing is null without billing:view", func(t *testing.T) {
				r := w.s.Do(t, tok, `{ viewer { organization { billing { plan } } } }`, nil)
				require.Empty(t, r.Errors)
				assert.Equal(t, p == "billing:view", r.Get("viewer.organization.billing") != nil)
			})
			t.Run("updateOrganization with billing needs organization:update and billing:update", func(t *testing.T) {
				r := w.s.Do(t, tok, `mutation { updateOrganization(input: {billing: {plan: "x"}}) { id } }`, nil)
				want := "Permission denied: organization:update required"
				if p == "organization:update" {
					want = "Permission denied: billing:update required"
				}
				if e := errorAt(r, []any{"updateOrganization"}); assert.NotNil(t, e, "errors %+v", r.Errors) {
					assert.Equal(t, "FORBIDDEN", codeOf(e))
					assert.Equal(t, want, e.Message)
				}
			})
		})
	}

	// What two permissions grant together that neither grants alone.
	invitation := w.invitation(t)
	for _, c := range []struct {
		name  string
		perms []string
		query string
		check func(t *testing.T, r *apptest.Response)
	}{
		{"organization:update and billing:update change the billing", []string{"organization:update", "billing:update"},
			`mutation { updateOrganization(input: {billing: {plan: "pro"}}) { id } }`,
			func(t *testing.T, r *apptest.Response) { assert.Empty(t, r.Errors) }},
		{"member:list without member:invite lists invitations without their tokens", []string{"member:list"},
			`{ viewer { organization { invitations { edges { node { id token inviteLink } } } } } }`,
			func(t *testing.T, r *apptest.Response) {
				id, token, link := onlyInvitation(t, r)
				assert.Equal(t, invitation, id)
				assert.Nil(t, token)
				assert.Nil(t, link)
			}},
		{"member:list and member:invite list invitations with their tokens", []string{"member:list", "member:invite"},
			`{ viewer { organization { invitations { edges { node { id token inviteLink } } } } } }`,
			func(t *testing.T, r *apptest.Response) {
				id, token, link := onlyInvitation(t, r)
				assert.Equal(t, invitation, id)
				assert.NotNil(t, token)
				assert.NotNil(t, link)
			}},
	} {
		t.Run(c.name, func(t *testing.T) { c.check(t, w.s.Do(t, caller(t, c.perms...), c.query, nil)) })
	}
}

// Rows: every workflow that acts on a member, an invitation or a role, or hands out a role or
// permissions. The caller's custom role holds the workflow's permission and the read permission
// that finds the target, if any: member:list for members and invitations, role:list for roles,
// security:view for sessions. Columns: the target's role (the role given, the permissions
// granted) holds no permission, the caller's own permissions, those plus the first one the caller
// lacks, or every permission. The caller may act on the first two and is refused FORBIDDEN on
// the others, with one exception: holders of security:update revoke any member's session (see
// TestSecurityPermissionsAloneManageSecurity: the security permissions alone manage security).
func TestACustomRoleCannotActOnAnyoneWhoseRoleHoldsPermissionsItLacks(t *testing.T) {
	w := newCustomRoles(t)
	type target struct {
		name  string
		perms func(caller []string) []string
	}
	targets := []target{
		{"no permission", func([]string) []string { return nil }},
		{"the same permissions", func(caller []string) []string { return caller }},
		{"one permission more", func(caller []string) []string {
			for _, p := range auth.AllPermissions() {
				if !slices.Contains(caller, p) {
					return append(slices.Clone(caller), p)
				}
			}
			panic("the caller holds every permission")
		}},
		{"every permission", func([]string) []string { return auth.AllPermissions() }},
	}
	const (
		changeMemberRole = `mutation($u: ID!, $r: String!) { updateMemberRole(userId: $u, role: $r) { id } }`
		updateRole       = `mutation($n: String!, $in: UpdateRoleInput!) { updateRole(name: $n, input: $in) { name } }`
	)
	rows := []struct {
		name       string
		permission string
		read       string // what finds the target
		act        func(t *testing.T, token string, target []string) *apptest.Response
		anyTarget  bool // allowed whatever the target holds
	}{
		{"role:update changes a member's role", "role:update", "member:list",
			func(t *testing.T, tok string, target []string) *apptest.Response {
				return w.s.Do(t, tok, changeMemberRole, map[string]any{"u": w.member(t, target...).ID, "r": w.role(t)})
			}, false},
		{"role:update gives a member a role", "role:update", "member:list",
			func(t *testing.T, tok string, target []string) *apptest.Response {
				return w.s.Do(t, tok, changeMemberRole, map[string]any{"u": w.member(t).ID, "r": w.role(t, target...)})
			}, false},
		{"member:delete removes a member", "member:delete", "member:list",
			func(t *testing.T, tok string, target []string) *apptest.Response {
				return w.s.Do(t, tok, `mutation($u: ID!) { removeMember(userId: $u) }`, map[string]any{"u": w.member(t, target...).ID})
			}, false},
		{"member:delete revokes an invitation", "member:delete", "member:list",
			func(t *testing.T, tok string, target []string) *apptest.Response {
				return w.s.Do(t, tok, `mutation($i: ID!) { revokeInvitation(id: $i) { id } }`, map[string]any{"i": w.invitation(t, target...)})
			}, false},
		{"member:invite invites with a role", "member:invite", "",
			func(t *testing.T, tok string, target []string) *apptest.Response {
				return w.s.Do(t, tok, `mutation($e: String!, $r: String!) { inviteMember(input: {email: $e, role: $r}) { token } }`,
					map[string]any{"e": w.unique("new") + "@acme.test", "r": w.role(t, target...)})
			}, false},
		{"member:invite resends an invitation", "member:invite", "member:list",
			func(t *testing.T, tok string, target []string) *apptest.Response {
				return w.s.Do(t, tok, `mutation($i: ID!) { resendInvitation(id: $i) { token } }`, map[string]any{"i": w.invitation(t, target...)})
			}, false},
		{"role:create creates a role with permissions", "role:create", "",
			func(t *testing.T, tok string, target []string) *apptest.Response {
				return w.s.Do(t, tok, `mutation($n: String!, $p: [String!]!) { createRole(input: {name: $n, permissions: $p}) { name } }`,
					map[string]any{"n": w.unique("new-"), "p": append([]string{}, target...)})
			}, false},
		{"role:update changes a role", "role:update", "role:list",
			func(t *testing.T, tok string, target []string) *apptest.Response {
				return w.s.Do(t, tok, updateRole, map[string]any{"n": w.role(t, target...), "in": map[string]any{"description": "changed"}})
			}, false},
		{"role:update gives a role permissions", "role:update", "role:list",
			func(t *testing.T, tok string, target []string) *apptest.Response {
				return w.s.Do(t, tok, updateRole, map[string]any{"n": w.role(t), "in": map[string]any{"permissions": append([]string{}, target...)}})
			}, false},
		{"api_key:create creates a key with a role", "api_key:create", "",
			func(t *testing.T, tok string, target []string) *apptest.Response {
				return w.s.Do(t, tok, createKeyMutation, map[string]any{"in": map[string]any{"name": w.unique("key"), "role": w.role(t, target...)}})
			}, false},
		{"api_key:revoke revokes a key", "api_key:revoke", "",
			func(t *testing.T, tok string, target []string) *apptest.Response {
				return w.s.Do(t, tok, revokeKeyMutation, map[string]any{"id": w.key(t, target...)})
			}, false},
		{"security:update revokes a member's session", "security:update", "security:view",
			func(t *testing.T, tok string, target []string) *apptest.Response {
				return w.s.Do(t, tok, `mutation($i: ID!) { revokeSession(id: $i) }`, map[string]any{"i": w.session(t, target...)})
			}, true},
	}
	// The callers: a member signed in, and an API key, of a role holding exactly those permissions.
	callers := []struct {
		name string
		make func(t testing.TB, perms ...string) string
	}{{"member", w.signIn}, {"API key", w.keyOf}}
	for _, row := range rows {
		caller := auth.SortPermissions([]string{row.permission})
		if row.read != "" {
			caller = auth.SortPermissions(append(caller, row.read))
		}
		for _, who := range callers {
			tok := who.make(t, caller...)
			for i, c := range targets {
				t.Run(who.name+"/"+row.name+"/"+c.name, func(t *testing.T) {
					r := row.act(t, tok, c.perms(caller))
					if who.name == "API key" && row.permission == "api_key:create" {
						if assert.NotEmpty(t, r.Errors, "a key cannot create keys, of any role") {
							assert.Equal(t, personRefusal, r.Errors[0].Message)
						}
						return
					}
					if i < 2 || row.anyTarget {
						assert.Empty(t, r.Errors, "allowed")
						return
					}
					assert.Equal(t, "FORBIDDEN", r.Code(), "errors %+v", r.Errors)
				})
			}
		}
	}
}

// onlyInvitation decodes a page of invitations holding one, and returns its id, token and link.
func onlyInvitation(t *testing.T, r *apptest.Response) (id string, token, link *string) {
	t.Helper()
	var page struct {
		Viewer struct {
			Organization struct {
				Invitations struct {
					Edges []struct {
						Node struct {
							ID                string
							Token, InviteLink *string
						}
					}
				}
			}
		}
	}
	r.Decode(t, &page)
	edges := page.Viewer.Organization.Invitations.Edges
	require.Len(t, edges, 1)
	return edges[0].Node.ID, edges[0].Node.Token, edges[0].Node.InviteLink
}

// personRefusal is the refusal of a field that needs a person (@person) to an API key.
const personRefusal = "API keys cannot do this: it needs a person's sign-in"
