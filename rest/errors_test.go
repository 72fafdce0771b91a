package rest_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

// The errors every REST route shares and the headers on every response: 401 for any token that
// is not a live access token, CORS on errors too, 403/404/409/413/422/429 in their shapes, JSON
// 404 and 405, request ids, the 2FA requirement, and never a 500 for anything a client sends.

// forge returns tok with its claims changed by edit, signed with key ("" keeps the original
// signature, "none" signs with alg none).
func forge(t testing.TB, tok string, key string, edit func(jwt.MapClaims)) string {
	t.Helper()
	claims := jwt.MapClaims{}
	_, _, err := jwt.NewParser().ParseUnverified(tok, claims)
	require.NoError(t, err)
	edit(claims)
	switch key {
	case "":
		parts := strings.Split(tok, ".")
		payload, err := json.Marshal(claims)
		require.NoError(t, err)
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
	case "none":
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
		require.NoError(t, err)
		return s
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
	require.NoError(t, err)
	return s
}

func TestRESTUnauthorized(t *testing.T) {
	w := newWorld(t)
	const protected = "/admin/users"
	fresh := w.login(t, w.user["developer"].Email)
	valid := fresh.Access
	require.Equal(t, http.StatusOK, w.rest(t, "GET", protected, valid, nil).Status, "the token works before it is tampered with")
	keep := func(jwt.MapClaims) {}

	cases := []struct {
		name, token, detail string
	}{
		{"no token", "", "Not authenticated"},
		{"not a JWT", "not-a-jwt", "Invalid or expired token"},
		{"three dots", "a.b.c", "Invalid or expired token"},
		{"a refresh token", fresh.Refresh, "Invalid or expired token"},
		{"signed with another key", forge(t, valid, "another-key-of-32-bytes-or-more!!", keep), "Invalid or expired token"},
		{"another org in the claims, the old signature", forge(t, valid, "", func(c jwt.MapClaims) { c["org_id"] = w.globex.ID.String() }), "Invalid or expired token"},
		{"a later expiry, the old signature", forge(t, valid, "", func(c jwt.MapClaims) { c["exp"] = w.clock.Now().Add(time.Hour).Unix() }), "Invalid or expired token"},
		{"alg none", forge(t, valid, "none", keep), "Invalid or expired token"},
		{"no signature", strings.Join(strings.Split(valid, ".")[:2], ".") + ".", "Invalid or expired token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := w.rest(t, "GET", protected, c.token, nil)
			apptest.SameAnswer(t, r, w.gql(t, "GET", protected, c.token, nil), http.StatusUnauthorized, c.detail)
			keys(t, r.Body, "detail")
			// The same on a mutation route, and under /api.
			assert.Equal(t, http.StatusUnauthorized, w.rest(t, "PUT", "/api/admin/users/"+w.user["viewer"].ID.String()+"/role", c.token, map[string]any{"role": "member"}).Status)
		})
	}
	for name, header := range map[string]string{
		"another scheme":      "Basic " + base64.StdEncoding.EncodeToString([]byte("admin@acme.test:x")),
		"Bearer without one":  "Bearer ",
		"the token alone":     valid,
		"a Bearer of spaces":  "Bearer     ",
		"a token in a cookie": "",
	} {
		t.Run(name, func(t *testing.T) {
			rq := request{Method: "GET", Path: protected, Header: map[string]string{"Authorization": header}}
			if header == "" {
				rq.Header = map[string]string{"Cookie": "access_token=" + valid}
			}
			r := w.s.REST(t, rq)
			assert.Equal(t, http.StatusUnauthorized, r.Status)
			assert.Equal(t, "Not authenticated", r.Detail())
		})
	}
	t.Run("expired", func(t *testing.T) {
		tok := w.login(t, w.user["viewer"].Email).Access
		require.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/me", tok, nil).Status)
		w.clock.Advance(15*time.Minute + time.Second)
		r := w.rest(t, "GET", "/auth/me", tok, nil)
		apptest.SameAnswer(t, r, w.gql(t, "GET", "/auth/me", tok, nil), http.StatusUnauthorized, "Invalid or expired token")
		keys(t, r.Body, "detail")
		assert.Equal(t, http.StatusUnauthorized, w.rest(t, "GET", protected, tok, nil).Status)
	})
}

func TestRESTCORS(t *testing.T) {
	w := newWorld(t, func(c *app.Config, _ *app.Options) { c.AllowedOrigins = []string{"https://dash.example"} })
	origin := map[string]string{"Origin": "https://dash.example"}

	t.Run("on a 401", func(t *testing.T) {
		for _, path := range []string{"/admin/users", "/api/admin/users", "/auth/me"} {
			r := w.s.REST(t, request{Method: "GET", Path: path, Header: origin})
			assert.Equal(t, http.StatusUnauthorized, r.Status)
			assert.Equal(t, "https://dash.example", r.Header.Get("Access-Control-Allow-Origin"), path)
			assert.Contains(t, r.Header.Values("Vary"), "Origin")
			assert.Contains(t, r.Header.Get("Access-Control-Expose-Headers"), "X-Request-ID")
			assert.NotEmpty(t, r.Detail())
		}
	})
	t.Run("on every other response", func(t *testing.T) {
		for _, rq := range []request{
			{Method: "GET", Path: "/auth/me", Bearer: w.tok["admin"]},
			{Method: "GET", Path: "/admin/users", Bearer: w.tok["viewer"]},
			{Method: "GET", Path: "/api/nope"},
			{Method: "DELETE", Path: "/auth/login"},
			{Method: "POST", Path: "/auth/login", Body: map[string]any{"username": "x@acme.test", "password": "wrong-password"}},
			{Method: "PUT", Path: "/admin/users/x/role", Bearer: w.tok["admin"], Body: `{"role":`},
		} {
			rq.Header = origin
			r := w.s.REST(t, rq)
			assert.Equal(t, "https://dash.example", r.Header.Get("Access-Control-Allow-Origin"), "%s %s: %d", rq.Method, rq.Path, r.Status)
		}
	})
	t.Run("not for another origin", func(t *testing.T) {
		r := w.s.REST(t, request{Method: "GET", Path: "/admin/users", Header: map[string]string{"Origin": "https://evil.example"}})
		assert.Equal(t, http.StatusUnauthorized, r.Status)
		assert.Empty(t, r.Header.Get("Access-Control-Allow-Origin"))
	})
	t.Run("preflight", func(t *testing.T) {
		for _, path := range []string{"/admin/users/" + w.user["viewer"].ID.String() + "/role", "/api/auth/login", "/api/management/organizations/me"} {
			r := w.s.REST(t, request{Method: "OPTIONS", Path: path, Header: map[string]string{
				"Origin": "https://dash.example", "Access-Control-Request-Method": "PUT",
				"Access-Control-Request-Headers": "authorization, content-type",
			}})
			assert.Equal(t, http.StatusNoContent, r.Status, path)
			assert.Equal(t, "https://dash.example", r.Header.Get("Access-Control-Allow-Origin"))
			allow := strings.ToLower(r.Header.Get("Access-Control-Allow-Headers"))
			assert.Contains(t, allow, "authorization")
			assert.Contains(t, allow, "content-type")
			assert.Contains(t, r.Header.Get("Access-Control-Allow-Methods"), "PUT")
			assert.Contains(t, r.Header.Get("Access-Control-Allow-Methods"), "PATCH")
			assert.Contains(t, r.Header.Get("Access-Control-Allow-Methods"), "DELETE")
		}
	})
}

func TestRESTForbiddenAndNotFound(t *testing.T) {
	w := newWorld(t)
	viewer := w.tok["viewer"]
	r := w.rest(t, "GET", "/admin/users", viewer, nil)
	apptest.SameAnswer(t, r, w.gql(t, "GET", "/admin/users", viewer, nil), http.StatusForbidden, "Permission denied: member:list required")
	keys(t, r.Body, "detail")

	// Another org's objects are not found, not forbidden: globex's admin holds every permission.
	globex := w.tok["globex admin"]
	target := w.user["developer"]
	invID, invToken := w.invite(t, "kept@acme.test", "viewer")
	cases := []struct {
		name   string
		method string
		path   string
		body   any
		detail string
	}{
		{"change an acme member's role", "PUT", "/admin/users/" + target.ID.String() + "/role", map[string]any{"role": "viewer"},
			"User not found in this organization"},
		{"remove an acme member", "DELETE", "/admin/users/" + target.ID.String(), nil, "User not found in this organization"},
		{"resend an acme invitation", "POST", "/management/invitations/" + invID + "/resend", nil, ""},
		{"revoke an acme invitation", "DELETE", "/management/invitations/" + invID, nil, ""},
		{"change acme's custom role", "PUT", "/admin/roles/recruiter", map[string]any{"description": "mine now"}, "Role not found"},
		{"delete acme's custom role", "DELETE", "/admin/roles/recruiter", nil, "Role not found"},
		{"revoke an acme member's session", "DELETE", "/auth/sessions/" + w.sessionID(t, w.tok["developer"]), nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w.same(t, c.method, c.path, globex, c.body, http.StatusNotFound, c.detail)
			// An acme member without the permission is refused instead: the 404 is about the org.
			if !strings.HasPrefix(c.path, "/auth/") {
				assert.Equal(t, http.StatusForbidden, w.rest(t, c.method, c.path, w.tok["member"], c.body).Status)
			}
		})
	}
	// Nothing changed in acme.
	users := w.rest(t, "GET", "/admin/users?search=developer", w.tok["admin"], nil)
	assert.Equal(t, "developer", users.Str("0.role"))
	assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/invitations/"+invToken, "", nil).Status)
	roles := w.rest(t, "GET", "/admin/roles", w.tok["admin"], nil)
	for _, x := range roles.List("") {
		if m := x.(map[string]any); m["name"] == "recruiter" {
			assert.Equal(t, "", m["description"])
		}
	}
	assert.Contains(t, column(roles.Body, "name"), "recruiter")
	assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/me", w.tok["developer"], nil).Status)
}

func TestRESTUnprocessable(t *testing.T) {
	w := newWorld(t)
	admin := w.tok["admin"]
	target := w.user["viewer"].ID.String()
	cases := []struct {
		name, method, path string
		body               any
		detail             string
	}{
		{"malformed JSON", "PUT", "/admin/users/" + target + "/role", `{"role":`, "Invalid JSON body"},
		{"a number for a string", "PUT", "/admin/users/" + target + "/role", `{"role": 5}`, "Invalid value for role: expected a string"},
		{"an array for a body", "PUT", "/admin/users/" + target + "/role", `["member"]`, ""},
		{"a non-UUID user_id", "PUT", "/admin/users/not-a-uuid/role", map[string]any{"role": "member"}, ""},
		{"a non-UUID user_id to remove", "DELETE", "/admin/users/not-a-uuid", nil, ""},
		{"a non-UUID org_id", "POST", "/auth/switch-org", map[string]any{"org_id": "not-a-uuid"}, ""},
		{"a number for org_id", "POST", "/auth/switch-org", `{"org_id": 12}`, ""},
		{"a non-UUID invitation id", "POST", "/management/invitations/not-a-uuid/resend", nil, ""},
		{"a non-UUID invitation id to revoke", "DELETE", "/management/invitations/not-a-uuid", nil, ""},
		{"a non-UUID session id", "DELETE", "/auth/sessions/not-a-uuid", nil, ""},
		{"a non-UUID audit user_id", "GET", "/audit/logs?user_id=not-a-uuid", nil, ""},
		{"a string for permissions", "POST", "/admin/roles", `{"name": "x", "permissions": "model:list"}`, ""},
		{"a string for log_payloads", "PATCH", "/management/organizations/me", `{"log_payloads": "yes"}`, ""},
		{"malformed JSON to sign in", "POST", "/auth/login", `{"username": "admin@acme.test", "password": `, "Invalid JSON body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := w.rest(t, c.method, c.path, admin, c.body)
			assert.Equal(t, http.StatusUnprocessableEntity, r.Status, "body %s", r.Raw)
			if c.detail != "" {
				assert.Equal(t, c.detail, r.Detail())
			}
		})
	}
	assert.Equal(t, "viewer", w.rest(t, "GET", "/admin/users?search=viewer", admin, nil).Str("0.role"), "nothing changed")
}

func TestRESTBodyTooLarge(t *testing.T) {
	w := newWorld(t, func(c *app.Config, _ *app.Options) { c.MaxBodyBytes = 2048 })
	padded := func(n int) string {
		return `{"username": "admin@acme.test", "password": "wrong-password", "pad": "` + strings.Repeat("x", n) + `"}`
	}
	r := w.rest(t, "POST", "/auth/login", "", padded(4096))
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.Status)
	assert.NotEmpty(t, r.Detail())
	// Without a Content-Length (chunked), the limit bites while reading.
	r = w.rest(t, "POST", "/auth/login", "", struct{ io.Reader }{strings.NewReader(padded(4096))})
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.Status)
	assert.Equal(t, "Request body too large", r.Detail())
	r = w.rest(t, "PATCH", "/api/management/organizations/me", w.tok["admin"], struct{ io.Reader }{strings.NewReader(`{"name": "` + strings.Repeat("x", 3000) + `"}`)})
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.Status)
	assert.Equal(t, "Acme", w.rest(t, "GET", "/management/organizations/me", w.tok["admin"], nil).Str("name"))
	// Under the limit the request is read.
	r = w.rest(t, "POST", "/auth/login", "", padded(1500))
	assert.Equal(t, http.StatusUnauthorized, r.Status)
	assert.Equal(t, "Incorrect username or password", r.Detail())
}

func TestRESTRateLimited(t *testing.T) {
	w := newWorld(t, apptest.WithLimits(graph.Limits{LoginPerAccount: 2, LoginPerIP: 100, AcceptPerIP: 100, TwoFactorPerIP: 100,
		Window: 15 * time.Minute, BaseDelay: 15 * time.Second, MaxDelay: 15 * time.Minute}))
	email := w.user["member"].Email
	for range 2 {
		r := w.rest(t, "POST", "/auth/login", "", map[string]any{"username": email, "password": "wrong-password"})
		require.Equal(t, http.StatusUnauthorized, r.Status)
		assert.Empty(t, r.Header.Get("Retry-After"))
	}
	// Blocked now, even with the right password.
	r := w.rest(t, "POST", "/auth/login", "", map[string]any{"username": email, "password": apptest.Password(email)})
	g := w.gql(t, "POST", "/auth/login", "", map[string]any{"username": email, "password": apptest.Password(email)})
	apptest.SameAnswer(t, r, g, http.StatusTooManyRequests, "Too many failed attempts. Try again later.")
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q is whole seconds", r.Header.Get("Retry-After"))
	assert.Greater(t, secs, 0)
	assert.LessOrEqual(t, secs, 15)
	assert.Equal(t, float64(secs), g.Errors[0].Extensions["retryAfter"], "the same wait on both paths")
	// Under /api and form-encoded too.
	r = w.rest(t, "POST", "/api/auth/login", "", map[string]any{"username": email, "password": apptest.Password(email)})
	assert.Equal(t, http.StatusTooManyRequests, r.Status)
	assert.NotEmpty(t, r.Header.Get("Retry-After"))
	// Another account is not affected.
	other := w.user["viewer"].Email
	tokenOf(t, w.rest(t, "POST", "/auth/login", "", map[string]any{"username": other, "password": apptest.Password(other)}))
	// Once the block is over, the right password works.
	w.clock.Advance(time.Duration(secs)*time.Second + time.Second)
	tokenOf(t, w.rest(t, "POST", "/auth/login", "", map[string]any{"username": email, "password": apptest.Password(email)}))
}

func TestRESTUnknownRoutesAndMethods(t *testing.T) {
	w := newWorld(t)
	for _, path := range []string{"/nope", "/api/nope", "/auth/nope", "/api/auth/nope", "/admin/nope", "/api/admin/users/x/y/z",
		"/management/nope", "/audit/nope", "/auth/me/extra", "/api", "/api/"} {
		t.Run("GET "+path, func(t *testing.T) {
			for _, bearer := range []string{"", w.tok["admin"]} {
				r := w.rest(t, "GET", path, bearer, nil)
				assert.Equal(t, http.StatusNotFound, r.Status)
				assert.Equal(t, "Not Found", r.Detail())
				assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
			}
		})
	}
	for _, c := range []struct {
		method, path string
		allow        []string
	}{
		{"DELETE", "/auth/login", []string{"POST"}},
		{"GET", "/auth/login", []string{"POST"}},
		{"POST", "/auth/me", []string{"GET"}},
		{"PATCH", "/api/admin/users", []string{"GET"}},
		{"GET", "/admin/roles/recruiter", []string{"PUT", "DELETE"}},
		{"PUT", "/management/organizations/me", []string{"GET", "PATCH"}},
		{"PUT", "/api/auth/accept-invite", []string{"GET", "POST"}},
		{"GET", "/auth/sessions/x", []string{"DELETE"}},
		{"POST", "/audit/logs", []string{"GET"}},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			r := w.rest(t, c.method, c.path, w.tok["admin"], nil)
			assert.Equal(t, http.StatusMethodNotAllowed, r.Status)
			assert.Equal(t, "Method Not Allowed", r.Detail())
			var allow []string
			for _, m := range strings.Split(r.Header.Get("Allow"), ",") {
				allow = append(allow, strings.TrimSpace(m))
			}
			assert.ElementsMatch(t, c.allow, allow)
		})
	}
}

func TestRESTRequestID(t *testing.T) {
	w := newWorld(t)
	for _, rq := range []request{
		{Method: "GET", Path: "/auth/me", Bearer: w.tok["admin"]},
		{Method: "GET", Path: "/admin/users"},
		{Method: "GET", Path: "/api/nope"},
		{Method: "POST", Path: "/auth/login", Body: `{"username":`},
	} {
		rq.Header = map[string]string{"X-Request-ID": "trace-42.a_b"}
		r := w.s.REST(t, rq)
		assert.Equal(t, "trace-42.a_b", r.Header.Get("X-Request-ID"), "%s %s echoes it", rq.Method, rq.Path)
		rq.Header = nil
		a, b := w.s.REST(t, rq), w.s.REST(t, rq)
		_, err := uuid.Parse(a.Header.Get("X-Request-ID"))
		assert.NoError(t, err, "%s %s generates one", rq.Method, rq.Path)
		assert.NotEqual(t, a.Header.Get("X-Request-ID"), b.Header.Get("X-Request-ID"))
	}
	r := w.s.REST(t, request{Method: "GET", Path: "/auth/me", Header: map[string]string{"X-Request-ID": "no spaces <please>"}})
	got := r.Header.Get("X-Request-ID")
	assert.NotEqual(t, "no spaces <please>", got)
	_, err := uuid.Parse(got)
	assert.NoError(t, err, "an unsafe id is replaced")
}

func TestRESTTwoFactorRequired(t *testing.T) {
	w := newWorld(t)
	dev := w.user["developer"]
	w.s.AddUser(t, dev.Email, w.globex, "viewer")
	tok := w.login(t, dev.Email)
	require.Equal(t, w.acme.ID.String(), tok.OrgID)
	r := w.s.Do(t, w.tok["admin"], gqlRequire2FA, map[string]any{"r": true})
	require.Empty(t, r.Errors)
	require.Equal(t, true, r.Get("updateSecurityPolicy.requireTwoFactor"))

	refused := func(t *testing.T, rq request, g *apptest.Response) {
		t.Helper()
		got := w.s.REST(t, rq)
		assert.Equal(t, http.StatusForbidden, got.Status, "%s %s: %s", rq.Method, rq.Path, got.Raw)
		assert.Equal(t, map[string]any{"detail": "Two-factor authentication is required by this organization", "code": "TWO_FACTOR_REQUIRED"}, got.Body)
		if g != nil {
			assert.Equal(t, "TWO_FACTOR_REQUIRED", g.Code())
			if assert.NotEmpty(t, g.Errors) {
				assert.Equal(t, got.Detail(), g.Errors[0].Message)
			}
		}
	}
	t.Run("everything else is refused", func(t *testing.T) {
		refused(t, request{Method: "GET", Path: "/admin/users", Bearer: tok.Access}, w.gql(t, "GET", "/admin/users", tok.Access, nil))
		refused(t, request{Method: "GET", Path: "/api/management/users", Bearer: tok.Access}, nil)
		refused(t, request{Method: "GET", Path: "/management/invitations", Bearer: tok.Access}, w.gql(t, "GET", "/management/invitations", tok.Access, nil))
		refused(t, request{Method: "GET", Path: "/management/organizations/me", Bearer: tok.Access}, w.gql(t, "GET", "/management/organizations/me", tok.Access, nil))
		refused(t, request{Method: "GET", Path: "/admin/roles", Bearer: tok.Access}, nil)
		refused(t, request{Method: "POST", Path: "/auth/change-password", Bearer: tok.Access,
			Body: map[string]any{"current_password": apptest.Password(dev.Email), "new_password": "a-new-password"}}, nil)
		refused(t, request{Method: "DELETE", Path: "/auth/sessions", Bearer: tok.Access}, w.gql(t, "DELETE", "/auth/sessions", tok.Access, nil))
	})
	t.Run("rest.md: only /auth/me, /auth/totp/*, /auth/logout, /auth/organizations and /auth/switch-org", func(t *testing.T) {
		refused(t, request{Method: "GET", Path: "/auth/permissions", Bearer: tok.Access}, nil)
		refused(t, request{Method: "GET", Path: "/auth/sessions", Bearer: tok.Access}, nil)
	})
	t.Run("the way out stays open", func(t *testing.T) {
		me := w.rest(t, "GET", "/auth/me", tok.Access, nil)
		assert.Equal(t, http.StatusOK, me.Status, "body %s", me.Raw)
		assert.Equal(t, false, me.Get("totp_enabled"))
		orgs := w.rest(t, "GET", "/auth/organizations", tok.Access, nil)
		assert.Equal(t, http.StatusOK, orgs.Status, "body %s", orgs.Raw)
		assert.Len(t, orgs.List(""), 2)
		setup := w.rest(t, "POST", "/auth/totp/setup", tok.Access, nil)
		assert.Equal(t, http.StatusOK, setup.Status, "body %s", setup.Raw)
		assert.NotEmpty(t, setup.Str("secret"))
		sw := w.rest(t, "POST", "/auth/switch-org", tok.Access, map[string]any{"org_id": w.globex.ID.String()})
		globex := tokenOf(t, sw)
		assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/management/organizations/me", globex.AccessToken, nil).Status, "globex does not require 2FA")
		out := w.rest(t, "POST", "/auth/logout", tok.Access, nil)
		assert.Equal(t, http.StatusOK, out.Status, "body %s", out.Raw)
		assert.Equal(t, http.StatusUnauthorized, w.rest(t, "GET", "/auth/me", tok.Access, nil).Status)
	})
	t.Run("with 2FA set up, the org opens", func(t *testing.T) {
		other := w.user["recruiter"]
		a := w.login(t, other.Email).Access
		refused(t, request{Method: "GET", Path: "/admin/users", Bearer: a}, nil)
		w.enableTOTP(t, a)
		assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/admin/users", a, nil).Status)
	})
}

func TestRESTNeverAServerError(t *testing.T) {
	w := newWorld(t)
	admin := w.tok["admin"]
	user := w.user["viewer"].ID.String()
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	long := strings.Repeat("ü", 5000)
	hostile := []request{
		{Method: "POST", Path: "/auth/login", Body: `{"username": 1e309, "password": "x"}`},
		{Method: "POST", Path: "/auth/login", Body: `{"username": 123456789012345678901234567890, "password": 1}`},
		{Method: "POST", Path: "/auth/login", Body: `{"username": "ünï@cödé.test", "password": "pässwörd-😀"}`},
		{Method: "POST", Path: "/auth/login", Body: `{"username": "a\u0000b@acme.test", "password": "x\u0000y"}`},
		{Method: "POST", Path: "/auth/login", Body: `[{"username": "admin@acme.test"}]`},
		{Method: "POST", Path: "/auth/login", Body: `"just a string"`},
		{Method: "POST", Path: "/auth/login", Body: `null`},
		{Method: "POST", Path: "/auth/login", Body: `{"username": {"$gt": ""}, "password": {"$gt": ""}}`},
		{Method: "POST", Path: "/auth/login", Body: deep},
		{Method: "POST", Path: "/auth/login", Body: `{"username": "` + long + `@x.test", "password": "` + long + `"}`},
		{Method: "POST", Path: "/auth/login", Body: "\xff\xfe\x00garbage"},
		{Method: "POST", Path: "/auth/login", Body: `{"username": "admin@acme.test", "password": "x", "totp_code": 123456}`},
		{Method: "POST", Path: "/auth/refresh", Body: `{"refresh_token": 5}`},
		{Method: "POST", Path: "/auth/refresh", Body: `{"refresh_token": "` + long + `"}`},
		{Method: "POST", Path: "/auth/refresh", Bearer: "x.y.z"},
		{Method: "POST", Path: "/auth/switch-org", Bearer: admin, Body: `{"org_id": null}`},
		{Method: "POST", Path: "/auth/switch-org", Bearer: admin, Body: `{"org_id": ["x"]}`},
		{Method: "POST", Path: "/auth/switch-org", Bearer: admin, Body: `{"org_id": "00000000-0000-0000-0000-000000000000"}`},
		{Method: "PUT", Path: "/admin/users/" + user + "/role", Bearer: admin, Body: `{"role": null}`},
		{Method: "PUT", Path: "/admin/users/" + user + "/role", Bearer: admin, Body: `{"role": ["admin"]}`},
		{Method: "PUT", Path: "/admin/users/" + user + "/role", Bearer: admin, Body: `{"role": "ädmin\u0000"}`},
		{Method: "PUT", Path: "/admin/users/" + user + "/role", Bearer: admin, Body: `{"role": "` + long + `"}`},
		{Method: "PUT", Path: "/admin/users/%27%20OR%201%3D1%20--/role", Bearer: admin, Body: `{"role": "member"}`},
		{Method: "PUT", Path: "/admin/users/%00/role", Bearer: admin, Body: `{"role": "member"}`},
		{Method: "PUT", Path: "/admin/users/ffffffff-ffff-ffff-ffff-ffffffffffff/role", Bearer: admin, Body: `{"role": "member"}`},
		{Method: "DELETE", Path: "/admin/users/" + strings.Repeat("9", 300), Bearer: admin},
		{Method: "GET", Path: "/admin/users?skip=99999999999999999999&limit=10", Bearer: admin},
		{Method: "GET", Path: "/admin/users?skip=2147483647", Bearer: admin},
		{Method: "GET", Path: "/admin/users?limit=1e3", Bearer: admin},
		{Method: "GET", Path: "/admin/users?search=%00", Bearer: admin},
		{Method: "GET", Path: "/admin/users?search=%25%5F%5C", Bearer: admin},
		{Method: "GET", Path: "/admin/users?search=" + strings.Repeat("%C3%BC", 2000), Bearer: admin},
		{Method: "GET", Path: "/admin/users?role=%00", Bearer: admin},
		{Method: "GET", Path: "/management/users?role=%C3%BC&search=%F0%9F%98%80", Bearer: admin},
		{Method: "GET", Path: "/audit/logs?start_date=9999-99-99", Bearer: admin},
		{Method: "GET", Path: "/audit/logs?start_date=0001-01-01&end_date=9999-12-31", Bearer: admin},
		{Method: "GET", Path: "/audit/logs?user_id=%00", Bearer: admin},
		{Method: "GET", Path: "/audit/logs?action=%00&category=%00", Bearer: admin},
		{Method: "GET", Path: "/audit/logs?limit=1e400&skip=-99999999999999999999", Bearer: admin},
		{Method: "GET", Path: "/audit/logs?skip=2147483647", Bearer: admin},
		{Method: "GET", Path: "/auth/invitations/%00"},
		{Method: "GET", Path: "/auth/invitations/" + strings.Repeat("a", 10000)},
		{Method: "GET", Path: "/auth/accept-invite?token=%00"},
		{Method: "POST", Path: "/auth/accept-invite?token=%00", Body: `{}`},
		{Method: "POST", Path: "/auth/accept-invite", Body: `{"token": ["x"], "password": {}}`},
		{Method: "POST", Path: "/auth/register-invite", Body: `{"token": "x\u0000", "password": "a-long-password", "name": "\u0000"}`},
		{Method: "POST", Path: "/auth/register-invite", Bearer: admin, Body: `{"email": "a\u0000@acme.test", "role": "viewer"}`},
		{Method: "POST", Path: "/management/invitations", Bearer: admin, Body: `{"email": "` + long + `@acme.test"}`},
		{Method: "POST", Path: "/management/invitations", Bearer: admin, Body: `{"email": ["x@acme.test"]}`},
		{Method: "POST", Path: "/management/invitations/ffffffff-ffff-ffff-ffff-ffffffffffff/resend", Bearer: admin},
		{Method: "POST", Path: "/management/organizations", Bearer: w.root.Access, Body: `{"name": "\u0000"}`},
		{Method: "POST", Path: "/management/organizations", Bearer: w.root.Access, Body: `{"name": "` + long + `"}`},
		{Method: "POST", Path: "/management/organizations", Bearer: w.root.Access, Body: `{"name": "x", "log_payloads": "yes"}`},
		{Method: "PATCH", Path: "/management/organizations/me", Bearer: admin, Body: `{"settings": []}`},
		{Method: "PATCH", Path: "/management/organizations/me", Bearer: admin, Body: `{"billing": "x"}`},
		{Method: "PATCH", Path: "/management/organizations/me", Bearer: admin, Body: `{"name": "Acme\u0000"}`},
		{Method: "PATCH", Path: "/management/organizations/me", Bearer: admin, Body: `{"billing": {"plan": "\u0000", "billing_email": "` + long + `"}}`},
		{Method: "PATCH", Path: "/management/organizations/me", Bearer: admin, Body: `{"settings": {"default_role": "\u0000"}}`},
		{Method: "POST", Path: "/admin/roles", Bearer: admin, Body: `{"name": "ü", "permissions": [null]}`},
		{Method: "POST", Path: "/admin/roles", Bearer: admin, Body: `{"name": 1e309, "permissions": []}`},
		{Method: "POST", Path: "/admin/roles", Bearer: admin, Body: `{"name": "ok-name", "description": "\u0000", "permissions": ["model:list\u0000"]}`},
		{Method: "PUT", Path: "/admin/roles/%00", Bearer: admin, Body: `{"description": "x"}`},
		{Method: "PUT", Path: "/admin/roles/recruiter", Bearer: admin, Body: `{"permissions": {"a": 1}}`},
		{Method: "DELETE", Path: "/admin/roles/" + strings.Repeat("x", 3000), Bearer: admin},
		{Method: "POST", Path: "/auth/totp/verify", Bearer: admin, Body: `{"totp_code": 123456}`},
		{Method: "POST", Path: "/auth/totp/verify", Bearer: admin, Body: `{"totp_code": "１２３４５６"}`},
		{Method: "POST", Path: "/auth/totp/disable", Bearer: admin, Body: `{"totp_code": "\u0000\u0000\u0000\u0000\u0000\u0000"}`},
		{Method: "POST", Path: "/auth/change-password", Bearer: admin, Body: `{"current_password": "\u0000", "new_password": "` + long + `"}`},
		{Method: "DELETE", Path: "/auth/sessions/not-a-uuid", Bearer: admin},
		{Method: "DELETE", Path: "/auth/sessions/ffffffff-ffff-ffff-ffff-ffffffffffff", Bearer: admin},
		{Method: "POST", Path: "/auth/login", Body: `{"username": "admin@acme.test"}`, Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
		{Method: "POST", Path: "/auth/login", Body: `%zz=%zz`, Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
		{Method: "POST", Path: "/auth/accept-invite", Body: `token=%00&password=x`, Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
	}
	for i, rq := range hostile {
		for _, prefix := range []string{"", "/api"} {
			rq := rq
			rq.Path = prefix + rq.Path
			r := w.s.REST(t, rq)
			if !assert.Less(t, r.Status, 500, "#%d %s %.120s: %.300s", i, rq.Method, rq.Path, r.Raw) {
				continue
			}
			assert.NotContains(t, strings.ToLower(string(r.Raw)), "goroutine", "#%d no stack trace", i)
			assert.NotContains(t, strings.ToLower(string(r.Raw)), "sql", "#%d no internal error text", i)
		}
	}
	// The same inputs on GraphQL are no INTERNAL error either.
	for _, rq := range []request{
		{Method: "POST", Path: "/auth/login", Body: map[string]any{"username": "a\x00b@acme.test", "password": "x"}},
		{Method: "GET", Path: "/admin/users?search=%00", Bearer: admin},
		{Method: "PATCH", Path: "/management/organizations/me", Bearer: admin, Body: map[string]any{"name": "Acme\x00"}},
		{Method: "DELETE", Path: "/admin/roles/%00", Bearer: admin},
	} {
		g := w.s.Twin(t, rq)
		assert.NotEqual(t, "INTERNAL", g.Code(), "%s %s %v: %+v", rq.Method, rq.Path, rq.Body, g.Errors)
	}
	// The server is still well.
	assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/me", admin, nil).Status)
}
