package rest_test

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/apptest"
)

// The routes of operations/auth.graphql: sign-in, refresh, logout, the caller, switching.

func TestRESTLogin(t *testing.T) {
	w := newWorld(t)
	dev := w.user["developer"]
	pw := apptest.Password(dev.Email)

	t.Run("a JSON body signs in to the only organization", func(t *testing.T) {
		a := tokenOf(t, w.rest(t, "POST", "/auth/login", "", map[string]any{"username": dev.Email, "password": pw}))
		assert.Equal(t, []orgInfo{{ID: w.acme.ID.String(), Name: "Acme", Role: "developer"}}, a.Organizations)
		me := w.rest(t, "GET", "/auth/me", a.AccessToken, nil)
		assert.Equal(t, http.StatusOK, me.Status)
		assert.Equal(t, dev.Email, me.Str("email"))
		g := w.gql(t, "POST", "/auth/login", "", map[string]any{"username": dev.Email, "password": pw})
		require.Empty(t, g.Errors)
		assert.Equal(t, "bearer", g.Str("login.tokenType"))
	})
	t.Run("a form-encoded body too (OAuth2 password form)", func(t *testing.T) {
		a := tokenOf(t, w.rest(t, "POST", "/auth/login", "", url.Values{"username": {dev.Email}, "password": {pw}}))
		assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/me", a.AccessToken, nil).Status)
	})
	t.Run("the e-mail in any case", func(t *testing.T) {
		tokenOf(t, w.rest(t, "POST", "/auth/login", "", map[string]any{"username": strings.ToUpper(dev.Email), "password": pw}))
	})
	t.Run("a wrong password", func(t *testing.T) {
		w.same(t, "POST", "/auth/login", "", map[string]any{"username": dev.Email, "password": "wrong-password"},
			http.StatusUnauthorized, "Incorrect username or password")
	})
	t.Run("an unknown account reads the same", func(t *testing.T) {
		w.same(t, "POST", "/auth/login", "", map[string]any{"username": "nobody@acme.test", "password": pw},
			http.StatusUnauthorized, "Incorrect username or password")
	})
	t.Run("a wrong password, form-encoded", func(t *testing.T) {
		r := w.rest(t, "POST", "/auth/login", "", url.Values{"username": {dev.Email}, "password": {"wrong-password"}})
		assert.Equal(t, http.StatusUnauthorized, r.Status)
		assert.Equal(t, "Incorrect username or password", r.Detail())
	})
	t.Run("no password", func(t *testing.T) {
		r := w.rest(t, "POST", "/auth/login", "", map[string]any{"username": dev.Email})
		assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
		assert.Equal(t, "Field required: password", r.Detail())
	})
}

func TestRESTRefresh(t *testing.T) {
	w := newWorld(t)
	email := w.user["admin"].Email
	a := w.login(t, email)

	// The dashboard: Bearer <refresh token>, no body.
	first := tokenOf(t, w.rest(t, "POST", "/auth/refresh", a.Refresh, nil))
	assert.NotEqual(t, a.Refresh, *first.RefreshToken, "the refresh token rotates")
	assert.Equal(t, []orgInfo{{ID: w.acme.ID.String(), Name: "Acme", Role: "admin"}}, first.Organizations)
	assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/me", first.AccessToken, nil).Status)

	// {"refresh_token": ...} in the body.
	second := tokenOf(t, w.rest(t, "POST", "/auth/refresh", "", map[string]any{"refresh_token": *first.RefreshToken}))
	assert.NotEqual(t, *first.RefreshToken, *second.RefreshToken)

	// A token used twice: 401, on both paths (the GraphQL case on a session of its own).
	reused := w.rest(t, "POST", "/auth/refresh", a.Refresh, nil)
	b := w.login(t, email)
	require.Empty(t, w.gql(t, "POST", "/auth/refresh", b.Refresh, nil).Errors)
	apptest.SameAnswer(t, reused, w.gql(t, "POST", "/auth/refresh", b.Refresh, nil), http.StatusUnauthorized, "Refresh failed")

	// Reuse ends the session: its newest tokens stop working too.
	assert.Equal(t, http.StatusUnauthorized, w.rest(t, "POST", "/auth/refresh", *second.RefreshToken, nil).Status)
	assert.Equal(t, http.StatusUnauthorized, w.rest(t, "GET", "/auth/me", second.AccessToken, nil).Status)

	// Any other failure reads the same.
	c := w.login(t, email)
	for name, rq := range map[string]request{
		"no token":                        {Method: "POST", Path: "/auth/refresh"},
		"an empty body field":             {Method: "POST", Path: "/auth/refresh", Body: map[string]any{"refresh_token": ""}},
		"garbage":                         {Method: "POST", Path: "/auth/refresh", Bearer: "garbage"},
		"an access token":                 {Method: "POST", Path: "/auth/refresh", Bearer: c.Access},
		"garbage in the body":             {Method: "POST", Path: "/auth/refresh", Body: map[string]any{"refresh_token": "garbage"}},
		"a refresh token of a logged-out": {Method: "POST", Path: "/auth/refresh", Bearer: w.loggedOutRefresh(t, email)},
	} {
		t.Run(name, func(t *testing.T) {
			r := w.s.REST(t, rq)
			assert.Equal(t, http.StatusUnauthorized, r.Status)
			assert.Equal(t, "Refresh failed", r.Detail())
		})
	}
	g := w.gql(t, "POST", "/auth/refresh", "", map[string]any{"refresh_token": "garbage"})
	assert.Equal(t, "UNAUTHENTICATED", g.Code())
	assert.Equal(t, "Refresh failed", g.Errors[0].Message)
}

// loggedOutRefresh returns the refresh token of a session that has been logged out.
func (w *world) loggedOutRefresh(t testing.TB, email string) string {
	t.Helper()
	a := w.login(t, email)
	require.Equal(t, http.StatusOK, w.rest(t, "POST", "/auth/logout", a.Access, nil).Status)
	return a.Refresh
}

func TestRESTLogout(t *testing.T) {
	w := newWorld(t)
	email := w.user["member"].Email
	a := w.login(t, email)

	r := w.rest(t, "POST", "/auth/logout", a.Access, nil)
	assert.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, map[string]any{"message": "Successfully logged out"}, r.Body)

	// The session is revoked server-side: its access token is 401 at once, on both paths, and
	// its refresh token fails.
	b := w.login(t, email)
	g := w.gql(t, "POST", "/auth/logout", b.Access, nil)
	require.Empty(t, g.Errors)
	assert.Equal(t, true, g.Get("logout"))
	apptest.SameAnswer(t, w.rest(t, "GET", "/auth/me", a.Access, nil), w.gql(t, "GET", "/auth/me", b.Access, nil),
		http.StatusUnauthorized, "Invalid or expired token")
	assert.Equal(t, http.StatusUnauthorized, w.rest(t, "POST", "/auth/refresh", a.Refresh, nil).Status)

	// Other sessions of the user go on.
	assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/me", w.tok["member"], nil).Status)

	w.same(t, "POST", "/auth/logout", "", nil, http.StatusUnauthorized, "Not authenticated")
}

func TestRESTMeAndPermissions(t *testing.T) {
	w := newWorld(t)
	developer := []string{"api_key:create", "api_key:list", "api_key:revoke", "deployment:create", "deployment:delete",
		"deployment:list", "deployment:update", "member:list", "model:access", "model:add", "model:delete", "model:list",
		"organization:view"}

	t.Run("GET /auth/me", func(t *testing.T) {
		dev := w.user["developer"]
		r := w.rest(t, "GET", "/auth/me", w.tok["developer"], nil)
		require.Equal(t, http.StatusOK, r.Status)
		keys(t, r.Body, meKeys...)
		assert.Equal(t, dev.ID.String(), r.Str("user_id"))
		assert.Equal(t, dev.Email, r.Str("username"))
		assert.Equal(t, dev.Email, r.Str("email"))
		assert.Equal(t, "developer", r.Str("name"))
		assert.Equal(t, []string{"developer"}, strs(r.Get("roles")))
		assert.Equal(t, developer, strs(r.Get("permissions")), "sorted")
		assert.Equal(t, w.acme.ID.String(), r.Str("org_id"))
		stamp(t, r.Get("created_at"))
		assert.Equal(t, true, r.Get("is_active"))
		assert.Equal(t, false, r.Get("totp_enabled"))
		assert.Equal(t, false, r.Get("is_super_admin"))

		g := w.gql(t, "GET", "/auth/me", w.tok["developer"], nil)
		require.Empty(t, g.Errors)
		perms := strs(g.Get("viewer.permissions"))
		sort.Strings(perms)
		assert.Equal(t, perms, strs(r.Get("permissions")), "the same permissions on both paths")
		assert.Equal(t, g.Str("viewer.user.id"), r.Str("user_id"))

		root := w.rest(t, "GET", "/auth/me", w.root.Access, nil)
		assert.Equal(t, true, root.Get("is_super_admin"))
		assert.Equal(t, []string{"admin"}, strs(root.Get("roles")))
		assert.Equal(t, []string{"recruiter"}, strs(w.rest(t, "GET", "/auth/me", w.tok["recruiter"], nil).Get("roles")))
		assert.Equal(t, w.globex.ID.String(), w.rest(t, "GET", "/auth/me", w.tok["globex admin"], nil).Str("org_id"))
	})
	t.Run("GET /auth/permissions", func(t *testing.T) {
		for _, actor := range actors {
			r := w.rest(t, "GET", "/auth/permissions", w.tok[actor], nil)
			require.Equal(t, http.StatusOK, r.Status)
			keys(t, r.Body, "permissions", "allowed_models")
			assert.Equal(t, []any{}, r.Get("allowed_models"))
			g := w.gql(t, "GET", "/auth/permissions", w.tok[actor], nil)
			assert.Equal(t, strs(g.Get("viewer.permissions")), strs(r.Get("permissions")), actor)
		}
		sorted := slices.Clone(recruiterPermissions)
		sort.Strings(sorted)
		got := strs(w.rest(t, "GET", "/auth/permissions", w.tok["recruiter"], nil).Get("permissions"))
		sort.Strings(got)
		assert.Equal(t, sorted, got)
	})
}

func TestRESTMyOrganizations(t *testing.T) {
	w := newWorld(t)
	initech := w.s.CreateOrg(t, "Initech")
	multi := w.s.AddUser(t, "multi@example.test", w.acme, "developer")
	w.s.AddUser(t, multi.Email, w.globex, "viewer")
	w.s.AddUser(t, multi.Email, initech, "member")
	tok := w.login(t, multi.Email).Access

	all := []orgInfo{
		{ID: w.acme.ID.String(), Name: "Acme", Role: "developer"},
		{ID: w.globex.ID.String(), Name: "Globex", Role: "viewer"},
		{ID: initech.ID.String(), Name: "Initech", Role: "member"},
	}
	list := func(t *testing.T, query string) []orgInfo {
		r := w.rest(t, "GET", "/auth/organizations"+query, tok, nil)
		require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
		for _, o := range r.List("") {
			keys(t, o, orgInfoKeys...)
		}
		var out []orgInfo
		r.Decode(t, &out)
		return out
	}
	assert.Equal(t, all, list(t, ""))
	g := w.gql(t, "GET", "/auth/organizations", tok, nil)
	require.Empty(t, g.Errors)
	var data struct {
		Viewer struct {
			Memberships []struct {
				Organization struct{ ID, Name string }
				Role         struct{ Name string }
			}
		}
	}
	g.Decode(t, &data)
	var fromGraphQL []orgInfo
	for _, m := range data.Viewer.Memberships {
		fromGraphQL = append(fromGraphQL, orgInfo{ID: m.Organization.ID, Name: m.Organization.Name, Role: m.Role.Name})
	}
	assert.Equal(t, fromGraphQL, list(t, ""), "the same memberships on both paths")

	assert.Equal(t, all[1:2], list(t, "?skip=1&limit=1"))
	assert.Equal(t, all[2:], list(t, "?skip=2"))
	assert.Equal(t, all[:2], list(t, "?limit=2"))
	assert.Empty(t, list(t, "?skip=3"))
	assert.Equal(t, all, list(t, "?limit=100"))
	for _, q := range []string{"?limit=0", "?limit=101", "?skip=-1", "?limit=abc", "?skip=1.5"} {
		r := w.rest(t, "GET", "/auth/organizations"+q, tok, nil)
		assert.Equal(t, http.StatusUnprocessableEntity, r.Status, q)
	}
}

func TestRESTSwitchOrganization(t *testing.T) {
	w := newWorld(t)
	initech := w.s.CreateOrg(t, "Initech")
	multi := w.s.AddUser(t, "multi@example.test", w.acme, "developer")
	w.s.AddUser(t, multi.Email, w.globex, "viewer")
	pw := apptest.Password(multi.Email)
	tok := w.login(t, multi.Email)
	require.Equal(t, w.acme.ID.String(), tok.OrgID, "the oldest membership first")

	// The GraphQL case first, from a session of its own.
	g := w.gql(t, "POST", "/auth/switch-org", w.login(t, multi.Email).Access, map[string]any{"org_id": w.globex.ID.String()})
	require.Empty(t, g.Errors)
	assert.NotEmpty(t, g.Str("switchOrganization.accessToken"))

	a := tokenOf(t, w.rest(t, "POST", "/auth/switch-org", tok.Access, map[string]any{"org_id": w.globex.ID.String()}))
	assert.ElementsMatch(t, []orgInfo{
		{ID: w.acme.ID.String(), Name: "Acme", Role: "developer"},
		{ID: w.globex.ID.String(), Name: "Globex", Role: "viewer"},
	}, a.Organizations)
	me := w.rest(t, "GET", "/auth/me", a.AccessToken, nil)
	assert.Equal(t, w.globex.ID.String(), me.Str("org_id"))
	assert.Equal(t, []string{"viewer"}, strs(me.Get("roles")))
	assert.NotEqual(t, tok.Refresh, *a.RefreshToken, "new session tokens")

	// It became the default organization: the next sign-in starts there.
	next := tokenOf(t, w.rest(t, "POST", "/auth/login", "", map[string]any{"username": multi.Email, "password": pw}))
	assert.Equal(t, w.globex.ID.String(), w.rest(t, "GET", "/auth/me", next.AccessToken, nil).Str("org_id"))

	// Not a member.
	w.same(t, "POST", "/auth/switch-org", tok.Access, map[string]any{"org_id": initech.ID.String()},
		http.StatusForbidden, "User is not a member of this organization")
	r := w.rest(t, "POST", "/auth/switch-org", tok.Access, map[string]any{})
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
	w.same(t, "POST", "/auth/switch-org", "", map[string]any{"org_id": w.globex.ID.String()}, http.StatusUnauthorized, "Not authenticated")

	// Removed from the default organization: the next sign-in starts in the oldest membership.
	require.Equal(t, http.StatusNoContent, w.rest(t, "DELETE", "/admin/users/"+multi.ID.String(), w.tok["globex admin"], nil).Status)
	again := tokenOf(t, w.rest(t, "POST", "/auth/login", "", map[string]any{"username": multi.Email, "password": pw}))
	assert.Equal(t, w.acme.ID.String(), w.rest(t, "GET", "/auth/me", again.AccessToken, nil).Str("org_id"))
	assert.Equal(t, []orgInfo{{ID: w.acme.ID.String(), Name: "Acme", Role: "developer"}}, again.Organizations)
}
