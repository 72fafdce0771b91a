package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/graph/documents"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

// writeManifest writes a manifest file of docs (keyed by their SHA-256 unless keys are given).
func writeManifest(t *testing.T, m map[string]string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "documents.json")
	raw, err := json.Marshal(m)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, raw, 0o600))
	return file
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "documents.json")
	require.NoError(t, os.WriteFile(file, []byte(text), 0o600))
	return file
}

// runEnv runs the binary with args and the environment env, and returns what it printed.
func runEnv(env map[string]string, args ...string) (string, error) {
	var out bytes.Buffer
	err := app.Run(context.Background(), args, func(k string) string { return env[k] }, &out)
	return out.String(), err
}

// `server documents` prints the trusted documents, built-in and the deployment's file's, as a
// manifest a client or a gateway can read back.
func TestServerDocumentsPrintsTheManifestWithTheFilesDocuments(t *testing.T) {
	const extra = `query Extra { viewer { permissions } }`
	file := writeManifest(t, map[string]string{graph.DocumentHash(extra): extra})

	out, err := runEnv(map[string]string{"GRAPHQL_TRUSTED_DOCUMENTS_FILE": file}, "documents")
	require.NoError(t, err)
	var got map[string]string
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	var builtIn map[string]string
	require.NoError(t, json.Unmarshal(documents.Manifest(), &builtIn))
	assert.Len(t, got, len(builtIn)+1)
	assert.Equal(t, extra, got[graph.DocumentHash(extra)])
	for _, p := range documents.Dashboard() {
		assert.Equal(t, p.Text, got[graph.DocumentHash(p.Text)], p.File)
	}
}

// A manifest file the server cannot trust stops the start, and `server documents`, with the
// reason: a key that is not the hash of its document, a document that does not validate, a
// file that is not a manifest or is missing.
func TestAManifestFileThatCannotBeTrustedStopsTheStart(t *testing.T) {
	const doc = `query Extra { viewer { permissions } }`
	for _, c := range []struct {
		name, file, want string
	}{
		{"a key that is not the document's SHA-256", writeManifest(t, map[string]string{graph.DocumentHash(doc + " "): doc}), "is not the SHA-256 of its document"},
		{"a key that is no SHA-256 at all", writeManifest(t, map[string]string{"Extra": doc}), `key "Extra" is not a SHA-256`},
		{"a document the schema refuses", writeManifest(t, map[string]string{graph.DocumentHash(`{ nope }`): `{ nope }`}), `Cannot query field "nope"`},
		{"a file that is not there", writeManifest(t, map[string]string{}) + ".missing", "no such file"},
		{"a file that is not a manifest", writeFile(t, `[1, 2]`), "not a JSON object"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := runEnv(map[string]string{"GRAPHQL_TRUSTED_DOCUMENTS_FILE": c.file}, "documents")
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.Contains(t, err.Error(), "GRAPHQL_TRUSTED_DOCUMENTS_FILE")

			cfg := apptest.Config(apptest.DatabaseURL(t))
			cfg.TrustedDocuments, cfg.TrustedDocumentsFile = "on", c.file
			a, err := app.New(context.Background(), cfg, app.Options{Out: &bytes.Buffer{}, Logs: &bytes.Buffer{}})
			if err == nil {
				a.Close()
			}
			require.Error(t, err, "the server started")
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// GRAPHQL_TRUSTED_DOCUMENTS is off or on; on turns the playground off unless
// GRAPHQL_PLAYGROUND says otherwise (GraphiQL's own queries are not trusted documents).
func TestTrustedDocumentsModeFromTheEnvironment(t *testing.T) {
	read := func(env map[string]string) (app.Config, error) {
		c := app.DefaultConfig()
		err := c.FromEnv(func(k string) string { return env[k] })
		if err == nil {
			err = c.Validate()
		}
		return c, err
	}
	c, err := read(nil)
	require.NoError(t, err)
	assert.Equal(t, "off", c.TrustedDocuments, "off by default")
	assert.True(t, c.Playground)

	c, err = read(map[string]string{"GRAPHQL_TRUSTED_DOCUMENTS": "on"})
	require.NoError(t, err)
	assert.False(t, c.Playground, "on turns the playground off")

	c, err = read(map[string]string{"GRAPHQL_TRUSTED_DOCUMENTS": "on", "GRAPHQL_PLAYGROUND": "true"})
	require.NoError(t, err)
	assert.True(t, c.Playground, "unless it is asked for")

	_, err = read(map[string]string{"GRAPHQL_TRUSTED_DOCUMENTS": "yes"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `GRAPHQL_TRUSTED_DOCUMENTS="yes": must be off or on`)
}
