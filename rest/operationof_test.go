package rest_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/rest"
)

// OperationOf gives the GraphQL twin of a REST request: what its route would run, with the
// variables the route makes from the path, the query, the body and the bearer token.
func TestOperationOfARESTRequestIsWhatItsRouteRuns(t *testing.T) {
	req := httptest.NewRequest("PUT", "/api/admin/users/u-1/role", strings.NewReader(`{"role": "developer"}`))
	req.Header.Set("Content-Type", "application/json")
	op, vars, err := rest.OperationOf(req)
	require.NoError(t, err)
	assert.Equal(t, "UpdateUserRole", op)
	assert.Equal(t, map[string]any{"userId": "u-1", "role": "developer"}, vars)

	req = httptest.NewRequest("GET", "/admin/users?skip=2&search=ann", nil)
	op, vars, err = rest.OperationOf(req)
	require.NoError(t, err)
	assert.Equal(t, "Users", op)
	assert.Equal(t, 2, vars["offset"])
	assert.Equal(t, 50, vars["limit"])
	assert.Equal(t, "ann", *vars["search"].(*string))

	// The refresh token comes as the Bearer, as the dashboard sends it.
	req = httptest.NewRequest("POST", "/auth/refresh", nil)
	req.Header.Set("Authorization", "Bearer rt_abc")
	op, vars, err = rest.OperationOf(req)
	require.NoError(t, err)
	assert.Equal(t, "Refresh", op)
	assert.Equal(t, map[string]any{"token": "rt_abc"}, vars)

	// What the route refuses before running anything, it refuses here too.
	_, _, err = rest.OperationOf(httptest.NewRequest("PUT", "/admin/users/u-1/role", strings.NewReader(`{}`)))
	assert.ErrorContains(t, err, "Field required: role")
	// A route that picks its operation at run time has no twin to give, nor has a path without a route.
	_, _, err = rest.OperationOf(httptest.NewRequest("POST", "/auth/register-invite", strings.NewReader(`{}`)))
	assert.ErrorContains(t, err, "chooses its operation at run time")
	_, _, err = rest.OperationOf(httptest.NewRequest("GET", "/nope", nil))
	assert.ErrorContains(t, err, "no REST route")
}
