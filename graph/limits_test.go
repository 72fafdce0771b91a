package graph_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

func TestQueriesOverTheDepthOrComplexityLimitAreRefused(t *testing.T) {
	s := apptest.Start(t, func(c *app.Config, _ *app.Options) {
		c.MaxQueryDepth = 3
		c.MaxQueryComplexity = 300
	})
	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)

	require.Empty(t, s.Do(t, tok.Access, `{ viewer { memberships { id } } }`, nil).Errors, "depth 3 is the limit itself")

	for name, q := range map[string]string{
		"plain":    `{ viewer { memberships { organization { name } } } }`,
		"fragment": `{ viewer { ...V } } fragment V on Viewer { memberships { role { name } } }`,
		"inline":   `{ viewer { ... on Viewer { session { user { email } } } } }`,
	} {
		t.Run(name, func(t *testing.T) {
			r := s.Do(t, tok.Access, q, nil)
			require.NotEmpty(t, r.Errors)
			assert.Equal(t, "BAD_USER_INPUT", r.Code())
			assert.Contains(t, r.Errors[0].Message, "nested too deeply")
			assert.Nil(t, r.Get("viewer"))
		})
	}

	// Introspection is not counted: GraphiQL's schema query must keep working.
	intro := s.Do(t, "", `{ __schema { types { name fields { name type { name ofType { name ofType { name } } } } } } }`, nil)
	require.Empty(t, intro.Errors)

	// 100 organizations per page times the selection exceeds 300.
	s = apptest.Start(t, func(c *app.Config, _ *app.Options) { c.MaxQueryComplexity = 300 })
	tok = s.Login(t, apptest.RootEmail, apptest.RootPassword)
	r := s.Do(t, tok.Access, `{ organizations(first: 100) { edges { node { id name createdAt updatedAt settings { defaultRole } } } } }`, nil)
	require.NotEmpty(t, r.Errors)
	assert.Equal(t, "BAD_USER_INPUT", r.Code())
	assert.Contains(t, r.Errors[0].Message, "complexity")
	require.Empty(t, s.Do(t, tok.Access, `{ organizations(first: 5) { edges { node { id name } } } }`, nil).Errors)

	// Page sizes beyond the maximum are refused, not silently cut.
	assert.Equal(t, "BAD_USER_INPUT", s.Do(t, tok.Access, `{ organizations(first: 1000) { totalCount } }`, nil).Code())
	assert.Equal(t, "BAD_USER_INPUT", s.Do(t, tok.Access, `{ organizations(first: -1) { totalCount } }`, nil).Code())
}

func TestIntrospectionCanBeSwitchedOff(t *testing.T) {
	s := apptest.Start(t, func(c *app.Config, _ *app.Options) { c.Introspection = false })
	r := s.Do(t, "", `{ __schema { queryType { name } } }`, nil)
	require.NotEmpty(t, r.Errors)
	assert.Equal(t, "BAD_USER_INPUT", r.Code())
	assert.Contains(t, r.Errors[0].Message, "introspection disabled")
}
