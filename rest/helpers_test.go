package rest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
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
