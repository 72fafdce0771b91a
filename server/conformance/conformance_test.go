package conformance_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/apptest"
)

// required reports whether a missing Node must fail the test rather than skip it: in CI
// (.ci/run sets CONFORMANCE_AUDITS=required, and CI=true).
func required() bool {
	return os.Getenv("CONFORMANCE_AUDITS") == "required" || os.Getenv("CI") != ""
}

// nodeModules returns a node_modules directory holding the pinned graphql-http: the one npm ci
// made beside audit.mjs (as .ci/run does), or else one installed now into a temp directory.
func nodeModules(t *testing.T) string {
	t.Helper()
	here, err := filepath.Abs(".")
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(here, "node_modules", "graphql-http", "package.json")); err == nil {
		return filepath.Join(here, "node_modules")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		if required() {
			t.Fatal("npm is not installed and server/conformance/node_modules is missing; .ci/run runs npm ci there")
		}
		t.Skip("npm is not installed: cannot install graphql-http for the GraphQL-over-HTTP audits")
	}
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(here, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "npm ci (graphql-http pinned in package-lock.json): %s", out)
	return filepath.Join(dir, "node_modules")
}

// The public conformance suite of the GraphQL-over-HTTP specification (graphql-http's server
// audits: both response media types, POST and GET) passes without a warning against the real
// server with its default configuration.
func TestTheServerPassesEveryGraphQLOverHTTPAudit(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if required() {
			t.Fatal("node is not installed; CI must run the GraphQL-over-HTTP audits")
		}
		t.Skip("node is not installed: the GraphQL-over-HTTP audits need Node 18 or later")
	}
	modules := nodeModules(t)
	s := apptest.Start(t)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "audit.mjs", s.URL+"/graphql")
	cmd.Env = append(os.Environ(), "AUDIT_NODE_MODULES="+modules)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	for line := range strings.Lines(out.String()) {
		t.Log(strings.TrimRight(line, "\n"))
	}
	require.NoError(t, err, "the audits did not all pass:\n%s", out.String())
	require.Contains(t, out.String(), " 0 warnings, 0 notices, 0 failed")
}
