package graph_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent/auditlog"
	"github.com/inferiallm/orgserver/ent/ssoattempt"
	"github.com/inferiallm/orgserver/ent/ssodomain"
	"github.com/inferiallm/orgserver/ent/ssoidentity"
	"github.com/inferiallm/orgserver/server/apptest"
)

// The provider's signing keys are fetched once per connection and shared by the sign-ins
// through it; fetched again when the provider rotates its key, when they are old, or when the
// connection's keys are somewhere else; and never more than once per 30 s, whatever kid the
// tokens name.

// onTime makes the provider's ID tokens current on clock, the server's, so that tests may move
// it by hours.
func onTime(clock *apptest.Clock) func(map[string]any) {
	return func(c map[string]any) {
		now := clock.Now()
		c["iat"], c["exp"], c["auth_time"] = now.Unix(), now.Add(5*time.Minute).Unix(), now.Unix()
	}
}

func TestSignInsShareTheProvidersKeysUntilTheyRotateAgeOrMove(t *testing.T) {
	clock := apptest.NewClock()
	e := startSSO(t, map[string]any{"jitEnabled": true}, apptest.WithClock(clock))
	signedIn := func(sub string) {
		t.Helper()
		f := e.signIn(t, person(sub, sub+"@acme.test"), onTime(clock))
		require.Equal(t, http.StatusSeeOther, f.Status, f.Body)
		require.NotEmpty(t, f.Fragment("sso_code"), f.Location)
	}
	require.Equal(t, 1, e.idp.KeyRequests(), "the setup's test sign-in fetched the keys")

	// Two sign-ins, one key set: the test sign-in's.
	signedIn("k-1")
	signedIn("k-2")
	assert.Equal(t, 1, e.idp.KeyRequests(), "two sign-ins fetch no keys")

	// The provider rotates to a new key (new kid), publishing only it: the next sign-in fetches
	// the new set once, and the one after uses it.
	clock.Advance(31 * time.Second)
	e.idp.RotateKey(t)
	signedIn("k-3")
	assert.Equal(t, 2, e.idp.KeyRequests(), "one fetch after the rotation")
	signedIn("k-4")
	assert.Equal(t, 2, e.idp.KeyRequests())

	// An hour on, the set is fetched again, though the kid is known.
	clock.Advance(time.Hour)
	signedIn("k-5")
	assert.Equal(t, 3, e.idp.KeyRequests(), "fetched again after the TTL")
	signedIn("k-6")
	assert.Equal(t, 3, e.idp.KeyRequests())

	// A change of the connection's jwks_uri (here to the same keys under another URL) forgets
	// the set; so does writing the same one again, which this process sees through the hook.
	conn := e.s.App.Client().SSOConnection
	id := uuid.MustParse(e.conn)
	require.NoError(t, conn.UpdateOneID(id).SetJwksURI(e.idp.URL+"/jwks?moved").Exec(apptest.SystemContext()))
	signedIn("k-7")
	assert.Equal(t, 4, e.idp.KeyRequests(), "the keys are somewhere else")
	require.NoError(t, conn.UpdateOneID(id).SetJwksURI(e.idp.URL+"/jwks?moved").Exec(apptest.SystemContext()))
	signedIn("k-8")
	assert.Equal(t, 5, e.idp.KeyRequests(), "forgotten on a write of jwks_uri")
	// A change of something else keeps them.
	require.NoError(t, conn.UpdateOneID(id).SetName("Renamed").Exec(apptest.SystemContext()))
	signedIn("k-9")
	assert.Equal(t, 5, e.idp.KeyRequests(), "a new name does not move the keys")
}

func TestTokensNamingAnUnknownKeyFetchTheKeysAtMostOncePer30Seconds(t *testing.T) {
	clock := apptest.NewClock()
	e := startSSO(t, map[string]any{"jitEnabled": true}, apptest.WithClock(clock), apptest.WithLimits(apptest.RoomyLimits))
	require.Equal(t, 1, e.idp.KeyRequests())
	clock.Advance(31 * time.Second)

	// Ten sign-ins at once whose tokens name a key the provider never published: one fetch,
	// to look for it; the others within the floor fetch nothing. All are refused.
	e.idp.NameUnknownKey("forged-kid")
	refusals := func() int {
		n, err := e.s.App.Client().AuditLog.Query().Where(auditlog.Action("sso.signin"), auditlog.Status("failure")).Count(apptest.SystemContext())
		require.NoError(t, err)
		return n
	}
	before := refusals()
	e.idp.SignIn(person("u-1", "u1@acme.test"), onTime(clock))
	var wg sync.WaitGroup
	statuses := make([]int, 10)
	for i := range statuses {
		wg.Go(func() { statuses[i] = apptest.NewBrowser(t).Run(t, e.start()).Status })
	}
	wg.Wait()
	for _, st := range statuses {
		assert.Equal(t, http.StatusBadRequest, st)
	}
	assert.Equal(t, 2, e.idp.KeyRequests(), "one fetch for ten tokens of an unknown kid")
	assert.Equal(t, before+10, refusals())
	e.refusedWith(t, e.signIn(t, person("u-1", "u1@acme.test"), onTime(clock)), `the provider publishes no key "forged-kid"`)
	assert.Equal(t, 2, e.idp.KeyRequests())

	// After the floor, one more fetch; a token of the real key needs none.
	clock.Advance(31 * time.Second)
	e.refusedWith(t, e.signIn(t, person("u-1", "u1@acme.test"), onTime(clock)), `the provider publishes no key "forged-kid"`)
	assert.Equal(t, 3, e.idp.KeyRequests())
	e.idp.NameUnknownKey("")
	f := e.signIn(t, person("u-1", "u1@acme.test"), onTime(clock))
	require.Equal(t, http.StatusSeeOther, f.Status, f.Body)
	assert.Equal(t, 3, e.idp.KeyRequests())
}

func TestAConnectionsKeysAreForgottenWhenItsKeysMoveOrItIsDeleted(t *testing.T) {
	e := startSSO(t, map[string]any{"jitEnabled": true})
	ctx := apptest.SystemContext()
	client, svc := e.s.App.Client(), e.s.App.Service()
	id := uuid.MustParse(e.conn)
	require.Equal(t, 1, svc.SSOKeySetsKept(), "the setup's test sign-in kept the keys")

	// In a transaction, a new jwks_uri forgets the keys when it commits, not before.
	tx, err := client.Tx(ctx)
	require.NoError(t, err)
	require.NoError(t, tx.SSOConnection.UpdateOneID(id).SetJwksURI(e.idp.URL+"/jwks?moved").Exec(ctx))
	assert.Equal(t, 1, svc.SSOKeySetsKept(), "not yet committed")
	require.NoError(t, tx.Commit())
	assert.Equal(t, 0, svc.SSOKeySetsKept(), "forgotten at the commit")

	f := e.signIn(t, person("f-1", "f1@acme.test"), nil)
	require.Equal(t, http.StatusSeeOther, f.Status, f.Body)
	require.Equal(t, 1, svc.SSOKeySetsKept())

	// Deleted (with what refers to it), the connection's keys go too.
	_, err = client.SSOAttempt.Delete().Where(ssoattempt.ConnectionID(id)).Exec(ctx)
	require.NoError(t, err)
	_, err = client.SSOIdentity.Delete().Where(ssoidentity.ConnectionID(id)).Exec(ctx)
	require.NoError(t, err)
	_, err = client.SSODomain.Delete().Where(ssodomain.ConnectionID(id)).Exec(ctx)
	require.NoError(t, err)
	require.NoError(t, client.SSOConnection.DeleteOneID(id).Exec(ctx))
	assert.Equal(t, 0, svc.SSOKeySetsKept(), "forgotten with the connection")
}
