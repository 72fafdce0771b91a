package app

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/auth"
)

func TestArgon2ParametersFromTheEnvironmentMustBeAtLeastOWASPs(t *testing.T) {
	fromEnv := func(env map[string]string) (Config, error) {
		c := DefaultConfig()
		err := c.FromEnv(func(k string) string { return env[k] })
		if err == nil {
			err = c.Validate()
		}
		return c, err
	}
	c, err := fromEnv(nil)
	require.NoError(t, err)
	assert.Equal(t, auth.DefaultArgon2Params, c.Argon2)

	c, err = fromEnv(map[string]string{"PASSWORD_ARGON2_MEMORY_KIB": "19456", "PASSWORD_ARGON2_ITERATIONS": "2", "PASSWORD_ARGON2_PARALLELISM": "2"})
	require.NoError(t, err)
	assert.Equal(t, auth.Argon2Params{Memory: 19456, Iterations: 2, Parallelism: 2, SaltLength: 16, KeyLength: 32}, c.Argon2)

	for env, want := range map[[2]string]string{
		{"PASSWORD_ARGON2_ITERATIONS", "1"}:    "memory must be at least 47104 KiB with 1 iterations",
		{"PASSWORD_ARGON2_MEMORY_KIB", "8192"}: "memory must be at least 12288 KiB with 3 iterations",
		{"PASSWORD_ARGON2_PARALLELISM", "0"}:   "parallelism must be 1 to 64",
		{"PASSWORD_ARGON2_ITERATIONS", "100"}:  "iterations must be 1 to 64",
		{"PASSWORD_ARGON2_MEMORY_KIB", "-1"}:   "PASSWORD_ARGON2_MEMORY_KIB=\"-1\"",
		{"PASSWORD_ARGON2_PARALLELISM", "300"}: "PASSWORD_ARGON2_PARALLELISM=\"300\"",
	} {
		_, err := fromEnv(map[string]string{env[0]: env[1]})
		if assert.Error(t, err, env) {
			assert.Contains(t, err.Error(), want, env)
		}
	}

	// Whatever sets them, parameters that would break hashing are refused.
	c = DefaultConfig()
	c.Argon2.Iterations = 0
	assert.ErrorContains(t, c.Validate(), "password hashing parameters out of range")
}
