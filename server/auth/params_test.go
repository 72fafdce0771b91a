package auth

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestArgon2ParamsRefusedBelowOWASPMinimumsOrBeyondBounds(t *testing.T) {
	ok := []Argon2Params{DefaultArgon2Params,
		{Memory: 47104, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 9216, Iterations: 4, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 7168, Iterations: 5, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 7168, Iterations: 9, Parallelism: 4, SaltLength: 16, KeyLength: 32},
		{Memory: 65536, Iterations: 3, Parallelism: 2, SaltLength: 16, KeyLength: 32},
	}
	for _, p := range ok {
		assert.NoError(t, p.CheckStrength(), "%+v", p)
	}
	for _, c := range []struct {
		p    Argon2Params
		want string
	}{
		{Argon2Params{Memory: 47103, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, "at least 47104 KiB with 1 iterations"},
		{Argon2Params{Memory: 19455, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}, "at least 19456 KiB"},
		{Argon2Params{Memory: 12287, Iterations: 3, Parallelism: 1, SaltLength: 16, KeyLength: 32}, "at least 12288 KiB"},
		{Argon2Params{Memory: 9215, Iterations: 4, Parallelism: 1, SaltLength: 16, KeyLength: 32}, "at least 9216 KiB"},
		{Argon2Params{Memory: 7167, Iterations: 20, Parallelism: 1, SaltLength: 16, KeyLength: 32}, "at least 7168 KiB"},
		{Argon2Params{Memory: 65536, Iterations: 0, Parallelism: 1, SaltLength: 16, KeyLength: 32}, "iterations must be 1 to 64"},
		{Argon2Params{Memory: 65536, Iterations: 65, Parallelism: 1, SaltLength: 16, KeyLength: 32}, "iterations must be 1 to 64"},
		{Argon2Params{Memory: 65536, Iterations: 3, Parallelism: 0, SaltLength: 16, KeyLength: 32}, "parallelism must be 1 to 64"},
		{Argon2Params{Memory: MaxArgon2Memory + 1, Iterations: 3, Parallelism: 1, SaltLength: 16, KeyLength: 32}, "at most"},
		{TestArgon2Params, "at least 47104 KiB"},
	} {
		err := c.p.CheckStrength()
		if assert.Error(t, err, "%+v", c.p) {
			assert.Contains(t, err.Error(), c.want)
		}
	}
}

func TestOnlyAMatchWithOtherParametersIsRehashed(t *testing.T) {
	ctx := context.Background()
	old := NewPasswordHasher(Argon2Params{Memory: 2048, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}, HashLimits{})
	h := NewPasswordHasher(TestArgon2Params, HashLimits{})
	oldHash, err := old.Hash(ctx, "pw")
	require.NoError(t, err)
	current, err := h.Hash(ctx, "pw")
	require.NoError(t, err)
	assert.True(t, h.NeedsRehash(oldHash))
	assert.False(t, h.NeedsRehash(current))
	assert.True(t, h.NeedsRehash("plain"))

	turn, err := h.Turn(ctx)
	require.NoError(t, err)
	defer turn.Done()
	ok, rehash, err := turn.VerifyAndRehash("pw", oldHash)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.True(t, strings.HasPrefix(rehash, "$argon2id$v=19$m=1024,t=1,p=1$"), rehash)
	assert.False(t, h.NeedsRehash(rehash))
	ok, err = turn.Verify("pw", rehash)
	require.NoError(t, err)
	assert.True(t, ok, "the new hash is of the same password")

	ok, rehash, err = turn.VerifyAndRehash("wrong", oldHash)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Empty(t, rehash, "a wrong password is not re-hashed")

	ok, rehash, err = turn.VerifyAndRehash("pw", current)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Empty(t, rehash, "a hash with the current parameters is kept")

	_, _, err = turn.VerifyAndRehash("pw", "plain")
	assert.ErrorIs(t, err, ErrBadHash)
}
