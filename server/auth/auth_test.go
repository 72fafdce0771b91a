package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPasswordHashesVerifyOnlyTheirPassword(t *testing.T) {
	ctx := context.Background()
	h := NewPasswordHasher(TestArgon2Params, HashLimits{})
	enc, err := h.Hash(ctx, "correct horse")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(enc, "$argon2id$v=19$m=1024,t=1,p=1$"))
	ok, err := h.Verify(ctx, "correct horse", enc)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = h.Verify(ctx, "correct horsE", enc)
	require.NoError(t, err)
	assert.False(t, ok)
	other, _ := h.Hash(ctx, "correct horse")
	assert.NotEqual(t, enc, other, "salted")

	// Hashes made with other parameters still verify: the parameters travel in the hash.
	strong := NewPasswordHasher(Argon2Params{Memory: 2048, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}, HashLimits{})
	enc2, _ := strong.Hash(ctx, "pw")
	ok, err = h.Verify(ctx, "pw", enc2)
	require.NoError(t, err)
	assert.True(t, ok)

	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=x$AA$AA", "plain"} {
		_, err := h.Verify(ctx, "pw", bad)
		assert.ErrorIs(t, err, ErrBadHash, bad)
	}
}

func TestHashingRunsAtMostConcurrencyAtOnceAndRefusesWhatWouldWaitTooLong(t *testing.T) {
	// About 20 ms a hash here; one at a time; nobody waits more than 60 ms.
	slow := Argon2Params{Memory: 8 * 1024, Iterations: 4, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	h := NewPasswordHasher(slow, HashLimits{Concurrency: 1, MaxWait: 60 * time.Millisecond})
	require.Equal(t, 1, h.Concurrency())
	enc, err := h.Hash(context.Background(), "pw")
	require.NoError(t, err)

	const callers = 30
	var (
		wg               sync.WaitGroup
		running, maxSeen atomic.Int32
		ok, busy         atomic.Int32
	)
	h.onTurn = func(started bool) {
		if started {
			n := running.Add(1)
			for m := maxSeen.Load(); n > m && !maxSeen.CompareAndSwap(m, n); m = maxSeen.Load() {
			}
		} else {
			running.Add(-1)
		}
	}
	start := time.Now()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			match, err := h.Verify(context.Background(), "pw", enc)
			var be *BusyError
			switch {
			case err == nil && match:
				ok.Add(1)
			case errors.As(err, &be):
				assert.GreaterOrEqual(t, be.RetryAfterSeconds(), 1)
				busy.Add(1)
			default:
				t.Errorf("verify: %v %v", match, err)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), maxSeen.Load(), "never more than Concurrency hashes at once")
	assert.Equal(t, int32(callers), ok.Load()+busy.Load())
	assert.Positive(t, ok.Load())
	assert.Positive(t, busy.Load(), "callers beyond what fits in MaxWait are refused")
	// Each caller waited at most MaxWait and then hashed once: the storm ends in a bounded time.
	assert.Less(t, time.Since(start), 5*time.Second)

	// A caller whose request ends stops waiting.
	hold, err := h.Turn(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = h.Verify(ctx, "pw", enc)
	assert.ErrorIs(t, err, context.Canceled)
	hold.Done()
	hold.Done() // a second Done frees nothing more
	assert.Empty(t, h.slots)
}

func TestAccessTokensCarryTheirClaimsAndExpire(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tk := &Tokens{Secret: []byte("0123456789abcdef0123456789abcdef"), Issuer: "inferia", AccessTTL: 15 * time.Minute,
		Now: func() time.Time { return now }}
	u, o, s := uuid.New(), uuid.New(), uuid.New()
	tok, exp, err := tk.IssueAccess(u, o, s)
	require.NoError(t, err)
	assert.Equal(t, now.Add(15*time.Minute), exp)
	id, err := tk.ParseAccess(tok)
	require.NoError(t, err)
	assert.Equal(t, AccessIdentity{UserID: u, OrgID: o, SessionID: s}, *id)

	now = now.Add(16 * time.Minute)
	_, err = tk.ParseAccess(tok)
	assert.ErrorIs(t, err, ErrInvalidToken)
}

func TestRefreshTokensNameTheirSession(t *testing.T) {
	sid := uuid.New()
	a, err := NewRefreshToken(sid)
	require.NoError(t, err)
	b, _ := NewRefreshToken(sid)
	assert.NotEqual(t, a, b)
	got, err := RefreshSessionID(a)
	require.NoError(t, err)
	assert.Equal(t, sid, got)
	for _, bad := range []string{"", "rt_", "rt_!!!", "xx_" + a[3:], a[:20]} {
		_, err := RefreshSessionID(bad)
		assert.Error(t, err, bad)
	}
	assert.Len(t, HashToken(a), 64)
}

func TestPermissionsAreNormalizedAgainstTheCatalog(t *testing.T) {
	got, err := NormalizePermissions([]string{" Member:List", "user:update", "user:view", "model:access"})
	require.NoError(t, err)
	assert.Equal(t, []string{"model:access", "member:list", "role:update"}, got, "catalog order, aliases expanded, no duplicates")

	all, err := NormalizePermissions([]string{"admin:all"})
	require.NoError(t, err)
	assert.Equal(t, AllPermissions(), all)

	_, err = NormalizePermissions([]string{"model:access", "rocket:launch", "x"})
	var unknown *UnknownPermissionsError
	require.ErrorAs(t, err, &unknown)
	assert.Equal(t, "Invalid permissions: rocket:launch, x", err.Error())
}

func TestBuiltInRolesMatchTheContract(t *testing.T) {
	roles := map[string][]string{}
	for _, r := range BuiltInRoles() {
		roles[r.Name] = r.Permissions
	}
	assert.Len(t, roles["admin"], 26)
	assert.Len(t, roles["member"], 12)
	assert.Equal(t, append(append([]string{}, roles["member"][:11]...), "member:list", "organization:view"), roles["developer"])
	assert.Equal(t, []string{"api_key:list", "deployment:list", "model:access", "model:list", "organization:view"}, roles["viewer"])
	assert.Empty(t, MissingPermissions(roles["admin"], roles["developer"]))
	assert.Equal(t, []string{"member:list"}, MissingPermissions(roles["member"], roles["developer"]))
}

func TestAViewerIsNeverChangedInPlace(t *testing.T) {
	anonymous := NewContext(t.Context(), nil)
	assert.Nil(t, FromContext(anonymous))
	v := &Viewer{UserID: uuid.New(), Permissions: []string{MemberList}}
	signedIn := NewContext(anonymous, v)
	assert.Same(t, v, FromContext(signedIn))
	assert.Nil(t, FromContext(anonymous), "the context it was derived from is untouched")
	assert.True(t, FromContext(signedIn).Can(MemberList))
	assert.False(t, FromContext(signedIn).Can(MemberInvite))
	var none *Viewer
	assert.False(t, none.Can(MemberList))
}

// BenchmarkPasswordHash measures one argon2id verification with the production parameters
// (DefaultArgon2Params): the cost that dominates a sign-in.
func BenchmarkPasswordHash(b *testing.B) {
	ctx := context.Background()
	h := NewPasswordHasher(DefaultArgon2Params, HashLimits{})
	enc, err := h.Hash(ctx, "correct horse battery staple")
	require.NoError(b, err)
	for b.Loop() {
		if ok, _ := h.Verify(ctx, "correct horse battery staple", enc); !ok {
			b.Fatal("no match")
		}
	}
}

func TestParseEmailTakesAddressesUpTo254Bytes(t *testing.T) {
	local := strings.Repeat("a", 64)
	fits := local + "@" + strings.Repeat("b", 254-len(local)-len("@.test")) + ".test"
	require.Len(t, fits, 254)
	got, err := ParseEmail(fits)
	require.NoError(t, err)
	assert.Equal(t, fits, got)
	_, err = ParseEmail("x" + fits)
	assert.ErrorIs(t, err, ErrInvalidEmail)
}
