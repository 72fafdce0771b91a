package rest_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/rest"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/auth"
)

// The whole table: every route by every role, and every route under /api.

func TestRESTPermissionMatrix(t *testing.T) {
	w := newWorld(t)
	get := func(path string) func(*testing.T) request {
		return func(*testing.T) request { return request{Method: "GET", Path: path} }
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
		// rq makes the case's request, anew for each path: REST is sent it, GraphQL its twin.
		rq func(t *testing.T) request
		// twin is the GraphQL side of a route that picks its operation at run time.
		twin func(t *testing.T, tok string) *apptest.Response
		// want is the status by actor; a missing actor gets 403, nobody always 401.
		want map[string]int
	}
	ops := []op{
		{"GET /admin/users", "member:list", get("/admin/users"), nil,
			allowed(200, "admin", "developer", "recruiter", "globex admin")},
		{"GET /management/users", "member:list", get("/management/users"), nil,
			allowed(200, "admin", "developer", "recruiter", "globex admin")},
		{"PUT /admin/users/{user_id}/role", "role:update",
			func(t *testing.T) request {
				return request{Method: "PUT", Path: "/admin/users/" + w.fresh(t, "viewer").ID.String() + "/role", Body: map[string]any{"role": "member"}}
			}, nil,
			map[string]int{"admin": 200, "globex admin": 404}},
		{"DELETE /admin/users/{user_id}", "member:delete",
			func(t *testing.T) request {
				return request{Method: "DELETE", Path: "/admin/users/" + w.fresh(t, "viewer").ID.String()}
			}, nil,
			map[string]int{"admin": 204, "globex admin": 404}},
		{"POST /management/invitations", "member:invite",
			func(*testing.T) request {
				return request{Method: "POST", Path: "/management/invitations", Body: map[string]any{"email": w.unique("new") + "@acme.test", "role": "viewer"}}
			}, nil,
			allowed(201, "admin", "recruiter", "globex admin")},
		{"POST /auth/register-invite (Bearer)", "member:invite",
			func(*testing.T) request {
				return request{Method: "POST", Path: "/auth/register-invite", Body: map[string]any{"email": w.unique("new") + "@acme.test", "role": "viewer"}}
			},
			func(t *testing.T, tok string) *apptest.Response {
				return w.op(t, tok, "InviteMember", map[string]any{"email": w.unique("new") + "@acme.test", "role": "viewer"})
			},
			allowed(201, "admin", "recruiter", "globex admin")},
		{"GET /management/invitations", "member:list", get("/management/invitations"), nil,
			allowed(200, "admin", "developer", "recruiter", "globex admin")},
		{"POST /management/invitations/{id}/resend", "member:invite",
			func(t *testing.T) request {
				id, _ := w.invite(t, w.unique("inv")+"@acme.test", "viewer")
				return request{Method: "POST", Path: "/management/invitations/" + id + "/resend"}
			}, nil,
			map[string]int{"admin": 200, "recruiter": 200, "globex admin": 404}},
		{"DELETE /management/invitations/{id}", "member:delete",
			func(t *testing.T) request {
				id, _ := w.invite(t, w.unique("inv")+"@acme.test", "viewer")
				return request{Method: "DELETE", Path: "/management/invitations/" + id}
			}, nil,
			map[string]int{"admin": 204, "globex admin": 404}},
		{"POST /management/organizations", "super admin",
			func(*testing.T) request {
				return request{Method: "POST", Path: "/management/organizations", Body: map[string]any{"name": w.unique("Org ")}}
			}, nil,
			map[string]int{}},
		{"GET /management/organizations/me", "organization:view", get("/management/organizations/me"), nil, everyone},
		{"PATCH /management/organizations/me", "organization:update",
			func(*testing.T) request {
				return request{Method: "PATCH", Path: "/management/organizations/me", Body: map[string]any{"log_payloads": true}}
			}, nil,
			allowed(200, "admin", "globex admin")},
		{"GET /admin/roles", "role:list", get("/admin/roles"), nil, allowed(200, "admin", "recruiter", "globex admin")},
		{"POST /admin/roles", "role:create",
			func(*testing.T) request {
				return request{Method: "POST", Path: "/admin/roles", Body: map[string]any{"name": w.unique("r"), "permissions": []string{"model:list"}}}
			}, nil,
			allowed(200, "admin", "globex admin")},
		{"PUT /admin/roles/{name}", "role:update",
			func(t *testing.T) request {
				return request{Method: "PUT", Path: "/admin/roles/" + w.customRole(t), Body: map[string]any{"description": "changed"}}
			}, nil,
			map[string]int{"admin": 200, "globex admin": 404}},
		{"DELETE /admin/roles/{name}", "role:delete",
			func(t *testing.T) request { return request{Method: "DELETE", Path: "/admin/roles/" + w.customRole(t)} }, nil,
			map[string]int{"admin": 200, "globex admin": 404}},
		{"GET /admin/roles/permissions/list", "role:list", get("/admin/roles/permissions/list"), nil,
			allowed(200, "admin", "recruiter", "globex admin")},
		{"GET /audit/logs", "audit_log:list", get("/audit/logs"), nil, allowed(200, "admin", "globex admin")},
		{"GET /management/config/{policy_type}", "organization:view", get("/management/config/quota"), nil, everyone},
		{"GET /management/config/quota/usage", "organization:view", get("/management/config/quota/usage"), nil, everyone},
		{"POST /management/config", "organization:update",
			func(*testing.T) request {
				return request{Method: "POST", Path: "/management/config", Body: map[string]any{"policy_type": "quota", "config_json": map[string]any{"request_limit": 10}}}
			}, nil,
			allowed(200, "admin", "globex admin")},
		{"GET /auth/me", "", get("/auth/me"), nil, everyone},
		{"GET /auth/permissions", "", get("/auth/permissions"), nil, everyone},
		{"GET /auth/organizations", "", get("/auth/organizations"), nil, everyone},
		{"GET /auth/sessions", "", get("/auth/sessions"), nil, everyone},
		{"POST /auth/totp/setup", "", func(*testing.T) request { return request{Method: "POST", Path: "/auth/totp/setup"} }, nil, everyone},
		{"DELETE /auth/sessions", "", func(*testing.T) request { return request{Method: "DELETE", Path: "/auth/sessions"} }, nil, everyone},
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
				rq := o.rq(t)
				rq.Bearer = tok
				r := w.s.REST(t, rq)
				var g *apptest.Response
				if o.twin != nil {
					g = o.twin(t, tok)
				} else {
					rq = o.rq(t)
					rq.Bearer = tok
					g = w.s.Twin(t, rq)
				}
				apptest.SameAnswer(t, r, g, want, detail)
			})
		}
	}
}

// getPaths fills the path parameters of every GET route.
func getPaths(token, resetToken string) map[string]string {
	return map[string]string{
		"/auth/me":                                     "/auth/me",
		"/auth/permissions":                            "/auth/permissions",
		"/auth/organizations":                          "/auth/organizations",
		"/auth/invitations/{token}":                    "/auth/invitations/" + token,
		"/auth/accept-invite":                          "/auth/accept-invite?token=" + url.QueryEscape(token),
		"/auth/reset-password":                         "/auth/reset-password?token=" + url.QueryEscape(resetToken),
		"/auth/sessions":                               "/auth/sessions",
		"/admin/users":                                 "/admin/users",
		"/management/users":                            "/management/users",
		"/management/invitations":                      "/management/invitations",
		"/management/organizations/me":                 "/management/organizations/me",
		"/admin/roles":                                 "/admin/roles",
		"/admin/roles/permissions/list":                "/admin/roles/permissions/list",
		"/audit/logs":                                  "/audit/logs",
		"/management/config/{policy_type}":             "/management/config/quota",
		"/management/config/quota/usage":               "/management/config/quota/usage",
		"/management/api-keys":                         "/management/api-keys",
		"/auth/sso/identities":                         "/auth/sso/identities",
		"/management/organizations/me/sso/connections": "/management/organizations/me/sso/connections",
		"/management/organizations/me/sso/enforcement": "/management/organizations/me/sso/enforcement",
		"/management/organizations/me/domains":         "/management/organizations/me/domains",
	}
}

func TestRESTUnderTheAPIPrefix(t *testing.T) {
	w := newWorld(t)
	admin := w.tok["admin"]
	_, token := w.invite(t, "api@acme.test", "viewer")
	const resetToken = "a-reset-token-of-the-viewer"
	require.NoError(t, w.s.App.Client().User.UpdateOneID(w.user["viewer"].ID).
		SetPasswordResetHash(auth.HashToken(resetToken)).SetPasswordResetExpiresAt(time.Now().Add(time.Hour)).
		Exec(apptest.SystemContext()))

	t.Run("every GET route", func(t *testing.T) {
		gql := graph.NewServer(w.s.App.Service())
		h, err := rest.New(gql.Executor(), gql.Schema(), rest.Options{})
		require.NoError(t, err)
		paths := getPaths(token, resetToken)
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
				public := route == "/auth/invitations/{token}" || route == "/auth/accept-invite" || route == "/auth/reset-password"
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
		r = w.rest(t, "POST", "/api/management/config", admin, map[string]any{"policy_type": "quota", "config_json": map[string]any{"token_limit": 5}})
		assert.Equal(t, map[string]any{"status": "success", "policy_type": "quota"}, r.Body)
	})
}
