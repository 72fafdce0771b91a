package app_test

import (
	"context"
	"flag"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/inferiallm/orgserver/graph/generated"
	"github.com/inferiallm/orgserver/server/apptest"
)

func TestHelpListsEveryCommandAndMistakesAreErrors(t *testing.T) {
	out, err := run(t, "", "-h")
	require.ErrorIs(t, err, flag.ErrHelp)
	for _, c := range []string{"migrate status", "admin reset-password --email E [--password-stdin]", "admin create-org",
		"admin create-user", "admin list-orgs", "version", "schema", "healthcheck"} {
		assert.Contains(t, out, "  "+c, "-h lists %s", c)
	}

	out, err = run(t, "", "admin", "create-user", "-h")
	require.ErrorIs(t, err, flag.ErrHelp)
	assert.Contains(t, out, "Usage: server [flags] admin create-user --email E --name N --org ORG --role R [--password-stdin]")
	assert.Contains(t, out, "-password-stdin")

	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"admin"}, `"admin" needs one more word: admin reset-password, admin create-org, admin create-user, admin list-orgs`},
		{[]string{"admin", "delete-everything"}, `unknown command "admin delete-everything"`},
		{[]string{"start"}, `unknown command "start"`},
		{[]string{"version", "now"}, `version: unexpected argument "now"`},
		{[]string{"migrate", "status", "--verbose"}, "flag provided but not defined: -verbose"},
		{[]string{"admin", "list-orgs", "acme"}, `admin list-orgs: unexpected argument "acme"`},
		{[]string{"admin", "reset-password"}, "admin reset-password needs --email"},
		{[]string{"admin", "reset-password", "--email", "a@b.c", "extra"}, `admin reset-password: unexpected argument "extra"`},
		{[]string{"admin", "reset-password", "--mail", "a@b.c"}, "flag provided but not defined: -mail"},
		{[]string{"admin", "create-org", "--name", "Initech"}, "admin create-org needs --admin-email"},
		{[]string{"admin", "create-user", "--email", "a@b.c"}, "admin create-user needs --name and --org and --role"},
		{[]string{"--email", "a@b.c", "admin", "reset-password"}, "flag provided but not defined: -email"},
		{[]string{"-addr", "127.0.0.1:0", "healthcheck", "-database-url", "sqlite://x.db", "now"}, `healthcheck: unexpected argument "now"`},
	} {
		_, err := run(t, "", c.args...)
		if assert.Error(t, err, "%q", c.args) {
			assert.Contains(t, err.Error(), c.err, "%q", c.args)
		}
	}
}

func TestVersionPrintsTheBuildInformation(t *testing.T) {
	out, err := run(t, "", "version")
	require.NoError(t, err)
	assert.Regexp(t, `^module    \S+ \S+\nrevision  .+\ntime      \S+\ngo        `+regexp.QuoteMeta(runtime.Version())+`\n$`, out)
}

func TestSchemaPrintsTheExecutableSchema(t *testing.T) {
	out, err := run(t, "", "schema")
	require.NoError(t, err)
	printed, gerr := gqlparser.LoadSchema(&ast.Source{Name: "printed", Input: out})
	require.Nil(t, gerr, "the SDL parses back")
	want := generated.NewExecutableSchema(generated.Config{}).Schema()
	require.Equal(t, len(want.Types), len(printed.Types))
	for name, def := range want.Types {
		got := printed.Types[name]
		if assert.NotNil(t, got, name) {
			assert.Equal(t, len(def.Fields), len(got.Fields), name)
		}
	}
	assert.Equal(t, len(want.Directives), len(printed.Directives))
	again, err := run(t, "", "schema")
	require.NoError(t, err)
	assert.Equal(t, out, again, "the same every time")
}

func TestHealthcheckAsksTheServerAtTheListenAddress(t *testing.T) {
	s := apptest.Start(t)
	_, port, err := net.SplitHostPort(strings.TrimPrefix(s.URL, "http://"))
	require.NoError(t, err)
	for _, addr := range []string{"127.0.0.1:" + port, ":" + port, "0.0.0.0:" + port} {
		out, err := run(t, "", "-addr", addr, "healthcheck")
		require.NoError(t, err, addr)
		assert.Equal(t, "ready: {\"status\":\"ok\",\"database\":\"up\"}\n", out)
	}

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/readyz", r.URL.Path)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":"unavailable","database":"down"}`))
	}))
	defer down.Close()
	_, err = run(t, "", "-addr", strings.TrimPrefix(down.URL, "http://"), "healthcheck")
	assert.ErrorContains(t, err, `answered 503 Service Unavailable: {"status":"unavailable","database":"down"}`)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	ln.Close()
	_, err = run(t, "", "-addr", closed, "healthcheck")
	assert.ErrorContains(t, err, "connection refused")

	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	require.NoError(t, err)
	defer silent.Close()
	start := time.Now()
	_, err = run(t, "", "-addr", silent.Addr().String(), "healthcheck")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 10*time.Second)
}
