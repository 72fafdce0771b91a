package rest_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

// The routes of operations/invitations.graphql: inviting, previewing, accepting, resending, revoking.

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
		g := w.op(t, admin, "InviteMember", map[string]any{"email": "other.dev@acme.test", "role": "developer"})
		require.Empty(t, g.Errors)
		assert.Equal(t, "https://dash.example/auth/accept-invite?token="+url.QueryEscape(g.Str("inviteMember.token")), g.Str("inviteMember.inviteLink"))
	})
	t.Run("the documented form needs a token", func(t *testing.T) {
		r := w.rest(t, "POST", "/auth/register-invite", "", map[string]any{"email": "x@acme.test", "role": "viewer"})
		g := w.op(t, "", "InviteMember", map[string]any{"email": "x@acme.test", "role": "viewer"})
		apptest.SameAnswer(t, r, g, http.StatusUnauthorized, "Not authenticated")
	})
	t.Run("the dashboard's form: public {token, password, name} signs up, 200", func(t *testing.T) {
		a := tokenOf(t, w.rest(t, "POST", "/auth/register-invite", "", map[string]any{"token": token, "password": "a-long-password", "name": "New Dev"}))
		assert.Equal(t, []orgInfo{{ID: w.acme.ID.String(), Name: "Acme", Role: "developer"}}, a.Organizations)
		me := w.rest(t, "GET", "/auth/me", a.AccessToken, nil)
		assert.Equal(t, "New Dev", me.Str("name"))
		assert.Equal(t, "new.dev@acme.test", me.Str("email"))
		tokenOf(t, w.rest(t, "POST", "/auth/login", "", map[string]any{"username": "new.dev@acme.test", "password": "a-long-password"}))
		_, other := w.invite(t, "gql.dev@acme.test", "developer")
		g := w.op(t, "", "RegisterWithInvitation", map[string]any{"token": other, "password": "a-long-password", "name": "G"})
		require.Empty(t, g.Errors)
	})
	t.Run("an account exists already", func(t *testing.T) {
		_, tok := w.invite(t, w.user["globex admin"].Email, "viewer")
		r := w.rest(t, "POST", "/auth/register-invite", "", map[string]any{"token": tok, "password": "a-long-password", "name": "X"})
		g := w.op(t, "", "RegisterWithInvitation", map[string]any{"token": tok, "password": "a-long-password", "name": "X"})
		apptest.SameAnswer(t, r, g, http.StatusBadRequest, "User already exists. Please login and accept the invitation.")
		assert.Equal(t, "PENDING", w.gql(t, "GET", "/auth/invitations/"+tok, "", nil).Str("invitationPreview.status"))
	})
	t.Run("a used token", func(t *testing.T) {
		r := w.rest(t, "POST", "/auth/register-invite", "", map[string]any{"token": token, "password": "a-long-password"})
		g := w.op(t, "", "RegisterWithInvitation", map[string]any{"token": token, "password": "a-long-password"})
		apptest.SameAnswer(t, r, g, http.StatusBadRequest, "Invitation already accepted")
	})
	t.Run("an unknown token", func(t *testing.T) {
		r := w.rest(t, "POST", "/auth/register-invite", "", map[string]any{"token": "nope", "password": "a-long-password"})
		g := w.op(t, "", "RegisterWithInvitation", map[string]any{"token": "nope", "password": "a-long-password"})
		apptest.SameAnswer(t, r, g, http.StatusNotFound, "Invalid invitation token")
	})
	t.Run("a short password", func(t *testing.T) {
		_, tok := w.invite(t, "short@acme.test", "viewer")
		r := w.rest(t, "POST", "/auth/register-invite", "", map[string]any{"token": tok, "password": "short"})
		g := w.op(t, "", "RegisterWithInvitation", map[string]any{"token": tok, "password": "short"})
		apptest.SameAnswer(t, r, g, http.StatusBadRequest, "Password must be at least 8 characters")
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
		path := "/auth/invitations/" + url.PathEscape(tok)
		return w.rest(t, "GET", path, "", nil), w.gql(t, "GET", path, "", nil)
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
		g := w.op(t, "", "AcceptInvitation", map[string]any{"token": other, "password": "a-long-password", "name": "F"})
		require.Empty(t, g.Errors)
		assert.Equal(t, w.acme.ID.String(), g.Dig("acceptInvitation.memberships.0.organization.id"))
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
		g := w.op(t, w.login(t, v.Email).Access, "AcceptInvitation", map[string]any{"token": other})
		require.Empty(t, g.Errors)
	})
	t.Run("the e-mail does not match the signed-in user", func(t *testing.T) {
		_, tok := w.invite(t, "someone@acme.test", "viewer")
		r := accept(t, "?token="+url.QueryEscape(tok), w.tok["globex admin"], nil)
		g := w.op(t, w.tok["globex admin"], "AcceptInvitation", map[string]any{"token": tok})
		apptest.SameAnswer(t, r, g, http.StatusForbidden, "Invitation email does not match logged in user")
	})
	t.Run("a bad token", func(t *testing.T) {
		r := accept(t, "", "", map[string]any{"token": "bad-token", "password": "a-long-password", "name": "X"})
		g := w.op(t, "", "AcceptInvitation", map[string]any{"token": "bad-token", "password": "a-long-password", "name": "X"})
		apptest.SameAnswer(t, r, g, http.StatusNotFound, "Invalid invitation token")
		r = accept(t, "?token=bad-token", w.tok["globex admin"], nil)
		assert.Equal(t, http.StatusNotFound, r.Status)
		assert.Equal(t, "Invalid invitation token", r.Detail())
	})
	t.Run("an accepted token", func(t *testing.T) {
		_, tok := w.invite(t, "twice@acme.test", "viewer")
		tokenOf(t, accept(t, "", "", map[string]any{"token": tok, "password": "a-long-password", "name": "T"}))
		r := accept(t, "", "", map[string]any{"token": tok, "password": "a-long-password", "name": "T"})
		g := w.op(t, "", "AcceptInvitation", map[string]any{"token": tok, "password": "a-long-password", "name": "T"})
		apptest.SameAnswer(t, r, g, http.StatusBadRequest, "Invitation already accepted")
	})
	t.Run("a revoked token is not found", func(t *testing.T) {
		id, tok := w.invite(t, "revoked@acme.test", "viewer")
		require.Empty(t, w.gql(t, "DELETE", "/management/invitations/"+id, w.tok["admin"], nil).Errors)
		r := accept(t, "", "", map[string]any{"token": tok, "password": "a-long-password", "name": "R"})
		g := w.op(t, "", "AcceptInvitation", map[string]any{"token": tok, "password": "a-long-password", "name": "R"})
		apptest.SameAnswer(t, r, g, http.StatusNotFound, "")
	})
	t.Run("no token", func(t *testing.T) {
		r := accept(t, "", "", map[string]any{"password": "a-long-password"})
		assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
	})
	t.Run("an expired token", func(t *testing.T) {
		_, tok := w.invite(t, "late@acme.test", "viewer")
		w.clock.Advance(7*24*time.Hour + time.Minute)
		r := accept(t, "", "", map[string]any{"token": tok, "password": "a-long-password", "name": "L"})
		g := w.op(t, "", "AcceptInvitation", map[string]any{"token": tok, "password": "a-long-password", "name": "L"})
		apptest.SameAnswer(t, r, g, http.StatusBadRequest, "Invitation expired")
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
	g := w.gql(t, "POST", "/management/invitations", admin, map[string]any{"email": "third@acme.test", "role": "viewer"})
	require.Empty(t, g.Errors)

	t.Run("already a member", func(t *testing.T) {
		r := w.rest(t, "POST", "/management/invitations", admin, map[string]any{"email": "Viewer@ACME.test", "role": "viewer"})
		g := w.gql(t, "POST", "/management/invitations", admin, map[string]any{"email": "viewer@acme.test", "role": "viewer"})
		apptest.SameAnswer(t, r, g, http.StatusBadRequest, "User is already a member of this organization")
	})
	t.Run("a pending invitation exists", func(t *testing.T) {
		r := w.rest(t, "POST", "/management/invitations", admin, map[string]any{"email": "FIRST@acme.test", "role": "viewer"})
		g := w.gql(t, "POST", "/management/invitations", admin, map[string]any{"email": "first@acme.test", "role": "viewer"})
		apptest.SameAnswer(t, r, g, http.StatusBadRequest, "Pending invitation already exists for this email")
	})
	t.Run("an unknown role", func(t *testing.T) {
		w.same(t, "POST", "/management/invitations", admin, map[string]any{"email": "x@acme.test", "role": "nope"},
			http.StatusBadRequest, "Role 'nope' does not exist")
	})
	t.Run("a role above the inviter's", func(t *testing.T) {
		w.same(t, "POST", "/management/invitations", w.tok["recruiter"], map[string]any{"email": "y@acme.test", "role": "admin"},
			http.StatusForbidden, "")
	})
	t.Run("no e-mail", func(t *testing.T) {
		r := w.rest(t, "POST", "/management/invitations", admin, map[string]any{"role": "viewer"})
		assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
		assert.Equal(t, "Field required: email", r.Detail())
	})
	t.Run("an invalid e-mail", func(t *testing.T) {
		w.same(t, "POST", "/management/invitations", admin, map[string]any{"email": "not-an-email", "role": "viewer"},
			http.StatusBadRequest, "Invalid e-mail address")
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
		g := w.gql(t, "GET", "/management/invitations", w.tok["developer"], nil)
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
		g := w.gql(t, "POST", "/management/invitations/"+id+"/resend", admin, nil)
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
		w.same(t, "DELETE", "/management/invitations/"+id, admin, nil, http.StatusBadRequest, "Only pending invitations can be revoked")
		w.same(t, "POST", "/management/invitations/"+id+"/resend", admin, nil, http.StatusBadRequest, "Only pending invitations can be resent")
		other, otherToken := w.invite(t, "gqlrevoke@acme.test", "viewer")
		g := w.gql(t, "DELETE", "/management/invitations/"+other, admin, nil)
		require.Empty(t, g.Errors)
		assert.Equal(t, other, g.Str("revokeInvitation.id"))
		assert.Equal(t, "REVOKED", w.gql(t, "GET", "/auth/invitations/"+otherToken, "", nil).Str("invitationPreview.status"))
	})
	t.Run("another org's invitation is not found", func(t *testing.T) {
		id, tok := w.invite(t, "kept@acme.test", "viewer")
		globex := w.tok["globex admin"]
		w.same(t, "DELETE", "/management/invitations/"+id, globex, nil, http.StatusNotFound, "")
		w.same(t, "POST", "/management/invitations/"+id+"/resend", globex, nil, http.StatusNotFound, "")
		assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/invitations/"+tok, "", nil).Status, "untouched")
		unknown := "00000000-0000-4000-8000-000000000000"
		w.same(t, "DELETE", "/management/invitations/"+unknown, admin, nil, http.StatusNotFound, "")
	})
}
