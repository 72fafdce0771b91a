package graph_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/graph/generated"
	"github.com/inferiallm/orgserver/server/auth"
)

// Every permission named anywhere is in the catalog: Go code names them by auth's constants, and
// these tests hold the names written as text against the catalog.

func TestEveryPermissionTheSchemaNamesIsInTheCatalog(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	require.NoError(t, graph.CheckPermissionNames(schema))

	// The check itself refuses a typo.
	typo := &ast.Schema{Types: map[string]*ast.Definition{"Query": {Name: "Query", Fields: ast.FieldList{{
		Name: "members", Directives: ast.DirectiveList{{Name: "hasPermission", Arguments: ast.ArgumentList{
			{Name: "permission", Value: &ast.Value{Raw: "member:lsit", Kind: ast.StringValue}}}}},
	}}}}}
	assert.ErrorContains(t, graph.CheckPermissionNames(typo), "Query.members: member:lsit")
}

func TestEveryPermissionTheREADMENamesIsInTheCatalog(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	names := regexp.MustCompile("`([a-z_]+:[a-z_]+)`").FindAllStringSubmatch(string(readme), -1)
	require.NotEmpty(t, names)
	for _, m := range names {
		assert.True(t, auth.IsPermission(m[1]), "README names %q, which is not in the catalog", m[1])
	}
}
