package rest

import (
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/inferiallm/orgserver/graph"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func newHandler(t *testing.T) (*Handler, *graph.Server) {
	t.Helper()
	srv := graph.NewServer(graph.NewService(graph.Options{}))
	h, err := New(srv.Executor(), srv.Schema(), Options{})
	require.NoError(t, err)
	return h, srv
}

func TestEveryRouteNamesAValidOperation(t *testing.T) {
	_, srv := newHandler(t)
	doc, err := LoadOperations()
	require.NoError(t, err)
	require.NoError(t, ValidateOperations(srv.Schema(), doc))

	// A stale operation fails validation, and so the boot.
	stale := strings.Replace(doc, "query Me {\n  viewer {", "query Me {\n  viewer {\n    shoeSize", 1)
	require.NotEqual(t, doc, stale)
	assert.ErrorContains(t, ValidateOperations(srv.Schema(), stale), "shoeSize")

	// A route naming a missing operation fails too.
	missing := strings.Replace(doc, "query Permissions {", "query PermissionsRenamed {", 1)
	assert.ErrorContains(t, ValidateOperations(srv.Schema(), missing), `"Permissions"`)

	// So does a route that reads a field its operation does not select.
	unselected := strings.Replace(doc, "  lastActiveAt\n", "", 1)
	require.NotEqual(t, doc, unselected)
	assert.ErrorContains(t, ValidateOperations(srv.Schema(), unselected), `UserResponse.LastActiveAt reads "viewer.organization.memberList.lastActiveAt"`)

	for _, r := range table() {
		assert.True(t, r.Op != "" || r.Serve.run != nil, "%s runs something", r.Pattern)
		assert.True(t, r.Reply.make != nil || r.Serve.run != nil || r.Status == 204, "%s shapes its answer", r.Pattern)
	}
}

// The Auth column documents who may call a route; it must name what the operation checks.
func TestTheAuthOfARouteIsWhatItsOperationChecks(t *testing.T) {
	_, srv := newHandler(t)
	doc, err := LoadOperations()
	require.NoError(t, err)
	q, errs := gqlparser.LoadQueryWithRules(srv.Schema(), doc, rules.NewDefaultRules())
	require.Nil(t, errs)
	users := memberRoutes[0]
	require.Equal(t, "Users", users.Op)
	defs := []*ast.OperationDefinition{q.Operations.ForName("Users")}
	require.NoError(t, checkAuth(users, defs))
	for _, wrong := range []string{"role:list", "bearer", "public", "super admin"} {
		users.Auth = wrong
		assert.ErrorContains(t, checkAuth(users, defs), "checks member:list", wrong)
	}
	me := authRoutes[3]
	require.Equal(t, "Me", me.Op)
	me.Auth = "member:list"
	assert.ErrorContains(t, checkAuth(me, []*ast.OperationDefinition{q.Operations.ForName("Me")}), "checks no permission")
}

// The wiring mounts the handler by its own list: every route is reached at the root and under
// /api, and nothing else is taken from the server's mux.
func TestTheHandlerMountsItselfWhereItsRoutesAre(t *testing.T) {
	h, _ := newHandler(t)
	assert.ElementsMatch(t, []string{"/auth/", "/admin/", "/management/", "/audit/", "/internal/",
		"/api/auth/", "/api/admin/", "/api/management/", "/api/audit/", "/api/internal/"}, h.Mounts())
	mux := http.NewServeMux()
	h.Mount(mux)
	for _, r := range h.routes {
		for _, prefix := range []string{"", "/api"} {
			path := prefix + strings.NewReplacer("{", "", "}", "").Replace(r.Path())
			_, pattern := mux.Handler(httptest.NewRequest(r.Method(), path, nil))
			assert.NotEmpty(t, pattern, "%s %s is mounted", r.Method(), path)
		}
	}
	_, pattern := mux.Handler(httptest.NewRequest("GET", "/openapi.json", nil))
	assert.Equal(t, "GET /openapi.json", pattern)
	for _, path := range []string{"/graphql", "/healthz", "/", "/api/graphql"} {
		_, pattern := mux.Handler(httptest.NewRequest("GET", path, nil))
		assert.Empty(t, pattern, "%s is not the REST layer's", path)
	}
}

func TestTheOpenAPIDocumentFollowsTheRouteTable(t *testing.T) {
	h, _ := newHandler(t)
	doc := h.OpenAPI()
	assert.Equal(t, "3.1.0", doc["openapi"])
	paths := doc["paths"].(map[string]any)
	for _, r := range h.routes {
		item, ok := paths[r.Path()].(map[string]any)
		require.True(t, ok, "%s is documented", r.Path())
		op, ok := item[strings.ToLower(r.Method())].(map[string]any)
		require.True(t, ok, "%s is documented", r.Pattern)
		assert.NotEmpty(t, op["summary"])
		if r.Body() != nil {
			assert.NotNil(t, op["requestBody"], "%s documents its body", r.Pattern)
		}
		if strings.Contains(r.Path(), "{") {
			assert.NotEmpty(t, op["parameters"], "%s documents its path parameters", r.Pattern)
		}
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for _, name := range []string{"AuthToken", "UserResponse", "InviteResponse", "RoleResponse", "OrganizationResponse", "Error"} {
		assert.Contains(t, schemas, name)
	}
	auth := schemas["AuthToken"].(map[string]any)
	assert.Contains(t, auth["required"], "refresh_token")

	// The committed copy is what the server serves: `go test ./rest -update` refreshes it.
	got, err := json.MarshalIndent(doc, "", "  ")
	require.NoError(t, err)
	golden := filepath.Join("testdata", "openapi.json")
	if *update {
		require.NoError(t, os.WriteFile(golden, append(got, '\n'), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(got), "testdata/openapi.json is stale: run go test ./rest -update")
}
