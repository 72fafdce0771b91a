package rest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent/role"
	"github.com/inferiallm/orgserver/server/apptest"
)

func TestZZStatements(t *testing.T) {
	if os.Getenv("ZZ") == "" {
		t.Skip()
	}
	var counter apptest.StatementCounter
	s := apptest.Start(t, apptest.CountStatements(&counter))
	acme := s.Org(t, apptest.RootOrg)
	member, err := s.App.Client().Role.Query().Where(role.Name("member"), role.BuiltIn(true)).First(apptest.SystemContext())
	require.NoError(t, err)
	require.NoError(t, apptest.SeedMembers(context.Background(), s.App.Client(), acme.ID, member.ID, 10_000, "bench.test"))
	require.Eventually(t, s.App.Service().AuthCacheServing, 10*time.Second, 10*time.Millisecond)
	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	s.REST(t, apptest.RESTRequest{Method: "GET", Path: "/management/users?skip=9000", Bearer: tok.Access})
	counter.Record()
	r := s.REST(t, apptest.RESTRequest{Method: "GET", Path: "/management/users?skip=9000", Bearer: tok.Access})
	require.Equal(t, 200, r.Status)
	for _, q := range counter.Statements() {
		t.Log(q)
	}
	t.Log(acme.ID, s.Config.DatabaseURL)
}
