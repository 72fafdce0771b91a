package graph_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/server/apptest"
)

// The permission matrix: every members, roles and invitations operation, tried by each role of
// acme (admin, developer, member, viewer and a custom "recruiter") and by globex's admin, whose
// lists and invitations stay in globex and whose changes to acme's objects are NOT_FOUND.
// "" means allowed; otherwise the expected error code.
func TestThePermissionMatrixOfMembersRolesAndInvitations(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	ctx := apptest.SystemContext()
	_, err := s.App.Client().Role.Create().SetOrganizationID(acme.ID).SetName("recruiter").
		SetPermissions([]string{"member:list", "member:invite", "api_key:list", "deployment:list", "model:access", "model:list", "organization:view"}).
		Save(ctx)
	require.NoError(t, err)
	tokens := map[string]string{}
	for _, r := range []string{"admin", "developer", "member", "viewer", "recruiter"} {
		u := s.AddUser(t, r+"@acme.test", acme, r)
		tokens[r] = s.Login(t, u.Email, apptest.Password(u.Email)).Access
	}
	globex := s.CreateOrg(t, "Globex")
	g := s.AddUser(t, "admin@globex.test", globex, "admin")
	tokens["globex admin"] = s.Login(t, g.Email, apptest.Password(g.Email)).Access
	admin := tokens["admin"]

	n := 0
	fresh := func(role string) *ent.User {
		n++
		return s.AddUser(t, fmt.Sprintf("target%d@acme.test", n), acme, role)
	}
	invite := func() string {
		n++
		r := s.Do(t, admin, `mutation($e: String!) { inviteMember(input: {email: $e, role: "viewer"}) { invitation { id } } }`,
			map[string]any{"e": fmt.Sprintf("inv%d@acme.test", n)})
		require.Empty(t, r.Errors)
		return r.Str("inviteMember.invitation.id")
	}
	customRole := func() string {
		n++
		name := fmt.Sprintf("tmp-%d", n)
		require.Empty(t, s.Do(t, admin, createRole, map[string]any{"n": name, "p": []string{"model:list"}}).Errors)
		return name
	}

	type op struct {
		name  string
		run   func(token string) string // returns the error code
		codes map[string]string         // by actor; missing actors are FORBIDDEN
	}
	do := func(q string, vars func() map[string]any) func(string) string {
		return func(token string) string { return s.Do(t, token, q, vars()).Code() }
	}
	allowed := func(actors ...string) map[string]string {
		m := map[string]string{}
		for _, a := range actors {
			m[a] = ""
		}
		return m
	}
	ops := []op{
		{"list members", do(`{ viewer { organization { members { totalCount } } } }`, func() map[string]any { return nil }),
			allowed("admin", "developer", "recruiter", "globex admin")},
		{"list invitations", do(`{ viewer { organization { invitations { totalCount } } } }`, func() map[string]any { return nil }),
			allowed("admin", "developer", "recruiter", "globex admin")},
		{"list roles", do(`{ viewer { organization { roles { name } } } }`, func() map[string]any { return nil }),
			allowed("admin", "globex admin")},
		{"read the audit log", do(`{ viewer { organization { auditLogs { totalCount } } } }`, func() map[string]any { return nil }),
			allowed("admin", "globex admin")},
		{"invite a viewer", do(`mutation($e: String!) { inviteMember(input: {email: $e, role: "viewer"}) { token } }`,
			func() map[string]any { n++; return map[string]any{"e": fmt.Sprintf("new%d@acme.test", n)} }),
			allowed("admin", "recruiter", "globex admin")},
		{"invite a developer", do(`mutation($e: String!) { inviteMember(input: {email: $e, role: "developer"}) { token } }`,
			func() map[string]any { n++; return map[string]any{"e": fmt.Sprintf("new%d@acme.test", n)} }),
			allowed("admin", "globex admin")},
		{"resend an invitation", do(`mutation($i: ID!) { resendInvitation(id: $i) { token } }`,
			func() map[string]any { return map[string]any{"i": invite()} }),
			map[string]string{"admin": "", "recruiter": "", "globex admin": "NOT_FOUND"}},
		{"revoke an invitation", do(`mutation($i: ID!) { revokeInvitation(id: $i) { status } }`,
			func() map[string]any { return map[string]any{"i": invite()} }),
			map[string]string{"admin": "", "globex admin": "NOT_FOUND"}},
		{"change a member's role", do(changeRole, func() map[string]any { return map[string]any{"u": fresh("viewer").ID, "r": "member"} }),
			map[string]string{"admin": "", "globex admin": "NOT_FOUND"}},
		{"remove a member", do(`mutation($u: ID!) { removeMember(userId: $u) }`, func() map[string]any { return map[string]any{"u": fresh("viewer").ID} }),
			map[string]string{"admin": "", "globex admin": "NOT_FOUND"}},
		{"create a role", do(createRole, func() map[string]any {
			n++
			return map[string]any{"n": fmt.Sprintf("r%d", n), "p": []string{"model:list"}}
		}),
			allowed("admin", "globex admin")},
		{"update a role", do(`mutation($n: String!) { updateRole(name: $n, input: {description: "d"}) { name } }`,
			func() map[string]any { return map[string]any{"n": customRole()} }),
			map[string]string{"admin": "", "globex admin": "NOT_FOUND"}},
		{"delete a role", do(`mutation($n: String!) { deleteRole(name: $n) }`, func() map[string]any { return map[string]any{"n": customRole()} }),
			map[string]string{"admin": "", "globex admin": "NOT_FOUND"}},
	}
	for _, o := range ops {
		for _, actor := range []string{"admin", "developer", "member", "viewer", "recruiter", "globex admin"} {
			want, ok := o.codes[actor]
			if !ok {
				want = "FORBIDDEN"
			}
			t.Run(o.name+"/"+actor, func(t *testing.T) {
				assert.Equal(t, want, o.run(tokens[actor]))
			})
		}
	}
}
