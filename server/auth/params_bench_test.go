package auth

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// The argon2id settings compared when choosing DefaultArgon2Params: the former default and
// OWASP's password-storage cheat sheet's equivalent set (m in KiB).
var comparedArgon2Params = []struct {
	name string
	p    Argon2Params
}{
	{"m=65536,t=3,p=2", Argon2Params{Memory: 65536, Iterations: 3, Parallelism: 2, SaltLength: 16, KeyLength: 32}},
	{"m=47104,t=1,p=1", Argon2Params{Memory: 47104, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}},
	{"m=19456,t=2,p=1", Argon2Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}},
	{"m=12288,t=3,p=1", Argon2Params{Memory: 12288, Iterations: 3, Parallelism: 1, SaltLength: 16, KeyLength: 32}},
	{"m=9216,t=4,p=1", Argon2Params{Memory: 9216, Iterations: 4, Parallelism: 1, SaltLength: 16, KeyLength: 32}},
	{"m=7168,t=5,p=1", Argon2Params{Memory: 7168, Iterations: 5, Parallelism: 1, SaltLength: 16, KeyLength: 32}},
}

// benchClients is how many sign-ins the parallel variants run at once.
const benchClients = 8

// runClients runs f from benchClients goroutines (rounded up to a multiple of GOMAXPROCS) and
// reports what they complete per second.
func runClients(b *testing.B, f func() error) {
	b.Helper()
	b.SetParallelism((benchClients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
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

// BenchmarkArgon2Params measures one verification of each compared setting alone ("single":
// ns/op is the hash's time), and 8 clients verifying at once through a hasher bounded to the
// CPUs, as sign-ins are ("8-clients": ops/s is verifications per second). bcrypt at cost 10 is
// the peer the issue compares with. Run with -benchtime=3s or more: each op is tens of ms.
//
//	go test ./server/auth -run '^$' -bench 'Argon2Params|Bcrypt' -benchtime 3s
func BenchmarkArgon2Params(b *testing.B) {
	ctx := context.Background()
	const pw = "correct horse battery staple"
	for _, c := range comparedArgon2Params {
		h := NewPasswordHasher(c.p, HashLimits{MaxWait: time.Minute})
		enc, err := h.Hash(ctx, pw)
		require.NoError(b, err)
		verify := func() error {
			ok, err := h.Verify(ctx, pw, enc)
			if err == nil && !ok {
				err = fmt.Errorf("%s: no match", c.name)
			}
			return err
		}
		b.Run(c.name+"/single", func(b *testing.B) {
			for b.Loop() {
				if err := verify(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/8-clients", func(b *testing.B) { runClients(b, verify) })
	}
}

// BenchmarkBcryptPeer measures bcrypt at cost 10, for comparison only: the server does not use
// bcrypt. The parallel variant is bounded to the CPUs like the argon2id hasher.
func BenchmarkBcryptPeer(b *testing.B) {
	const pw = "correct horse battery staple"
	enc, err := bcrypt.GenerateFromPassword([]byte(pw), 10)
	require.NoError(b, err)
	slots := make(chan struct{}, runtime.NumCPU())
	verify := func() error {
		slots <- struct{}{}
		defer func() { <-slots }()
		return bcrypt.CompareHashAndPassword(enc, []byte(pw))
	}
	b.Run("cost=10/single", func(b *testing.B) {
		for b.Loop() {
			if err := verify(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cost=10/8-clients", func(b *testing.B) { runClients(b, verify) })
}
