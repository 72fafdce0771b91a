package rest_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

// In trusted-documents mode the REST layer keeps working: its document is in the built-in
// manifest, so its operations pass the same gate as /graphql's trusted documents, while an
// ad-hoc GraphQL document beside them is refused.
func TestRESTWorksInTrustedDocumentsMode(t *testing.T) {
	s := apptest.Start(t, func(cfg *app.Config, _ *app.Options) { cfg.TrustedDocuments = "on" })
	login := s.REST(t, request{Method: http.MethodPost, Path: "/auth/login",
		Body: map[string]any{"username": apptest.RootEmail, "password": apptest.RootPassword}})
	require.Equal(t, http.StatusOK, login.Status, "%s", login.Raw)
	tok := login.Str("access_token")

	for _, c := range []struct {
		name   string
		rq     request
		status int
	}{
		{"the signed-in user reads themselves", request{Method: http.MethodGet, Path: "/auth/me"}, http.StatusOK},
		{"an admin lists the users", request{Method: http.MethodGet, Path: "/api/admin/users"}, http.StatusOK},
		{"an admin lists the roles", request{Method: http.MethodGet, Path: "/admin/roles"}, http.StatusOK},
		{"an admin invites a user", request{Method: http.MethodPost, Path: "/auth/register-invite", Body: map[string]any{"email": "new@acme.test", "role": "developer"}}, http.StatusCreated},
		{"an admin lists the invitations", request{Method: http.MethodGet, Path: "/management/invitations"}, http.StatusOK},
		{"an admin reads the audit log", request{Method: http.MethodGet, Path: "/audit/logs"}, http.StatusOK},
		{"an admin reads the organization", request{Method: http.MethodGet, Path: "/management/organizations/me"}, http.StatusOK},
		{"errors keep their statuses", request{Method: http.MethodPut, Path: "/admin/users/00000000-0000-0000-0000-000000000000/role", Body: map[string]any{"role": "viewer"}}, http.StatusNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.rq.Bearer = tok
			r := s.REST(t, c.rq)
			assert.Equal(t, c.status, r.Status, "%s", r.Raw)
		})
	}

	g := s.Do(t, tok, `{ viewer { user { email } } }`, nil)
	require.Len(t, g.Errors, 1)
	assert.Equal(t, "DOCUMENT_NOT_TRUSTED", g.Errors[0].Extensions["reason"])
}
