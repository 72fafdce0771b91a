package graph_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/apptest"
)

func TestACursorOfAnotherOrderingIsBadInput(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	s.AddUser(t, "a@acme.test", acme, "member")
	s.AddUser(t, "b@acme.test", acme, "member")
	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	const q = `query($after: Cursor, $f: MembershipOrderField!) { viewer { organization {
	  members(first: 1, after: $after, orderBy: {field: $f, direction: ASC}) { edges { cursor node { user { email } } } pageInfo { endCursor } } } } }`
	r := s.Do(t, tok.Access, q, map[string]any{"f": "EMAIL"})
	require.Empty(t, r.Errors)
	cursor := r.Str("viewer.organization.members.pageInfo.endCursor")
	require.NotEmpty(t, cursor)

	next := s.Do(t, tok.Access, q, map[string]any{"f": "EMAIL", "after": cursor})
	require.Empty(t, next.Errors, "the cursor works with its own ordering")

	for _, f := range []string{"JOINED_AT", "LAST_ACTIVE_AT"} {
		r := s.Do(t, tok.Access, q, map[string]any{"f": f, "after": cursor})
		assert.Equal(t, "BAD_USER_INPUT", r.Code(), f)
	}
	r = s.Do(t, tok.Access, `{ viewer { organization { auditLogs(after: "`+cursor+`") { totalCount } } } }`, nil)
	assert.Equal(t, "BAD_USER_INPUT", r.Code())
	r = s.Do(t, tok.Access, `{ viewer { organization { members(after: "bm90IGEgY3Vyc29y") { totalCount } } } }`, nil)
	assert.Equal(t, "BAD_USER_INPUT", r.Code(), "garbage")
}
