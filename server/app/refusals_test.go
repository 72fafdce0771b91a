package app_test

import (
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

// "*" lets any origin call, but never with credentials: the wildcard goes out as "*", which
// browsers refuse to pair with cookies or client certificates, and Allow-Credentials is never
// sent with it. A listed origin is echoed with credentials, as before.
func TestAWildcardOriginNeverGoesWithCredentials(t *testing.T) {
	s := apptest.Start(t, func(c *app.Config, _ *app.Options) { c.AllowedOrigins = []string{"*"} })
	for _, origin := range []string{"https://dash.example", "https://evil.example"} {
		resp, _ := get(t, s.URL+"/healthz", map[string]string{"Origin": origin})
		assert.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"), origin)
		assert.Empty(t, resp.Header.Get("Access-Control-Allow-Credentials"), origin)

		req, _ := http.NewRequest(http.MethodOptions, s.URL+"/graphql", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		pre, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		pre.Body.Close()
		assert.Equal(t, http.StatusNoContent, pre.StatusCode)
		assert.Equal(t, "*", pre.Header.Get("Access-Control-Allow-Origin"))
		assert.Empty(t, pre.Header.Get("Access-Control-Allow-Credentials"))
	}

	listed := apptest.Start(t, func(c *app.Config, _ *app.Options) {
		c.AllowedOrigins = []string{"https://Dash.Example/"} // as a literal, before its normal form
	})
	resp, _ := get(t, listed.URL+"/healthz", map[string]string{"Origin": "https://dash.example"})
	assert.Equal(t, "https://dash.example", resp.Header.Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "true", resp.Header.Get("Access-Control-Allow-Credentials"))
	resp, _ = get(t, listed.URL+"/healthz", map[string]string{"Origin": "https://dash.example.evil"})
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Credentials"))
}

// Every 401 names the scheme to authenticate with (RFC 9110), and says invalid_token when the
// request carried a bearer token that is malformed, expired or revoked (RFC 6750), so that a
// client refreshes instead of asking for a password. GraphQL answers its refusals in a 200
// body, which carries no challenge.
func TestUnauthorizedAnswersCarryABearerChallenge(t *testing.T) {
	s := apptest.Start(t)
	const invalid = `Bearer error="invalid_token"`

	r := s.REST(t, apptest.RESTRequest{Method: http.MethodGet, Path: "/auth/me"})
	require.Equal(t, http.StatusUnauthorized, r.Status)
	assert.Equal(t, "Bearer", r.Header.Get("WWW-Authenticate"), "no token: the scheme alone")

	r = s.REST(t, apptest.RESTRequest{Method: http.MethodGet, Path: "/auth/me", Bearer: "not-a-token"})
	require.Equal(t, http.StatusUnauthorized, r.Status)
	assert.True(t, strings.HasPrefix(r.Header.Get("WWW-Authenticate"), invalid), r.Header.Get("WWW-Authenticate"))

	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	r = s.REST(t, apptest.RESTRequest{Method: http.MethodGet, Path: "/auth/me", Bearer: tok.Access})
	require.Equal(t, http.StatusOK, r.Status)
	assert.Empty(t, r.Header.Get("WWW-Authenticate"))
	require.Empty(t, s.Do(t, tok.Access, `mutation { logout }`, nil).Errors)
	r = s.REST(t, apptest.RESTRequest{Method: http.MethodGet, Path: "/auth/me", Bearer: tok.Access})
	require.Equal(t, http.StatusUnauthorized, r.Status, "a revoked session's token")
	assert.True(t, strings.HasPrefix(r.Header.Get("WWW-Authenticate"), invalid), r.Header.Get("WWW-Authenticate"))

	r = s.REST(t, apptest.RESTRequest{Method: http.MethodPost, Path: "/auth/login",
		Body: map[string]any{"username": apptest.RootEmail, "password": "wrong-password"}})
	require.Equal(t, http.StatusUnauthorized, r.Status)
	assert.Equal(t, "Bearer", r.Header.Get("WWW-Authenticate"))

	g := s.Do(t, "not-a-token", `{ viewer { user { email } } }`, nil)
	assert.Equal(t, "UNAUTHENTICATED", g.Code())
	assert.Equal(t, http.StatusOK, g.Status)
}

// At debug level the server says what it decides (its configuration, each authentication and
// whether the cache answered), and none of it is a secret: not the keys, not the passwords in
// the configuration or the database and SMTP URLs, not a password sent to sign in, not a token.
func TestDebugLogsNeverContainSecrets(t *testing.T) {
	cfg := apptest.Config(apptest.DatabaseURL(t))
	if os.Getenv("TEST_DATABASE_URL") != "" {
		// Trust authentication ignores the password, so the test database takes one too.
		u, err := url.Parse(cfg.DatabaseURL)
		require.NoError(t, err)
		u.User = url.UserPassword(u.User.Username(), "db-secret-5b1e")
		cfg.DatabaseURL = u.String()
	}
	cfg.LogLevel = "debug"
	cfg.JWTSecret = "jwt-secret-8f2c1d9e7a6b5c4d3e2f1a0b"
	cfg.EncryptionKey = "enc-secret-0a1b2c3d4e5f6a7b8c9d0e1f"
	cfg.SMTPURL = "smtp://mailer:smtp-secret-77ab@127.0.0.1:1?from=noreply@example.com"
	logs := &syncBuffer{}
	s := apptest.StartWith(t, cfg, app.Options{Logs: logs})
	secrets := []string{"db-secret-5b1e", cfg.JWTSecret, cfg.EncryptionKey, "smtp-secret-77ab", apptest.RootPassword, "wrong-password-31"}

	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	secrets = append(secrets, tok.Access, tok.Refresh)
	assert.Equal(t, "UNAUTHENTICATED", s.Do(t, "", `mutation { login(input: {email: "root@example.com", password: "wrong-password-31"}) { accessToken } }`, nil).Code())
	require.Empty(t, s.Do(t, tok.Access, `{ viewer { user { email } } }`, nil).Errors)
	require.Empty(t, s.Do(t, tok.Access, `{ viewer { user { email } } }`, nil).Errors) // from the cache
	r := s.Do(t, "", `mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }`, map[string]any{"t": tok.Refresh})
	require.Empty(t, r.Errors)
	secrets = append(secrets, r.Str("refreshToken.accessToken"), r.Str("refreshToken.refreshToken"))
	r = s.Do(t, tok.Access, `mutation { inviteMember(input: {email: "new@example.com", role: "viewer"}) { token } }`, nil)
	require.Empty(t, r.Errors)
	secrets = append(secrets, r.Str("inviteMember.token"))
	rest := s.REST(t, apptest.RESTRequest{Method: http.MethodPost, Path: "/auth/login",
		Body: map[string]any{"username": apptest.RootEmail, "password": apptest.RootPassword}})
	require.Equal(t, http.StatusOK, rest.Status)
	secrets = append(secrets, rest.Str("access_token"), rest.Str("refresh_token"))
	assert.Equal(t, http.StatusUnauthorized, s.REST(t, apptest.RESTRequest{Method: http.MethodGet, Path: "/auth/me", Bearer: tok.Access + "x"}).Status)
	s.Stop() // and the e-mail the invitation queued, which cannot be sent

	out := logs.String()
	for _, want := range []string{`"msg":"configuration"`, `"msg":"authenticated"`, `"from_cache":true`, `"msg":"access token refused`} {
		assert.Contains(t, out, want, "debug logs say what the server decides")
	}
	for i, secret := range secrets {
		require.NotEmpty(t, secret)
		assert.False(t, strings.Contains(out, secret), "secret %d of %d is in the logs: %.12s…", i, len(secrets), secret)
	}
	if t.Failed() {
		t.Log(out)
	}
}
