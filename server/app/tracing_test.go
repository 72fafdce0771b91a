package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

// logLines keeps the server's JSON log lines.
type logLines struct {
	mu    sync.Mutex
	lines []map[string]any
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range bytes.Split(bytes.TrimSpace(p), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil {
			l.lines = append(l.lines, m)
		}
	}
	return len(p), nil
}

// request returns the access log line of the request with the given id.
func (l *logLines) request(id string) map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.lines {
		if m["msg"] == "request" && m["request_id"] == id {
			return m
		}
	}
	return nil
}

// tracedServer starts a server whose spans go to an in-memory exporter, as they end.
func tracedServer(t *testing.T) (*apptest.Server, *tracetest.InMemoryExporter, *logLines) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	logs := &logLines{}
	s := apptest.Start(t, func(c *app.Config, o *app.Options) {
		c.LogLevel = "info"
		o.Logs = logs
		o.TracerProvider = tp
	})
	return s, exp, logs
}

// postGraphQL sends a GraphQL request with the given request id and headers.
func postGraphQL(t *testing.T, s *apptest.Server, id, token, query string, vars map[string]any, header map[string]string) string {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-ID", id)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", out)
	require.NotContains(t, string(out), `"errors"`)
	return string(out)
}

// spanTree indexes one trace's spans.
type spanTree map[trace.SpanID]tracetest.SpanStub

func treeOf(spans tracetest.SpanStubs, id trace.TraceID) spanTree {
	out := spanTree{}
	for _, s := range spans {
		if s.SpanContext.TraceID() == id {
			out[s.SpanContext.SpanID()] = s
		}
	}
	return out
}

// under reports whether s descends from ancestor.
func (tr spanTree) under(s tracetest.SpanStub, ancestor trace.SpanID) bool {
	for p := s.Parent.SpanID(); p.IsValid(); {
		if p == ancestor {
			return true
		}
		parent, ok := tr[p]
		if !ok {
			return false
		}
		p = parent.Parent.SpanID()
	}
	return false
}

func (tr spanTree) named(name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range tr {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func attr(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.String()
		}
	}
	return ""
}

// A request's trace: the HTTP request's span, the GraphQL operation's under it, named after the
// operation, and each SQL statement's under that, with the statement's text and no value; the
// trace id in the request's log line.
func TestTracesFollowARequestFromHTTPToSQL(t *testing.T) {
	s, exp, logs := tracedServer(t)

	// A sign-in: its statements carry the e-mail, the password's hash and the new session's
	// token hash as parameters, which no span may show.
	out := postGraphQL(t, s, "trace-login", "", `mutation SignIn($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken refreshToken } }`,
		map[string]any{"e": apptest.RootEmail, "p": apptest.RootPassword}, nil)
	var login struct {
		Data struct {
			Login struct{ AccessToken, RefreshToken string }
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &login))
	line := logs.request("trace-login")
	require.NotNil(t, line, "the request's log line")
	traceID, err := trace.TraceIDFromHex(line["trace_id"].(string))
	require.NoError(t, err, "the log line carries the trace id")
	tr := treeOf(exp.GetSpans(), traceID)
	require.Len(t, tr.named("POST /graphql"), 1, "%v", tr)
	httpSpan := tr.named("POST /graphql")[0]
	assert.Equal(t, trace.SpanKindServer, httpSpan.SpanKind)
	assert.Equal(t, "/graphql", attr(httpSpan, "http.route"))
	assert.Equal(t, "200", attr(httpSpan, "http.response.status_code"))
	require.Len(t, tr.named("mutation SignIn"), 0, "a name an anonymous client makes up is not the span's name")
	ops := tr.named("mutation (other)")
	require.Len(t, ops, 1)
	op := ops[0]
	assert.Equal(t, "SignIn", attr(op, "graphql.operation.name"))
	assert.Equal(t, "mutation", attr(op, "graphql.operation.type"))
	assert.True(t, tr.under(op, httpSpan.SpanContext.SpanID()))
	var sqlSpans int
	for _, sp := range tr {
		if attr(sp, "db.query.text") == "" {
			continue
		}
		sqlSpans++
		assert.True(t, tr.under(sp, op.SpanContext.SpanID()), "%s is the operation's", sp.Name)
		assert.Equal(t, trace.SpanKindClient, sp.SpanKind)
		assert.Contains(t, []string{"sqlite", "postgresql"}, attr(sp, "db.system.name"))
	}
	for _, name := range []string{"SELECT", "BEGIN", "INSERT", "COMMIT"} {
		assert.NotEmpty(t, tr.named(name), "a span for %s", name)
	}
	assert.GreaterOrEqual(t, sqlSpans, 5)
	for _, sp := range exp.GetSpans() {
		for _, a := range sp.Attributes {
			v := a.Value.String()
			for _, secret := range []string{apptest.RootEmail, apptest.RootPassword, login.Data.Login.RefreshToken, "argon2id"} {
				assert.NotContains(t, v, secret, "span %s, attribute %s", sp.Name, a.Key)
			}
		}
	}

	// A signed-in query continues the trace its caller started (traceparent) and is named
	// after its operation.
	exp.Reset()
	parent := "4bf92f3577b34da6a3ce929d0e0e4736"
	postGraphQL(t, s, "trace-members", login.Data.Login.AccessToken,
		`query Members { viewer { organization { members(first: 5) { totalCount edges { node { user { email } } } } } } }`, nil,
		map[string]string{"traceparent": "00-" + parent + "-00f067aa0ba902b7-01"})
	line = logs.request("trace-members")
	require.NotNil(t, line)
	assert.Equal(t, parent, line["trace_id"])
	traceID, _ = trace.TraceIDFromHex(parent)
	tr = treeOf(exp.GetSpans(), traceID)
	require.Len(t, tr.named("query Members"), 1, "%v", tr)
	op = tr.named("query Members")[0]
	require.Len(t, tr.named("POST /graphql"), 1)
	httpSpan = tr.named("POST /graphql")[0]
	assert.Equal(t, "00f067aa0ba902b7", httpSpan.Parent.SpanID().String(), "the caller's span is the parent")
	var members int
	for _, sp := range tr.named("SELECT") {
		// Authentication reads before the operation, under the request's span.
		assert.True(t, tr.under(sp, httpSpan.SpanContext.SpanID()))
		if strings.Contains(attr(sp, "db.query.text"), "memberships") && tr.under(sp, op.SpanContext.SpanID()) {
			members++
		}
	}
	assert.Positive(t, members, "the page's statements are the operation's")

	// A REST request's span is named after its route's pattern, not its path.
	exp.Reset()
	r := s.REST(t, apptest.RESTRequest{Method: http.MethodGet, Path: "/api/auth/me", Bearer: login.Data.Login.AccessToken,
		Header: map[string]string{"X-Request-ID": "trace-rest"}})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	line = logs.request("trace-rest")
	require.NotNil(t, line)
	traceID, err = trace.TraceIDFromHex(line["trace_id"].(string))
	require.NoError(t, err)
	tr = treeOf(exp.GetSpans(), traceID)
	assert.Len(t, tr.named("GET /api/auth/me"), 1, "%v", tr)
	assert.Len(t, tr.named("query Me"), 1, "%v", tr)
}

// OTEL_EXPORTER_OTLP_ENDPOINT turns tracing on: spans go over OTLP/HTTP to /v1/traces under
// it, and those still queued leave when the server stops.
func TestTheOTLPEndpointReceivesTheSpans(t *testing.T) {
	var mu sync.Mutex
	var posts []string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		posts = append(posts, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+strconv.Itoa(len(body)))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	cfg := app.DefaultConfig()
	require.NoError(t, cfg.FromEnv(func(k string) string {
		if k == "OTEL_EXPORTER_OTLP_ENDPOINT" {
			return collector.URL
		}
		return ""
	}))
	s := apptest.Start(t, func(c *app.Config, _ *app.Options) { c.OTLPEndpoint = cfg.OTLPEndpoint })
	s.Login(t, apptest.RootEmail, apptest.RootPassword)
	s.Stop()
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, posts, "the spans were sent")
	assert.Regexp(t, `^POST /v1/traces application/x-protobuf [1-9]`, posts[0])
}

// Without tracing nothing is traced and no log line carries a trace id, even when the client
// sends a traceparent.
func TestWithoutTracingNoTraceIDIsLogged(t *testing.T) {
	logs := &logLines{}
	s := apptest.Start(t, func(c *app.Config, o *app.Options) {
		c.LogLevel = "info"
		o.Logs = logs
	})
	postGraphQL(t, s, "untraced", "", `{ __typename }`, nil,
		map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
	line := logs.request("untraced")
	require.NotNil(t, line)
	assert.NotContains(t, line, "trace_id")
	assert.False(t, strings.Contains(s.Config.OTLPEndpoint+s.Config.OTLPTracesEndpoint, "http"))
}
