package graph_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/role"
	"github.com/inferiallm/orgserver/ent/schema/schematype"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/auth"
)

// A sign-in reads where its session starts while its password is being checked, before its
// transaction. What changes in between (the membership's role, the membership itself, the
// organization's policy) is seen: the transaction's first statement finds the read outdated and
// the sign-in reads again, answering as a sign-in begun after the change would. When nothing
// changed, the transaction reads no membership again.
func TestASignInSeesWhatChangedWhileItsPasswordWasChecked(t *testing.T) {
	var counter apptest.StatementCounter
	// A hash slow enough (hundreds of milliseconds) for the change to land while it runs.
	slow := auth.Argon2Params{Memory: 32 * 1024, Iterations: 12, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	s := apptest.Start(t, apptest.CountStatements(&counter), func(cfg *app.Config, _ *app.Options) {
		cfg.Argon2 = slow
		cfg.Hashing.MaxWait = time.Minute
	})
	ctx := apptest.SystemContext()
	c := s.App.Client()
	acme := s.Org(t, apptest.RootOrg)
	hash, err := s.App.Service().Hasher.Hash(context.Background(), "a slow password")
	require.NoError(t, err)
	roleID := func(name string) *ent.Role {
		return c.Role.Query().Where(role.Name(name), role.OrganizationIDIsNil()).OnlyX(ctx)
	}
	const signIn = `mutation($e: String!) { login(input: {email: $e, password: "a slow password"}) {
		accessToken memberships { organization { name } role { name } } } }`

	for _, tc := range []struct {
		name    string
		change  func(m *ent.Membership)
		role    string // the role the payload shows, when the sign-in succeeds
		refusal string // else the refusal
	}{
		{name: "nothing", role: "member"},
		{name: "role", change: func(m *ent.Membership) {
			c.Membership.UpdateOneID(m.ID).SetRoleID(roleID("viewer").ID).ExecX(ctx)
		}, role: "viewer"},
		{name: "removal", change: func(m *ent.Membership) {
			c.Membership.DeleteOneID(m.ID).ExecX(ctx)
		}, refusal: "User is not a member of any organization"},
		{name: "policy", change: func(m *ent.Membership) {
			c.Organization.UpdateOneID(m.OrganizationID).SetSSOPolicy(schematype.SSOPolicy{Required: true}).ExecX(ctx)
		}, refusal: "This organization requires single sign-on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			email := tc.name + "@preload.test"
			u := s.AddUser(t, email, acme, "member")
			c.User.UpdateOneID(u.ID).SetPasswordHash(hash).ExecX(ctx)
			m := c.Membership.Query().Where(membership.UserID(u.ID)).OnlyX(ctx)
			t.Cleanup(func() {
				c.Organization.UpdateOneID(acme.ID).SetSSOPolicy(schematype.SSOPolicy{}).ExecX(ctx)
			})

			counter.Record()
			answer := make(chan *apptest.Response, 1)
			go func() {
				r, err := s.TryDo("", signIn, map[string]any{"e": email})
				assert.NoError(t, err)
				answer <- r
			}()
			membershipReads := func() (n int) {
				for _, st := range counter.Statements() {
					if strings.HasPrefix(strings.ReplaceAll(st, `"`, "`"), "SELECT `memberships`") {
						n++
					}
				}
				return n
			}
			// The memberships are read beside the hash: change them once they have been.
			require.Eventually(t, func() bool { return membershipReads() == 1 }, 10*time.Second, time.Millisecond)
			// The change's own statements (hooks read memberships too) are not the sign-in's.
			before := membershipReads()
			if tc.change != nil {
				tc.change(m)
			}
			changes := membershipReads() - before
			r := <-answer
			require.NotNil(t, r)
			if tc.refusal != "" {
				require.NotEmpty(t, r.Errors)
				assert.Equal(t, tc.refusal, r.Errors[0].Message)
			} else {
				require.Empty(t, r.Errors)
				var got struct {
					Login struct {
						Memberships []struct {
							Role struct{ Name string }
						}
					}
				}
				r.Decode(t, &got)
				require.Len(t, got.Login.Memberships, 1)
				assert.Equal(t, tc.role, got.Login.Memberships[0].Role.Name)
			}
			// The answers above show a change was seen; the read is not repeated without one. (With
			// a change, the count could take in the sign-in's second read as the change's own when
			// the hash ends just as the change returns.)
			if tc.change == nil {
				assert.Equal(t, 1, membershipReads()-changes, "memberships read beside the hash, not again")
			}
		})
	}
}
