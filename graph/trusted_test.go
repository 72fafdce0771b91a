package graph_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/graph/documents"
	"github.com/inferiallm/orgserver/rest"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

// A document a deployment trusts beside the built-in ones, as a client code generator would
// emit it.
const deploymentDocument = `query WhoAmI { viewer { user { email } } }`

// startTrusted starts a server in trusted-documents mode whose manifest file holds
// deploymentDocument.
func startTrusted(t *testing.T) *apptest.Server {
	t.Helper()
	file := filepath.Join(t.TempDir(), "persisted-documents.json")
	raw, err := json.Marshal(map[string]string{graph.DocumentHash(deploymentDocument): deploymentDocument})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, raw, 0o600))
	return apptest.Start(t, func(cfg *app.Config, _ *app.Options) {
		cfg.TrustedDocuments = "on"
		cfg.TrustedDocumentsFile = file
	})
}

// postGraphQL sends body (marshalled unless it is a string) to /graphql with a bearer token,
// as application/json, and returns the status and the decoded answer.
func postGraphQL(t *testing.T, s *apptest.Server, token string, body any) (int, map[string]any) {
	t.Helper()
	raw, ok := body.(string)
	if !ok {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		raw = string(b)
	}
	req, err := http.NewRequest(http.MethodPost, s.URL+"/graphql", strings.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	return sendGraphQL(t, req, token)
}

func sendGraphQL(t *testing.T, req *http.Request, token string) (int, map[string]any) {
	t.Helper()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(out, &m), "%s", out)
	return resp.StatusCode, m
}

// dashboardPage returns the text of a dashboard page's document.
func dashboardPage(t *testing.T, name string) string {
	t.Helper()
	for _, p := range documents.Dashboard() {
		if p.Name == name {
			return p.Text
		}
	}
	t.Fatalf("no dashboard page %q", name)
	return ""
}

func persisted(hash string) map[string]any {
	return map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}
}

// In trusted-documents mode a document runs when it is one of the manifest's, named by
// documentId, by its APQ hash, or sent in full; anything else is refused before it is parsed,
// with a code that says why.
func TestTrustedModeRunsOnlyTheManifestsDocuments(t *testing.T) {
	s := startTrusted(t)
	// Signing in is an ad-hoc mutation, refused here: the dashboard signs in over REST.
	login := s.REST(t, apptest.RESTRequest{Method: http.MethodPost, Path: "/auth/login",
		Body: map[string]any{"username": apptest.RootEmail, "password": apptest.RootPassword}})
	require.Equal(t, http.StatusOK, login.Status, "%s", login.Raw)
	tok := login.Str("access_token")
	users := dashboardPage(t, "users")
	usersID := "sha256:" + graph.DocumentHash(users)
	restDoc, err := rest.LoadOperations()
	require.NoError(t, err)

	for _, c := range []struct {
		name   string
		body   any
		status int
		reason string // "" : it runs, with data and no errors
	}{
		{"a dashboard page runs by its documentId", map[string]any{"documentId": usersID}, 200, ""},
		{"a documentId's hexadecimal digits may be upper case", map[string]any{"documentId": "sha256:" + strings.ToUpper(graph.DocumentHash(users))}, 200, ""},
		{"a dashboard page runs by its APQ hash", map[string]any{"extensions": persisted(graph.DocumentHash(users))}, 200, ""},
		{"a dashboard page runs by its APQ hash with its text", map[string]any{"query": users, "extensions": persisted(graph.DocumentHash(users))}, 200, ""},
		{"a dashboard page runs by its full text", map[string]any{"query": users, "variables": map[string]any{"search": "root"}}, 200, ""},
		{"a document of the deployment's manifest file runs by its documentId", map[string]any{"documentId": "sha256:" + graph.DocumentHash(deploymentDocument)}, 200, ""},
		{"a document of the deployment's manifest file runs by its full text", map[string]any{"query": deploymentDocument}, 200, ""},
		{"the REST document runs, one of its operations at a time", map[string]any{"query": restDoc, "operationName": "Me"}, 200, ""},

		{"a document of no manifest is refused", map[string]any{"query": `{ viewer { user { email } } }`}, 200, "DOCUMENT_NOT_TRUSTED"},
		{"introspection is refused", map[string]any{"query": `{ __schema { types { name } } }`}, 200, "DOCUMENT_NOT_TRUSTED"},
		{"a trusted document with an alias added is refused", map[string]any{"query": strings.Replace(deploymentDocument, "email", "email other: email", 1)}, 200, "DOCUMENT_NOT_TRUSTED"},
		{"a trusted document with another operation appended is refused", map[string]any{"query": deploymentDocument + "\nquery Other { permissionCatalog { name } }", "operationName": "WhoAmI"}, 200, "DOCUMENT_NOT_TRUSTED"},
		{"a trusted document with its spacing changed is refused", map[string]any{"query": deploymentDocument + " "}, 200, "DOCUMENT_NOT_TRUSTED"},
		{"a document that does not even parse is refused before parsing", map[string]any{"query": strings.Repeat("{", 10000)}, 200, "DOCUMENT_NOT_TRUSTED"},
		{"an unknown documentId is refused", map[string]any{"documentId": "sha256:" + graph.DocumentHash("{ viewer { user { email } } }")}, 200, "PERSISTED_DOCUMENT_NOT_FOUND"},
		{"an unknown APQ hash is refused", map[string]any{"extensions": persisted(graph.DocumentHash("{ viewer { user { email } } }"))}, 200, "PERSISTED_DOCUMENT_NOT_FOUND"},
		{"a trusted APQ hash with another document is refused", map[string]any{"query": `{ viewer { user { email } } }`, "extensions": persisted(graph.DocumentHash(users))}, 200, "DOCUMENT_NOT_TRUSTED"},
		{"a documentId with a query beside it is refused", map[string]any{"documentId": usersID, "query": `{ viewer { user { email } } }`}, 400, "INVALID_REQUEST"},
		{"a documentId that is not a SHA-256 is refused", map[string]any{"documentId": "md5:0cc175b9c0f1b6a831c399e269772661"}, 400, "INVALID_REQUEST"},
		{"a batch of trusted documents is refused", []any{map[string]any{"documentId": usersID}, map[string]any{"query": deploymentDocument}}, 400, "INVALID_REQUEST"},
		{"a trusted document followed by another request is refused", `{"documentId":"` + usersID + `"} {"query":"{ viewer { user { email } } }"}`, 400, "INVALID_REQUEST"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := postGraphQL(t, s, tok, c.body)
			assert.Equal(t, c.status, status, "%v", body)
			if c.reason == "" {
				assert.NotContains(t, body, "errors")
				assert.NotNil(t, body["data"])
				return
			}
			assert.NotContains(t, body, "data", "a refused request has no data")
			errs, _ := body["errors"].([]any)
			require.Len(t, errs, 1, "%v", body)
			assert.Equal(t, c.reason, apptest.Dig(errs[0], "extensions.reason"), "%v", errs[0])
			assert.Equal(t, "BAD_USER_INPUT", apptest.Dig(errs[0], "extensions.code"))
		})
	}

	t.Run("a dashboard page runs by its documentId over GET", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodGet, s.URL+"/graphql?"+url.Values{"documentId": {usersID}}.Encode(), nil)
		require.NoError(t, err)
		status, body := sendGraphQL(t, req, tok)
		assert.Equal(t, 200, status, "%v", body)
		assert.NotNil(t, apptest.Dig(body, "data.viewer.organization.members.totalCount"))
	})
	t.Run("a refusal is a 400 without data as graphql-response+json", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader([]byte(`{"query":"{ viewer { user { email } } }"}`)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/graphql-response+json")
		status, body := sendGraphQL(t, req, tok)
		assert.Equal(t, 400, status)
		assert.NotContains(t, body, "data")
	})
	t.Run("GraphiQL's schema query is refused", func(t *testing.T) {
		// Which is why the playground is off in this mode unless asked for (server/app's
		// TestTrustedDocumentsModeFromTheEnvironment).
		_, body := postGraphQL(t, s, "", map[string]any{"query": `query IntrospectionQuery { __schema { queryType { name } } }`})
		assert.Equal(t, "DOCUMENT_NOT_TRUSTED", apptest.Dig(body["errors"].([]any)[0], "extensions.reason"))
	})
}

// With trusted documents off (the default), any document runs as before, and a client may
// still name a trusted document by its documentId.
func TestTrustedDocumentsOffRunsAnyDocumentAndDocumentIDs(t *testing.T) {
	s := apptest.Start(t)
	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword).Access
	status, body := postGraphQL(t, s, tok, map[string]any{"query": `{ viewer { user { email } } }`})
	assert.Equal(t, 200, status)
	assert.Equal(t, apptest.RootEmail, apptest.Dig(body, "data.viewer.user.email"))

	status, body = postGraphQL(t, s, tok, map[string]any{"documentId": "sha256:" + graph.DocumentHash(dashboardPage(t, "roles"))})
	assert.Equal(t, 200, status, "%v", body)
	assert.NotEmpty(t, apptest.Dig(body, "data.permissionCatalog"))

	// The APQ form of a shipped document, its hash in capitals: resolved from the manifest, not
	// hashed again by gqlgen's APQ (which would compare it with the hash as sent).
	apq := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": strings.ToUpper(graph.DocumentHash(dashboardPage(t, "roles")))}}
	status, body = postGraphQL(t, s, tok, map[string]any{"extensions": apq})
	assert.Equal(t, 200, status, "%v", body)
	assert.NotEmpty(t, apptest.Dig(body, "data.permissionCatalog"), "%v", body)

	_, body = postGraphQL(t, s, tok, map[string]any{"documentId": "sha256:" + graph.DocumentHash("{ nothing }")})
	assert.Equal(t, "PERSISTED_DOCUMENT_NOT_FOUND", apptest.Dig(body["errors"].([]any)[0], "extensions.reason"))
}
