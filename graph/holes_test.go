package graph_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/apptest"
)

func TestARolesMemberCountFollowsTheRulesOfTheMemberList(t *testing.T) {
	clock := apptest.NewClock()
	s := apptest.Start(t, apptest.WithClock(clock))
	acme := s.Org(t, apptest.RootOrg)
	_, err := s.App.Client().Role.Create().SetOrganizationID(acme.ID).SetName("role-reader").
		SetPermissions([]string{"role:list", "organization:view"}).Save(apptest.SystemContext())
	require.NoError(t, err)
	reader := s.AddUser(t, "reader@acme.test", acme, "role-reader")
	readerTok := s.Login(t, reader.Email, apptest.Password(reader.Email))
	admin := s.AddUser(t, "admin@acme.test", acme, "admin")
	adminTok := s.Login(t, admin.Email, apptest.Password(admin.Email))
	const rolesPage = `{ viewer { role { name memberCount } organization { roles { name memberCount } } } }`

	// With member:list: counts.
	r := s.Do(t, adminTok.Access, rolesPage, nil)
	require.Empty(t, r.Errors)
	assert.EqualValues(t, 2, r.Get("viewer.role.memberCount"), "root and admin@ are admins")

	// Without it the roles still list, and every count is null with its refusal.
	r = s.Do(t, readerTok.Access, rolesPage, nil)
	require.NotEmpty(t, r.Errors)
	for _, e := range r.Errors {
		assert.Equal(t, "FORBIDDEN", e.Extensions["code"])
		assert.Equal(t, "Permission denied: member:list required", e.Message)
	}
	assert.Equal(t, "role-reader", r.Str("viewer.role.name"))
	assert.Nil(t, r.Get("viewer.role.memberCount"))
	roles, _ := r.Get("viewer.organization.roles").([]any)
	require.NotEmpty(t, roles)
	for _, ro := range roles {
		assert.Nil(t, ro.(map[string]any)["memberCount"])
	}

	// While the organization requires 2FA the admin lacks, the count is refused like the list.
	require.Empty(t, setSecurityPolicy(t, s, adminTok.Access, map[string]any{"requireTwoFactor": true}).Errors)
	r = s.Do(t, adminTok.Access, `{ viewer { role { name memberCount } } }`, nil)
	assert.Equal(t, "TWO_FACTOR_REQUIRED", r.Code())
	assert.Nil(t, r.Get("viewer.role.memberCount"))
	assert.Equal(t, "TWO_FACTOR_REQUIRED", s.Do(t, adminTok.Access, `{ viewer { organization { members { totalCount } } } }`, nil).Code(),
		"the same as the list it summarises")
	enableTwoFactor(t, s, clock, adminTok.Access)
	r = s.Do(t, adminTok.Access, `{ viewer { role { memberCount } } }`, nil)
	require.Empty(t, r.Errors)
	assert.EqualValues(t, 2, r.Get("viewer.role.memberCount"))
}

func TestAllowedEmailDomainsAreComparedExactlyInTheirASCIIForm(t *testing.T) {
	s := apptest.Start(t)
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	r := setSecurityPolicy(t, s, root.Access, map[string]any{"allowedEmailDomains": []string{"Secure.TEST", "bücher.example"}})
	require.Empty(t, r.Errors)
	assert.Equal(t, []any{"secure.test", "xn--bcher-kva.example"}, r.Get("updateSecurityPolicy.allowedEmailDomains"),
		"kept lower-case, an IDN in its ASCII form")

	for _, c := range []struct {
		email   string
		allowed bool
	}{
		{"plain@secure.test", true},
		{"upper@SECURE.test", true},
		{"idn@bücher.example", true},
		{"ascii@xn--bcher-kva.example", true},
		// Unicode case folding would equate these with an allowed domain; IDNA does not.
		{"longs@ſecure.test", false},       // U+017F LATIN SMALL LETTER LONG S
		{"kelvin@\u212Aecure.test", false}, // U+212A KELVIN SIGN, not a K
		{"fullwidth@ｓecure.test", false},
		{"sub@x.secure.test", false},
		{"other@insecure.test", false},
	} {
		t.Run(c.email, func(t *testing.T) {
			r := s.Do(t, root.Access, inviteMemberMutation, inviteVars(c.email, "viewer"))
			if c.allowed {
				assert.Empty(t, r.Errors)
				return
			}
			assert.Equal(t, "BAD_USER_INPUT", r.Code(), "%+v", r.Errors)
			// The same rule holds on REST.
			rr := newStormClient(s).send(http.MethodPost, "/management/invitations", root.Access,
				map[string]any{"email": "rest-" + c.email, "role": "viewer"})
			require.NoError(t, rr.Err)
			assert.Equal(t, http.StatusBadRequest, rr.Status, "%v", rr.Body)
		})
	}
}
