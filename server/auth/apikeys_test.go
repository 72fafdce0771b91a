package auth_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/auth"
)

func TestAPIKeySecretsAreRecognisableRandomAndChecksummed(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		k, err := auth.NewAPIKeySecret()
		require.NoError(t, err)
		require.Len(t, k, auth.APIKeyLen)
		assert.True(t, strings.HasPrefix(k, "iorg_"))
		require.NoError(t, auth.CheckAPIKey(k))
		assert.False(t, seen[k])
		seen[k] = true
		assert.Equal(t, k[:11], auth.APIKeyDisplayPrefix(k))
		// Any one character changed, in the body or the checksum, is caught.
		for i := len("iorg_"); i < len(k); i += 7 {
			c := byte('a')
			if k[i] == 'a' {
				c = 'b'
			}
			assert.ErrorIs(t, auth.CheckAPIKey(k[:i]+string(c)+k[i+1:]), auth.ErrInvalidToken, "changed at %d", i)
		}
	}
	assert.Equal(t, 65, auth.APIKeyLen)
	for _, bad := range []string{"", "iorg_", "iorg_" + strings.Repeat("0", 60), "xorg_" + strings.Repeat("0", 60), "iorg_" + strings.Repeat("-", 60)} {
		assert.ErrorIs(t, auth.CheckAPIKey(bad), auth.ErrInvalidToken, "%q", bad)
	}
}

func TestAPIKeyHashesAreKeyed(t *testing.T) {
	k, err := auth.NewAPIKeySecret()
	require.NoError(t, err)
	a, b := auth.NewAPIKeyHasher([]byte("one encryption key")), auth.NewAPIKeyHasher([]byte("another"))
	assert.Equal(t, a.Hash(k), auth.NewAPIKeyHasher([]byte("one encryption key")).Hash(k), "stable")
	assert.NotEqual(t, a.Hash(k), b.Hash(k), "keyed")
	assert.NotEqual(t, auth.HashToken(k), a.Hash(k), "not a plain SHA-256")
	assert.Len(t, a.Hash(k), 64)
}
