package apptest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/rest"
)

// A REST route runs one named GraphQL operation of rest.LoadOperations(), so a REST request has
// a GraphQL twin: that operation with the variables the route makes from the request. Twin
// sends it to /graphql, and SameAnswer holds the two answers to one: the status of the code,
// the detail of the message.

// RESTRequest is a request to a REST route. Body is sent as is when a string, []byte or
// io.Reader (the last without a length, so chunked), form-encoded when url.Values, and as JSON
// otherwise; nil sends no body.
type RESTRequest struct {
	Method, Path, Bearer string
	Body                 any
	Header               map[string]string
}

// RESTResponse is a REST response: its status, headers, raw body and the body decoded as JSON.
type RESTResponse struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   any
}

// Get returns the value at a dotted path of the body, list items numbered ("0.email").
func (r *RESTResponse) Get(path string) any { return Dig(r.Body, path) }

// Str returns the string at a dotted path of the body.
func (r *RESTResponse) Str(path string) string {
	s, _ := r.Get(path).(string)
	return s
}

// List returns the list at a dotted path of the body ("" for the body itself).
func (r *RESTResponse) List(path string) []any {
	l, _ := r.Get(path).([]any)
	return l
}

// Detail is the detail of an error body.
func (r *RESTResponse) Detail() string { return r.Str("detail") }

// Decode unmarshals the body into v.
func (r *RESTResponse) Decode(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Raw, v), "body %s", r.Raw)
}

// newRESTRequest builds the HTTP request of rq to the server at base.
func newRESTRequest(t testing.TB, base string, rq RESTRequest) *http.Request {
	t.Helper()
	var (
		body  io.Reader
		ctype string
	)
	switch b := rq.Body.(type) {
	case nil:
	case string:
		body, ctype = strings.NewReader(b), "application/json"
	case []byte:
		body, ctype = bytes.NewReader(b), "application/json"
	case url.Values:
		body, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case io.Reader:
		body, ctype = b, "application/json"
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		body, ctype = bytes.NewReader(raw), "application/json"
	}
	req, err := http.NewRequest(rq.Method, base+rq.Path, body)
	require.NoError(t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("User-Agent", "rest-test")
	if rq.Bearer != "" {
		req.Header.Set("Authorization", "Bearer "+rq.Bearer)
	}
	for k, v := range rq.Header {
		req.Header.Set(k, v)
	}
	return req
}

// REST sends a REST request. Whatever the route, an error response must be JSON with a detail
// (the HTML pages aside), and every response must carry an X-Request-ID.
func (s *Server) REST(t testing.TB, rq RESTRequest) *RESTResponse {
	t.Helper()
	res, err := http.DefaultClient.Do(newRESTRequest(t, s.URL, rq))
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	r := &RESTResponse{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && len(bytes.TrimSpace(raw)) > 0 {
		require.NoError(t, json.Unmarshal(raw, &r.Body), "JSON body of %s %s: %s", rq.Method, rq.Path, raw)
	}
	assert.NotEmpty(t, res.Header.Get("X-Request-ID"), "X-Request-ID of %s %s", rq.Method, rq.Path)
	// The invitation and password reset pages (GET, and POST of their forms) speak HTML, errors
	// included.
	page := strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") &&
		(strings.Contains(rq.Path, "/auth/accept-invite") || strings.Contains(rq.Path, "/auth/reset-password"))
	if r.Status >= 400 && rq.Method != http.MethodHead && !page {
		assert.Contains(t, res.Header.Get("Content-Type"), "application/json", "error of %s %s: %s", rq.Method, rq.Path, raw)
		assert.NotEmpty(t, r.Detail(), "detail of the error of %s %s: %s", rq.Method, rq.Path, raw)
	}
	return r
}

// Operation runs a named operation of the REST layer's document on /graphql, sending the whole
// document as the REST layer runs it, with an optional bearer token.
func (s *Server) Operation(t testing.TB, token, name string, vars map[string]any) *Response {
	t.Helper()
	doc, err := rest.LoadOperations()
	require.NoError(t, err)
	return s.post(t, token, map[string]any{"query": doc, "operationName": name, "variables": vars})
}

// Twin sends the GraphQL twin of a REST request to /graphql: the operation of its route with
// the variables the route makes from it (rest.OperationOf), as the same caller.
func (s *Server) Twin(t testing.TB, rq RESTRequest) *Response {
	t.Helper()
	op, vars, err := rest.OperationOf(newRESTRequest(t, s.URL, rq))
	require.NoError(t, err, "the GraphQL twin of %s %s", rq.Method, rq.Path)
	return s.Operation(t, rq.Bearer, op, vars)
}

// codeOf is the GraphQL code of each REST status (rest.md).
var codeOf = map[int]string{
	http.StatusOK: "", http.StatusCreated: "", http.StatusNoContent: "",
	http.StatusBadRequest:      "BAD_USER_INPUT",
	http.StatusUnauthorized:    "UNAUTHENTICATED",
	http.StatusForbidden:       "FORBIDDEN",
	http.StatusNotFound:        "NOT_FOUND",
	http.StatusConflict:        "CONFLICT",
	http.StatusTooManyRequests: "RATE_LIMITED",
}

// codeOrSignedOut is the code of a GraphQL response's first error. Query.viewer is nullable:
// without a token it is null and no error, which is GraphQL's way of saying 401.
func codeOrSignedOut(g *Response) string {
	if c := g.Code(); c != "" {
		return c
	}
	var data map[string]json.RawMessage
	if json.Unmarshal(g.Data, &data) == nil {
		if v, ok := data["viewer"]; ok && string(v) == "null" {
			return "UNAUTHENTICATED"
		}
	}
	return ""
}

// SameAnswer asserts that a REST response has status (and detail, unless empty) and that the
// GraphQL response of the same case has the status's code and the same message.
func SameAnswer(t testing.TB, r *RESTResponse, g *Response, status int, detail string) {
	t.Helper()
	assert.Equal(t, status, r.Status, "REST status; body %s", r.Raw)
	want, known := codeOf[status]
	require.True(t, known, "no GraphQL code for %d", status)
	assert.Equal(t, want, codeOrSignedOut(g), "GraphQL code; errors %+v", g.Errors)
	if status < 400 {
		return
	}
	if detail != "" {
		assert.Equal(t, detail, r.Detail(), "REST detail")
	}
	if len(g.Errors) > 0 {
		assert.Equal(t, g.Errors[0].Message, r.Detail(), "the same message on both paths")
	}
}
