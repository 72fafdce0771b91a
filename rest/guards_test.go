package rest_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent/organization"
	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/server/apptest"
)

// The guards of issue 16 through the REST routes, each REST answer beside its GraphQL twin. Each
// test is built so that the guard it names is the only thing between the caller and the harm;
// graph/guards_test.go tells the same stories on GraphQL.

// retryAfter asserts a 429 with a Retry-After of whole seconds and returns it.
func retryAfter(t testing.TB, r *resp) int {
	t.Helper()
	require.Equal(t, http.StatusTooManyRequests, r.Status, "body %s", r.Raw)
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q is whole seconds", r.Header.Get("Retry-After"))
	return secs
}

func TestRESTOneAddressSprayingOnePasswordAcrossAccountsIsBlockedOnEveryReplica(t *testing.T) {
	w := newWorld(t, apptest.WithLimits(graph.DefaultLimits))
	// A second replica on the same database, with the same clock.
	other := apptest.StartWith(t, w.s.Config, w.s.Opts)
	signIn := func(email, password string) request {
		return request{Method: "POST", Path: "/auth/login", Body: map[string]any{"username": email, "password": password}}
	}
	login := func(t *testing.T, s *apptest.Server, email, password string) *resp {
		t.Helper()
		return s.REST(t, signIn(email, password))
	}
	// Thirty accounts tried once each with one password, on REST and on GraphQL, on both replicas.
	var targets []string
	for _, a := range actors {
		targets = append(targets, w.user[a].Email)
	}
	for i := len(targets); i < 30; i++ {
		targets = append(targets, fmt.Sprintf("nobody%02d@acme.test", i))
	}
	spray := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			switch i % 3 {
			case 0:
				r := login(t, w.s, targets[i], "Spring2025!")
				require.Equal(t, http.StatusUnauthorized, r.Status, "attempt %d: %s", i, r.Raw)
			case 1:
				r := login(t, other, targets[i], "Spring2025!")
				require.Equal(t, http.StatusUnauthorized, r.Status, "attempt %d: %s", i, r.Raw)
			default:
				g := other.Twin(t, signIn(targets[i], "Spring2025!"))
				require.Equal(t, "UNAUTHENTICATED", g.Code(), "attempt %d", i)
			}
		}
	}

	spray(0, 20)
	// The attacker's own sign-in succeeds and must not wipe the address's count.
	viewer := w.user["viewer"].Email
	tokenOf(t, login(t, other, viewer, apptest.Password(viewer)))
	spray(20, 29)
	member := w.user["member"].Email
	tokenOf(t, login(t, w.s, member, apptest.Password(member)))
	spray(29, 30)

	for _, s := range []*apptest.Server{w.s, other} {
		r := login(t, s, member, apptest.Password(member))
		g := s.Twin(t, signIn(member, apptest.Password(member)))
		apptest.SameAnswer(t, r, g, http.StatusTooManyRequests, "Too many failed attempts. Try again later.")
		assert.Equal(t, 15, retryAfter(t, r))
		assert.Equal(t, 15, retryAfter(t, login(t, s, "someone-new@acme.test", "Spring2025!")))
	}
	w.clock.Advance(15 * time.Second)
	tokenOf(t, login(t, other, member, apptest.Password(member)))
}

func TestRESTAMemberRemovedAndAddedBackCannotUseTheirOldTokens(t *testing.T) {
	w := newWorld(t)
	u := w.fresh(t, "developer")
	password := apptest.Password(u.Email)
	// One session for the REST calls and one for their GraphQL twins.
	onREST := tokenOf(t, w.rest(t, "POST", "/auth/login", "", map[string]any{"username": u.Email, "password": password}))
	onGQL := w.login(t, u.Email)

	r := w.rest(t, "DELETE", "/admin/users/"+u.ID.String(), w.tok["admin"], nil)
	require.Equal(t, http.StatusNoContent, r.Status, "body %s", r.Raw)
	assert.Equal(t, http.StatusUnauthorized, w.rest(t, "GET", "/auth/me", onREST.AccessToken, nil).Status, "refused at once")

	// Back by a new invitation, accepted with the account's password.
	inv := inviteOf(t, w.rest(t, "POST", "/management/invitations", w.tok["admin"], map[string]any{"email": u.Email, "role": "developer"}),
		http.StatusCreated)
	back := tokenOf(t, w.rest(t, "POST", "/auth/accept-invite", "", map[string]any{"token": inv["token"], "password": password}))
	require.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/me", back.AccessToken, nil).Status, "the member is back")

	r = w.rest(t, "GET", "/auth/me", onREST.AccessToken, nil)
	apptest.SameAnswer(t, r, w.gql(t, "GET", "/auth/me", onGQL.Access, nil), http.StatusUnauthorized, "")
	r = w.rest(t, "POST", "/auth/refresh", *onREST.RefreshToken, nil)
	apptest.SameAnswer(t, r, w.gql(t, "POST", "/auth/refresh", onGQL.Refresh, nil), http.StatusUnauthorized, "Refresh failed")
	tokenOf(t, w.rest(t, "POST", "/auth/refresh", *back.RefreshToken, nil))
}

func TestRESTARoleIsLookedUpAmongTheActiveOrganizationsRolesOnly(t *testing.T) {
	w := newWorld(t)
	// Acme's admin also belongs to globex, so privacy lets them see globex's custom role.
	w.s.AddUser(t, w.user["admin"].Email, w.globex, "viewer")
	admin := w.tok["admin"]
	target := w.fresh(t, "member")
	const missing = "Role 'globex-only' does not exist"

	w.same(t, "PUT", "/admin/users/"+target.ID.String()+"/role", admin, map[string]any{"role": "globex-only"}, http.StatusBadRequest, missing)
	w.same(t, "POST", "/management/invitations", admin, map[string]any{"email": "new@acme.test", "role": "globex-only"}, http.StatusBadRequest, missing)
	w.same(t, "PATCH", "/management/organizations/me", admin, map[string]any{"settings": map[string]any{"default_role": "globex-only"}},
		http.StatusBadRequest, missing)

	users := w.rest(t, "GET", "/admin/users?search="+target.Email, admin, nil)
	require.Equal(t, http.StatusOK, users.Status)
	assert.Equal(t, []string{"member"}, column(users.Body, "role"), "the role did not change")
	assert.Empty(t, w.rest(t, "GET", "/management/invitations", admin, nil).List("invitations"), "nobody was invited")
	o, err := w.s.App.Client().Organization.Query().Where(organization.ID(w.acme.ID)).Only(apptest.SystemContext())
	require.NoError(t, err)
	assert.Equal(t, "member", o.Settings.DefaultRole)
}

func TestRESTAMemberWhoMayRemoveMembersCannotRemoveSomeoneMorePowerful(t *testing.T) {
	w := newWorld(t)
	_, err := w.s.App.Client().Role.Create().SetOrganizationID(w.acme.ID).SetName("offboarder").
		SetPermissions([]string{"api_key:list", "deployment:list", "model:access", "model:list", "organization:view",
			"member:list", "member:delete"}).Save(apptest.SystemContext())
	require.NoError(t, err)
	olga := w.s.AddUser(t, "olga@acme.test", w.acme, "offboarder")
	tok := w.login(t, olga.Email).Access
	// Root stays an admin, so the last-admin rule never stands in the way.
	for _, role := range []string{"admin", "developer"} {
		target := w.user[role]
		w.same(t, "DELETE", "/admin/users/"+target.ID.String(), tok, nil,
			http.StatusForbidden, "Cannot manage a member whose role has permissions you do not have")
		assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/me", w.tok[role], nil).Status, "the %s is still signed in", role)
	}
	r := w.rest(t, "DELETE", "/admin/users/"+w.user["viewer"].ID.String(), tok, nil)
	assert.Equal(t, http.StatusNoContent, r.Status, "a viewer holds nothing olga lacks: %s", r.Raw)
}

func TestRESTASuperAdminWithoutTwoFactorIsRefusedLikeEveryoneWhereTheOrganizationRequiresIt(t *testing.T) {
	w := newWorld(t)
	require.Empty(t, w.s.Do(t, w.tok["admin"], gqlRequire2FA, map[string]any{"r": true}).Errors)
	root := w.root.Access

	// The route's operation also reads the new organization's billing, whose @authenticated would
	// refuse it and roll the creation back even without @superAdmin's check; so the GraphQL side
	// here is not the route's twin but a mutation that reads only id and name, and depends on that
	// check alone.
	r := w.rest(t, "POST", "/management/organizations", root, map[string]any{"name": "Initech"})
	assert.Equal(t, http.StatusForbidden, r.Status, "body %s", r.Raw)
	assert.Equal(t, map[string]any{"detail": "Two-factor authentication is required by this organization", "code": "TWO_FACTOR_REQUIRED"}, r.Body)
	g := w.s.Do(t, root, `mutation($n: String!) { createOrganization(input: {name: $n}) { id name } }`, map[string]any{"n": "Initech"})
	assert.Equal(t, "TWO_FACTOR_REQUIRED", g.Code())
	if assert.NotEmpty(t, g.Errors) {
		assert.Equal(t, r.Detail(), g.Errors[0].Message)
	}
	n, err := w.s.App.Client().Organization.Query().Where(organization.Name("Initech")).Count(apptest.SystemContext())
	require.NoError(t, err)
	assert.Zero(t, n, "no organization was created")

	// From globex, which does not require 2FA, the same account creates organizations as usual.
	w.s.AddUser(t, apptest.RootEmail, w.globex, "admin")
	sw := tokenOf(t, w.rest(t, "POST", "/auth/switch-org", root, map[string]any{"org_id": w.globex.ID.String()}))
	r = w.rest(t, "POST", "/management/organizations", sw.AccessToken, map[string]any{"name": "Initech"})
	assert.Equal(t, http.StatusCreated, r.Status, "body %s", r.Raw)

	// With 2FA set up, acme lets the super admin through on the same token.
	w.enableTOTP(t, root)
	r = w.rest(t, "POST", "/management/organizations", root, map[string]any{"name": "Hooli"})
	assert.Equal(t, http.StatusCreated, r.Status, "body %s", r.Raw)
}
