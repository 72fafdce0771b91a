package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

// sessionIP signs in with the given X-Forwarded-For and returns the IP the session recorded.
func sessionIP(t *testing.T, s *apptest.Server, forwardedFor string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken } }`,
		"variables": map[string]any{"e": apptest.RootEmail, "p": apptest.RootPassword}})
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Data struct{ Login struct{ AccessToken string } }
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	r := s.Do(t, out.Data.Login.AccessToken, `{ viewer { session { ipAddress } } }`, nil)
	require.Empty(t, r.Errors)
	return r.Str("viewer.session.ipAddress")
}

func TestTheClientAddressComesFromForwardedForOnlyBehindATrustedProxy(t *testing.T) {
	untrusted := apptest.Start(t)
	assert.Equal(t, "127.0.0.1", sessionIP(t, untrusted, "203.0.113.7"), "a client cannot choose its address")

	trusted := apptest.Start(t, func(c *app.Config, _ *app.Options) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	})
	assert.Equal(t, "203.0.113.7", sessionIP(t, trusted, "203.0.113.7"))
	assert.Equal(t, "198.51.100.9", sessionIP(t, trusted, "203.0.113.7, 198.51.100.9, 10.1.2.3"),
		"the nearest address that is not a trusted proxy; what the client wrote further left is not believed")
	assert.Equal(t, "127.0.0.1", sessionIP(t, trusted, ""), "no header: the peer")
	assert.Equal(t, "127.0.0.1", sessionIP(t, trusted, "not an address"), "garbage: the peer")
}
