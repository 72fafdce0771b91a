package rest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/apptest"
)

// The routes of operations/security.graphql: sessions, passwords and two-factor authentication.

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
		g := w.gql(t, "GET", "/auth/sessions", a.Access, nil)
		require.Empty(t, g.Errors)
		var data struct {
			Viewer struct {
				Sessions []struct {
					ID      string
					Current bool
				}
			}
		}
		g.Decode(t, &data)
		var ids []string
		for _, s := range data.Viewer.Sessions {
			ids = append(ids, s.ID)
			if s.Current {
				assert.True(t, current[s.ID], "the current session")
			}
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
	t.Run("DELETE /auth/sessions/{id}", func(t *testing.T) {
		r := w.rest(t, "DELETE", "/auth/sessions/"+w.sessionID(t, b.Access), a.Access, nil)
		assert.Equal(t, http.StatusNoContent, r.Status)
		assert.Empty(t, r.Raw)
		assert.Equal(t, http.StatusUnauthorized, w.rest(t, "GET", "/auth/me", b.Access, nil).Status)
		assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/me", a.Access, nil).Status)
		c := w.login(t, email)
		g := w.gql(t, "DELETE", "/auth/sessions/"+w.sessionID(t, c.Access), a.Access, nil)
		require.Empty(t, g.Errors)
		assert.Equal(t, http.StatusUnauthorized, w.rest(t, "GET", "/auth/me", c.Access, nil).Status)
		// Someone else's session is not found, and stays.
		other := w.tok["member"]
		w.same(t, "DELETE", "/auth/sessions/"+w.sessionID(t, other), a.Access, nil, http.StatusNotFound, "")
		assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/me", other, nil).Status)
		unknown := "00000000-0000-4000-8000-000000000000"
		w.same(t, "DELETE", "/auth/sessions/"+unknown, a.Access, nil, http.StatusNotFound, "")
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
		g := w.gql(t, "DELETE", "/auth/sessions", a.Access, nil)
		require.Empty(t, g.Errors)
		assert.Equal(t, float64(1), g.Get("revokeOtherSessions"))
		assert.Equal(t, http.StatusUnauthorized, w.rest(t, "GET", "/auth/me", e.Access, nil).Status)
	})
	t.Run("POST /auth/change-password", func(t *testing.T) {
		other := w.login(t, email)
		w.same(t, "POST", "/auth/change-password", a.Access, map[string]any{"current_password": "wrong-password", "new_password": "a-new-password"},
			http.StatusBadRequest, "Current password is incorrect")
		w.same(t, "POST", "/auth/change-password", a.Access, map[string]any{"current_password": apptest.Password(email), "new_password": "short"},
			http.StatusBadRequest, "Password must be at least 8 characters")
		r := w.rest(t, "POST", "/auth/change-password", a.Access, map[string]any{"current_password": apptest.Password(email)})
		assert.Equal(t, http.StatusUnprocessableEntity, r.Status)

		r = w.rest(t, "POST", "/auth/change-password", a.Access, map[string]any{"current_password": apptest.Password(email), "new_password": "a-new-password"})
		assert.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
		assert.Equal(t, http.StatusUnauthorized, w.rest(t, "GET", "/auth/me", other.Access, nil).Status, "other sessions end")
		assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/me", a.Access, nil).Status, "the current one goes on")
		assert.Equal(t, http.StatusUnauthorized, w.rest(t, "POST", "/auth/login", "", map[string]any{"username": email, "password": apptest.Password(email)}).Status)
		tokenOf(t, w.rest(t, "POST", "/auth/login", "", map[string]any{"username": email, "password": "a-new-password"}))
		g := w.gql(t, "POST", "/auth/change-password", a.Access, map[string]any{"current_password": "a-new-password", "new_password": "another-password"})
		require.Empty(t, g.Errors)
		assert.Equal(t, true, g.Get("changePassword"))
	})
	t.Run("nobody", func(t *testing.T) {
		w.same(t, "GET", "/auth/sessions", "", nil, http.StatusUnauthorized, "Not authenticated")
		w.same(t, "DELETE", "/auth/sessions", "", nil, http.StatusUnauthorized, "Not authenticated")
		w.same(t, "POST", "/auth/change-password", "", map[string]any{"current_password": "a", "new_password": "b"},
			http.StatusUnauthorized, "Not authenticated")
	})
}

func TestRESTTwoFactor(t *testing.T) {
	w := newWorld(t)
	email := w.user["member"].Email
	pw := apptest.Password(email)
	tok := w.tok["member"]
	gqlTok := w.tok["viewer"]

	t.Run("verify before setup", func(t *testing.T) {
		r := w.rest(t, "POST", "/auth/totp/verify", tok, map[string]any{"totp_code": "123456"})
		g := w.gql(t, "POST", "/auth/totp/verify", gqlTok, map[string]any{"totp_code": "123456"})
		apptest.SameAnswer(t, r, g, http.StatusBadRequest, "TOTP setup not requested")
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
		g := w.gql(t, "POST", "/auth/totp/setup", gqlTok, nil)
		require.Empty(t, g.Errors)
		gqlSecret = g.Str("beginTwoFactorSetup.secret")
		assert.NotEmpty(t, gqlSecret)
	})
	t.Run("verify with a wrong code", func(t *testing.T) {
		r := w.rest(t, "POST", "/auth/totp/verify", tok, map[string]any{"totp_code": wrongCode(t, secret, w.clock.Now())})
		g := w.gql(t, "POST", "/auth/totp/verify", gqlTok, map[string]any{"totp_code": wrongCode(t, gqlSecret, w.clock.Now())})
		apptest.SameAnswer(t, r, g, http.StatusBadRequest, "Invalid Code")
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
		g := w.gql(t, "POST", "/auth/login", "", map[string]any{"username": email, "password": pw})
		assert.Equal(t, "TWO_FACTOR_CODE_REQUIRED", g.Code())
		assert.Equal(t, "TOTP_REQUIRED", g.Errors[0].Message)
	})
	t.Run("sign in with a wrong code", func(t *testing.T) {
		bad := wrongCode(t, secret, w.clock.Now())
		w.same(t, "POST", "/auth/login", "", map[string]any{"username": email, "password": pw, "totp_code": bad},
			http.StatusUnauthorized, "Invalid 2FA Code")
		r := w.rest(t, "POST", "/auth/login", "", map[string]any{"username": email, "password": "wrong-password", "totp_code": code(t, secret, w.clock.Now())})
		assert.Equal(t, http.StatusUnauthorized, r.Status)
		assert.Equal(t, "Incorrect username or password", r.Detail(), "the password is checked first")
	})
	t.Run("sign in with the current code", func(t *testing.T) {
		a := tokenOf(t, w.rest(t, "POST", "/auth/login", "", map[string]any{"username": email, "password": pw, "totp_code": code(t, secret, w.clock.Now())}))
		assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/me", a.AccessToken, nil).Status)
		w.clock.Advance(30 * time.Second)
		g := w.gql(t, "POST", "/auth/login", "", map[string]any{"username": email, "password": pw, "totp_code": code(t, secret, w.clock.Now())})
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
		g := w.gql(t, "POST", "/auth/totp/disable", gqlTok, map[string]any{"totp_code": code(t, gsecret, w.clock.Now())})
		require.Empty(t, g.Errors)
		r = w.rest(t, "POST", "/auth/totp/disable", tok, map[string]any{"password": pw})
		g = w.gql(t, "POST", "/auth/totp/disable", gqlTok, map[string]any{"password": apptest.Password(w.user["viewer"].Email)})
		apptest.SameAnswer(t, r, g, http.StatusBadRequest, "Two-factor authentication is not enabled")
	})
	t.Run("disable is refused while the org requires 2FA", func(t *testing.T) {
		w.enableTOTP(t, tok)
		w.enableTOTP(t, gqlTok)
		require.Empty(t, w.s.Do(t, w.tok["admin"], gqlRequire2FA, map[string]any{"r": true}).Errors)
		r := w.rest(t, "POST", "/auth/totp/disable", tok, map[string]any{"password": pw})
		g := w.gql(t, "POST", "/auth/totp/disable", gqlTok, map[string]any{"password": apptest.Password(w.user["viewer"].Email)})
		apptest.SameAnswer(t, r, g, http.StatusForbidden, "Two-factor authentication is required by an organization you belong to")
		assert.Equal(t, true, w.rest(t, "GET", "/auth/me", tok, nil).Get("totp_enabled"))
	})
}
