package rest_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/apptest"
)

// The routes of operations/organizations.graphql: creating, reading and changing organizations.

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
		g := w.gql(t, "POST", "/management/organizations", root, map[string]any{"name": "Hooli"})
		require.Empty(t, g.Errors)
		created := w.rest(t, "POST", "/management/organizations", root, map[string]any{"name": "Plain"})
		require.Equal(t, http.StatusCreated, created.Status)
		assert.Equal(t, false, created.Get("log_payloads"))
	})
	t.Run("a duplicate name", func(t *testing.T) {
		r := w.rest(t, "POST", "/management/organizations", root, map[string]any{"name": "GLOBEX"})
		g := w.gql(t, "POST", "/management/organizations", root, map[string]any{"name": "Globex"})
		apptest.SameAnswer(t, r, g, http.StatusConflict, "Organization name already exists")
	})
	t.Run("not a super admin", func(t *testing.T) {
		w.same(t, "POST", "/management/organizations", admin, map[string]any{"name": "Mine"},
			http.StatusForbidden, "Permission denied: super admin required")
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
		g := w.gql(t, "GET", "/management/organizations/me", w.tok["developer"], nil)
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

		g := w.gql(t, "PATCH", "/management/organizations/me", admin, map[string]any{"name": "Acme", "settings": map[string]any{"default_role": "member"}})
		require.Empty(t, g.Errors)
		assert.Equal(t, "Acme", w.rest(t, "GET", "/management/organizations/me", admin, nil).Str("name"))
	})
	t.Run("PATCH errors", func(t *testing.T) {
		w.same(t, "PATCH", "/management/organizations/me", w.tok["developer"], map[string]any{"name": "Mine"},
			http.StatusForbidden, "Permission denied: organization:update required")
		w.same(t, "PATCH", "/management/organizations/me", admin, map[string]any{"settings": map[string]any{"default_role": "x"}},
			http.StatusBadRequest, "Role 'x' does not exist")
		r := w.rest(t, "PATCH", "/management/organizations/me", admin, map[string]any{"name": "Globex"})
		g := w.gql(t, "PATCH", "/management/organizations/me", admin, map[string]any{"name": "globex"})
		apptest.SameAnswer(t, r, g, http.StatusConflict, "Organization name already exists")
		assert.Equal(t, "Acme", w.rest(t, "GET", "/management/organizations/me", admin, nil).Str("name"))
	})
}
