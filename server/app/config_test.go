package app

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Numbers from the environment: positive where 0 means nothing sensible, not negative where 0
// turns something off, and a clear refusal naming the variable otherwise.
func TestNumbersFromTheEnvironment(t *testing.T) {
	read := func(k, v string) (Config, error) {
		c := DefaultConfig()
		err := c.FromEnv(func(name string) string {
			if name == k {
				return v
			}
			return ""
		})
		return c, err
	}
	c, err := read("AUTH_CACHE_SECONDS", "0")
	assert.NoError(t, err)
	assert.Zero(t, c.AuthCacheTTL, "0 turns the cache off")
	c, err = read("AUTH_CACHE_SECONDS", "90")
	assert.NoError(t, err)
	assert.Equal(t, 90*time.Second, c.AuthCacheTTL)
	c, err = read("DB_STATEMENT_CACHE", "0")
	assert.NoError(t, err)
	assert.Zero(t, c.DBStatementCache)
	for k, v := range map[string]string{"AUTH_CACHE_SECONDS": "-1", "DB_STATEMENT_CACHE": "-5", "DB_MAX_CONNS": "0", "REQUEST_TIMEOUT_SECONDS": "0"} {
		if _, err := read(k, v); assert.Error(t, err, "%s=%s", k, v) {
			assert.Contains(t, err.Error(), k)
		}
	}
	_, err = read("DB_MAX_CONNS", "ten")
	assert.Error(t, err)
}
