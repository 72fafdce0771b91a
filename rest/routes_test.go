package rest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/rest"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/auth"
)

// Every route of rest.md, its success and each error it lists, tried by the roles of acme
// (admin, developer, member, viewer and a custom "recruiter"), by globex's admin and by nobody.
// Each REST case sits next to the same case sent as GraphQL: the REST layer runs the GraphQL
// operation, so the status must be the code's (401 UNAUTHENTICATED, 403 FORBIDDEN, 404 NOT_FOUND,
// 400 BAD_USER_INPUT, 409 CONFLICT) and the detail must be the message.

// resp is a REST response: its status, headers, raw body and the body decoded as JSON.
type resp struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   any
}

// Get returns the value at a dotted path of the body; list items are numbered ("0.email").
func (r *resp) Get(path string) any { return dig(r.Body, path) }

// gget returns the value at a dotted path of GraphQL data; list items are numbered.
func gget(g *apptest.Response, path string) any {
	var v any
	if err := json.Unmarshal(g.Data, &v); err != nil {
		return nil
	}
	return dig(v, path)
}

// dig returns the value at a dotted path of decoded JSON.
func dig(v any, path string) any {
	if path == "" {
		return v
	}
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// Str returns the string at a dotted path of the body.
func (r *resp) Str(path string) string {
	s, _ := r.Get(path).(string)
	return s
}

// List returns the list at a dotted path of the body ("" for the body itself).
func (r *resp) List(path string) []any {
	l, _ := r.Get(path).([]any)
	return l
}

// Detail is the detail of an error body.
func (r *resp) Detail() string { return r.Str("detail") }

// Decode unmarshals the body into v.
func (r *resp) Decode(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Raw, v), "body %s", r.Raw)
}

// request is a REST request. Body is sent as is when a string, []byte or io.Reader (the last
// without a length, so chunked), form-encoded when url.Values, and as JSON otherwise; nil sends
// no body.
type request struct {
	Method, Path, Bearer string
	Body                 any
	Header               map[string]string
}

// send makes a REST request. Whatever the route, an error response must be JSON with a detail,
// and every response must carry an X-Request-ID.
func send(t testing.TB, s *apptest.Server, rq request) *resp {
	t.Helper()
	var (
		body  io.Reader
		ctype string
	)
	switch b := rq.Body.(type) {
	case nil:
	case string:
		body, ctype = strings.NewReader(b), "application/json"
	case []byte:
		body, ctype = bytes.NewReader(b), "application/json"
	case url.Values:
		body, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case io.Reader:
		body, ctype = b, "application/json"
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		body, ctype = bytes.NewReader(raw), "application/json"
	}
	req, err := http.NewRequest(rq.Method, s.URL+rq.Path, body)
	require.NoError(t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("User-Agent", "rest-test")
	if rq.Bearer != "" {
		req.Header.Set("Authorization", "Bearer "+rq.Bearer)
	}
	for k, v := range rq.Header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	r := &resp{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && len(bytes.TrimSpace(raw)) > 0 {
		require.NoError(t, json.Unmarshal(raw, &r.Body), "JSON body of %s %s: %s", rq.Method, rq.Path, raw)
	}
	assert.NotEmpty(t, res.Header.Get("X-Request-ID"), "X-Request-ID of %s %s", rq.Method, rq.Path)
	// The invitation page (GET, and POST of its form) speaks HTML, errors included.
	page := strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") && strings.Contains(rq.Path, "/auth/accept-invite")
	if r.Status >= 400 && rq.Method != http.MethodHead && !page {
		assert.Contains(t, res.Header.Get("Content-Type"), "application/json", "error of %s %s: %s", rq.Method, rq.Path, raw)
		assert.NotEmpty(t, r.Detail(), "detail of the error of %s %s: %s", rq.Method, rq.Path, raw)
	}
	return r
}

// call makes a REST request with an optional bearer token and body.
func call(t testing.TB, s *apptest.Server, method, path, bearer string, body any) *resp {
	t.Helper()
	return send(t, s, request{Method: method, Path: path, Bearer: bearer, Body: body})
}

// codeOf is the GraphQL code of each REST status (rest.md: one table of it).
var codeOf = map[int]string{
	http.StatusOK: "", http.StatusCreated: "", http.StatusNoContent: "",
	http.StatusBadRequest:      "BAD_USER_INPUT",
	http.StatusUnauthorized:    "UNAUTHENTICATED",
	http.StatusForbidden:       "FORBIDDEN",
	http.StatusNotFound:        "NOT_FOUND",
	http.StatusConflict:        "CONFLICT",
	http.StatusTooManyRequests: "RATE_LIMITED",
}

// gqlCode is the code of a GraphQL response's first error. Query.viewer is nullable: without a
// token it is null and no error, which is GraphQL's way of saying 401.
func gqlCode(g *apptest.Response) string {
	if c := g.Code(); c != "" {
		return c
	}
	var data map[string]json.RawMessage
	if json.Unmarshal(g.Data, &data) == nil {
		if v, ok := data["viewer"]; ok && string(v) == "null" {
			return "UNAUTHENTICATED"
		}
	}
	return ""
}

// agree asserts that the REST response has status (and detail, unless empty) and that the
// GraphQL response of the same case has the status's code and the same message.
func agree(t testing.TB, r *resp, g *apptest.Response, status int, detail string) {
	t.Helper()
	assert.Equal(t, status, r.Status, "REST status; body %s", r.Raw)
	want, known := codeOf[status]
	require.True(t, known, "no GraphQL code for %d", status)
	assert.Equal(t, want, gqlCode(g), "GraphQL code; errors %+v", g.Errors)
	if status < 400 {
		return
	}
	if detail != "" {
		assert.Equal(t, detail, r.Detail(), "REST detail")
	}
	if len(g.Errors) > 0 {
		assert.Equal(t, g.Errors[0].Message, r.Detail(), "the same message on both paths")
	}
}

// keys asserts that a JSON object has exactly the keys of a shape of rest.md.
func keys(t testing.TB, v any, want ...string) {
	t.Helper()
	m, ok := v.(map[string]any)
	if !assert.True(t, ok, "an object: %v", v) {
		return
	}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	assert.ElementsMatch(t, want, got)
}

// stamp asserts an RFC 3339 time in UTC with a Z.
func stamp(t testing.TB, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	assert.True(t, strings.HasSuffix(s, "Z"), "%q ends in Z", s)
	at, err := time.Parse(time.RFC3339Nano, s)
	assert.NoError(t, err, "%q is RFC 3339", s)
	return at
}

// strs returns the strings of a JSON list.
func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// column returns field of every object of a JSON list.
func column(v any, field string) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		m, _ := x.(map[string]any)
		s, _ := m[field].(string)
		out = append(out, s)
	}
	return out
}

// The shapes of rest.md, spelled out here rather than borrowed from the package under test.

var (
	authTokenKeys = []string{"access_token", "refresh_token", "token_type", "expires_in", "organizations"}
	orgInfoKeys   = []string{"id", "name", "role"}
	userKeys      = []string{"id", "email", "name", "role", "org_id", "created_at", "last_active_at", "totp_enabled"}
	inviteKeys    = []string{"id", "email", "role", "token", "invite_link", "status", "expires_at", "created_at", "organization_name"}
	roleKeys      = []string{"name", "description", "permissions", "built_in", "created_at", "updated_at"}
	orgKeys       = []string{"id", "name", "log_payloads", "created_at", "settings", "billing"}
	meKeys        = []string{"user_id", "username", "email", "name", "roles", "permissions", "org_id", "created_at", "is_active", "totp_enabled", "is_super_admin"}
	sessionKeys   = []string{"id", "user_agent", "ip_address", "created_at", "last_used_at", "expires_at", "current"}
	auditKeys     = []string{"id", "timestamp", "user_id", "user_email", "org_id", "action", "category", "resource_type", "resource_id", "details", "ip_address", "status"}
)

// orgInfo is an OrganizationBasicInfo.
type orgInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// authToken is an AuthToken.
type authToken struct {
	AccessToken   string    `json:"access_token"`
	RefreshToken  *string   `json:"refresh_token"`
	TokenType     string    `json:"token_type"`
	ExpiresIn     int       `json:"expires_in"`
	Organizations []orgInfo `json:"organizations"`
}

// tokenOf asserts a 200 AuthToken and returns it.
func tokenOf(t testing.TB, r *resp) authToken {
	t.Helper()
	require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
	keys(t, r.Body, authTokenKeys...)
	for _, o := range r.List("organizations") {
		keys(t, o, orgInfoKeys...)
	}
	var a authToken
	r.Decode(t, &a)
	assert.NotEmpty(t, a.AccessToken)
	require.NotNil(t, a.RefreshToken, "refresh_token is never null")
	assert.NotEmpty(t, *a.RefreshToken)
	assert.Equal(t, "bearer", a.TokenType)
	assert.Equal(t, 15*60, a.ExpiresIn, "ACCESS_TOKEN_EXPIRE_MINUTES defaults to 15")
	return a
}

// The GraphQL side of the cases.
const (
	gqlLogin = `mutation($e: String!, $p: String!, $c: String) {
  login(input: {email: $e, password: $p, totpCode: $c}) { accessToken refreshToken tokenType expiresIn memberships { organization { id name } role { name } } }
}`
	gqlRefresh        = `mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }`
	gqlLogout         = `mutation { logout }`
	gqlMe             = `{ viewer { user { id email name twoFactorEnabled isSuperAdmin } organization { id } role { name } permissions } }`
	gqlMemberships    = `{ viewer { memberships { organization { id name } role { name } } } }`
	gqlSwitch         = `mutation($o: ID!) { switchOrganization(organizationId: $o) { accessToken refreshToken memberships { organization { id } } } }`
	gqlUsers          = `query($o: Int, $l: Int, $s: String, $r: String) { viewer { organization { memberList(offset: $o, limit: $l, where: {search: $s, role: $r}) { user { id email } role { name } } } } }`
	gqlChangeRole     = `mutation($u: ID!, $r: String!) { updateMemberRole(userId: $u, role: $r) { id } }`
	gqlRemove         = `mutation($u: ID!) { removeMember(userId: $u) }`
	gqlInvite         = `mutation($e: String!, $r: String) { inviteMember(input: {email: $e, role: $r}) { token inviteLink invitation { id } } }`
	gqlInvitations    = `{ viewer { organization { invitations(first: 100) { edges { node { id email token inviteLink } } } } } }`
	gqlResend         = `mutation($i: ID!) { resendInvitation(id: $i) { token } }`
	gqlRevoke         = `mutation($i: ID!) { revokeInvitation(id: $i) { id status } }`
	gqlPreview        = `query($t: String!) { invitationPreview(token: $t) { id email status } }`
	gqlAccept         = `mutation($t: String!, $p: String, $n: String, $c: Boolean) { acceptInvitation(input: {token: $t, password: $p, name: $n, createAccount: $c}) { accessToken memberships { organization { id } role { name } } } }`
	gqlCreateOrg      = `mutation($n: String!) { createOrganization(input: {name: $n}) { id name } }`
	gqlMyOrg          = `{ organization { id name settings { defaultRole logPayloads } billing { plan } } }`
	gqlUpdateOrg      = `mutation($in: UpdateOrganizationInput!) { updateOrganization(input: $in) { id name settings { defaultRole logPayloads } billing { plan billingEmail } } }`
	gqlRoles          = `{ viewer { organization { roles { name builtIn permissions } } } }`
	gqlCreateRole     = `mutation($n: String!, $p: [String!]!) { createRole(input: {name: $n, permissions: $p}) { name permissions } }`
	gqlUpdateRole     = `mutation($n: String!, $d: String, $p: [String!]) { updateRole(name: $n, input: {description: $d, permissions: $p}) { name description permissions } }`
	gqlDeleteRole     = `mutation($n: String!) { deleteRole(name: $n) }`
	gqlCatalog        = `{ viewer { organization { roles { name } } } permissionCatalog { name } }`
	gqlAudit          = `query($o: Int, $l: Int, $w: AuditLogFilterInput) { viewer { organization { auditLogList(offset: $o, limit: $l, where: $w) { id action category actorID } } } }`
	gqlSessions       = `{ viewer { session { id } sessions { id current } } }`
	gqlRevokeSession  = `mutation($i: ID!) { revokeSession(id: $i) }`
	gqlRevokeOthers   = `mutation { revokeOtherSessions }`
	gqlChangePassword = `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }`
	gqlBeginTOTP      = `mutation { beginTwoFactorSetup { secret otpauthUri qrCode } }`
	gqlConfirmTOTP    = `mutation($c: String!) { confirmTwoFactorSetup(code: $c) { recoveryCodes } }`
	gqlDisableTOTP    = `mutation($c: String, $p: String) { disableTwoFactor(code: $c, password: $p) }`
	gqlRequire2FA     = `mutation($r: Boolean!) { updateSecurityPolicy(input: {requireTwoFactor: $r}) { requireTwoFactor } }`
)

// roomyLimits keep the rate limiter out of the way of tests about something else.
var roomyLimits = graph.Limits{
	LoginPerAccount: 1000, LoginPerIP: 1000, AcceptPerIP: 1000, TwoFactorPerIP: 1000,
	Window: 15 * time.Minute, BaseDelay: 15 * time.Second, MaxDelay: 15 * time.Minute,
}

func withLimits(l graph.Limits) apptest.Option {
	return func(c *app.Config, _ *app.Options) { c.Limits = l }
}

// actors are the callers of the permission matrix, besides nobody.
var actors = []string{"admin", "developer", "member", "viewer", "recruiter", "globex admin"}

// recruiterPermissions are those of acme's custom role: it lists and invites (viewers), lists
// roles, and has a viewer's permissions.
var recruiterPermissions = []string{"api_key:list", "deployment:list", "model:access", "model:list",
	"member:invite", "member:list", "role:list", "organization:view"}

// world is acme, with a member of each role, and globex, with its admin and a custom role.
type world struct {
	s            *apptest.Server
	clock        *apptest.Clock
	acme, globex *ent.Organization
	user         map[string]*ent.User
	tok          map[string]string
	root         apptest.Tokens
	n            int
}

func newWorld(t *testing.T, opts ...apptest.Option) *world {
	t.Helper()
	clock := apptest.NewClock()
	clock.Advance(time.Second - time.Duration(clock.Now().Nanosecond()))
	s := apptest.Start(t, append([]apptest.Option{apptest.WithClock(clock), withLimits(roomyLimits)}, opts...)...)
	w := &world{s: s, clock: clock, acme: s.Org(t, apptest.RootOrg), user: map[string]*ent.User{}, tok: map[string]string{}}
	ctx := apptest.SystemContext()
	_, err := s.App.Client().Role.Create().SetOrganizationID(w.acme.ID).SetName("recruiter").
		SetPermissions(recruiterPermissions).Save(ctx)
	require.NoError(t, err)
	for _, r := range []string{"admin", "developer", "member", "viewer", "recruiter"} {
		w.user[r] = s.AddUser(t, r+"@acme.test", w.acme, r)
	}
	w.globex = s.CreateOrg(t, "Globex")
	_, err = s.App.Client().Role.Create().SetOrganizationID(w.globex.ID).SetName("globex-only").
		SetPermissions([]string{"model:list"}).Save(ctx)
	require.NoError(t, err)
	w.user["globex admin"] = s.AddUser(t, "admin@globex.test", w.globex, "admin")
	for a, u := range w.user {
		w.tok[a] = w.login(t, u.Email).Access
	}
	w.root = s.Login(t, apptest.RootEmail, apptest.RootPassword)
	return w
}

// login signs in a user made by AddUser.
func (w *world) login(t testing.TB, email string) apptest.Tokens {
	t.Helper()
	return w.s.Login(t, email, apptest.Password(email))
}

// unique returns a new name with prefix.
func (w *world) unique(prefix string) string {
	w.n++
	return fmt.Sprintf("%s%d", prefix, w.n)
}

// fresh adds a new member of acme with role.
func (w *world) fresh(t testing.TB, role string) *ent.User {
	t.Helper()
	return w.s.AddUser(t, w.unique("target")+"@acme.test", w.acme, role)
}

// invite invites email into acme as its admin and returns the invitation's id and token.
func (w *world) invite(t testing.TB, email, role string) (id, token string) {
	t.Helper()
	g := w.s.Do(t, w.tok["admin"], gqlInvite, map[string]any{"e": email, "r": role})
	require.Empty(t, g.Errors, "inviting %s", email)
	return g.Str("inviteMember.invitation.id"), g.Str("inviteMember.token")
}

// customRole creates a custom role of acme and returns its name.
func (w *world) customRole(t testing.TB) string {
	t.Helper()
	name := w.unique("tmp-")
	require.Empty(t, w.s.Do(t, w.tok["admin"], gqlCreateRole, map[string]any{"n": name, "p": []string{"model:list"}}).Errors)
	return name
}

// rest is a shorthand for call on the world's server.
func (w *world) rest(t testing.TB, method, path, bearer string, body any) *resp {
	t.Helper()
	return call(t, w.s, method, path, bearer, body)
}

// gql is a shorthand for a GraphQL request on the world's server.
func (w *world) gql(t testing.TB, bearer, query string, vars map[string]any) *apptest.Response {
	t.Helper()
	return w.s.Do(t, bearer, query, vars)
}

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
		g := w.gql(t, "", gqlLogin, map[string]any{"e": dev.Email, "p": pw})
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
		r := w.rest(t, "POST", "/auth/login", "", map[string]any{"username": dev.Email, "password": "wrong-password"})
		g := w.gql(t, "", gqlLogin, map[string]any{"e": dev.Email, "p": "wrong-password"})
		agree(t, r, g, http.StatusUnauthorized, "Incorrect username or password")
	})
	t.Run("an unknown account reads the same", func(t *testing.T) {
		r := w.rest(t, "POST", "/auth/login", "", map[string]any{"username": "nobody@acme.test", "password": pw})
		g := w.gql(t, "", gqlLogin, map[string]any{"e": "nobody@acme.test", "p": pw})
		agree(t, r, g, http.StatusUnauthorized, "Incorrect username or password")
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
	require.Empty(t, w.gql(t, "", gqlRefresh, map[string]any{"t": b.Refresh}).Errors)
	agree(t, reused, w.gql(t, "", gqlRefresh, map[string]any{"t": b.Refresh}), http.StatusUnauthorized, "Refresh failed")

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
			r := send(t, w.s, rq)
			assert.Equal(t, http.StatusUnauthorized, r.Status)
			assert.Equal(t, "Refresh failed", r.Detail())
		})
	}
	g := w.gql(t, "", gqlRefresh, map[string]any{"t": "garbage"})
	assert.Equal(t, "UNAUTHENTICATED", g.Code())
	assert.Equal(t, "Refresh failed", g.Errors[0].Message)
}

// loggedOutRefresh returns the refresh token of a session that has been logged out.
func (w *world) loggedOutRefresh(t testing.TB, email string) string {
	t.Helper()
	a := w.login(t, email)
	require.Empty(t, w.gql(t, a.Access, gqlLogout, nil).Errors)
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
	g := w.gql(t, b.Access, gqlLogout, nil)
	require.Empty(t, g.Errors)
	assert.Equal(t, true, g.Get("logout"))
	agree(t, w.rest(t, "GET", "/auth/me", a.Access, nil), w.gql(t, b.Access, gqlMe, nil), http.StatusUnauthorized, "Invalid or expired token")
	assert.Equal(t, http.StatusUnauthorized, w.rest(t, "POST", "/auth/refresh", a.Refresh, nil).Status)

	// Other sessions of the user go on.
	assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/me", w.tok["member"], nil).Status)

	agree(t, w.rest(t, "POST", "/auth/logout", "", nil), w.gql(t, "", gqlLogout, nil), http.StatusUnauthorized, "Not authenticated")
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

		g := w.gql(t, w.tok["developer"], gqlMe, nil)
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
			g := w.gql(t, w.tok[actor], `{ viewer { permissions } }`, nil)
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
	g := w.gql(t, tok, gqlMemberships, nil)
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
	g := w.gql(t, w.login(t, multi.Email).Access, gqlSwitch, map[string]any{"o": w.globex.ID})
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
	r := w.rest(t, "POST", "/auth/switch-org", tok.Access, map[string]any{"org_id": initech.ID.String()})
	agree(t, r, w.gql(t, tok.Access, gqlSwitch, map[string]any{"o": initech.ID}), http.StatusForbidden, "User is not a member of this organization")
	r = w.rest(t, "POST", "/auth/switch-org", tok.Access, map[string]any{})
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
	agree(t, w.rest(t, "POST", "/auth/switch-org", "", map[string]any{"org_id": w.globex.ID.String()}),
		w.gql(t, "", gqlSwitch, map[string]any{"o": w.globex.ID}), http.StatusUnauthorized, "Not authenticated")

	// Removed from the default organization: the next sign-in starts in the oldest membership.
	require.Equal(t, http.StatusNoContent, w.rest(t, "DELETE", "/admin/users/"+multi.ID.String(), w.tok["globex admin"], nil).Status)
	again := tokenOf(t, w.rest(t, "POST", "/auth/login", "", map[string]any{"username": multi.Email, "password": pw}))
	assert.Equal(t, w.acme.ID.String(), w.rest(t, "GET", "/auth/me", again.AccessToken, nil).Str("org_id"))
	assert.Equal(t, []orgInfo{{ID: w.acme.ID.String(), Name: "Acme", Role: "developer"}}, again.Organizations)
}

// inviteOf asserts a 201 (or 200) InviteResponse and returns it as an object.
func inviteOf(t testing.TB, r *resp, status int) map[string]any {
	t.Helper()
	require.Equal(t, status, r.Status, "body %s", r.Raw)
	keys(t, r.Body, inviteKeys...)
	stamp(t, r.Get("expires_at"))
	stamp(t, r.Get("created_at"))
	m, _ := r.Body.(map[string]any)
	return m
}

func TestRESTRegisterInvite(t *testing.T) {
	w := newWorld(t, func(c *app.Config, _ *app.Options) { c.PublicURL = "https://dash.example/" })
	admin := w.tok["admin"]

	var token string
	t.Run("the documented form: Bearer and {email, role} invite, 201", func(t *testing.T) {
		r := w.rest(t, "POST", "/auth/register-invite", admin, map[string]any{"email": "New.Dev@Acme.test", "role": "developer"})
		inv := inviteOf(t, r, http.StatusCreated)
		token = r.Str("token")
		assert.GreaterOrEqual(t, len(token), 22, "at least 128 bits")
		assert.Equal(t, "new.dev@acme.test", inv["email"], "stored lower-case")
		assert.Equal(t, "developer", inv["role"])
		assert.Equal(t, "pending", inv["status"])
		assert.Equal(t, "Acme", inv["organization_name"])
		assert.Equal(t, "https://dash.example/auth/accept-invite?token="+url.QueryEscape(token), inv["invite_link"])
		g := w.gql(t, admin, gqlInvite, map[string]any{"e": "other.dev@acme.test", "r": "developer"})
		require.Empty(t, g.Errors)
		assert.Equal(t, "https://dash.example/auth/accept-invite?token="+url.QueryEscape(g.Str("inviteMember.token")), g.Str("inviteMember.inviteLink"))
	})
	t.Run("the documented form needs a token", func(t *testing.T) {
		r := w.rest(t, "POST", "/auth/register-invite", "", map[string]any{"email": "x@acme.test", "role": "viewer"})
		g := w.gql(t, "", gqlInvite, map[string]any{"e": "x@acme.test", "r": "viewer"})
		agree(t, r, g, http.StatusUnauthorized, "Not authenticated")
	})
	t.Run("the dashboard's form: public {token, password, name} signs up, 200", func(t *testing.T) {
		a := tokenOf(t, w.rest(t, "POST", "/auth/register-invite", "", map[string]any{"token": token, "password": "a-long-password", "name": "New Dev"}))
		assert.Equal(t, []orgInfo{{ID: w.acme.ID.String(), Name: "Acme", Role: "developer"}}, a.Organizations)
		me := w.rest(t, "GET", "/auth/me", a.AccessToken, nil)
		assert.Equal(t, "New Dev", me.Str("name"))
		assert.Equal(t, "new.dev@acme.test", me.Str("email"))
		tokenOf(t, w.rest(t, "POST", "/auth/login", "", map[string]any{"username": "new.dev@acme.test", "password": "a-long-password"}))
		_, other := w.invite(t, "gql.dev@acme.test", "developer")
		g := w.gql(t, "", gqlAccept, map[string]any{"t": other, "p": "a-long-password", "n": "G", "c": true})
		require.Empty(t, g.Errors)
	})
	t.Run("an account exists already", func(t *testing.T) {
		_, tok := w.invite(t, w.user["globex admin"].Email, "viewer")
		r := w.rest(t, "POST", "/auth/register-invite", "", map[string]any{"token": tok, "password": "a-long-password", "name": "X"})
		g := w.gql(t, "", gqlAccept, map[string]any{"t": tok, "p": "a-long-password", "n": "X", "c": true})
		agree(t, r, g, http.StatusBadRequest, "User already exists. Please login and accept the invitation.")
		assert.Equal(t, "PENDING", w.gql(t, "", gqlPreview, map[string]any{"t": tok}).Str("invitationPreview.status"))
	})
	t.Run("a used token", func(t *testing.T) {
		r := w.rest(t, "POST", "/auth/register-invite", "", map[string]any{"token": token, "password": "a-long-password"})
		g := w.gql(t, "", gqlAccept, map[string]any{"t": token, "p": "a-long-password", "c": true})
		agree(t, r, g, http.StatusBadRequest, "Invitation already accepted")
	})
	t.Run("an unknown token", func(t *testing.T) {
		r := w.rest(t, "POST", "/auth/register-invite", "", map[string]any{"token": "nope", "password": "a-long-password"})
		g := w.gql(t, "", gqlAccept, map[string]any{"t": "nope", "p": "a-long-password", "c": true})
		agree(t, r, g, http.StatusNotFound, "Invalid invitation token")
	})
	t.Run("a short password", func(t *testing.T) {
		_, tok := w.invite(t, "short@acme.test", "viewer")
		r := w.rest(t, "POST", "/auth/register-invite", "", map[string]any{"token": tok, "password": "short"})
		g := w.gql(t, "", gqlAccept, map[string]any{"t": tok, "p": "short", "c": true})
		agree(t, r, g, http.StatusBadRequest, "Password must be at least 8 characters")
	})
	t.Run("neither form", func(t *testing.T) {
		for _, b := range []any{map[string]any{}, map[string]any{"name": "x"}, map[string]any{"token": "x"}} {
			r := w.rest(t, "POST", "/auth/register-invite", admin, b)
			assert.Equal(t, http.StatusUnprocessableEntity, r.Status, "%v", b)
		}
	})
}

func TestRESTInvitationPreview(t *testing.T) {
	w := newWorld(t)
	id, token := w.invite(t, "preview@acme.test", "developer")
	preview := func(t *testing.T, tok string) (*resp, *apptest.Response) {
		return w.rest(t, "GET", "/auth/invitations/"+url.PathEscape(tok), "", nil), w.gql(t, "", gqlPreview, map[string]any{"t": tok})
	}

	t.Run("pending", func(t *testing.T) {
		r, g := preview(t, token)
		inv := inviteOf(t, r, http.StatusOK)
		assert.Equal(t, id, inv["id"])
		assert.Equal(t, "preview@acme.test", inv["email"])
		assert.Equal(t, "developer", inv["role"])
		assert.Equal(t, token, inv["token"])
		assert.Equal(t, "/auth/accept-invite?token="+url.QueryEscape(token), inv["invite_link"], "relative without PUBLIC_URL")
		assert.Equal(t, "pending", inv["status"])
		assert.Equal(t, "Acme", inv["organization_name"])
		require.Empty(t, g.Errors)
		assert.Equal(t, id, g.Str("invitationPreview.id"))
		assert.Equal(t, "PENDING", g.Str("invitationPreview.status"))
	})
	t.Run("unknown: 404; GraphQL's preview is null", func(t *testing.T) {
		r, g := preview(t, "no-such-token")
		assert.Equal(t, http.StatusNotFound, r.Status)
		assert.Equal(t, "Invitation not found", r.Detail())
		require.Empty(t, g.Errors)
		assert.Nil(t, g.Get("invitationPreview"))
	})
	t.Run("accepted: 400; GraphQL says ACCEPTED", func(t *testing.T) {
		_, tok := w.invite(t, "accepted@acme.test", "viewer")
		tokenOf(t, w.rest(t, "POST", "/auth/accept-invite", "", map[string]any{"token": tok, "password": "a-long-password", "name": "A"}))
		r, g := preview(t, tok)
		assert.Equal(t, http.StatusBadRequest, r.Status)
		assert.Equal(t, "Invitation already accepted", r.Detail())
		assert.Equal(t, "ACCEPTED", g.Str("invitationPreview.status"))
	})
	t.Run("revoked counts as not found; GraphQL says REVOKED", func(t *testing.T) {
		rid, tok := w.invite(t, "revoked@acme.test", "viewer")
		require.Equal(t, http.StatusNoContent, w.rest(t, "DELETE", "/management/invitations/"+rid, w.tok["admin"], nil).Status)
		r, g := preview(t, tok)
		assert.Equal(t, http.StatusNotFound, r.Status)
		assert.Equal(t, "Invitation not found", r.Detail())
		assert.Equal(t, "REVOKED", g.Str("invitationPreview.status"))
	})
	t.Run("expired: 400; GraphQL says EXPIRED", func(t *testing.T) {
		w.clock.Advance(7*24*time.Hour + time.Minute)
		r, g := preview(t, token)
		assert.Equal(t, http.StatusBadRequest, r.Status)
		assert.Equal(t, "Invitation expired", r.Detail())
		assert.Equal(t, "EXPIRED", g.Str("invitationPreview.status"))
	})
}

func TestRESTAcceptInvite(t *testing.T) {
	w := newWorld(t)
	accept := func(t *testing.T, query, bearer string, body any) *resp {
		return w.rest(t, "POST", "/auth/accept-invite"+query, bearer, body)
	}

	t.Run("documented: public {token, password, name} creates the account", func(t *testing.T) {
		_, tok := w.invite(t, "fresh@acme.test", "member")
		a := tokenOf(t, accept(t, "", "", map[string]any{"token": tok, "password": "a-long-password", "name": "Fresh"}))
		assert.Equal(t, []orgInfo{{ID: w.acme.ID.String(), Name: "Acme", Role: "member"}}, a.Organizations)
		assert.Equal(t, "Fresh", w.rest(t, "GET", "/auth/me", a.AccessToken, nil).Str("name"))
		_, other := w.invite(t, "fresh2@acme.test", "member")
		g := w.gql(t, "", gqlAccept, map[string]any{"t": other, "p": "a-long-password", "n": "F"})
		require.Empty(t, g.Errors)
		assert.Equal(t, w.acme.ID.String(), gget(g, "acceptInvitation.memberships.0.organization.id"))
	})
	t.Run("documented, with the invitee's Bearer: joins with that account", func(t *testing.T) {
		u := w.s.AddUser(t, "bearer1@globex.test", w.globex, "viewer")
		_, tok := w.invite(t, u.Email, "developer")
		a := tokenOf(t, accept(t, "", w.login(t, u.Email).Access, map[string]any{"token": tok}))
		assert.ElementsMatch(t, []orgInfo{
			{ID: w.globex.ID.String(), Name: "Globex", Role: "viewer"},
			{ID: w.acme.ID.String(), Name: "Acme", Role: "developer"},
		}, a.Organizations)
		assert.Equal(t, w.acme.ID.String(), w.rest(t, "GET", "/auth/me", a.AccessToken, nil).Str("org_id"), "scoped to the invited org")
	})
	t.Run("dashboard: ?token= with the Bearer of the invited user", func(t *testing.T) {
		u := w.s.AddUser(t, "bearer2@globex.test", w.globex, "viewer")
		_, tok := w.invite(t, u.Email, "viewer")
		a := tokenOf(t, accept(t, "?token="+url.QueryEscape(tok), w.login(t, u.Email).Access, nil))
		assert.Len(t, a.Organizations, 2)
		v := w.s.AddUser(t, "bearer3@globex.test", w.globex, "viewer")
		_, other := w.invite(t, v.Email, "viewer")
		g := w.gql(t, w.login(t, v.Email).Access, gqlAccept, map[string]any{"t": other})
		require.Empty(t, g.Errors)
	})
	t.Run("the e-mail does not match the signed-in user", func(t *testing.T) {
		_, tok := w.invite(t, "someone@acme.test", "viewer")
		r := accept(t, "?token="+url.QueryEscape(tok), w.tok["globex admin"], nil)
		g := w.gql(t, w.tok["globex admin"], gqlAccept, map[string]any{"t": tok})
		agree(t, r, g, http.StatusForbidden, "Invitation email does not match logged in user")
	})
	t.Run("a bad token", func(t *testing.T) {
		r := accept(t, "", "", map[string]any{"token": "bad-token", "password": "a-long-password", "name": "X"})
		g := w.gql(t, "", gqlAccept, map[string]any{"t": "bad-token", "p": "a-long-password", "n": "X"})
		agree(t, r, g, http.StatusNotFound, "Invalid invitation token")
		r = accept(t, "?token=bad-token", w.tok["globex admin"], nil)
		assert.Equal(t, http.StatusNotFound, r.Status)
		assert.Equal(t, "Invalid invitation token", r.Detail())
	})
	t.Run("an accepted token", func(t *testing.T) {
		_, tok := w.invite(t, "twice@acme.test", "viewer")
		tokenOf(t, accept(t, "", "", map[string]any{"token": tok, "password": "a-long-password", "name": "T"}))
		r := accept(t, "", "", map[string]any{"token": tok, "password": "a-long-password", "name": "T"})
		g := w.gql(t, "", gqlAccept, map[string]any{"t": tok, "p": "a-long-password", "n": "T"})
		agree(t, r, g, http.StatusBadRequest, "Invitation already accepted")
	})
	t.Run("a revoked token is not found", func(t *testing.T) {
		id, tok := w.invite(t, "revoked@acme.test", "viewer")
		require.Empty(t, w.gql(t, w.tok["admin"], gqlRevoke, map[string]any{"i": id}).Errors)
		r := accept(t, "", "", map[string]any{"token": tok, "password": "a-long-password", "name": "R"})
		g := w.gql(t, "", gqlAccept, map[string]any{"t": tok, "p": "a-long-password", "n": "R"})
		agree(t, r, g, http.StatusNotFound, "")
	})
	t.Run("no token", func(t *testing.T) {
		r := accept(t, "", "", map[string]any{"password": "a-long-password"})
		assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
	})
	t.Run("an expired token", func(t *testing.T) {
		_, tok := w.invite(t, "late@acme.test", "viewer")
		w.clock.Advance(7*24*time.Hour + time.Minute)
		r := accept(t, "", "", map[string]any{"token": tok, "password": "a-long-password", "name": "L"})
		g := w.gql(t, "", gqlAccept, map[string]any{"t": tok, "p": "a-long-password", "n": "L"})
		agree(t, r, g, http.StatusBadRequest, "Invitation expired")
	})
}

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
			g := w.gql(t, admin, gqlUsers, nil)
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
		g := w.gql(t, admin, gqlChangeRole, map[string]any{"u": w.fresh(t, "viewer").ID, "r": "developer"})
		require.Empty(t, g.Errors)
		// A custom role; a name in any case.
		r = w.rest(t, "PUT", "/admin/users/"+u.ID.String()+"/role", admin, map[string]any{"role": "Recruiter"})
		assert.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, "recruiter", w.rest(t, "GET", "/admin/users?search="+url.QueryEscape(u.Email), admin, nil).Str("0.role"))
	})
	t.Run("an unknown role", func(t *testing.T) {
		u := w.fresh(t, "viewer")
		r := w.rest(t, "PUT", "/admin/users/"+u.ID.String()+"/role", admin, map[string]any{"role": "x"})
		g := w.gql(t, admin, gqlChangeRole, map[string]any{"u": u.ID, "r": "x"})
		agree(t, r, g, http.StatusBadRequest, "Role 'x' does not exist")
		r = w.rest(t, "PUT", "/admin/users/"+u.ID.String()+"/role", admin, map[string]any{"role": "globex-only"})
		assert.Equal(t, http.StatusBadRequest, r.Status, "another org's custom role does not exist here")
		assert.Equal(t, "Role 'globex-only' does not exist", r.Detail())
	})
	t.Run("another org's user", func(t *testing.T) {
		other := w.user["globex admin"].ID
		r := w.rest(t, "PUT", "/admin/users/"+other.String()+"/role", admin, map[string]any{"role": "viewer"})
		g := w.gql(t, admin, gqlChangeRole, map[string]any{"u": other, "r": "viewer"})
		agree(t, r, g, http.StatusNotFound, "User not found in this organization")
		r = w.rest(t, "DELETE", "/admin/users/"+other.String(), admin, nil)
		g = w.gql(t, admin, gqlRemove, map[string]any{"u": other})
		agree(t, r, g, http.StatusNotFound, "User not found in this organization")
	})
	t.Run("one's own role", func(t *testing.T) {
		r := w.rest(t, "PUT", "/admin/users/"+w.user["admin"].ID.String()+"/role", admin, map[string]any{"role": "viewer"})
		g := w.gql(t, admin, gqlChangeRole, map[string]any{"u": w.user["admin"].ID, "r": "viewer"})
		agree(t, r, g, http.StatusForbidden, "You cannot change your own role")
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
		g := w.gql(t, opsTok, gqlChangeRole, map[string]any{"u": u.ID, "r": "admin"})
		agree(t, r, g, http.StatusForbidden, "")
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
		agree(t, w.rest(t, "GET", "/auth/me", tok.Access, nil), w.gql(t, tok.Access, gqlMe, nil), http.StatusUnauthorized, "")
		assert.Equal(t, http.StatusUnauthorized, w.rest(t, "POST", "/auth/refresh", tok.Refresh, nil).Status)
		assert.NotContains(t, column(w.rest(t, "GET", "/admin/users", admin, nil).Body, "email"), u.Email)
		// The account stays.
		exists, err := w.s.App.Client().User.Get(apptest.SystemContext(), u.ID)
		require.NoError(t, err)
		assert.Equal(t, u.Email, exists.Email)
		// Removed already: not found.
		r = w.rest(t, "DELETE", "/admin/users/"+u.ID.String(), admin, nil)
		g := w.gql(t, admin, gqlRemove, map[string]any{"u": u.ID})
		agree(t, r, g, http.StatusNotFound, "User not found in this organization")
		v := w.fresh(t, "member")
		g = w.gql(t, admin, gqlRemove, map[string]any{"u": v.ID})
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
		r := w.rest(t, "PUT", "/admin/users/"+only.ID.String()+"/role", bossTok, map[string]any{"role": "member"})
		g := w.gql(t, bossTok, gqlChangeRole, map[string]any{"u": only.ID, "r": "member"})
		agree(t, r, g, http.StatusConflict, "Organization must keep at least one admin")
		r = w.rest(t, "DELETE", "/admin/users/"+only.ID.String(), bossTok, nil)
		g = w.gql(t, bossTok, gqlRemove, map[string]any{"u": only.ID})
		agree(t, r, g, http.StatusConflict, "Organization must keep at least one admin")
		assert.Equal(t, "admin", w.rest(t, "GET", "/admin/users?search=only", bossTok, nil).Str("0.role"))
	})
}

func TestRESTManagementInvitations(t *testing.T) {
	w := newWorld(t)
	admin := w.tok["admin"]

	r := w.rest(t, "POST", "/management/invitations", admin, map[string]any{"email": "first@acme.test", "role": "viewer"})
	first := inviteOf(t, r, http.StatusCreated)
	firstToken := r.Str("token")
	assert.Equal(t, "viewer", first["role"])
	assert.Equal(t, "pending", first["status"])
	assert.Equal(t, "/auth/accept-invite?token="+url.QueryEscape(firstToken), first["invite_link"])
	assert.True(t, stamp(t, first["expires_at"]).Equal(w.clock.Now().Add(7*24*time.Hour)), "the policy's TTL from now")
	// No role: the organization's default role.
	r = w.rest(t, "POST", "/management/invitations", admin, map[string]any{"email": "second@acme.test"})
	second := inviteOf(t, r, http.StatusCreated)
	assert.Equal(t, "member", second["role"])
	g := w.gql(t, admin, gqlInvite, map[string]any{"e": "third@acme.test", "r": "viewer"})
	require.Empty(t, g.Errors)

	t.Run("already a member", func(t *testing.T) {
		r := w.rest(t, "POST", "/management/invitations", admin, map[string]any{"email": "Viewer@ACME.test", "role": "viewer"})
		g := w.gql(t, admin, gqlInvite, map[string]any{"e": "viewer@acme.test", "r": "viewer"})
		agree(t, r, g, http.StatusBadRequest, "User is already a member of this organization")
	})
	t.Run("a pending invitation exists", func(t *testing.T) {
		r := w.rest(t, "POST", "/management/invitations", admin, map[string]any{"email": "FIRST@acme.test", "role": "viewer"})
		g := w.gql(t, admin, gqlInvite, map[string]any{"e": "first@acme.test", "r": "viewer"})
		agree(t, r, g, http.StatusBadRequest, "Pending invitation already exists for this email")
	})
	t.Run("an unknown role", func(t *testing.T) {
		r := w.rest(t, "POST", "/management/invitations", admin, map[string]any{"email": "x@acme.test", "role": "nope"})
		g := w.gql(t, admin, gqlInvite, map[string]any{"e": "x@acme.test", "r": "nope"})
		agree(t, r, g, http.StatusBadRequest, "Role 'nope' does not exist")
	})
	t.Run("a role above the inviter's", func(t *testing.T) {
		r := w.rest(t, "POST", "/management/invitations", w.tok["recruiter"], map[string]any{"email": "y@acme.test", "role": "admin"})
		g := w.gql(t, w.tok["recruiter"], gqlInvite, map[string]any{"e": "y@acme.test", "r": "admin"})
		agree(t, r, g, http.StatusForbidden, "")
	})
	t.Run("no e-mail", func(t *testing.T) {
		r := w.rest(t, "POST", "/management/invitations", admin, map[string]any{"role": "viewer"})
		assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
		assert.Equal(t, "Field required: email", r.Detail())
	})
	t.Run("an invalid e-mail", func(t *testing.T) {
		r := w.rest(t, "POST", "/management/invitations", admin, map[string]any{"email": "not-an-email", "role": "viewer"})
		g := w.gql(t, admin, gqlInvite, map[string]any{"e": "not-an-email", "r": "viewer"})
		agree(t, r, g, http.StatusBadRequest, "Invalid e-mail address")
	})

	t.Run("GET lists pending invitations, newest first, tokens for member:invite holders only", func(t *testing.T) {
		r := w.rest(t, "GET", "/management/invitations", admin, nil)
		require.Equal(t, http.StatusOK, r.Status)
		keys(t, r.Body, "invitations")
		list := r.List("invitations")
		for _, inv := range list {
			keys(t, inv, inviteKeys...)
		}
		assert.Equal(t, []string{"third@acme.test", "second@acme.test", "first@acme.test"}, column(list, "email"))
		assert.Equal(t, firstToken, r.Str("invitations.2.token"), "the inviter sees the link again")
		assert.Equal(t, "/auth/accept-invite?token="+url.QueryEscape(firstToken), r.Str("invitations.2.invite_link"))
		for _, inv := range list {
			assert.NotEmpty(t, inv.(map[string]any)["token"])
		}
		rec := w.rest(t, "GET", "/management/invitations", w.tok["recruiter"], nil)
		assert.Equal(t, firstToken, rec.Str("invitations.2.token"), "the recruiter holds member:invite")

		dev := w.rest(t, "GET", "/management/invitations", w.tok["developer"], nil)
		require.Equal(t, http.StatusOK, dev.Status)
		require.Len(t, dev.List("invitations"), 3)
		for _, inv := range dev.List("invitations") {
			m := inv.(map[string]any)
			assert.Contains(t, m, "token")
			assert.Nil(t, m["token"], "member:list only")
			assert.Contains(t, m, "invite_link")
			assert.Nil(t, m["invite_link"])
		}
		g := w.gql(t, w.tok["developer"], gqlInvitations, nil)
		require.Empty(t, g.Errors)
		assert.Contains(t, string(g.Data), `"token":null`)
		assert.NotContains(t, string(g.Data), firstToken)

		assert.Empty(t, w.rest(t, "GET", "/management/invitations", w.tok["globex admin"], nil).List("invitations"), "acme's invitations stay in acme")
	})

	t.Run("resend: a new token, the old one stops working", func(t *testing.T) {
		id := first["id"].(string)
		r := w.rest(t, "POST", "/management/invitations/"+id+"/resend", admin, nil)
		inv := inviteOf(t, r, http.StatusOK)
		assert.Equal(t, id, inv["id"])
		newToken := r.Str("token")
		assert.NotEmpty(t, newToken)
		assert.NotEqual(t, firstToken, newToken)
		assert.Equal(t, "/auth/accept-invite?token="+url.QueryEscape(newToken), inv["invite_link"])
		assert.Equal(t, http.StatusNotFound, w.rest(t, "GET", "/auth/invitations/"+firstToken, "", nil).Status)
		assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/invitations/"+newToken, "", nil).Status)
		g := w.gql(t, admin, gqlResend, map[string]any{"i": id})
		require.Empty(t, g.Errors)
		assert.NotEqual(t, newToken, g.Str("resendInvitation.token"))
	})
	t.Run("DELETE revokes", func(t *testing.T) {
		id := second["id"].(string)
		r := w.rest(t, "DELETE", "/management/invitations/"+id, admin, nil)
		assert.Equal(t, http.StatusNoContent, r.Status)
		assert.Empty(t, r.Raw)
		assert.NotContains(t, column(w.rest(t, "GET", "/management/invitations", admin, nil).List("invitations"), "id"), id)
		// Revoked already: no longer pending.
		r = w.rest(t, "DELETE", "/management/invitations/"+id, admin, nil)
		g := w.gql(t, admin, gqlRevoke, map[string]any{"i": id})
		agree(t, r, g, http.StatusBadRequest, "Only pending invitations can be revoked")
		r = w.rest(t, "POST", "/management/invitations/"+id+"/resend", admin, nil)
		g = w.gql(t, admin, gqlResend, map[string]any{"i": id})
		agree(t, r, g, http.StatusBadRequest, "Only pending invitations can be resent")
		other, _ := w.invite(t, "gqlrevoke@acme.test", "viewer")
		g = w.gql(t, admin, gqlRevoke, map[string]any{"i": other})
		require.Empty(t, g.Errors)
		assert.Equal(t, "REVOKED", g.Str("revokeInvitation.status"))
	})
	t.Run("another org's invitation is not found", func(t *testing.T) {
		id, tok := w.invite(t, "kept@acme.test", "viewer")
		globex := w.tok["globex admin"]
		agree(t, w.rest(t, "DELETE", "/management/invitations/"+id, globex, nil),
			w.gql(t, globex, gqlRevoke, map[string]any{"i": id}), http.StatusNotFound, "")
		agree(t, w.rest(t, "POST", "/management/invitations/"+id+"/resend", globex, nil),
			w.gql(t, globex, gqlResend, map[string]any{"i": id}), http.StatusNotFound, "")
		assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/invitations/"+tok, "", nil).Status, "untouched")
		unknown := "00000000-0000-4000-8000-000000000000"
		agree(t, w.rest(t, "DELETE", "/management/invitations/"+unknown, admin, nil),
			w.gql(t, admin, gqlRevoke, map[string]any{"i": unknown}), http.StatusNotFound, "")
	})
}

func TestRESTOrganizations(t *testing.T) {
	w := newWorld(t)
	root := w.root.Access
	admin := w.tok["admin"]

	t.Run("a super admin creates one and becomes its admin", func(t *testing.T) {
		r := w.rest(t, "POST", "/management/organizations", root, map[string]any{"name": "Initech", "log_payloads": true})
		require.Equal(t, http.StatusCreated, r.Status, "body %s", r.Raw)
		keys(t, r.Body, orgKeys...)
		assert.Equal(t, "Initech", r.Str("name"))
		assert.Equal(t, true, r.Get("log_payloads"))
		assert.Equal(t, true, r.Get("settings.log_payloads"))
		assert.Equal(t, "member", r.Str("settings.default_role"))
		stamp(t, r.Get("created_at"))
		orgs := w.rest(t, "GET", "/auth/organizations", root, nil)
		var mine []orgInfo
		orgs.Decode(t, &mine)
		assert.Contains(t, mine, orgInfo{ID: r.Str("id"), Name: "Initech", Role: "admin"})
		g := w.gql(t, root, gqlCreateOrg, map[string]any{"n": "Hooli"})
		require.Empty(t, g.Errors)
		created := w.rest(t, "POST", "/management/organizations", root, map[string]any{"name": "Plain"})
		require.Equal(t, http.StatusCreated, created.Status)
		assert.Equal(t, false, created.Get("log_payloads"))
	})
	t.Run("a duplicate name", func(t *testing.T) {
		r := w.rest(t, "POST", "/management/organizations", root, map[string]any{"name": "GLOBEX"})
		g := w.gql(t, root, gqlCreateOrg, map[string]any{"n": "Globex"})
		agree(t, r, g, http.StatusConflict, "Organization name already exists")
	})
	t.Run("not a super admin", func(t *testing.T) {
		r := w.rest(t, "POST", "/management/organizations", admin, map[string]any{"name": "Mine"})
		g := w.gql(t, admin, gqlCreateOrg, map[string]any{"n": "Mine"})
		agree(t, r, g, http.StatusForbidden, "Permission denied: super admin required")
	})
	t.Run("no name", func(t *testing.T) {
		r := w.rest(t, "POST", "/management/organizations", root, map[string]any{"log_payloads": true})
		assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
		assert.Equal(t, "Field required: name", r.Detail())
	})

	t.Run("GET /management/organizations/me", func(t *testing.T) {
		r := w.rest(t, "GET", "/management/organizations/me", admin, nil)
		require.Equal(t, http.StatusOK, r.Status)
		keys(t, r.Body, orgKeys...)
		assert.Equal(t, w.acme.ID.String(), r.Str("id"))
		assert.Equal(t, "Acme", r.Str("name"))
		keys(t, r.Get("settings"), "default_role", "log_payloads")
		keys(t, r.Get("billing"), "billing_email", "company_name", "address", "tax_id", "plan")
		dev := w.rest(t, "GET", "/management/organizations/me", w.tok["developer"], nil)
		require.Equal(t, http.StatusOK, dev.Status)
		assert.Contains(t, dev.Body, "billing")
		assert.Nil(t, dev.Get("billing"), "billing:view only")
		g := w.gql(t, w.tok["developer"], gqlMyOrg, nil)
		require.Empty(t, g.Errors)
		assert.Nil(t, g.Get("organization.billing"))
		assert.Equal(t, w.globex.ID.String(), w.rest(t, "GET", "/management/organizations/me", w.tok["globex admin"], nil).Str("id"))
	})
	t.Run("PATCH /management/organizations/me", func(t *testing.T) {
		patch := func(t *testing.T, body any) *resp {
			r := w.rest(t, "PATCH", "/management/organizations/me", admin, body)
			require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
			keys(t, r.Body, orgKeys...)
			return r
		}
		assert.Equal(t, "Acme Corp", patch(t, map[string]any{"name": "Acme Corp"}).Str("name"))
		r := patch(t, map[string]any{"log_payloads": true})
		assert.Equal(t, true, r.Get("log_payloads"))
		assert.Equal(t, true, r.Get("settings.log_payloads"))
		assert.Equal(t, "Acme Corp", r.Str("name"), "omitted fields stay")
		r = patch(t, map[string]any{"settings": map[string]any{"default_role": "developer"}})
		assert.Equal(t, "developer", r.Str("settings.default_role"))
		assert.Equal(t, true, r.Get("log_payloads"))
		r = patch(t, map[string]any{"billing": map[string]any{"plan": "enterprise", "billing_email": "billing@acme.test", "company_name": "Acme Inc."}})
		assert.Equal(t, "enterprise", r.Str("billing.plan"))
		assert.Equal(t, "billing@acme.test", r.Str("billing.billing_email"))
		assert.Equal(t, "Acme Inc.", r.Str("billing.company_name"))
		got := w.rest(t, "GET", "/management/organizations/me", admin, nil)
		assert.Equal(t, "Acme Corp", got.Str("name"))
		assert.Equal(t, "developer", got.Str("settings.default_role"))
		assert.Equal(t, "enterprise", got.Str("billing.plan"))
		// The invitation default follows the setting.
		inv := w.rest(t, "POST", "/management/invitations", admin, map[string]any{"email": "defaulted@acme.test"})
		assert.Equal(t, "developer", inv.Str("role"))

		g := w.gql(t, admin, gqlUpdateOrg, map[string]any{"in": map[string]any{"name": "Acme", "settings": map[string]any{"defaultRole": "member"}}})
		require.Empty(t, g.Errors)
		assert.Equal(t, "Acme", w.rest(t, "GET", "/management/organizations/me", admin, nil).Str("name"))
	})
	t.Run("PATCH errors", func(t *testing.T) {
		r := w.rest(t, "PATCH", "/management/organizations/me", w.tok["developer"], map[string]any{"name": "Mine"})
		g := w.gql(t, w.tok["developer"], gqlUpdateOrg, map[string]any{"in": map[string]any{"name": "Mine"}})
		agree(t, r, g, http.StatusForbidden, "Permission denied: organization:update required")
		r = w.rest(t, "PATCH", "/management/organizations/me", admin, map[string]any{"settings": map[string]any{"default_role": "x"}})
		g = w.gql(t, admin, gqlUpdateOrg, map[string]any{"in": map[string]any{"settings": map[string]any{"defaultRole": "x"}}})
		agree(t, r, g, http.StatusBadRequest, "Role 'x' does not exist")
		r = w.rest(t, "PATCH", "/management/organizations/me", admin, map[string]any{"name": "Globex"})
		g = w.gql(t, admin, gqlUpdateOrg, map[string]any{"in": map[string]any{"name": "globex"}})
		agree(t, r, g, http.StatusConflict, "Organization name already exists")
		assert.Equal(t, "Acme", w.rest(t, "GET", "/management/organizations/me", admin, nil).Str("name"))
	})
}

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
		g := w.gql(t, admin, gqlRoles, nil)
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
				assert.Len(t, m["permissions"], 25)
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
		g := w.gql(t, admin, gqlCreateRole, map[string]any{"n": "auditor2", "p": []string{"audit_log:list"}})
		require.Empty(t, g.Errors)
	})
	t.Run("POST errors", func(t *testing.T) {
		for _, name := range []string{"recruiter", "admin", "Recruiter"} {
			r := w.rest(t, "POST", "/admin/roles", admin, map[string]any{"name": name, "permissions": []string{"model:list"}})
			g := w.gql(t, admin, gqlCreateRole, map[string]any{"n": name, "p": []string{"model:list"}})
			agree(t, r, g, http.StatusBadRequest, "Role already exists")
		}
		r := w.rest(t, "POST", "/admin/roles", admin, map[string]any{"name": "bad", "permissions": []string{"model:list", "nope:x", "fly"}})
		g := w.gql(t, admin, gqlCreateRole, map[string]any{"n": "bad", "p": []string{"model:list", "nope:x", "fly"}})
		agree(t, r, g, http.StatusBadRequest, "")
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
		g := w.gql(t, admin, gqlUpdateRole, map[string]any{"n": name, "p": []string{"model:list"}})
		require.Empty(t, g.Errors)

		r = w.rest(t, "PUT", "/admin/roles/nope", admin, map[string]any{"description": "x"})
		g = w.gql(t, admin, gqlUpdateRole, map[string]any{"n": "nope", "d": "x"})
		agree(t, r, g, http.StatusNotFound, "Role not found")
		r = w.rest(t, "PUT", "/admin/roles/viewer", admin, map[string]any{"description": "x"})
		g = w.gql(t, admin, gqlUpdateRole, map[string]any{"n": "viewer", "d": "x"})
		agree(t, r, g, http.StatusBadRequest, "Built-in roles cannot be changed")
		r = w.rest(t, "PUT", "/admin/roles/globex-only", admin, map[string]any{"description": "x"})
		g = w.gql(t, admin, gqlUpdateRole, map[string]any{"n": "globex-only", "d": "x"})
		agree(t, r, g, http.StatusNotFound, "Role not found")
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
		g := w.gql(t, admin, gqlDeleteRole, map[string]any{"n": w.customRole(t)})
		require.Empty(t, g.Errors)

		r = w.rest(t, "DELETE", "/admin/roles/"+name, admin, nil)
		g = w.gql(t, admin, gqlDeleteRole, map[string]any{"n": name})
		agree(t, r, g, http.StatusNotFound, "Role not found")
		r = w.rest(t, "DELETE", "/admin/roles/member", admin, nil)
		g = w.gql(t, admin, gqlDeleteRole, map[string]any{"n": "member"})
		agree(t, r, g, http.StatusBadRequest, "Cannot delete default system roles")
		// In use by a member, then by a pending invitation.
		r = w.rest(t, "DELETE", "/admin/roles/recruiter", admin, nil)
		g = w.gql(t, admin, gqlDeleteRole, map[string]any{"n": "recruiter"})
		agree(t, r, g, http.StatusConflict, "Role is in use by 1 member(s) and 0 pending invitation(s)")
		used := w.customRole(t)
		w.invite(t, "holder@acme.test", used)
		r = w.rest(t, "DELETE", "/admin/roles/"+used, admin, nil)
		g = w.gql(t, admin, gqlDeleteRole, map[string]any{"n": used})
		agree(t, r, g, http.StatusConflict, "Role is in use by 0 member(s) and 1 pending invitation(s)")
	})
	t.Run("GET /admin/roles/permissions/list", func(t *testing.T) {
		catalog := []string{"api_key:create", "api_key:list", "api_key:revoke",
			"deployment:create", "deployment:list", "deployment:update", "deployment:delete", "model:access",
			"model:list", "model:add", "model:delete", "member:invite", "member:delete", "member:list",
			"role:create", "role:list", "role:update", "role:delete", "audit_log:list", "organization:view",
			"organization:update", "security:view", "security:update", "billing:view", "billing:update"}
		r := w.rest(t, "GET", "/admin/roles/permissions/list", admin, nil)
		require.Equal(t, http.StatusOK, r.Status)
		got := strs(r.Body)
		assert.Len(t, got, 25)
		assert.Equal(t, "api_key:create", r.Str("0"))
		assert.Equal(t, catalog, got, "rest.md's catalog order")
		g := w.gql(t, admin, gqlCatalog, nil)
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

func TestRESTAuditLogs(t *testing.T) {
	w := newWorld(t)
	admin := w.tok["admin"]
	before := time.Now().UTC()
	time.Sleep(5 * time.Millisecond)
	target := w.fresh(t, "viewer")
	require.Equal(t, http.StatusOK, w.rest(t, "PUT", "/admin/users/"+target.ID.String()+"/role", admin, map[string]any{"role": "member"}).Status)
	time.Sleep(5 * time.Millisecond)
	middle := time.Now().UTC()
	time.Sleep(5 * time.Millisecond)
	require.Equal(t, http.StatusCreated, w.rest(t, "POST", "/management/invitations", admin, map[string]any{"email": "audited@acme.test", "role": "viewer"}).Status)
	require.Equal(t, http.StatusOK, w.rest(t, "POST", "/admin/roles", w.tok["globex admin"], map[string]any{"name": "elsewhere", "permissions": []string{"model:list"}}).Status)

	list := func(t *testing.T, query string) *resp {
		r := w.rest(t, "GET", "/audit/logs"+query, admin, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s: %s", query, r.Raw)
		return r
	}
	all := list(t, "")
	entries := all.List("")
	require.NotEmpty(t, entries)
	var last time.Time
	for i, e := range entries {
		keys(t, e, auditKeys...)
		m := e.(map[string]any)
		assert.Equal(t, w.acme.ID.String(), m["org_id"], "the active org only")
		at := stamp(t, m["timestamp"])
		if i > 0 {
			assert.False(t, at.After(last), "newest first")
		}
		last = at
		assert.NotNil(t, m["details"])
	}
	actions := column(entries, "action")
	assert.Contains(t, actions, "member.role_change")
	assert.Contains(t, actions, "invitation.create")
	assert.NotContains(t, actions, "role.create", "globex's role stays in globex")
	assert.Equal(t, "invitation.create", actions[slices.IndexFunc(actions, func(a string) bool { return a != "auth.login" })],
		"the newest change comes first")

	g := w.gql(t, admin, gqlAudit, nil)
	require.Empty(t, g.Errors)
	var data struct {
		Viewer struct {
			Organization struct{ AuditLogList []struct{ ID string } }
		}
	}
	g.Decode(t, &data)
	var ids []string
	for _, e := range data.Viewer.Organization.AuditLogList {
		ids = append(ids, e.ID)
	}
	assert.Equal(t, ids, column(entries, "id"), "the same entries on both paths")

	t.Run("filters", func(t *testing.T) {
		changes := list(t, "?action=member.role_change").List("")
		require.Len(t, changes, 1)
		m := changes[0].(map[string]any)
		assert.Equal(t, w.user["admin"].ID.String(), m["user_id"])
		assert.Equal(t, "admin@acme.test", m["user_email"])
		assert.Equal(t, "member", m["category"])
		assert.Equal(t, target.ID.String(), m["resource_id"])
		assert.Equal(t, "member", m["details"].(map[string]any)["new_role"])
		assert.Equal(t, "success", m["status"])

		for _, e := range list(t, "?category=invitation").List("") {
			assert.Equal(t, "invitation", e.(map[string]any)["category"])
		}
		assert.Len(t, list(t, "?category=invitation").List(""), 1)
		mine := list(t, "?user_id="+w.user["admin"].ID.String()).List("")
		require.NotEmpty(t, mine)
		for _, e := range mine {
			assert.Equal(t, w.user["admin"].ID.String(), e.(map[string]any)["user_id"])
		}

		since := column(list(t, "?start_date="+url.QueryEscape(middle.Format(time.RFC3339Nano))).Body, "action")
		assert.Contains(t, since, "invitation.create")
		assert.NotContains(t, since, "member.role_change")
		until := column(list(t, "?end_date="+url.QueryEscape(middle.Format(time.RFC3339Nano))).Body, "action")
		assert.Contains(t, until, "member.role_change")
		assert.NotContains(t, until, "invitation.create")
		between := column(list(t, "?start_date="+url.QueryEscape(before.Format(time.RFC3339Nano))+"&end_date="+url.QueryEscape(middle.Format(time.RFC3339Nano))).Body, "action")
		assert.Equal(t, []string{"member.role_change"}, between)
		assert.Empty(t, list(t, "?end_date=2000-01-01").List(""), "a plain date")

		g := w.gql(t, admin, gqlAudit, map[string]any{"w": map[string]any{"action": "member.role_change"}})
		require.Empty(t, g.Errors)
		assert.Equal(t, m["id"], gget(g, "viewer.organization.auditLogList.0.id"))
	})
	t.Run("paging", func(t *testing.T) {
		ids := column(entries, "id")
		require.GreaterOrEqual(t, len(ids), 3)
		assert.Equal(t, ids[:1], column(list(t, "?limit=1").Body, "id"))
		assert.Equal(t, ids[1:2], column(list(t, "?skip=1&limit=1").Body, "id"))
		assert.Equal(t, ids[2:], column(list(t, "?skip=2").Body, "id"))
		assert.Equal(t, ids, column(list(t, "?limit=1000").Body, "id"))
		for _, q := range []string{"?limit=1001", "?limit=0", "?skip=-1", "?start_date=yesterday", "?end_date=2024-13-45"} {
			assert.Equal(t, http.StatusUnprocessableEntity, w.rest(t, "GET", "/audit/logs"+q, admin, nil).Status, q)
		}
	})
	t.Run("globex's admin sees globex's log", func(t *testing.T) {
		r := w.rest(t, "GET", "/audit/logs", w.tok["globex admin"], nil)
		require.Equal(t, http.StatusOK, r.Status)
		assert.Contains(t, column(r.Body, "action"), "role.create")
		for _, e := range r.List("") {
			assert.Equal(t, w.globex.ID.String(), e.(map[string]any)["org_id"])
		}
	})
}

func TestRESTSessionsAndPassword(t *testing.T) {
	w := newWorld(t)
	email := w.user["developer"].Email
	a := w.login(t, email)
	b := w.login(t, email)

	t.Run("GET /auth/sessions", func(t *testing.T) {
		r := w.rest(t, "GET", "/auth/sessions", a.Access, nil)
		require.Equal(t, http.StatusOK, r.Status)
		current := map[string]bool{}
		for _, s := range r.List("") {
			keys(t, s, sessionKeys...)
			m := s.(map[string]any)
			current[m["id"].(string)] = m["current"].(bool)
			stamp(t, m["created_at"])
			stamp(t, m["last_used_at"])
			stamp(t, m["expires_at"])
			assert.Equal(t, "127.0.0.1", m["ip_address"])
		}
		assert.Len(t, current, 3, "the world's session, a and b")
		g := w.gql(t, a.Access, gqlSessions, nil)
		require.Empty(t, g.Errors)
		assert.True(t, current[g.Str("viewer.session.id")], "the current session")
		var data struct {
			Viewer struct{ Sessions []struct{ ID string } }
		}
		g.Decode(t, &data)
		var ids []string
		for _, s := range data.Viewer.Sessions {
			ids = append(ids, s.ID)
		}
		assert.Equal(t, ids, column(r.Body, "id"), "the same sessions on both paths")
		n := 0
		for _, c := range current {
			if c {
				n++
			}
		}
		assert.Equal(t, 1, n, "one current session")
	})
	sessionOf := func(t *testing.T, tok string) string {
		g := w.gql(t, tok, gqlSessions, nil)
		require.Empty(t, g.Errors)
		return g.Str("viewer.session.id")
	}
	t.Run("DELETE /auth/sessions/{id}", func(t *testing.T) {
		r := w.rest(t, "DELETE", "/auth/sessions/"+sessionOf(t, b.Access), a.Access, nil)
		assert.Equal(t, http.StatusNoContent, r.Status)
		assert.Empty(t, r.Raw)
		assert.Equal(t, http.StatusUnauthorized, w.rest(t, "GET", "/auth/me", b.Access, nil).Status)
		assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/me", a.Access, nil).Status)
		c := w.login(t, email)
		g := w.gql(t, a.Access, gqlRevokeSession, map[string]any{"i": sessionOf(t, c.Access)})
		require.Empty(t, g.Errors)
		assert.Equal(t, http.StatusUnauthorized, w.rest(t, "GET", "/auth/me", c.Access, nil).Status)
		// Someone else's session is not found, and stays.
		other := w.tok["member"]
		id := sessionOf(t, other)
		r = w.rest(t, "DELETE", "/auth/sessions/"+id, a.Access, nil)
		agree(t, r, w.gql(t, a.Access, gqlRevokeSession, map[string]any{"i": id}), http.StatusNotFound, "")
		assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/me", other, nil).Status)
		unknown := "00000000-0000-4000-8000-000000000000"
		agree(t, w.rest(t, "DELETE", "/auth/sessions/"+unknown, a.Access, nil),
			w.gql(t, a.Access, gqlRevokeSession, map[string]any{"i": unknown}), http.StatusNotFound, "")
	})
	t.Run("DELETE /auth/sessions revokes all but the current one", func(t *testing.T) {
		c, d := w.login(t, email), w.login(t, email)
		r := w.rest(t, "DELETE", "/auth/sessions", a.Access, nil)
		require.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, map[string]any{"revoked": float64(3)}, r.Body, "c, d and the world's")
		for _, tok := range []string{c.Access, d.Access, w.tok["developer"]} {
			assert.Equal(t, http.StatusUnauthorized, w.rest(t, "GET", "/auth/me", tok, nil).Status)
		}
		assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/me", a.Access, nil).Status)
		assert.Len(t, w.rest(t, "GET", "/auth/sessions", a.Access, nil).List(""), 1)
		e := w.login(t, email)
		g := w.gql(t, a.Access, gqlRevokeOthers, nil)
		require.Empty(t, g.Errors)
		assert.Equal(t, float64(1), g.Get("revokeOtherSessions"))
		assert.Equal(t, http.StatusUnauthorized, w.rest(t, "GET", "/auth/me", e.Access, nil).Status)
	})
	t.Run("POST /auth/change-password", func(t *testing.T) {
		other := w.login(t, email)
		r := w.rest(t, "POST", "/auth/change-password", a.Access, map[string]any{"current_password": "wrong-password", "new_password": "a-new-password"})
		g := w.gql(t, a.Access, gqlChangePassword, map[string]any{"c": "wrong-password", "n": "a-new-password"})
		agree(t, r, g, http.StatusBadRequest, "Current password is incorrect")
		r = w.rest(t, "POST", "/auth/change-password", a.Access, map[string]any{"current_password": apptest.Password(email), "new_password": "short"})
		g = w.gql(t, a.Access, gqlChangePassword, map[string]any{"c": apptest.Password(email), "n": "short"})
		agree(t, r, g, http.StatusBadRequest, "Password must be at least 8 characters")
		r = w.rest(t, "POST", "/auth/change-password", a.Access, map[string]any{"current_password": apptest.Password(email)})
		assert.Equal(t, http.StatusUnprocessableEntity, r.Status)

		r = w.rest(t, "POST", "/auth/change-password", a.Access, map[string]any{"current_password": apptest.Password(email), "new_password": "a-new-password"})
		assert.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
		assert.Equal(t, http.StatusUnauthorized, w.rest(t, "GET", "/auth/me", other.Access, nil).Status, "other sessions end")
		assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/me", a.Access, nil).Status, "the current one goes on")
		assert.Equal(t, http.StatusUnauthorized, w.rest(t, "POST", "/auth/login", "", map[string]any{"username": email, "password": apptest.Password(email)}).Status)
		tokenOf(t, w.rest(t, "POST", "/auth/login", "", map[string]any{"username": email, "password": "a-new-password"}))
		g = w.gql(t, a.Access, gqlChangePassword, map[string]any{"c": "a-new-password", "n": "another-password"})
		require.Empty(t, g.Errors)
		assert.Equal(t, true, g.Get("changePassword"))
	})
	t.Run("nobody", func(t *testing.T) {
		agree(t, w.rest(t, "GET", "/auth/sessions", "", nil), w.gql(t, "", gqlSessions, nil), http.StatusUnauthorized, "Not authenticated")
		agree(t, w.rest(t, "DELETE", "/auth/sessions", "", nil), w.gql(t, "", gqlRevokeOthers, nil), http.StatusUnauthorized, "Not authenticated")
		agree(t, w.rest(t, "POST", "/auth/change-password", "", map[string]any{"current_password": "a", "new_password": "b"}),
			w.gql(t, "", gqlChangePassword, map[string]any{"c": "a", "n": "b"}), http.StatusUnauthorized, "Not authenticated")
	})
}

// code is the authenticator code of secret at a time.
func code(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	require.NoError(t, err)
	return c
}

// wrongCode returns six digits that are none of the codes due around at.
func wrongCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	due := map[string]bool{}
	for step := -2; step <= 2; step++ {
		due[code(t, secret, at.Add(time.Duration(step)*30*time.Second))] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333", "444444"} {
		if !due[c] {
			return c
		}
	}
	t.Fatal("every candidate is due")
	return ""
}

// enableTOTP turns 2FA on over REST for the bearer's user and moves the clock to the next time
// step, so that a code not used yet is due. It returns the secret.
func (w *world) enableTOTP(t testing.TB, bearer string) string {
	t.Helper()
	r := w.rest(t, "POST", "/auth/totp/setup", bearer, nil)
	require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
	secret := r.Str("secret")
	r = w.rest(t, "POST", "/auth/totp/verify", bearer, map[string]any{"totp_code": code(t, secret, w.clock.Now())})
	require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
	w.clock.Advance(30 * time.Second)
	return secret
}

func TestRESTTwoFactor(t *testing.T) {
	w := newWorld(t)
	email := w.user["member"].Email
	pw := apptest.Password(email)
	tok := w.tok["member"]
	gqlTok := w.tok["viewer"]

	t.Run("verify before setup", func(t *testing.T) {
		r := w.rest(t, "POST", "/auth/totp/verify", tok, map[string]any{"totp_code": "123456"})
		g := w.gql(t, gqlTok, gqlConfirmTOTP, map[string]any{"c": "123456"})
		agree(t, r, g, http.StatusBadRequest, "TOTP setup not requested")
	})
	var secret, gqlSecret string
	t.Run("setup", func(t *testing.T) {
		r := w.rest(t, "POST", "/auth/totp/setup", tok, nil)
		require.Equal(t, http.StatusOK, r.Status)
		keys(t, r.Body, "secret", "qr_code", "otpauth_url")
		secret = r.Str("secret")
		assert.NotEmpty(t, secret)
		assert.True(t, strings.HasPrefix(r.Str("qr_code"), "data:image/png;base64,"), r.Str("qr_code"))
		assert.True(t, strings.HasPrefix(r.Str("otpauth_url"), "otpauth://totp/"), r.Str("otpauth_url"))
		assert.Contains(t, r.Str("otpauth_url"), "secret="+secret)
		assert.Equal(t, false, w.rest(t, "GET", "/auth/me", tok, nil).Get("totp_enabled"), "pending until verified")
		g := w.gql(t, gqlTok, gqlBeginTOTP, nil)
		require.Empty(t, g.Errors)
		gqlSecret = g.Str("beginTwoFactorSetup.secret")
		assert.NotEmpty(t, gqlSecret)
	})
	t.Run("verify with a wrong code", func(t *testing.T) {
		r := w.rest(t, "POST", "/auth/totp/verify", tok, map[string]any{"totp_code": wrongCode(t, secret, w.clock.Now())})
		g := w.gql(t, gqlTok, gqlConfirmTOTP, map[string]any{"c": wrongCode(t, gqlSecret, w.clock.Now())})
		agree(t, r, g, http.StatusBadRequest, "Invalid Code")
		assert.Equal(t, http.StatusUnprocessableEntity, w.rest(t, "POST", "/auth/totp/verify", tok, map[string]any{}).Status)
	})
	t.Run("verify", func(t *testing.T) {
		r := w.rest(t, "POST", "/auth/totp/verify", tok, map[string]any{"totp_code": code(t, secret, w.clock.Now())})
		require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
		keys(t, r.Body, "status", "recovery_codes")
		assert.Equal(t, "enabled", r.Str("status"))
		assert.NotEmpty(t, strs(r.Get("recovery_codes")))
		assert.Equal(t, true, w.rest(t, "GET", "/auth/me", tok, nil).Get("totp_enabled"))
		w.clock.Advance(30 * time.Second)
	})
	t.Run("sign in without a code", func(t *testing.T) {
		r := w.rest(t, "POST", "/auth/login", "", map[string]any{"username": email, "password": pw})
		assert.Equal(t, http.StatusForbidden, r.Status)
		assert.Equal(t, "TOTP_REQUIRED", r.Detail())
		g := w.gql(t, "", gqlLogin, map[string]any{"e": email, "p": pw})
		assert.Equal(t, "TWO_FACTOR_CODE_REQUIRED", g.Code())
		assert.Equal(t, "TOTP_REQUIRED", g.Errors[0].Message)
	})
	t.Run("sign in with a wrong code", func(t *testing.T) {
		bad := wrongCode(t, secret, w.clock.Now())
		r := w.rest(t, "POST", "/auth/login", "", map[string]any{"username": email, "password": pw, "totp_code": bad})
		g := w.gql(t, "", gqlLogin, map[string]any{"e": email, "p": pw, "c": bad})
		agree(t, r, g, http.StatusUnauthorized, "Invalid 2FA Code")
		r = w.rest(t, "POST", "/auth/login", "", map[string]any{"username": email, "password": "wrong-password", "totp_code": code(t, secret, w.clock.Now())})
		assert.Equal(t, http.StatusUnauthorized, r.Status)
		assert.Equal(t, "Incorrect username or password", r.Detail(), "the password is checked first")
	})
	t.Run("sign in with the current code", func(t *testing.T) {
		a := tokenOf(t, w.rest(t, "POST", "/auth/login", "", map[string]any{"username": email, "password": pw, "totp_code": code(t, secret, w.clock.Now())}))
		assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/me", a.AccessToken, nil).Status)
		w.clock.Advance(30 * time.Second)
		g := w.gql(t, "", gqlLogin, map[string]any{"e": email, "p": pw, "c": code(t, secret, w.clock.Now())})
		require.Empty(t, g.Errors)
		w.clock.Advance(30 * time.Second)
	})
	t.Run("disable", func(t *testing.T) {
		r := w.rest(t, "POST", "/auth/totp/disable", tok, map[string]any{})
		assert.Equal(t, http.StatusBadRequest, r.Status)
		assert.Equal(t, "A current code or the password is required", r.Detail())
		r = w.rest(t, "POST", "/auth/totp/disable", tok, map[string]any{"password": "wrong-password"})
		assert.Equal(t, http.StatusUnauthorized, r.Status)
		r = w.rest(t, "POST", "/auth/totp/disable", tok, map[string]any{"password": pw})
		assert.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, map[string]any{"status": "disabled"}, r.Body)
		assert.Equal(t, false, w.rest(t, "GET", "/auth/me", tok, nil).Get("totp_enabled"))
		tokenOf(t, w.rest(t, "POST", "/auth/login", "", map[string]any{"username": email, "password": pw}))
		// Again, by code, on both paths.
		secret := w.enableTOTP(t, tok)
		r = w.rest(t, "POST", "/auth/totp/disable", tok, map[string]any{"totp_code": code(t, secret, w.clock.Now())})
		assert.Equal(t, map[string]any{"status": "disabled"}, r.Body)
		w.clock.Advance(30 * time.Second)
		gsecret := w.enableTOTP(t, gqlTok)
		g := w.gql(t, gqlTok, gqlDisableTOTP, map[string]any{"c": code(t, gsecret, w.clock.Now())})
		require.Empty(t, g.Errors)
		r = w.rest(t, "POST", "/auth/totp/disable", tok, map[string]any{"password": pw})
		g = w.gql(t, gqlTok, gqlDisableTOTP, map[string]any{"p": apptest.Password(w.user["viewer"].Email)})
		agree(t, r, g, http.StatusBadRequest, "Two-factor authentication is not enabled")
	})
	t.Run("disable is refused while the org requires 2FA", func(t *testing.T) {
		w.enableTOTP(t, tok)
		w.enableTOTP(t, gqlTok)
		require.Empty(t, w.gql(t, w.tok["admin"], gqlRequire2FA, map[string]any{"r": true}).Errors)
		r := w.rest(t, "POST", "/auth/totp/disable", tok, map[string]any{"password": pw})
		g := w.gql(t, gqlTok, gqlDisableTOTP, map[string]any{"p": apptest.Password(w.user["viewer"].Email)})
		agree(t, r, g, http.StatusForbidden, "Two-factor authentication is required by an organization you belong to")
		assert.Equal(t, true, w.rest(t, "GET", "/auth/me", tok, nil).Get("totp_enabled"))
	})
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
