package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
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
// in the same hasher ("hash"), so that the ratio login/hash reads side by side; "alternating"
// runs the two turn about and reports the ratio itself. The 8-clients variants run 8 at once and
// report sign-ins (or verifications) per second. It reports SQL statements per sign-in. Run on
// PostgreSQL with TEST_DATABASE_URL set.
//
//	go test ./graph -run '^$' -bench 'BenchmarkLogin$/default' -benchmem -benchtime 20x
//	go test ./graph -run '^$' -bench 'BenchmarkLogin$/former' -benchmem -benchtime 4x
func BenchmarkLogin(b *testing.B) {
	for _, c := range loginBenchParams {
		b.Run(c.name, func(b *testing.B) {
			var counter apptest.StatementCounter
			s := apptest.Start(b, apptest.CountStatements(&counter), func(cfg *app.Config, _ *app.Options) {
				cfg.Argon2 = c.p
				// Measured is throughput, not refusals: 8 clients of the former parameters wait
				// longer than the default 2 s.
				cfg.Hashing.MaxWait = time.Minute
			})
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
			// The two alternate, op by op, so that a load that comes and goes on a shared machine
			// weighs on both alike: login/hash is the ratio of their total times.
			// Beside the ratio of the totals, the ratio of the medians: a stall of the shared
			// machine (tens of milliseconds, now and then) moves a total, not a median.
			b.Run("alternating", func(b *testing.B) {
				var hashing, signingIn time.Duration
				var hashes, logins []time.Duration
				for b.Loop() {
					t0 := time.Now()
					if err := verify(); err != nil {
						b.Fatal(err)
					}
					t1 := time.Now()
					if err := login(); err != nil {
						b.Fatal(err)
					}
					h, l := t1.Sub(t0), time.Since(t1)
					hashing, signingIn = hashing+h, signingIn+l
					hashes, logins = append(hashes, h), append(logins, l)
				}
				b.ReportMetric(float64(hashing.Milliseconds())/float64(b.N), "hash-ms/op")
				b.ReportMetric(float64(signingIn.Milliseconds())/float64(b.N), "login-ms/op")
				b.ReportMetric(float64(signingIn)/float64(hashing), "login/hash")
				b.ReportMetric(float64(median(logins))/float64(median(hashes)), "p50-login/p50-hash")
				b.ReportMetric(float64(median(logins)-median(hashes))/float64(time.Millisecond), "p50-extra-ms")
			})
			b.Run("alternating-8-clients", func(b *testing.B) {
				// Rounds of 8 clients, hashing alone then signing in, 4 ops a client each.
				const perClient = 4
				var hashing, signingIn time.Duration
				var ops int
				round := func(f func() error) time.Duration {
					t0 := time.Now()
					var wg sync.WaitGroup
					for range loginClients {
						wg.Go(func() {
							for range perClient {
								if err := f(); err != nil {
									b.Error(err)
									return
								}
							}
						})
					}
					wg.Wait()
					return time.Since(t0)
				}
				for b.Loop() {
					hashing += round(verify)
					signingIn += round(login)
					ops += loginClients * perClient
				}
				b.ReportMetric(float64(ops)/hashing.Seconds(), "hashes/s")
				b.ReportMetric(float64(ops)/signingIn.Seconds(), "logins/s")
				b.ReportMetric(float64(signingIn)/float64(hashing), "login/hash")
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
