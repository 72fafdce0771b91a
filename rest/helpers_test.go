package rest_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/server/apptest"
)

// Every route of rest.md, its success and each error it lists, tried by the roles of acme
// (admin, developer, member, viewer and a custom "recruiter"), by globex's admin and by nobody.
// Each REST case sits next to its GraphQL twin: the route's own operation, sent to /graphql with
// the variables the route makes from the same request (apptest's Twin), so that the status must
// be the code's (401 UNAUTHENTICATED, 403 FORBIDDEN, 404 NOT_FOUND, 400 BAD_USER_INPUT,
// 409 CONFLICT) and the detail must be the message (apptest.SameAnswer).

// The REST client of these tests is apptest's.
type (
	request = apptest.RESTRequest
	resp    = apptest.RESTResponse
)

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
	auditKeys     = []string{"id", "timestamp", "user_id", "api_key_id", "user_email", "org_id", "action", "category", "resource_type", "resource_id", "details", "ip_address", "status"}
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

// gqlRequire2FA sets the organization's 2FA requirement, which no REST route does.
const gqlRequire2FA = `mutation($r: Boolean!) { updateSecurityPolicy(input: {requireTwoFactor: $r}) { requireTwoFactor } }`

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
	clock := apptest.NewWholeSecondClock()
	s := apptest.Start(t, append([]apptest.Option{apptest.WithClock(clock), apptest.WithLimits(apptest.RoomyLimits)}, opts...)...)
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
	g := w.op(t, w.tok["admin"], "InviteMember", map[string]any{"email": email, "role": role})
	require.Empty(t, g.Errors, "inviting %s", email)
	return g.Str("inviteMember.invitation.id"), g.Str("inviteMember.token")
}

// customRole creates a custom role of acme and returns its name.
func (w *world) customRole(t testing.TB) string {
	t.Helper()
	name := w.unique("tmp-")
	require.Empty(t, w.op(t, w.tok["admin"], "CreateRole", map[string]any{"name": name, "permissions": []string{"model:list"}}).Errors)
	return name
}

// sessionID returns the id of the session of an access token.
func (w *world) sessionID(t testing.TB, tok string) string {
	t.Helper()
	return sessionID(t, w.s, tok)
}

// sessionID returns the id of the session of an access token: the current one of its sessions.
func sessionID(t testing.TB, s *apptest.Server, tok string) string {
	t.Helper()
	r := s.REST(t, request{Method: "GET", Path: "/auth/sessions", Bearer: tok})
	require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
	for _, s := range r.List("") {
		if m := s.(map[string]any); m["current"] == true {
			return m["id"].(string)
		}
	}
	t.Fatal("no current session")
	return ""
}

// rest sends a REST request to the world's server.
func (w *world) rest(t testing.TB, method, path, bearer string, body any) *resp {
	t.Helper()
	return w.s.REST(t, request{Method: method, Path: path, Bearer: bearer, Body: body})
}

// gql sends the GraphQL twin of the same REST request: its route's operation, with the
// variables the route makes from it.
func (w *world) gql(t testing.TB, method, path, bearer string, body any) *apptest.Response {
	t.Helper()
	return w.s.Twin(t, request{Method: method, Path: path, Bearer: bearer, Body: body})
}

// same sends a REST request and then its GraphQL twin, and asserts they answer alike: status
// (and detail, unless empty) on REST, its code and the same message on GraphQL.
func (w *world) same(t testing.TB, method, path, bearer string, body any, status int, detail string) {
	t.Helper()
	r := w.rest(t, method, path, bearer, body)
	apptest.SameAnswer(t, r, w.gql(t, method, path, bearer, body), status, detail)
}

// op runs a named operation of the REST layer on /graphql, for the routes that choose their
// operation at run time and for setting up.
func (w *world) op(t testing.TB, bearer, name string, vars map[string]any) *apptest.Response {
	t.Helper()
	return w.s.Operation(t, bearer, name, vars)
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
