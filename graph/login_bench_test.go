package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/auth"
)

// loginBenchParams are the hashing parameters BenchmarkLogin compares: the default, and the
// former default it replaced.
var loginBenchParams = []struct {
	name string
	p    auth.Argon2Params
}{
	{"default", auth.DefaultArgon2Params},
	{"former-64MiB-t3-p2", auth.Argon2Params{Memory: 64 * 1024, Iterations: 3, Parallelism: 2, SaltLength: 16, KeyLength: 32}},
}

// loginClients is how many sign-ins the parallel variants run at once.
const loginClients = 8

// BenchmarkLogin measures a successful sign-in through the whole stack (HTTP, GraphQL, the
// hashing queue, the transaction), asking what the REST route asks (tokens and memberships), with
// the production hashing parameters and rate limiter; beside it, the password verification alone
// in the same hasher ("hash"), so that the ratio login/hash reads side by side. The 8-clients
// variants run 8 at once and report sign-ins (or verifications) per second. It reports SQL
// statements per sign-in. Run on PostgreSQL with TEST_DATABASE_URL set.
//
//	go test ./graph -run '^$' -bench BenchmarkLogin -benchmem -benchtime 100x
func BenchmarkLogin(b *testing.B) {
	for _, c := range loginBenchParams {
		b.Run(c.name, func(b *testing.B) {
			var counter apptest.StatementCounter
			s := apptest.Start(b, apptest.CountStatements(&counter), func(cfg *app.Config, _ *app.Options) { cfg.Argon2 = c.p })
			u := s.AddUser(b, "bench@acme.test", s.Org(b, apptest.RootOrg), "member")
			pw := apptest.Password(u.Email)
			svc := s.App.Service()
			ctx := context.Background()
			// The account's hash made with the parameters measured, as a sign-in would leave it.
			hash, err := svc.Hasher.Hash(ctx, pw)
			require.NoError(b, err)
			require.NoError(b, s.App.Client().User.UpdateOneID(u.ID).SetPasswordHash(hash).Exec(apptest.SystemContext()))
			body, err := json.Marshal(map[string]any{"query": loginWithMemberships, "variables": map[string]any{"e": u.Email, "p": pw}})
			require.NoError(b, err)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loginClients}}
			login := func() error {
				resp, err := client.Post(s.URL+"/graphql", "application/json", bytes.NewReader(body))
				if err != nil {
					return err
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte(`"errors"`)) {
					return fmt.Errorf("%s: %s", resp.Status, out)
				}
				return nil
			}
			verify := func() error {
				ok, err := svc.Hasher.Verify(ctx, pw, hash)
				if err == nil && !ok {
					err = fmt.Errorf("no match")
				}
				return err
			}
			require.NoError(b, login())
			stored, err := s.App.Client().User.Query().Where(user.ID(u.ID)).Only(apptest.SystemContext())
			require.NoError(b, err)
			require.Equal(b, hash, stored.PasswordHash, "signing in with the current parameters re-hashes nothing")

			b.Run("hash", func(b *testing.B) {
				for b.Loop() {
					if err := verify(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("login", func(b *testing.B) {
				before := counter.Count()
				for b.Loop() {
					if err := login(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(counter.Count()-before)/float64(b.N), "stmts/op")
			})
			b.Run("hash-8-clients", func(b *testing.B) { runLoginClients(b, verify) })
			b.Run("login-8-clients", func(b *testing.B) {
				before := counter.Count()
				runLoginClients(b, login)
				b.ReportMetric(float64(counter.Count()-before)/float64(b.N), "stmts/op")
			})
		})
	}
}

// runLoginClients runs f from loginClients goroutines (rounded up to a multiple of GOMAXPROCS)
// and reports what they complete per second.
func runLoginClients(b *testing.B, f func() error) {
	b.SetParallelism((loginClients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := f(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}
