package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

func get(t *testing.T, url string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestThePlaygroundIsServedWithoutAnyExternalHost(t *testing.T) {
	s := apptest.Start(t)
	for _, path := range []string{"/playground", "/"} {
		resp, page := get(t, s.URL+path, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.Contains(t, resp.Header.Get("Content-Type"), "text/html")
		assert.Contains(t, page, "/graphql")
		assert.NotRegexp(t, `(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`, page, "no absolute URL in the page")
		srcs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1)
		require.NotEmpty(t, srcs)
		for _, m := range srcs {
			require.True(t, strings.HasPrefix(m[1], "/playground/assets/"), m[1])
			r, body := get(t, s.URL+m[1], nil)
			assert.Equal(t, http.StatusOK, r.StatusCode, m[1])
			assert.NotEmpty(t, body)
		}
	}
	off := apptest.Start(t, func(c *app.Config, _ *app.Options) { c.Playground = false })
	resp, _ := get(t, off.URL+"/playground", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestARestartKeepsDataAndTokens(t *testing.T) {
	s := apptest.Start(t)
	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	r := s.Do(t, tok.Access, `mutation { createOrganization(input: {name: "Initech"}) { id } }`, nil)
	require.Empty(t, r.Errors)
	// A changed password must survive the restart's bootstrap.
	s.AddUser(t, "bob@example.com", s.Org(t, "Initech"), "viewer")

	s = s.Restart(t)
	r = s.Do(t, tok.Access, `{ viewer { user { email } } organizations { totalCount edges { node { name } } } }`, nil)
	require.Empty(t, r.Errors, "the generated signing key is kept in the database, so tokens outlive restarts")
	assert.EqualValues(t, 2, r.Get("organizations.totalCount"))
	s.Login(t, "bob@example.com", apptest.Password("bob@example.com"))
	r = s.Do(t, "", `mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }`, map[string]any{"t": tok.Refresh})
	require.Empty(t, r.Errors)
}

func TestTheFirstStartPrintsAGeneratedPasswordOnce(t *testing.T) {
	cfg := apptest.Config(apptest.DatabaseURL(t))
	cfg.SuperAdminPassword = ""
	out := &syncBuffer{}
	s := apptest.StartWith(t, cfg, app.Options{Out: out})
	// Serve prints it, once it has the listener.
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "Password:") }, 10*time.Second, time.Millisecond)
	m := regexp.MustCompile(`Password:\s+(\S+)`).FindStringSubmatch(out.String())
	require.Len(t, m, 2, "output: %s", out.String())
	s.Login(t, apptest.RootEmail, m[1])

	cfg.SuperAdminPassword = "a-different-password"
	s.Stop()
	out = &syncBuffer{}
	s = apptest.StartWith(t, cfg, app.Options{Out: out})
	s.Login(t, apptest.RootEmail, m[1]) // later starts never overwrite the password
	s.Stop()
	assert.NotContains(t, out.String(), "Password")
}

// syncBuffer is a buffer that a server's goroutines write while a test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestBadRequestsGetClearClientErrors(t *testing.T) {
	s := apptest.Start(t, func(c *app.Config, _ *app.Options) { c.MaxBodyBytes = 4096 })
	post := func(body string, header map[string]string) (*http.Response, map[string]any) {
		req, err := http.NewRequest(http.MethodPost, s.URL+"/graphql", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp, out
	}
	resp, body := post(`{"query": "{ viewer { user { id } } }"`, nil)
	assert.GreaterOrEqual(t, resp.StatusCode, 400)
	assert.Less(t, resp.StatusCode, 500)
	assert.NotEmpty(t, body["errors"])

	resp, body = post(`{"query": "`+strings.Repeat("x", 5000)+`"}`, nil)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.NotEmpty(t, body["errors"])

	resp, body = post(`{"query": "{ nosuchfield }"}`, map[string]string{"X-Request-ID": "trace-42"})
	assert.Equal(t, "trace-42", resp.Header.Get("X-Request-ID"))
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	assert.Contains(t, body["errors"].([]any)[0].(map[string]any)["message"], "nosuchfield")

	resp, jsonBody := get(t, s.URL+"/no/such/route", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.JSONEq(t, `{"detail":"Not Found","code":"NOT_FOUND"}`, jsonBody)
	assert.NotEmpty(t, resp.Header.Get("X-Request-ID"))
}

func TestHealthAndReadiness(t *testing.T) {
	s := apptest.Start(t)
	resp, body := get(t, s.URL+"/healthz", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `{"status":"ok"}`, body)
	resp, body = get(t, s.URL+"/readyz", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `{"status":"ok","database":"up"}`, body)
	s.App.Close()
	resp, _ = get(t, s.URL+"/readyz", nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

func TestCORSHeadersGoOnEveryResponseForAllowedOrigins(t *testing.T) {
	s := apptest.Start(t, func(c *app.Config, _ *app.Options) { c.AllowedOrigins = []string{"https://dash.example"} })
	resp, _ := get(t, s.URL+"/healthz", map[string]string{"Origin": "https://dash.example"})
	assert.Equal(t, "https://dash.example", resp.Header.Get("Access-Control-Allow-Origin"))
	resp, _ = get(t, s.URL+"/healthz", map[string]string{"Origin": "https://evil.example"})
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))

	req, _ := http.NewRequest(http.MethodOptions, s.URL+"/graphql", nil)
	req.Header.Set("Origin", "https://dash.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	pre, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	pre.Body.Close()
	assert.Equal(t, http.StatusNoContent, pre.StatusCode)
	assert.Contains(t, pre.Header.Get("Access-Control-Allow-Headers"), "Authorization")
}

func TestRunServesUntilCancelledAndRefusesABadConfiguration(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	env := map[string]string{
		"DATABASE_URL": apptest.DatabaseURL(t), "LISTEN_ADDR": addr,
		"SUPERADMIN_PASSWORD": "a-long-password", "LOG_LEVEL": "error",
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	var wg sync.WaitGroup
	var runErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		runErr = app.Run(ctx, nil, func(k string) string { return env[k] }, &out)
	}()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond)
	cancel()
	wg.Wait()
	assert.NoError(t, runErr)
	_, err = http.Get("http://" + addr + "/healthz")
	assert.Error(t, err, "the server has stopped listening")

	bad := app.Run(context.Background(), nil, func(k string) string {
		return map[string]string{"DATABASE_URL": "mysql://x", "ACCESS_TOKEN_EXPIRE_MINUTES": "soon"}[k]
	}, &out)
	require.Error(t, bad)
	assert.Contains(t, bad.Error(), "ACCESS_TOKEN_EXPIRE_MINUTES")
}
