package app

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// inFlight are names the container files use that other branches add to the server (the
// management listener, the healthcheck command). Until they are merged an unknown one is only
// logged; once merged they are checked like the rest.
var inFlight = map[string]bool{"MANAGEMENT_ADDR": true, "healthcheck": true}

// The Dockerfile and compose.yaml set variables the server reads and run commands it has: a
// renamed variable or command fails here, not in a deployment that silently ignores it.
func TestContainerFilesUseWhatTheServerKnows(t *testing.T) {
	known := map[string]bool{}
	for _, e := range envVars {
		known[e.name] = true
	}
	check := func(file, name string, ok bool) {
		switch {
		case ok:
		case inFlight[name]:
			t.Logf("%s: %s is not in this branch yet (added by another)", file, name)
		default:
			t.Errorf("%s uses %s, which the server does not know", file, name)
		}
	}

	dockerfile, err := os.ReadFile("../../Dockerfile")
	require.NoError(t, err)
	env := regexp.MustCompile(`(?m)^ENV\s+((?:.*\\\n)*.*)`).FindStringSubmatch(string(dockerfile))
	require.NotNil(t, env, "the Dockerfile sets ENV")
	names := regexp.MustCompile(`([A-Z][A-Z0-9_]*)=`).FindAllStringSubmatch(env[1], -1)
	require.NotEmpty(t, names)
	for _, m := range names {
		check("Dockerfile", m[1], known[m[1]])
	}
	assert.Contains(t, env[1], "DATABASE_URL=sqlite:///data/", "SQLite lives in the volume the non-root user owns")
	health := regexp.MustCompile(`(?m)^HEALTHCHECK .*CMD \["/server", "([^"]+)"\]`).FindStringSubmatch(string(dockerfile))
	require.NotNil(t, health, "the Dockerfile has a HEALTHCHECK that runs the server binary")
	_, err = lookupCommand([]string{health[1]})
	check("Dockerfile", health[1], err == nil)

	compose, err := os.ReadFile("../../compose.yaml")
	require.NoError(t, err)
	// The app service's environment block: the keys indented under it, up to the next key at
	// the same depth as "environment:".
	block := regexp.MustCompile(`(?ms)^  app:\n.*?^    environment:\n(.*?)^    \S`).FindStringSubmatch(string(compose))
	require.NotNil(t, block, "compose.yaml has an app service with an environment")
	keys := regexp.MustCompile(`(?m)^      ([A-Z][A-Z0-9_]*):`).FindAllStringSubmatch(block[1], -1)
	require.NotEmpty(t, keys)
	for _, m := range keys {
		check("compose.yaml", m[1], known[m[1]])
	}
	assert.True(t, strings.Contains(block[1], "DATABASE_URL: postgres://"), "the app uses the compose PostgreSQL")
}
