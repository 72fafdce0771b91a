package graph_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/apptest"
)

// rawGraphQL sends a request to /graphql as given and returns its status, Content-Type and
// decoded body.
func rawGraphQL(t *testing.T, s *apptest.Server, method, query, contentType, accept, body string) (int, string, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+"/graphql"+query, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "body %s", raw)
	return resp.StatusCode, resp.Header.Get("Content-Type"), out
}

// The GraphQL-over-HTTP rules, as the graphql-http audits check them (server/conformance runs
// the audits themselves): a request that is not a GraphQL request answers 400; a request error
// answers errors without data, 200 as application/json and 400 as
// application/graphql-response+json; an executed operation answers 200.
func TestGraphQLOverHTTPStatusesFollowTheSpecification(t *testing.T) {
	s := apptest.Start(t)
	const (
		jsonMedia = "application/json"
		gqlMedia  = "application/graphql-response+json"
	)
	get := func(q string, vars ...string) string {
		v := url.Values{"query": {q}}
		if len(vars) > 0 {
			v.Set("variables", vars[0])
		}
		return "?" + v.Encode()
	}
	for _, c := range []struct {
		name                      string
		method, query, ctype, acc string
		body                      string
		status                    int
		media                     string
		data                      bool   // the body has a data entry
		reason                    string // extensions.reason of the first error, if any
	}{
		{"a query answers 200 with data", "POST", "", jsonMedia, "", `{"query":"{ __typename }"}`, 200, jsonMedia, true, ""},
		{"a query asking for graphql-response+json answers in it", "POST", "", jsonMedia, gqlMedia, `{"query":"{ __typename }"}`, 200, gqlMedia, true, ""},
		{"a document that does not parse answers 200 without data as JSON", "POST", "", jsonMedia, jsonMedia, `{"query":"{"}`, 200, jsonMedia, false, "GRAPHQL_PARSE_FAILED"},
		{"a document that does not parse answers 400 without data as graphql-response+json", "POST", "", jsonMedia, gqlMedia, `{"query":"{"}`, 400, gqlMedia, false, "GRAPHQL_PARSE_FAILED"},
		{"a document that does not validate answers 200 without data as JSON", "POST", "", jsonMedia, jsonMedia, `{"query":"{ noSuchField }"}`, 200, jsonMedia, false, "GRAPHQL_VALIDATION_FAILED"},
		{"a document that does not validate answers 400 without data as graphql-response+json", "POST", "", jsonMedia, gqlMedia, `{"query":"{ noSuchField }"}`, 400, gqlMedia, false, "GRAPHQL_VALIDATION_FAILED"},
		{"variables that cannot be coerced answer 200 without data as JSON", "POST", "", jsonMedia, jsonMedia, `{"query":"query($id: ID!) { __typename }","variables":{"id":null}}`, 200, jsonMedia, false, "GRAPHQL_VALIDATION_FAILED"},
		{"variables that cannot be coerced answer 400 as graphql-response+json", "POST", "", jsonMedia, gqlMedia, `{"query":"query($id: ID!) { __typename }","variables":{"id":null}}`, 400, gqlMedia, false, "GRAPHQL_VALIDATION_FAILED"},
		{"a limit's refusal is a request error too", "POST", "", jsonMedia, gqlMedia, `{"query":"{ a: __typename a: __typename a: __typename a: __typename a: __typename a: __typename a: __typename a: __typename a: __typename a: __typename a: __typename a: __typename a: __typename a: __typename a: __typename a: __typename a: __typename a: __typename a: __typename a: __typename a: __typename }"}`, 400, gqlMedia, false, "FIELD_LIMIT_EXCEEDED"},
		{"a body that is not JSON answers 400", "POST", "", jsonMedia, jsonMedia, `{ "not a JSON`, 400, jsonMedia, false, "INVALID_REQUEST"},
		{"no body answers 400", "POST", "", jsonMedia, "", ``, 400, jsonMedia, false, "INVALID_REQUEST"},
		{"a misspelt query parameter answers 400", "POST", "", jsonMedia, "", `{"qeury":"{ __typename }"}`, 400, jsonMedia, false, "INVALID_REQUEST"},
		{"a query that is not a string answers 400", "POST", "", jsonMedia, "", `{"query":["{ __typename }"]}`, 400, jsonMedia, false, "INVALID_REQUEST"},
		{"variables that are not an object answer 400", "POST", "", jsonMedia, "", `{"query":"{ __typename }","variables":"x"}`, 400, jsonMedia, false, "INVALID_REQUEST"},
		{"a batch answers 400", "POST", "", jsonMedia, "", `[{"query":"{ __typename }"},{"query":"{ __typename }"}]`, 400, jsonMedia, false, "INVALID_REQUEST"},
		{"two JSON values answer 400", "POST", "", jsonMedia, "", `{"query":"{ __typename }"} {"query":"{ __typename }"}`, 400, jsonMedia, false, "INVALID_REQUEST"},
		{"GET variables with a second JSON value answer 400, as on POST", "GET", get("{ __typename }", `{"a":1} {"b":2}`), "", "", ``, 400, jsonMedia, false, "INVALID_REQUEST"},
		{"null parameters are absent ones", "POST", "", jsonMedia, "", `{"query":"{ __typename }","variables":null,"operationName":null,"extensions":null}`, 200, jsonMedia, true, ""},
		{"GET runs a query with variables", "GET", get(`query($n: String!) { __type(name: $n) { name } }`, `{"n":"Query"}`), "", "", "", 200, jsonMedia, true, ""},
		{"GET with variables that are not JSON answers 400", "GET", get(`{ __typename }`, `{`), "", "", "", 400, jsonMedia, false, "INVALID_REQUEST"},
		{"GET refuses a mutation with 405", "GET", get(`mutation { logout }`), "", gqlMedia, "", 405, gqlMedia, false, "METHOD_NOT_ALLOWED"},
		{"GET with a document that does not parse answers 400 as graphql-response+json", "GET", get(`{`), "", gqlMedia, "", 400, gqlMedia, false, "GRAPHQL_PARSE_FAILED"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, media, body := rawGraphQL(t, s, c.method, c.query, c.ctype, c.acc, c.body)
			assert.Equal(t, c.status, status, "%v", body)
			assert.Equal(t, c.media, media)
			_, hasData := body["data"]
			assert.Equal(t, c.data, hasData, "data entry: %v", body)
			if c.reason == "" {
				assert.NotContains(t, body, "errors")
				return
			}
			errs, _ := body["errors"].([]any)
			require.NotEmpty(t, errs, "%v", body)
			assert.Equal(t, c.reason, apptest.Dig(errs[0], "extensions.reason"), "%v", errs[0])
		})
	}
}
