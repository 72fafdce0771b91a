package graph_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/auth"
)

// The privacy rules of OrgPolicy and UsageRecord hold on their own, under the resolvers'
// organization filters: through ent, acme's admin reads only acme's rows, changes no policy of
// globex, creates no policy outside acme and writes no usage at all (only the server does, for
// the gateway, with an explicit bypass).
func TestPoliciesAndUsageAreTheirOrganizationsThroughEnt(t *testing.T) {
	s := apptest.Start(t)
	ctx := apptest.SystemContext()
	c := s.App.Client()
	acme := s.Org(t, apptest.RootOrg)
	globex := s.CreateOrg(t, "globex")
	s.AddUser(t, "alice@acme.test", acme, "admin")
	day := time.Now().UTC().Format(time.DateOnly)
	policies := map[uuid.UUID]uuid.UUID{}
	for _, org := range []*ent.Organization{acme, globex} {
		p, err := c.OrgPolicy.Create().SetOrganizationID(org.ID).SetPolicyType("quota").
			SetConfig(map[string]any{"request_limit": 1}).Save(ctx)
		require.NoError(t, err)
		policies[org.ID] = p.ID
		require.NoError(t, c.UsageRecord.Create().SetOrganizationID(org.ID).SetAPIKeyID(uuid.New()).
			SetKeyPrefix("sk-1").SetDay(day).SetModel("m").SetRequests(1).SetTokens(1).Exec(ctx))
	}
	tok := s.Login(t, "alice@acme.test", apptest.Password("alice@acme.test"))
	v, err := s.App.Service().Authenticate(context.Background(), tok.Access)
	require.NoError(t, err)
	alice := auth.NewContext(context.Background(), v)

	got, err := c.OrgPolicy.Query().All(alice)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, acme.ID, got[0].OrganizationID)
	rows, err := c.UsageRecord.Query().All(alice)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	assert.Equal(t, acme.ID, rows[0].OrganizationID)

	err = c.OrgPolicy.UpdateOneID(policies[globex.ID]).SetConfig(map[string]any{}).Exec(alice)
	assert.True(t, ent.IsNotFound(err) || isDenied(err), "globex's policy: %v", err)
	err = c.OrgPolicy.DeleteOneID(policies[globex.ID]).Exec(alice)
	assert.True(t, ent.IsNotFound(err) || isDenied(err), "globex's policy: %v", err)
	err = c.OrgPolicy.Create().SetOrganizationID(globex.ID).SetPolicyType("rate_limit").SetConfig(map[string]any{}).Exec(alice)
	assert.True(t, isDenied(err), "a policy in globex: %v", err)
	require.NoError(t, c.OrgPolicy.UpdateOneID(policies[acme.ID]).SetConfig(map[string]any{}).Exec(alice), "acme's own: so the test can fail")

	err = c.UsageRecord.Create().SetOrganizationID(acme.ID).SetAPIKeyID(uuid.New()).
		SetKeyPrefix("sk-2").SetDay(day).SetModel("m").SetRequests(1).SetTokens(1).Exec(alice)
	assert.True(t, isDenied(err), "usage is the gateway's to write: %v", err)
	_, err = c.UsageRecord.Delete().Exec(alice)
	assert.True(t, isDenied(err), "nor to delete: %v", err)

	g, err := c.OrgPolicy.Get(ctx, policies[globex.ID])
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"request_limit": float64(1)}, g.Config, "globex's is unchanged")
}
