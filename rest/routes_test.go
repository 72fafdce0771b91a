package rest_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/rest"
	"github.com/inferiallm/orgserver/server/apptest"
)

// The whole table: every route by every role, and every route under /api.

func TestRESTPermissionMatrix(t *testing.T) {
	w := newWorld(t)
	none := func() map[string]any { return nil }
	get := func(path string) func(*testing.T, string) *resp {
		return func(t *testing.T, tok string) *resp { return w.rest(t, "GET", path, tok, nil) }
	}
	query := func(q string, vars func() map[string]any) func(*testing.T, string) *apptest.Response {
		return func(t *testing.T, tok string) *apptest.Response { return w.gql(t, tok, q, vars()) }
	}
	allowed := func(status int, actors ...string) map[string]int {
		m := map[string]int{}
		for _, a := range actors {
			m[a] = status
		}
		return m
	}
	everyone := allowed(200, actors...)
	type op struct {
		name string
		// perm is what a 403 names ("" for routes every signed-in caller may use).
		perm string
		rest func(t *testing.T, tok string) *resp
		gql  func(t *testing.T, tok string) *apptest.Response
		// want is the status by actor; a missing actor gets 403, nobody always 401.
		want map[string]int
	}
	ops := []op{
		{"GET /admin/users", "member:list", get("/admin/users"), query(gqlUsers, none),
			allowed(200, "admin", "developer", "recruiter", "globex admin")},
		{"GET /management/users", "member:list", get("/management/users"), query(gqlUsers, none),
			allowed(200, "admin", "developer", "recruiter", "globex admin")},
		{"PUT /admin/users/{user_id}/role", "role:update",
			func(t *testing.T, tok string) *resp {
				return w.rest(t, "PUT", "/admin/users/"+w.fresh(t, "viewer").ID.String()+"/role", tok, map[string]any{"role": "member"})
			},
			func(t *testing.T, tok string) *apptest.Response {
				return w.gql(t, tok, gqlChangeRole, map[string]any{"u": w.fresh(t, "viewer").ID, "r": "member"})
			},
			map[string]int{"admin": 200, "globex admin": 404}},
		{"DELETE /admin/users/{user_id}", "member:delete",
			func(t *testing.T, tok string) *resp {
				return w.rest(t, "DELETE", "/admin/users/"+w.fresh(t, "viewer").ID.String(), tok, nil)
			},
			func(t *testing.T, tok string) *apptest.Response {
				return w.gql(t, tok, gqlRemove, map[string]any{"u": w.fresh(t, "viewer").ID})
			},
			map[string]int{"admin": 204, "globex admin": 404}},
		{"POST /management/invitations", "member:invite",
			func(t *testing.T, tok string) *resp {
				return w.rest(t, "POST", "/management/invitations", tok, map[string]any{"email": w.unique("new") + "@acme.test", "role": "viewer"})
			},
			query(gqlInvite, func() map[string]any { return map[string]any{"e": w.unique("new") + "@acme.test", "r": "viewer"} }),
			allowed(201, "admin", "recruiter", "globex admin")},
		{"POST /auth/register-invite (Bearer)", "member:invite",
			func(t *testing.T, tok string) *resp {
				return w.rest(t, "POST", "/auth/register-invite", tok, map[string]any{"email": w.unique("new") + "@acme.test", "role": "viewer"})
			},
			query(gqlInvite, func() map[string]any { return map[string]any{"e": w.unique("new") + "@acme.test", "r": "viewer"} }),
			allowed(201, "admin", "recruiter", "globex admin")},
		{"GET /management/invitations", "member:list", get("/management/invitations"), query(gqlInvitations, none),
			allowed(200, "admin", "developer", "recruiter", "globex admin")},
		{"POST /management/invitations/{id}/resend", "member:invite",
			func(t *testing.T, tok string) *resp {
				id, _ := w.invite(t, w.unique("inv")+"@acme.test", "viewer")
				return w.rest(t, "POST", "/management/invitations/"+id+"/resend", tok, nil)
			},
			func(t *testing.T, tok string) *apptest.Response {
				id, _ := w.invite(t, w.unique("inv")+"@acme.test", "viewer")
				return w.gql(t, tok, gqlResend, map[string]any{"i": id})
			},
			map[string]int{"admin": 200, "recruiter": 200, "globex admin": 404}},
		{"DELETE /management/invitations/{id}", "member:delete",
			func(t *testing.T, tok string) *resp {
				id, _ := w.invite(t, w.unique("inv")+"@acme.test", "viewer")
				return w.rest(t, "DELETE", "/management/invitations/"+id, tok, nil)
			},
			func(t *testing.T, tok string) *apptest.Response {
				id, _ := w.invite(t, w.unique("inv")+"@acme.test", "viewer")
				return w.gql(t, tok, gqlRevoke, map[string]any{"i": id})
			},
			map[string]int{"admin": 204, "globex admin": 404}},
		{"POST /management/organizations", "super admin",
			func(t *testing.T, tok string) *resp {
				return w.rest(t, "POST", "/management/organizations", tok, map[string]any{"name": w.unique("Org ")})
			},
			query(gqlCreateOrg, func() map[string]any { return map[string]any{"n": w.unique("Org ")} }),
			map[string]int{}},
		{"GET /management/organizations/me", "organization:view", get("/management/organizations/me"), query(gqlMyOrg, none), everyone},
		{"PATCH /management/organizations/me", "organization:update",
			func(t *testing.T, tok string) *resp {
				return w.rest(t, "PATCH", "/management/organizations/me", tok, map[string]any{"log_payloads": true})
			},
			query(gqlUpdateOrg, func() map[string]any {
				return map[string]any{"in": map[string]any{"settings": map[string]any{"logPayloads": true}}}
			}),
			allowed(200, "admin", "globex admin")},
		{"GET /admin/roles", "role:list", get("/admin/roles"), query(gqlRoles, none), allowed(200, "admin", "recruiter", "globex admin")},
		{"POST /admin/roles", "role:create",
			func(t *testing.T, tok string) *resp {
				return w.rest(t, "POST", "/admin/roles", tok, map[string]any{"name": w.unique("r"), "permissions": []string{"model:list"}})
			},
			query(gqlCreateRole, func() map[string]any { return map[string]any{"n": w.unique("r"), "p": []string{"model:list"}} }),
			allowed(200, "admin", "globex admin")},
		{"PUT /admin/roles/{name}", "role:update",
			func(t *testing.T, tok string) *resp {
				return w.rest(t, "PUT", "/admin/roles/"+w.customRole(t), tok, map[string]any{"description": "changed"})
			},
			func(t *testing.T, tok string) *apptest.Response {
				return w.gql(t, tok, gqlUpdateRole, map[string]any{"n": w.customRole(t), "d": "changed"})
			},
			map[string]int{"admin": 200, "globex admin": 404}},
		{"DELETE /admin/roles/{name}", "role:delete",
			func(t *testing.T, tok string) *resp {
				return w.rest(t, "DELETE", "/admin/roles/"+w.customRole(t), tok, nil)
			},
			func(t *testing.T, tok string) *apptest.Response {
				return w.gql(t, tok, gqlDeleteRole, map[string]any{"n": w.customRole(t)})
			},
			map[string]int{"admin": 200, "globex admin": 404}},
		{"GET /admin/roles/permissions/list", "role:list", get("/admin/roles/permissions/list"), query(gqlCatalog, none),
			allowed(200, "admin", "recruiter", "globex admin")},
		{"GET /audit/logs", "audit_log:list", get("/audit/logs"), query(gqlAudit, none), allowed(200, "admin", "globex admin")},
		{"GET /auth/me", "", get("/auth/me"), query(gqlMe, none), everyone},
		{"GET /auth/permissions", "", get("/auth/permissions"), query(`{ viewer { permissions } }`, none), everyone},
		{"GET /auth/organizations", "", get("/auth/organizations"), query(gqlMemberships, none), everyone},
		{"GET /auth/sessions", "", get("/auth/sessions"), query(gqlSessions, none), everyone},
		{"POST /auth/totp/setup", "",
			func(t *testing.T, tok string) *resp { return w.rest(t, "POST", "/auth/totp/setup", tok, nil) },
			query(gqlBeginTOTP, none), everyone},
		{"DELETE /auth/sessions", "",
			func(t *testing.T, tok string) *resp { return w.rest(t, "DELETE", "/auth/sessions", tok, nil) },
			query(gqlRevokeOthers, none), everyone},
	}
	for _, o := range ops {
		for _, actor := range append([]string{"nobody"}, actors...) {
			want, ok := o.want[actor]
			if !ok {
				want = http.StatusForbidden
			}
			detail := ""
			switch {
			case actor == "nobody":
				want, detail = http.StatusUnauthorized, "Not authenticated"
			case want == http.StatusForbidden:
				detail = "Permission denied: " + o.perm + " required"
			}
			t.Run(o.name+"/"+actor, func(t *testing.T) {
				tok := w.tok[actor]
				agree(t, o.rest(t, tok), o.gql(t, tok), want, detail)
			})
		}
	}
}

// getPaths fills the path parameters of every GET route.
func getPaths(token string) map[string]string {
	return map[string]string{
		"/auth/me":                      "/auth/me",
		"/auth/permissions":             "/auth/permissions",
		"/auth/organizations":           "/auth/organizations",
		"/auth/invitations/{token}":     "/auth/invitations/" + token,
		"/auth/accept-invite":           "/auth/accept-invite?token=" + url.QueryEscape(token),
		"/auth/sessions":                "/auth/sessions",
		"/admin/users":                  "/admin/users",
		"/management/users":             "/management/users",
		"/management/invitations":       "/management/invitations",
		"/management/organizations/me":  "/management/organizations/me",
		"/admin/roles":                  "/admin/roles",
		"/admin/roles/permissions/list": "/admin/roles/permissions/list",
		"/audit/logs":                   "/audit/logs",
	}
}

func TestRESTUnderTheAPIPrefix(t *testing.T) {
	w := newWorld(t)
	admin := w.tok["admin"]
	_, token := w.invite(t, "api@acme.test", "viewer")

	t.Run("every GET route", func(t *testing.T) {
		gql := graph.NewServer(w.s.App.Service())
		h, err := rest.New(gql.Executor(), gql.Schema(), rest.Options{})
		require.NoError(t, err)
		paths := getPaths(token)
		var routes []string
		for _, r := range h.Routes() {
			if r.Method() == "GET" {
				routes = append(routes, r.Path())
			}
		}
		var want []string
		for p := range paths {
			want = append(want, p)
		}
		assert.ElementsMatch(t, want, routes, "a GET route this test does not know")
		for _, route := range routes {
			path, ok := paths[route]
			if !ok {
				continue
			}
			t.Run(route, func(t *testing.T) {
				root := w.rest(t, "GET", path, admin, nil)
				api := w.rest(t, "GET", "/api"+path, admin, nil)
				assert.Equal(t, http.StatusOK, root.Status, "body %s", root.Raw)
				assert.Equal(t, http.StatusOK, api.Status, "body %s", api.Raw)
				assert.Equal(t, root.Header.Get("Content-Type"), api.Header.Get("Content-Type"))
				if root.Body != nil {
					assert.Equal(t, fmt.Sprintf("%T", root.Body), fmt.Sprintf("%T", api.Body))
				}
				public := route == "/auth/invitations/{token}" || route == "/auth/accept-invite"
				if public {
					assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/api"+path, "garbage", nil).Status, "public")
				} else {
					assert.Equal(t, http.StatusUnauthorized, w.rest(t, "GET", "/api"+path, "garbage", nil).Status, "a bad token")
				}
			})
		}
	})
	t.Run("a few more", func(t *testing.T) {
		email := w.user["developer"].Email
		a := tokenOf(t, w.rest(t, "POST", "/api/auth/login", "", map[string]any{"username": email, "password": apptest.Password(email)}))
		b := tokenOf(t, w.rest(t, "POST", "/api/auth/login", "", url.Values{"username": {email}, "password": {apptest.Password(email)}}))
		refreshed := tokenOf(t, w.rest(t, "POST", "/api/auth/refresh", *a.RefreshToken, nil))
		assert.NotEqual(t, *a.RefreshToken, *refreshed.RefreshToken)
		assert.Equal(t, http.StatusUnauthorized, w.rest(t, "POST", "/api/auth/refresh", *a.RefreshToken, nil).Status)
		assert.Equal(t, http.StatusOK, w.rest(t, "POST", "/api/auth/logout", b.AccessToken, nil).Status)
		assert.Equal(t, http.StatusUnauthorized, w.rest(t, "GET", "/api/auth/me", b.AccessToken, nil).Status)

		u := w.fresh(t, "viewer")
		r := w.rest(t, "PUT", "/api/admin/users/"+u.ID.String()+"/role", admin, map[string]any{"role": "member"})
		assert.Equal(t, map[string]any{"message": "User role updated"}, r.Body)
		assert.Equal(t, http.StatusNoContent, w.rest(t, "DELETE", "/api/admin/users/"+u.ID.String(), admin, nil).Status)
		r = w.rest(t, "POST", "/api/management/invitations", admin, map[string]any{"email": "api2@acme.test", "role": "viewer"})
		inviteOf(t, r, http.StatusCreated)
		id := r.Str("id")
		assert.Equal(t, http.StatusOK, w.rest(t, "POST", "/api/management/invitations/"+id+"/resend", admin, nil).Status)
		assert.Equal(t, http.StatusNoContent, w.rest(t, "DELETE", "/api/management/invitations/"+id, admin, nil).Status)
		r = w.rest(t, "POST", "/api/auth/register-invite", admin, map[string]any{"email": "api3@acme.test", "role": "viewer"})
		inviteOf(t, r, http.StatusCreated)
		tokenOf(t, w.rest(t, "POST", "/api/auth/accept-invite", "", map[string]any{"token": r.Str("token"), "password": "a-long-password", "name": "API"}))
		assert.Equal(t, http.StatusOK, w.rest(t, "POST", "/api/admin/roles", admin, map[string]any{"name": "via-api", "permissions": []string{"model:list"}}).Status)
		assert.Equal(t, http.StatusOK, w.rest(t, "PUT", "/api/admin/roles/via-api", admin, map[string]any{"description": "d"}).Status)
		assert.Equal(t, map[string]any{"message": "Role deleted"}, w.rest(t, "DELETE", "/api/admin/roles/via-api", admin, nil).Body)
		assert.Equal(t, http.StatusOK, w.rest(t, "PATCH", "/api/management/organizations/me", admin, map[string]any{"log_payloads": true}).Status)
		assert.Equal(t, http.StatusCreated, w.rest(t, "POST", "/api/management/organizations", w.root.Access, map[string]any{"name": "Api Org"}).Status)
		assert.Equal(t, http.StatusOK, w.rest(t, "POST", "/api/auth/switch-org", w.root.Access, map[string]any{"org_id": w.acme.ID.String()}).Status)
		assert.Equal(t, http.StatusOK, w.rest(t, "POST", "/api/auth/totp/setup", admin, nil).Status)
		assert.Equal(t, http.StatusOK, w.rest(t, "DELETE", "/api/auth/sessions", admin, nil).Status)
		assert.Equal(t, http.StatusForbidden, w.rest(t, "GET", "/api/admin/users", w.tok["viewer"], nil).Status)
	})
}
