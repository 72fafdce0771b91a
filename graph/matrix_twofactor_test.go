package graph_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/server/apptest"
)

// The directive × 2FA matrix. Rows: every field behind @hasPermission, @superAdmin or
// @authenticated, found by walking the schema. Columns: an admin and a super admin of an
// organization whose policy requires 2FA, first without 2FA, then with it. Without 2FA the field
// is refused with TWO_FACTOR_REQUIRED at its own path; with 2FA it is not (whatever else it
// answers to dummy arguments). The fields the server exempts (graph's twoFactorExempt: set 2FA
// up, sign out, switch away) are refused with TWO_FACTOR_REQUIRED in neither column.
//
// Each row and caller gets a fresh account with two sessions, one per column, because a field
// called with dummy arguments may still act (leaveOrganization, logout, revokeOtherSessions).
// The 2FA column sets the account's two_factor_enabled directly: every request re-reads it.
func TestEveryGuardedFieldWaitsForTheTwoFactorTheOrganizationRequires(t *testing.T) {
	s := apptest.Start(t, apptest.WithLimits(apptest.RoomyLimits))
	c, ctx := s.App.Client(), apptest.SystemContext()
	strict := s.CreateOrg(t, "Strict")
	policy := strict.SecurityPolicy
	policy.RequireTwoFactor = true
	require.NoError(t, c.Organization.UpdateOne(strict).SetSecurityPolicy(policy).Exec(ctx))

	n := 0
	for _, g := range guards(t) {
		exempt := graph.TwoFactorExempt[g.field]
		for _, caller := range []string{"admin", "super admin"} {
			t.Run(g.String()+"/"+caller, func(t *testing.T) {
				n++
				u := s.AddUser(t, fmt.Sprintf("caller%d@strict.test", n), strict, "admin")
				if caller == "super admin" {
					require.NoError(t, c.User.UpdateOne(u).SetIsSuperAdmin(true).Exec(ctx))
				}
				without, with := s.Login(t, u.Email, apptest.Password(u.Email)), s.Login(t, u.Email, apptest.Password(u.Email))
				require.Equal(t, strict.ID.String(), without.OrgID)

				r := s.Do(t, without.Access, g.query, nil)
				if exempt {
					assert.NotContains(t, codes(r), "TWO_FACTOR_REQUIRED", "%s is exempt; errors %+v", g.query, r.Errors)
				} else if e := errorAt(r, g.path); assert.NotNil(t, e, "%s: no error at %v; errors %+v", g.query, g.path, r.Errors) {
					assert.Equal(t, "TWO_FACTOR_REQUIRED", codeOf(e), "%s: %+v", g.query, e)
				}

				setTwoFactor(t, c, u, true)
				r = s.Do(t, with.Access, g.query, nil)
				assert.NotContains(t, codes(r), "TWO_FACTOR_REQUIRED", "%s with 2FA; errors %+v", g.query, r.Errors)
			})
		}
	}
}

// setTwoFactor sets the account's 2FA flag directly.
func setTwoFactor(t testing.TB, c *ent.Client, u *ent.User, on bool) {
	t.Helper()
	require.NoError(t, c.User.UpdateOne(u).SetTwoFactorEnabled(on).Exec(apptest.SystemContext()))
}
