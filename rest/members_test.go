package rest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/auth"
)

// The routes of operations/members.graphql: the member list, role changes, removal.

func TestRESTUsers(t *testing.T) {
	w := newWorld(t)
	admin := w.tok["admin"]
	everyone := []string{"admin@acme.test", "developer@acme.test", "member@acme.test", "recruiter@acme.test", apptest.RootEmail, "viewer@acme.test"}

	for _, path := range []string{"/admin/users", "/management/users"} {
		t.Run("GET "+path, func(t *testing.T) {
			r := w.rest(t, "GET", path, admin, nil)
			require.Equal(t, http.StatusOK, r.Status)
			for _, u := range r.List("") {
				keys(t, u, userKeys...)
				m := u.(map[string]any)
				assert.Equal(t, w.acme.ID.String(), m["org_id"], "the active org only")
				stamp(t, m["created_at"])
				assert.Equal(t, false, m["totp_enabled"])
			}
			emails := column(r.Body, "email")
			assert.ElementsMatch(t, everyone, emails)
			g := w.gql(t, "GET", path, admin, nil)
			require.Empty(t, g.Errors)
			var data struct {
				Viewer struct {
					Organization struct {
						MemberList []struct{ User struct{ Email string } }
					}
				}
			}
			g.Decode(t, &data)
			var fromGraphQL []string
			for _, m := range data.Viewer.Organization.MemberList {
				fromGraphQL = append(fromGraphQL, m.User.Email)
			}
			assert.Equal(t, fromGraphQL, emails, "the same members in the same order on both paths")
			roles := map[string]string{}
			for _, u := range r.List("") {
				m := u.(map[string]any)
				roles[m["email"].(string)] = m["role"].(string)
			}
			assert.Equal(t, "recruiter", roles["recruiter@acme.test"])
			assert.Equal(t, "viewer", roles["viewer@acme.test"])

			assert.Equal(t, emails[1:3], column(w.rest(t, "GET", path+"?skip=1&limit=2", admin, nil).Body, "email"))
			assert.Equal(t, emails[5:], column(w.rest(t, "GET", path+"?skip=5", admin, nil).Body, "email"))
			assert.Equal(t, []string{"developer@acme.test"}, column(w.rest(t, "GET", path+"?search=DEVEL", admin, nil).Body, "email"))
			assert.Equal(t, []string{"member@acme.test"}, column(w.rest(t, "GET", path+"?role=member", admin, nil).Body, "email"))
			assert.Equal(t, []string{"recruiter@acme.test"}, column(w.rest(t, "GET", path+"?role=recruiter&search=acme", admin, nil).Body, "email"))
			assert.Empty(t, w.rest(t, "GET", path+"?search=globex", admin, nil).List(""))
			for _, q := range []string{"?limit=0", "?limit=101", "?skip=-1", "?limit=x"} {
				assert.Equal(t, http.StatusUnprocessableEntity, w.rest(t, "GET", path+q, admin, nil).Status, q)
			}
			assert.Equal(t, http.StatusOK, w.rest(t, "GET", path+"?limit=100", admin, nil).Status)
		})
	}

	t.Run("PUT /admin/users/{user_id}/role", func(t *testing.T) {
		u := w.fresh(t, "viewer")
		r := w.rest(t, "PUT", "/admin/users/"+u.ID.String()+"/role", admin, map[string]any{"role": "developer"})
		assert.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, map[string]any{"message": "User role updated"}, r.Body)
		list := w.rest(t, "GET", "/admin/users?search="+url.QueryEscape(u.Email), admin, nil)
		assert.Equal(t, "developer", list.Str("0.role"))
		g := w.gql(t, "PUT", "/admin/users/"+w.fresh(t, "viewer").ID.String()+"/role", admin, map[string]any{"role": "developer"})
		require.Empty(t, g.Errors)
		// A custom role; a name in any case.
		r = w.rest(t, "PUT", "/admin/users/"+u.ID.String()+"/role", admin, map[string]any{"role": "Recruiter"})
		assert.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, "recruiter", w.rest(t, "GET", "/admin/users?search="+url.QueryEscape(u.Email), admin, nil).Str("0.role"))
	})
	t.Run("an unknown role", func(t *testing.T) {
		u := w.fresh(t, "viewer")
		w.same(t, "PUT", "/admin/users/"+u.ID.String()+"/role", admin, map[string]any{"role": "x"}, http.StatusBadRequest, "Role 'x' does not exist")
		r := w.rest(t, "PUT", "/admin/users/"+u.ID.String()+"/role", admin, map[string]any{"role": "globex-only"})
		assert.Equal(t, http.StatusBadRequest, r.Status, "another org's custom role does not exist here")
		assert.Equal(t, "Role 'globex-only' does not exist", r.Detail())
	})
	t.Run("another org's user", func(t *testing.T) {
		other := w.user["globex admin"].ID
		w.same(t, "PUT", "/admin/users/"+other.String()+"/role", admin, map[string]any{"role": "viewer"},
			http.StatusNotFound, "User not found in this organization")
		w.same(t, "DELETE", "/admin/users/"+other.String(), admin, nil, http.StatusNotFound, "User not found in this organization")
	})
	t.Run("one's own role", func(t *testing.T) {
		w.same(t, "PUT", "/admin/users/"+w.user["admin"].ID.String()+"/role", admin, map[string]any{"role": "viewer"},
			http.StatusForbidden, "You cannot change your own role")
	})
	t.Run("a role above one's own", func(t *testing.T) {
		u := w.fresh(t, "viewer")
		// A custom role with role:update but less than admin cannot grant admin.
		_, err := w.s.App.Client().Role.Create().SetOrganizationID(w.acme.ID).SetName("people-ops").
			SetPermissions([]string{"role:update", "member:list", "api_key:list", "deployment:list", "model:access", "model:list", "organization:view"}).
			Save(apptest.SystemContext())
		require.NoError(t, err)
		ops := w.fresh(t, "people-ops")
		opsTok := w.login(t, ops.Email).Access
		r := w.rest(t, "PUT", "/admin/users/"+u.ID.String()+"/role", opsTok, map[string]any{"role": "admin"})
		g := w.gql(t, "PUT", "/admin/users/"+u.ID.String()+"/role", opsTok, map[string]any{"role": "admin"})
		apptest.SameAnswer(t, r, g, http.StatusForbidden, "")
		assert.True(t, strings.HasPrefix(r.Detail(), "Cannot grant permissions you do not have: "), r.Detail())
	})
	t.Run("no role in the body", func(t *testing.T) {
		u := w.fresh(t, "viewer")
		r := w.rest(t, "PUT", "/admin/users/"+u.ID.String()+"/role", admin, map[string]any{})
		assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
		assert.Equal(t, "Field required: role", r.Detail())
	})
	t.Run("DELETE /admin/users/{user_id}", func(t *testing.T) {
		u := w.fresh(t, "member")
		tok := w.login(t, u.Email)
		require.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/me", tok.Access, nil).Status)
		r := w.rest(t, "DELETE", "/admin/users/"+u.ID.String(), admin, nil)
		assert.Equal(t, http.StatusNoContent, r.Status)
		assert.Empty(t, r.Raw)
		w.same(t, "GET", "/auth/me", tok.Access, nil, http.StatusUnauthorized, "")
		assert.Equal(t, http.StatusUnauthorized, w.rest(t, "POST", "/auth/refresh", tok.Refresh, nil).Status)
		assert.NotContains(t, column(w.rest(t, "GET", "/admin/users", admin, nil).Body, "email"), u.Email)
		// The account stays.
		exists, err := w.s.App.Client().User.Get(apptest.SystemContext(), u.ID)
		require.NoError(t, err)
		assert.Equal(t, u.Email, exists.Email)
		// Removed already: not found.
		w.same(t, "DELETE", "/admin/users/"+u.ID.String(), admin, nil, http.StatusNotFound, "User not found in this organization")
		v := w.fresh(t, "member")
		g := w.gql(t, "DELETE", "/admin/users/"+v.ID.String(), admin, nil)
		require.Empty(t, g.Errors)
		assert.Equal(t, true, g.Get("removeMember"))
	})
	t.Run("the last admin", func(t *testing.T) {
		solo := w.s.CreateOrg(t, "Solo")
		_, err := w.s.App.Client().Role.Create().SetOrganizationID(solo.ID).SetName("everything").
			SetPermissions(auth.AllPermissions()).Save(apptest.SystemContext())
		require.NoError(t, err)
		only := w.s.AddUser(t, "only@solo.test", solo, "admin")
		boss := w.s.AddUser(t, "boss@solo.test", solo, "everything")
		bossTok := w.login(t, boss.Email).Access
		w.same(t, "PUT", "/admin/users/"+only.ID.String()+"/role", bossTok, map[string]any{"role": "member"},
			http.StatusConflict, "Organization must keep at least one admin")
		w.same(t, "DELETE", "/admin/users/"+only.ID.String(), bossTok, nil, http.StatusConflict, "Organization must keep at least one admin")
		assert.Equal(t, "admin", w.rest(t, "GET", "/admin/users?search=only", bossTok, nil).Str("0.role"))
	})
}
