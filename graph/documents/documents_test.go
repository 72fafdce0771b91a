package documents_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/graph/documents"
	"github.com/inferiallm/orgserver/graph/generated"
	"github.com/inferiallm/orgserver/rest"
)

// The dashboard's Settings pages, one document each.
var pages = map[string]string{
	"users": "UsersPage", "roles": "RolesPage", "invitations": "InvitationsPage", "security": "SecurityPage",
	"sessions": "SessionsPage", "auditlog": "AuditLogPage", "organization": "OrganizationPage",
}

// Every dashboard page's document is one query, named after its page, that validates against
// the schema the server executes: a change of the schema that breaks the dashboard fails here.
func TestEveryDashboardPageIsOneValidQuery(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	got := map[string]bool{}
	for _, p := range documents.Dashboard() {
		t.Run(p.Name, func(t *testing.T) {
			got[p.Name] = true
			op, ok := pages[p.Name]
			require.True(t, ok, "%s is not one of the documented Settings pages", p.File)
			doc, err := parser.ParseQuery(&ast.Source{Name: p.File, Input: p.Text})
			require.NoError(t, err)
			require.Len(t, doc.Operations, 1, "%s: one operation per page", p.File)
			assert.Equal(t, op, doc.Operations[0].Name)
			assert.Equal(t, ast.Query, doc.Operations[0].Operation)
			assert.Empty(t, validator.ValidateWithRules(schema, doc, nil), "%s", p.File)
		})
	}
	for name := range pages {
		assert.True(t, got[name], "no document for the %s page (graph/documents/dashboard/%s.graphql)", name, name)
	}
}

// The built-in manifest holds exactly the REST layer's document and the dashboard's, by the
// SHA-256 of their exact text: `go generate ./...` rewrites it when they change.
func TestTheManifestHoldsTheShippedDocuments(t *testing.T) {
	restDoc, err := rest.LoadOperations()
	require.NoError(t, err)
	want := map[string]string{graph.DocumentHash(restDoc): restDoc}
	for _, p := range documents.Dashboard() {
		want[graph.DocumentHash(p.Text)] = p.Text
	}
	var got map[string]string
	require.NoError(t, json.Unmarshal(documents.Manifest(), &got))
	assert.Equal(t, want, got, "graph/documents/manifest.json is stale: run go generate ./...")
}
