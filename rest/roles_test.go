package rest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/apptest"
)

// The routes of operations/roles.graphql: built-in and custom roles, the permission catalog.

func TestRESTRoles(t *testing.T) {
	w := newWorld(t)
	admin := w.tok["admin"]

	t.Run("GET /admin/roles: the built-ins and this org's custom roles", func(t *testing.T) {
		r := w.rest(t, "GET", "/admin/roles", admin, nil)
		require.Equal(t, http.StatusOK, r.Status)
		builtIn := map[string]bool{}
		for _, x := range r.List("") {
			keys(t, x, roleKeys...)
			m := x.(map[string]any)
			builtIn[m["name"].(string)] = m["built_in"].(bool)
			stamp(t, m["created_at"])
			stamp(t, m["updated_at"])
		}
		assert.Equal(t, map[string]bool{"admin": true, "developer": true, "member": true, "viewer": true, "recruiter": false}, builtIn,
			"globex's custom role is invisible")
		g := w.gql(t, "GET", "/admin/roles", admin, nil)
		require.Empty(t, g.Errors)
		var data struct {
			Viewer struct {
				Organization struct{ Roles []struct{ Name string } }
			}
		}
		g.Decode(t, &data)
		var names []string
		for _, x := range data.Viewer.Organization.Roles {
			names = append(names, x.Name)
		}
		assert.Equal(t, names, column(r.Body, "name"), "the same roles in the same order on both paths")
		for _, x := range r.List("") {
			m := x.(map[string]any)
			if m["name"] == "viewer" {
				assert.Equal(t, []string{"api_key:list", "deployment:list", "model:access", "model:list", "organization:view"}, strs(m["permissions"]))
			}
			if m["name"] == "admin" {
				assert.Len(t, m["permissions"], 26)
			}
		}
		globex := w.rest(t, "GET", "/admin/roles", w.tok["globex admin"], nil)
		assert.Contains(t, column(globex.Body, "name"), "globex-only")
		assert.NotContains(t, column(globex.Body, "name"), "recruiter")
	})
	t.Run("POST /admin/roles", func(t *testing.T) {
		r := w.rest(t, "POST", "/admin/roles", admin, map[string]any{"name": "auditor", "description": "Reads the log",
			"permissions": []string{"organization:view", "audit_log:list", "user:list"}})
		require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
		keys(t, r.Body, roleKeys...)
		assert.Equal(t, "auditor", r.Str("name"))
		assert.Equal(t, "Reads the log", r.Str("description"))
		assert.Equal(t, []string{"member:list", "audit_log:list", "organization:view"}, strs(r.Get("permissions")),
			"catalog order, the deprecated alias user:list read as member:list")
		assert.Equal(t, false, r.Get("built_in"))
		stamp(t, r.Get("created_at"))
		stamp(t, r.Get("updated_at"))
		assert.Contains(t, column(w.rest(t, "GET", "/admin/roles", admin, nil).Body, "name"), "auditor")
		g := w.gql(t, "POST", "/admin/roles", admin, map[string]any{"name": "auditor2", "permissions": []string{"audit_log:list"}})
		require.Empty(t, g.Errors)
	})
	t.Run("POST errors", func(t *testing.T) {
		for _, name := range []string{"recruiter", "admin", "Recruiter"} {
			w.same(t, "POST", "/admin/roles", admin, map[string]any{"name": name, "permissions": []string{"model:list"}},
				http.StatusBadRequest, "Role already exists")
		}
		bad := map[string]any{"name": "bad", "permissions": []string{"model:list", "nope:x", "fly"}}
		r := w.rest(t, "POST", "/admin/roles", admin, bad)
		apptest.SameAnswer(t, r, w.gql(t, "POST", "/admin/roles", admin, bad), http.StatusBadRequest, "")
		assert.True(t, strings.HasPrefix(r.Detail(), "Invalid permissions: "), r.Detail())
		assert.Contains(t, r.Detail(), "nope:x")
		assert.Contains(t, r.Detail(), "fly")
		r = w.rest(t, "POST", "/admin/roles", admin, map[string]any{"permissions": []string{"model:list"}})
		assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
		// The same name in another organization is another role.
		r = w.rest(t, "POST", "/admin/roles", w.tok["globex admin"], map[string]any{"name": "recruiter", "permissions": []string{"model:list"}})
		assert.Equal(t, http.StatusOK, r.Status)
	})
	t.Run("PUT /admin/roles/{name}", func(t *testing.T) {
		name := w.customRole(t)
		r := w.rest(t, "PUT", "/admin/roles/"+name, admin, map[string]any{"description": "Now more", "permissions": []string{"model:list", "api_key:list"}})
		require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
		keys(t, r.Body, roleKeys...)
		assert.Equal(t, "Now more", r.Str("description"))
		assert.Equal(t, []string{"api_key:list", "model:list"}, strs(r.Get("permissions")))
		r = w.rest(t, "PUT", "/admin/roles/"+name, admin, map[string]any{"description": "Only this"})
		assert.Equal(t, []string{"api_key:list", "model:list"}, strs(r.Get("permissions")), "omitted permissions stay")
		g := w.gql(t, "PUT", "/admin/roles/"+name, admin, map[string]any{"permissions": []string{"model:list"}})
		require.Empty(t, g.Errors)

		w.same(t, "PUT", "/admin/roles/nope", admin, map[string]any{"description": "x"}, http.StatusNotFound, "Role not found")
		w.same(t, "PUT", "/admin/roles/viewer", admin, map[string]any{"description": "x"}, http.StatusBadRequest, "Built-in roles cannot be changed")
		w.same(t, "PUT", "/admin/roles/globex-only", admin, map[string]any{"description": "x"}, http.StatusNotFound, "Role not found")
		r = w.rest(t, "PUT", "/admin/roles/"+name, admin, map[string]any{"permissions": []string{"nope"}})
		assert.Equal(t, http.StatusBadRequest, r.Status)
		assert.Equal(t, "Invalid permissions: nope", r.Detail())
	})
	t.Run("DELETE /admin/roles/{name}", func(t *testing.T) {
		name := w.customRole(t)
		r := w.rest(t, "DELETE", "/admin/roles/"+name, admin, nil)
		assert.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, map[string]any{"message": "Role deleted"}, r.Body)
		assert.NotContains(t, column(w.rest(t, "GET", "/admin/roles", admin, nil).Body, "name"), name)
		g := w.gql(t, "DELETE", "/admin/roles/"+w.customRole(t), admin, nil)
		require.Empty(t, g.Errors)

		w.same(t, "DELETE", "/admin/roles/"+name, admin, nil, http.StatusNotFound, "Role not found")
		w.same(t, "DELETE", "/admin/roles/member", admin, nil, http.StatusBadRequest, "Cannot delete default system roles")
		// In use by a member, then by a pending invitation.
		w.same(t, "DELETE", "/admin/roles/recruiter", admin, nil, http.StatusConflict, "Role is in use by 1 member(s) and 0 pending invitation(s)")
		used := w.customRole(t)
		w.invite(t, "holder@acme.test", used)
		w.same(t, "DELETE", "/admin/roles/"+used, admin, nil, http.StatusConflict, "Role is in use by 0 member(s) and 1 pending invitation(s)")
	})
	t.Run("GET /admin/roles/permissions/list", func(t *testing.T) {
		catalog := []string{"api_key:create", "api_key:list", "api_key:revoke",
			"deployment:create", "deployment:list", "deployment:update", "deployment:delete", "model:access",
			"model:list", "model:add", "model:delete", "member:invite", "member:delete", "member:list",
			"role:create", "role:list", "role:update", "role:delete", "audit_log:list", "organization:view",
			"organization:update", "security:view", "security:update", "billing:view", "billing:update", "sso:manage"}
		r := w.rest(t, "GET", "/admin/roles/permissions/list", admin, nil)
		require.Equal(t, http.StatusOK, r.Status)
		got := strs(r.Body)
		assert.Len(t, got, 26)
		assert.Equal(t, "api_key:create", r.Str("0"))
		assert.Equal(t, catalog, got, "rest.md's catalog order, then sso:manage")
		g := w.gql(t, "GET", "/admin/roles/permissions/list", admin, nil)
		require.Empty(t, g.Errors)
		var data struct{ PermissionCatalog []struct{ Name string } }
		g.Decode(t, &data)
		var names []string
		for _, p := range data.PermissionCatalog {
			names = append(names, p.Name)
		}
		assert.Equal(t, names, got, "the same catalog on both paths")
	})
}
