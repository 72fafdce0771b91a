package rest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent/auditlog"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/auth"
)

// The routes of operations/apikeys.graphql: the dashboard's API Keys page, and a script using a
// key on the other routes.

var apiKeyKeys = []string{"id", "name", "prefix", "is_active", "created_at", "last_used_at"}

// newKey creates a key as bearer through REST and returns the answer.
func newKey(t testing.TB, w *world, bearer string, body map[string]any) map[string]any {
	t.Helper()
	r := w.rest(t, "POST", "/management/api-keys", bearer, body)
	require.Equal(t, http.StatusCreated, r.Status, "body %s", r.Raw)
	keys(t, r.Body, append([]string{"secret_key"}, apiKeyKeys...)...)
	assert.Equal(t, "no-store", r.Header.Get("Cache-Control"), "the answer carrying the secret is never cached")
	return r.Body.(map[string]any)
}

func TestRESTAPIKeys(t *testing.T) {
	w := newWorld(t)
	admin := w.tok["admin"]

	var secret, id string
	t.Run("POST /management/api-keys: 201 with the secret, once", func(t *testing.T) {
		k := newKey(t, w, admin, map[string]any{"name": "CI", "days_valid": 30, "deployment_id": "dep-1"})
		secret, id = k["secret_key"].(string), k["id"].(string)
		assert.NoError(t, auth.CheckAPIKey(secret))
		assert.Equal(t, "CI", k["name"])
		assert.Equal(t, secret[:11], k["prefix"])
		assert.Equal(t, true, k["is_active"])
		assert.Nil(t, k["last_used_at"])
		stamp(t, k["created_at"])
	})
	t.Run("the key works on REST routes as its role (the default: member)", func(t *testing.T) {
		r := w.rest(t, "GET", "/auth/permissions", secret, nil)
		require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
		assert.NotContains(t, strs(r.Get("permissions")), "member:list")
		assert.Contains(t, strs(r.Get("permissions")), "api_key:create")
		w.same(t, "GET", "/admin/users", secret, nil, http.StatusForbidden, "Permission denied: member:list required")
		assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/management/organizations/me", secret, nil).Status)
		assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/api/management/api-keys", secret, nil).Status)
	})
	t.Run("a key is not a person", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{"GET", "/auth/me"}, {"GET", "/auth/sessions"}, {"POST", "/auth/logout"}, {"POST", "/auth/totp/setup"},
			{"GET", "/auth/organizations"},
		} {
			r := w.rest(t, c.method, c.path, secret, nil)
			assert.Equal(t, http.StatusForbidden, r.Status, "%s %s: %s", c.method, c.path, r.Raw)
			assert.Equal(t, "API keys cannot do this: it needs a person's sign-in", r.Detail())
		}
		r := w.rest(t, "POST", "/auth/switch-org", secret, map[string]any{"org_id": w.globex.ID.String()})
		assert.Equal(t, http.StatusForbidden, r.Status, "body %s", r.Raw)
		r = w.rest(t, "POST", "/auth/refresh", secret, nil)
		assert.Equal(t, http.StatusUnauthorized, r.Status, "a key is no refresh token: %s", r.Raw)
	})
	t.Run("GET /management/api-keys: newest first, paged, used keys have last_used_at", func(t *testing.T) {
		newKey(t, w, admin, map[string]any{"name": "second"})
		newKey(t, w, admin, map[string]any{"name": "third"})
		r := w.rest(t, "GET", "/management/api-keys", admin, nil)
		require.Equal(t, http.StatusOK, r.Status)
		for _, x := range r.List("") {
			keys(t, x, apiKeyKeys...)
			assert.NotContains(t, x.(map[string]any), "secret_key")
		}
		assert.Equal(t, []string{"third", "second", "CI"}, column(r.Body, "name"))
		used := r.List("")[2].(map[string]any)
		stamp(t, used["last_used_at"])
		r = w.rest(t, "GET", "/management/api-keys?skip=1&limit=1", admin, nil)
		assert.Equal(t, []string{"second"}, column(r.Body, "name"))
		assert.Equal(t, http.StatusUnprocessableEntity, w.rest(t, "GET", "/management/api-keys?limit=0", admin, nil).Status)
		assert.Equal(t, http.StatusUnprocessableEntity, w.rest(t, "GET", "/management/api-keys?skip=-1", admin, nil).Status)
		g := w.gql(t, "GET", "/management/api-keys", admin, nil)
		require.Empty(t, g.Errors)
	})
	t.Run("another organization's key is not found", func(t *testing.T) {
		w.same(t, "DELETE", "/management/api-keys/"+id, w.tok["globex admin"], nil, http.StatusNotFound, "API Key not found")
		r := w.rest(t, "GET", "/management/api-keys", w.tok["globex admin"], nil)
		assert.Empty(t, r.List(""))
	})
	t.Run("unknown keys are not found", func(t *testing.T) {
		w.same(t, "DELETE", "/management/api-keys/00000000-0000-4000-8000-000000000000", admin, nil, http.StatusNotFound, "API Key not found")
	})
	t.Run("the permissions of the catalog guard the routes", func(t *testing.T) {
		w.same(t, "POST", "/management/api-keys", w.tok["viewer"], map[string]any{"name": "x"}, http.StatusForbidden, "Permission denied: api_key:create required")
		w.same(t, "DELETE", "/management/api-keys/"+id, w.tok["viewer"], nil, http.StatusForbidden, "Permission denied: api_key:revoke required")
		w.same(t, "GET", "/management/api-keys", "", nil, http.StatusUnauthorized, "")
	})
	t.Run("escalation is refused", func(t *testing.T) {
		w.same(t, "POST", "/management/api-keys", w.tok["developer"], map[string]any{"name": "x", "role": "admin"}, http.StatusForbidden, "")
		adminKey := newKey(t, w, admin, map[string]any{"name": "root bot", "role": "admin"})
		w.same(t, "DELETE", "/management/api-keys/"+adminKey["id"].(string), w.tok["developer"], nil, http.StatusForbidden,
			"Cannot revoke an API key whose role has permissions you do not have")
		w.same(t, "POST", "/management/api-keys", secret, map[string]any{"name": "x", "role": "developer"}, http.StatusForbidden, "")
	})
	t.Run("bad bodies", func(t *testing.T) {
		w.same(t, "POST", "/management/api-keys", admin, map[string]any{"name": "x", "days_valid": 0}, http.StatusBadRequest, "")
		w.same(t, "POST", "/management/api-keys", admin, map[string]any{"name": "x", "days_valid": 400}, http.StatusBadRequest, "")
		w.same(t, "POST", "/management/api-keys", admin, map[string]any{"name": strings.Repeat("n", 101)}, http.StatusBadRequest, "Name must be 1 to 100 characters")
		assert.Equal(t, http.StatusUnprocessableEntity, w.rest(t, "POST", "/management/api-keys", admin, map[string]any{"name": " "}).Status)
		assert.Equal(t, http.StatusUnprocessableEntity, w.rest(t, "POST", "/management/api-keys", admin, map[string]any{}).Status)
	})
	t.Run("DELETE /management/api-keys/{key_id}: 204, and the key is refused at once", func(t *testing.T) {
		r := w.rest(t, "DELETE", "/management/api-keys/"+id, admin, nil)
		assert.Equal(t, http.StatusNoContent, r.Status, "body %s", r.Raw)
		r = w.rest(t, "GET", "/auth/permissions", secret, nil)
		assert.Equal(t, http.StatusUnauthorized, r.Status)
		assert.Equal(t, "Invalid or expired token", r.Detail())
		list := w.rest(t, "GET", "/management/api-keys", admin, nil)
		for _, x := range list.List("") {
			if m := x.(map[string]any); m["id"] == id {
				assert.Equal(t, false, m["is_active"])
			}
		}
		assert.Equal(t, http.StatusNoContent, w.rest(t, "DELETE", "/management/api-keys/"+id, admin, nil).Status, "again: nothing changes")
	})
	t.Run("malformed and forged keys are 401 with a safe message", func(t *testing.T) {
		forged, err := auth.NewAPIKeySecret()
		require.NoError(t, err)
		for _, bad := range []string{forged, "iorg_", "iorg_" + strings.Repeat("A", 60), secret[:len(secret)-1] + "x"} {
			r := w.rest(t, "GET", "/management/api-keys", bad, nil)
			assert.Equal(t, http.StatusUnauthorized, r.Status)
			assert.Equal(t, "Invalid or expired token", r.Detail())
			assert.NotContains(t, string(r.Raw), bad)
		}
	})
	t.Run("days_valid is the expiry", func(t *testing.T) {
		k := newKey(t, w, admin, map[string]any{"name": "day", "days_valid": 1})
		s := k["secret_key"].(string)
		assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/auth/permissions", s, nil).Status)
		w.clock.Advance(24*time.Hour + time.Second)
		assert.Equal(t, http.StatusUnauthorized, w.rest(t, "GET", "/auth/permissions", s, nil).Status)
	})
	t.Run("audit entries of keys are in the api_key category, with the key as the actor", func(t *testing.T) {
		root := apptest.SystemContext()
		entries, err := w.s.App.Client().AuditLog.Query().All(root)
		require.NoError(t, err)
		var created int
		for _, e := range entries {
			if e.Action == "api_key.create" {
				created++
				assert.Equal(t, "api_key", e.Category)
			}
		}
		assert.Equal(t, 5, created)
	})
}

// A key's actions are in the audit log under the key: user_id null, api_key_id the key's, and
// user_id=<the key's id> lists them.
func TestRESTAuditLogNamesTheKeyThatActed(t *testing.T) {
	w := newWorld(t)
	admin := w.tok["admin"]
	key := newKey(t, w, admin, map[string]any{"name": "janitor", "role": "admin"})
	other := newKey(t, w, admin, map[string]any{"name": "old", "role": "viewer"})
	secret, id := key["secret_key"].(string), key["id"].(string)
	require.Equal(t, http.StatusNoContent, w.rest(t, "DELETE", "/management/api-keys/"+other["id"].(string), secret, nil).Status)

	r := w.rest(t, "GET", "/audit/logs?user_id="+id, admin, nil)
	require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
	entries := r.List("")
	require.Len(t, entries, 1, "the key's one action")
	e := entries[0].(map[string]any)
	assert.Equal(t, "api_key.revoke", e["action"])
	assert.Nil(t, e["user_id"])
	assert.Equal(t, id, e["api_key_id"])
	assert.Equal(t, "api_key:"+key["prefix"].(string), e["user_email"])
	for _, e := range w.rest(t, "GET", "/audit/logs?action=api_key.create", admin, nil).List("") {
		assert.Nil(t, e.(map[string]any)["api_key_id"], "a person's actions name no key")
	}
}

// PUT /admin/roles/{name} revokes, as updateRole does, the keys its change puts beyond their
// creator's role, and says so in the audit log.
func TestRESTRoleEditRevokesKeysBeyondTheirCreator(t *testing.T) {
	w := newWorld(t)
	admin := w.tok["admin"]
	r := w.rest(t, "POST", "/admin/roles", admin, map[string]any{"name": "ops", "permissions": []string{"api_key:create", "member:list", "model:list"}})
	require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
	r = w.rest(t, "POST", "/admin/roles", admin, map[string]any{"name": "lister", "permissions": []string{"member:list"}})
	require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
	ops := w.s.AddUser(t, "ops@acme.test", w.acme, "ops")
	opsTok := w.login(t, ops.Email).Access
	listing := newKey(t, w, opsTok, map[string]any{"name": "lists", "role": "lister"})
	own := newKey(t, w, opsTok, map[string]any{"name": "own", "role": "ops"})
	status := func(k map[string]any) int {
		return w.rest(t, "GET", "/admin/users", k["secret_key"].(string), nil).Status
	}
	require.Equal(t, http.StatusOK, status(listing))

	r = w.rest(t, "PUT", "/admin/roles/ops", admin, map[string]any{"permissions": []string{"api_key:create", "model:list"}})
	require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
	assert.Equal(t, http.StatusUnauthorized, status(listing), "the lister key is revoked")
	assert.Equal(t, http.StatusForbidden, status(own), "the ops key stays, with ops's permissions: no member:list")
	r = w.rest(t, "GET", "/management/api-keys", admin, nil)
	require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
	active := map[string]any{}
	for _, k := range r.List("") {
		m := k.(map[string]any)
		active[m["name"].(string)] = m["is_active"]
	}
	assert.Equal(t, map[string]any{"lists": false, "own": true}, active)
	entry, err := w.s.App.Client().AuditLog.Query().
		Where(auditlog.Action("api_key.revoke"), auditlog.ResourceID(listing["id"].(string))).Only(apptest.SystemContext())
	require.NoError(t, err)
	assert.Equal(t, "role ops changed: the key holds permissions its creator's role lacks", entry.Details["reason"])
}

// REST routes refuse an address that sent too many unknown keys like GraphQL does: 429 with
// Retry-After and the same message, before any lookup.
func TestRESTRefusesAnAddressSendingUnknownKeys(t *testing.T) {
	limits := apptest.RoomyLimits
	limits.APIKeyMissesPerIP = 2
	w := newWorld(t, apptest.WithLimits(limits))
	forge := func() string {
		k, err := auth.NewAPIKeySecret()
		require.NoError(t, err)
		return k
	}
	for range 2 {
		r := w.rest(t, "GET", "/auth/permissions", forge(), nil)
		require.Equal(t, http.StatusUnauthorized, r.Status, "body %s", r.Raw)
	}
	r := w.rest(t, "GET", "/auth/permissions", forge(), nil)
	require.Equal(t, http.StatusTooManyRequests, r.Status, "body %s", r.Raw)
	assert.Equal(t, "Too many unknown API keys from this address. Try again later.", r.Detail())
	assert.Equal(t, "60", r.Header.Get("Retry-After"))
	w.clock.Advance(time.Minute)
	r = w.rest(t, "GET", "/auth/permissions", forge(), nil)
	assert.Equal(t, http.StatusUnauthorized, r.Status, "the minute has ended: body %s", r.Raw)
}
