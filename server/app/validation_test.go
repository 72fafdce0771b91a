package app

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fromEnv reads one variable over the defaults, then validates.
func fromEnv(k, v string) (Config, error) {
	c := DefaultConfig()
	if err := c.FromEnv(func(name string) string {
		if name == k {
			return v
		}
		return ""
	}); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// An unknown LOG_LEVEL is refused with the values it takes, rather than read as info.
func TestLogLevelRefusesUnknownNames(t *testing.T) {
	for _, v := range []string{"verbose", "trace", "info+2", "0"} {
		_, err := fromEnv("LOG_LEVEL", v)
		if assert.Error(t, err, v) {
			assert.Contains(t, err.Error(), "LOG_LEVEL")
			assert.Contains(t, err.Error(), "debug, info, warn or error")
		}
	}
	for v, want := range map[string]slog.Level{"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "Warning": slog.LevelWarn, "error": slog.LevelError} {
		c, err := fromEnv("LOG_LEVEL", v)
		require.NoError(t, err, v)
		l, err := parseLogLevel(c.LogLevel)
		require.NoError(t, err)
		assert.Equal(t, want, l, v)
	}
	c := DefaultConfig()
	c.LogLevel = "loud" // a literal is held to the same rule
	assert.ErrorContains(t, c.Validate(), "LOG_LEVEL")
}

// ALLOWED_ORIGINS takes origins as browsers send them, in any case, with a trailing slash or a
// default port; anything that could never match an Origin header is refused by name.
func TestAllowedOriginsMustBeOrigins(t *testing.T) {
	c, err := fromEnv("ALLOWED_ORIGINS", "https://Dash.Example.com/, http://localhost:3000,https://a.example:443,http://[::1]:8080")
	require.NoError(t, err)
	assert.Equal(t, []string{"https://dash.example.com", "http://localhost:3000", "https://a.example", "http://[::1]:8080"}, c.AllowedOrigins)
	c, err = fromEnv("ALLOWED_ORIGINS", "*")
	require.NoError(t, err)
	assert.Equal(t, []string{"*"}, c.AllowedOrigins)

	for _, bad := range []string{
		"dashboard.example.com",            // no scheme: the example
		"localhost:3000",                   // parses as scheme "localhost"
		"ftp://dash.example.com",           // not http(s)
		"https://dash.example.com/app",     // a path
		"https://dash.example.com?x=1",     // a query
		"https://dash.example.com#top",     // a fragment
		"https://user:pw@dash.example.com", // user info
		"https://*.example.com",            // a wildcard host
		"https://dash.example.com:99999",   // no such port
		"https://",                         // no host
		"null",                             // sandboxed frames' origin
	} {
		_, err := fromEnv("ALLOWED_ORIGINS", "https://ok.example,"+bad)
		if assert.Error(t, err, bad) {
			assert.Contains(t, err.Error(), "ALLOWED_ORIGINS", bad)
			assert.Contains(t, err.Error(), bad, "the refusal names the entry")
			assert.Contains(t, err.Error(), "scheme://host[:port]", "and shows the expected form")
			assert.NotContains(t, err.Error(), `"https://ok.example" is not`, "only the bad entry")
		}
	}
	_, err = fromEnv("ALLOWED_ORIGINS", "*,https://dash.example.com")
	assert.ErrorContains(t, err, `"*" alone`)

	c = DefaultConfig()
	c.AllowedOrigins = []string{"dash.example.com"}
	assert.ErrorContains(t, c.Validate(), "ALLOWED_ORIGINS")
}

// The configuration as the debug log shows it names every secret's state, never its value.
func TestTheLoggedConfigurationHidesSecrets(t *testing.T) {
	c := DefaultConfig()
	c.DatabaseURL = "postgres://app:db-pass-123@db:5432/inferia?sslmode=disable&password=db-pass-456"
	c.SMTPURL = "smtp://mailer:smtp-pass-789@mail.example.com:587?from=noreply@example.com"
	c.JWTSecret = strings.Repeat("j", 40)
	c.EncryptionKey = strings.Repeat("k", 40)
	c.SuperAdminPassword = "admin-pass-0"
	c.ManagementAddr = "127.0.0.1:9000"
	c.OTLPTracesEndpoint = "https://tracer:otel-pass-1@collector.example.com/v1/traces"
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("configuration", "config", c)
	out := b.String()
	for _, secret := range []string{"db-pass-123", "db-pass-456", "smtp-pass-789", c.JWTSecret, c.EncryptionKey, "admin-pass-0", "otel-pass-1"} {
		assert.NotContains(t, out, secret)
	}
	assert.Contains(t, out, "db:5432", "what is not secret is shown")
	assert.Contains(t, out, "config.jwt_secret_key=(set)")
	assert.Contains(t, out, "config.management_addr=127.0.0.1:9000")
	assert.Contains(t, out, "collector.example.com")
}

// INTERNAL_API_KEY authenticates the inference gateway: a short one is refused at start rather
// than served; unset, the internal routes are off.
func TestInternalAPIKeyIsLongOrRefused(t *testing.T) {
	_, err := fromEnv("INTERNAL_API_KEY", "too-short-a-key")
	if assert.Error(t, err) {
		assert.Contains(t, err.Error(), "INTERNAL_API_KEY must be at least 32 characters")
		assert.NotContains(t, err.Error(), "too-short-a-key", "the key is not repeated")
	}
	c, err := fromEnv("INTERNAL_API_KEY", strings.Repeat("k", 32))
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("k", 32), c.InternalAPIKey)
	c, err = fromEnv("INTERNAL_API_KEY", "")
	require.NoError(t, err)
	assert.Empty(t, c.InternalAPIKey)
}
