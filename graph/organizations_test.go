package graph_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent/auditlog"
	"github.com/inferiallm/orgserver/server/apptest"
)

const updateOrg = `mutation($in: UpdateOrganizationInput!) {
  updateOrganization(input: $in) { id name settings { defaultRole logPayloads } }
}`

func TestUpdatingTheOrganizationNeedsItsPermissions(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	s.CreateOrg(t, "Globex")
	ctx := apptest.SystemContext()
	_, err := s.App.Client().Role.Create().SetOrganizationID(acme.ID).SetName("org-editor").
		SetPermissions([]string{"organization:view", "organization:update"}).Save(ctx)
	require.NoError(t, err)

	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	dev := s.AddUser(t, "dev@acme.test", acme, "developer")
	editor := s.AddUser(t, "editor@acme.test", acme, "org-editor")
	devTok := s.Login(t, dev.Email, apptest.Password(dev.Email))
	edTok := s.Login(t, editor.Email, apptest.Password(editor.Email))

	cases := []struct {
		name  string
		token string
		input map[string]any
		code  string
		msg   string
	}{
		{"an admin renames the organization", admin.Access, map[string]any{"name": "  Acme Corp "}, "", ""},
		{"an admin changes the settings", admin.Access, map[string]any{"settings": map[string]any{"logPayloads": true, "defaultRole": "Viewer"}}, "", ""},
		{"an admin sets billing", admin.Access, map[string]any{"billing": map[string]any{"plan": "enterprise", "taxId": "DE123"}}, "", ""},
		{"a developer cannot change the organization", devTok.Access, map[string]any{"name": "Dev Corp"}, "FORBIDDEN", "Permission denied: organization:update required"},
		{"an editor renames it", edTok.Access, map[string]any{"name": "Acme Inc"}, "", ""},
		{"an editor cannot set billing", edTok.Access, map[string]any{"billing": map[string]any{"plan": "free"}}, "FORBIDDEN", "Permission denied: billing:update required"},
		{"names are unique", admin.Access, map[string]any{"name": "GLOBEX"}, "CONFLICT", "Organization name already exists"},
		{"names are not empty", admin.Access, map[string]any{"name": "   "}, "BAD_USER_INPUT", "Organization name must be 1 to 100 characters"},
		{"the default role must exist", admin.Access, map[string]any{"settings": map[string]any{"defaultRole": "overlord"}}, "BAD_USER_INPUT", "Role 'overlord' does not exist"},
		{"unknown input fields are refused", admin.Access, map[string]any{"owner": "me"}, "BAD_USER_INPUT", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.Do(t, c.token, updateOrg, map[string]any{"in": c.input})
			assert.Equal(t, c.code, r.Code())
			if c.msg != "" {
				require.NotEmpty(t, r.Errors)
				assert.Equal(t, c.msg, r.Errors[0].Message)
			}
		})
	}

	r := s.Do(t, admin.Access, `{ viewer { organization { name settings { defaultRole logPayloads } billing { plan taxId } } } }`, nil)
	require.Empty(t, r.Errors)
	assert.Equal(t, "Acme Inc", r.Str("viewer.organization.name"))
	assert.Equal(t, "viewer", r.Str("viewer.organization.settings.defaultRole"))
	assert.Equal(t, true, r.Get("viewer.organization.settings.logPayloads"))
	assert.Equal(t, "enterprise", r.Str("viewer.organization.billing.plan"))
	assert.Equal(t, "DE123", r.Str("viewer.organization.billing.taxId"))

	r = s.Do(t, devTok.Access, `{ viewer { organization { name billing { plan } } } }`, nil)
	require.Empty(t, r.Errors)
	assert.Nil(t, r.Get("viewer.organization.billing"), "billing is null without billing:view")
	assert.Equal(t, "Acme Inc", r.Str("viewer.organization.name"))

	entries, err := s.App.Client().AuditLog.Query().Where(auditlog.Action("organization.update")).All(ctx)
	require.NoError(t, err)
	assert.Len(t, entries, 4, "one entry per successful change")
	for _, e := range entries {
		assert.Equal(t, acme.ID, *e.OrganizationID)
		assert.NotEmpty(t, e.Details["changed"])
	}
}
