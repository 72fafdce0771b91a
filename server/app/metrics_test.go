package app_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

// withManagement starts the server with its management listener on a free port.
func withManagement(c *app.Config, _ *app.Options) { c.ManagementAddr = "127.0.0.1:0" }

// scrape reads the management listener's /metrics into series ("name{labels}") and values,
// after checking that every name follows Prometheus's conventions.
func scrape(t *testing.T, s *apptest.Server) map[string]float64 {
	t.Helper()
	resp, body := get(t, "http://"+s.App.ManagementAddr()+"/metrics", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	require.NoError(t, err)
	assert.Empty(t, problems, "metric names and help follow Prometheus's conventions")
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		require.Positive(t, i, line)
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		out[line[:i]] = v
	}
	return out
}

func TestMetricsCountSignInsRequestsOperationsAndBlocks(t *testing.T) {
	limits := apptest.RoomyLimits
	limits.LoginPerAccount = 2
	s := apptest.Start(t, withManagement, apptest.WithLimits(limits))
	before := scrape(t, s)
	for _, series := range []string{
		`inferia_org_signins_total{outcome="success"}`, `inferia_org_signins_total{outcome="bad_credentials"}`,
		`inferia_org_rate_limit_blocks_total{limit="login_account"}`, `inferia_org_rate_limit_refusals_total{limit="login_account"}`,
	} {
		assert.Contains(t, before, series, "known label values are there from the start, at 0")
	}
	moved := func(after map[string]float64, series string) float64 {
		t.Helper()
		require.Contains(t, after, series)
		return after[series] - before[series]
	}

	// A failed and a successful sign-in, on GraphQL and REST.
	r := s.Do(t, "", `mutation SignIn { login(input: {email: "root@example.com", password: "wrong password"}) { accessToken } }`, nil)
	require.Equal(t, "UNAUTHENTICATED", r.Code())
	rest := s.REST(t, apptest.RESTRequest{Method: http.MethodPost, Path: "/auth/login",
		Body: map[string]any{"username": apptest.RootEmail, "password": apptest.RootPassword}})
	require.Equal(t, http.StatusOK, rest.Status, "%s", rest.Raw)
	token := rest.Str("access_token")
	require.NotEmpty(t, token)
	after := scrape(t, s)
	assert.Equal(t, 1.0, moved(after, `inferia_org_signins_total{outcome="bad_credentials"}`))
	assert.Equal(t, 1.0, moved(after, `inferia_org_signins_total{outcome="success"}`))
	assert.Equal(t, 1.0, moved(after, `inferia_org_http_requests_total{method="POST",route="/graphql",status="200"}`))
	assert.Equal(t, 1.0, moved(after, `inferia_org_http_requests_total{method="POST",route="/auth/login",status="200"}`),
		"a REST request is counted under its route's pattern, not the /auth/ it is mounted at")
	assert.Equal(t, 1.0, moved(after, `inferia_org_http_request_duration_seconds_count{method="POST",route="/auth/login"}`))
	assert.Equal(t, 1.0, moved(after, `inferia_org_graphql_operations_total{operation="Login",outcome="ok"}`),
		"the REST layer's operations are known by name")
	assert.Equal(t, 1.0, moved(after, `inferia_org_graphql_operations_total{operation="(other)",outcome="unauthenticated"}`),
		"a name an anonymous client makes up is no label")
	assert.Equal(t, 1.0, moved(after, `inferia_org_graphql_operation_duration_seconds_count{operation="Login"}`))

	// A signed-in caller's operation is known by its name; one refused before it runs is not.
	r = s.Do(t, token, `query Dashboard { viewer { user { email } } }`, nil)
	require.Empty(t, r.Errors)
	r = s.Do(t, token, `query Probe { nosuchfield }`, nil)
	require.Equal(t, "BAD_USER_INPUT", r.Code())
	// Paths the client chooses never become labels: unknown ones are the catch-all's, a
	// redirect to a cleaned path is its pattern's, a CONNECT is unrouted.
	resp, _ := get(t, s.URL+"/no/such/path-4711", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Contains(t, rawRequest(t, s, "GET /auth/../path-4712 HTTP/1.1"), "HTTP/1.1 307")
	assert.Contains(t, rawRequest(t, s, "CONNECT /auth HTTP/1.1"), "HTTP/1.1 ")
	rawRequest(t, s, "CONNECT /path-4713 HTTP/1.1")

	// Failures past the threshold block the account; the next attempt is refused.
	bob := "bob@example.com"
	s.AddUser(t, bob, s.Org(t, apptest.RootOrg), "viewer")
	for range 2 {
		r = s.Do(t, "", `mutation($e: String!) { login(input: {email: $e, password: "wrong password"}) { accessToken } }`, map[string]any{"e": bob})
		require.Equal(t, "UNAUTHENTICATED", r.Code())
	}
	r = s.Do(t, "", `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken } }`,
		map[string]any{"e": bob, "p": apptest.Password(bob)})
	require.Equal(t, "RATE_LIMITED", r.Code())

	after = scrape(t, s)
	assert.Equal(t, 1.0, moved(after, `inferia_org_graphql_operations_total{operation="Dashboard",outcome="ok"}`))
	assert.Equal(t, 1.0, moved(after, `inferia_org_graphql_operations_total{operation="(refused)",outcome="bad_user_input"}`))
	assert.NotContains(t, after, `inferia_org_graphql_operations_total{operation="Probe",outcome="bad_user_input"}`)
	assert.Equal(t, 1.0, moved(after, `inferia_org_http_requests_total{method="GET",route="/",status="404"}`))
	assert.Equal(t, 1.0, moved(after, `inferia_org_http_requests_total{method="GET",route="/",status="307"}`))
	assert.Equal(t, 3.0, moved(after, `inferia_org_signins_total{outcome="bad_credentials"}`))
	assert.Equal(t, 1.0, moved(after, `inferia_org_signins_total{outcome="rate_limited"}`))
	assert.Equal(t, 1.0, moved(after, `inferia_org_rate_limit_blocks_total{limit="login_account"}`))
	assert.Equal(t, 1.0, moved(after, `inferia_org_rate_limit_refusals_total{limit="login_account"}`))
	connects := 0.0
	for series, v := range after {
		if strings.HasPrefix(series, "inferia_org_http_requests_total{") && strings.Contains(series, `method="CONNECT"`) {
			assert.Contains(t, series, `route="(unrouted)"`)
			connects += v - before[series]
		}
	}
	assert.Equal(t, 2.0, connects)
	for series := range after {
		for _, path := range []string{"4711", "4712", "4713", `route="/auth/"`, `route="/auth"`} {
			assert.NotContains(t, series, path, "no path the client sent in a label")
		}
	}

	// The pools, the statement caches, the Go runtime and the process.
	pool := "main"
	if !strings.HasPrefix(s.Config.DatabaseURL, "postgres") {
		pool = "write"
		assert.Contains(t, after, `inferia_org_db_connections_max{pool="read"}`)
	}
	assert.Positive(t, after[`inferia_org_db_connections_open{pool="`+pool+`"}`])
	assert.Positive(t, after[`inferia_org_db_statement_cache_hits_total{pool="`+pool+`"}`])
	assert.Contains(t, after, `inferia_org_db_connection_wait_seconds_total{pool="`+pool+`"}`)
	assert.Positive(t, after["go_goroutines"])
	assert.Positive(t, after["process_resident_memory_bytes"])
	assert.Contains(t, after, "inferia_org_http_requests_in_flight")

	// The README lists every metric of the server's own.
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	for series := range after {
		name, _, _ := strings.Cut(series, "{")
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if strings.HasSuffix(name, suffix) && strings.Contains(string(readme), "`"+strings.TrimSuffix(name, suffix)+"`") {
				name = strings.TrimSuffix(name, suffix)
			}
		}
		if strings.HasPrefix(name, "inferia_org_") {
			assert.Contains(t, string(readme), "`"+name+"`", "the README lists %s", name)
		}
	}
}

// rawRequest sends a request line as is (no client cleans its path) and returns the answer's
// status line.
func rawRequest(t *testing.T, s *apptest.Server, line string) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte(line + "\r\nHost: example.com\r\nConnection: close\r\n\r\n"))
	require.NoError(t, err)
	status, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err)
	return status
}

func TestTheManagementListenerAnswersProbesAsTheMainOne(t *testing.T) {
	s := apptest.Start(t, withManagement)
	for _, path := range []string{"/healthz", "/readyz"} {
		main, mainBody := get(t, s.URL+path, nil)
		mgmt, mgmtBody := get(t, "http://"+s.App.ManagementAddr()+path, nil)
		assert.Equal(t, http.StatusOK, mgmt.StatusCode, path)
		assert.Equal(t, main.StatusCode, mgmt.StatusCode, path)
		assert.Equal(t, mainBody, mgmtBody, path)
	}
	resp, _ := get(t, "http://"+s.App.ManagementAddr()+"/graphql", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "the API is not on the management listener")
	resp, _ = get(t, s.URL+"/metrics", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "the metrics are not on the main listener")

	// It stops with the server.
	addr := s.App.ManagementAddr()
	s.Stop()
	_, err := net.DialTimeout("tcp", addr, time.Second)
	assert.Error(t, err, "closed with the server")
}

func TestTheManagementListenerIsOffByDefault(t *testing.T) {
	assert.Empty(t, app.DefaultConfig().ManagementAddr)
	s := apptest.Start(t)
	assert.Empty(t, s.App.ManagementAddr())
}

func TestABusyManagementAddressStopsTheStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	cfg := apptest.Config(apptest.DatabaseURL(t))
	cfg.ManagementAddr = ln.Addr().String()
	a, err := app.New(context.Background(), cfg, app.Options{Logs: testLog{t}})
	if err == nil {
		a.Close()
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), "MANAGEMENT_ADDR")
}

func TestBadManagementAndCollectorAddressesAreRefused(t *testing.T) {
	for _, c := range []struct{ name, value, want string }{
		{"MANAGEMENT_ADDR", "9000", "MANAGEMENT_ADDR must be host:port"},
		{"MANAGEMENT_ADDR", "127.0.0.1:99999", "MANAGEMENT_ADDR must be host:port"},
		{"MANAGEMENT_ADDR", "localhost:metrics", "MANAGEMENT_ADDR must be host:port"},
		{"MANAGEMENT_ADDR", ":8000", "MANAGEMENT_ADDR must differ from LISTEN_ADDR"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318", "OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "grpc://collector:4317", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be an http:// or https:// URL"},
	} {
		cfg := app.DefaultConfig()
		require.NoError(t, cfg.FromEnv(func(k string) string {
			if k == c.name {
				return c.value
			}
			return ""
		}))
		err := cfg.Validate()
		if assert.Error(t, err, "%s=%s", c.name, c.value) {
			assert.Contains(t, err.Error(), c.want)
		}
	}
	cfg := app.DefaultConfig()
	cfg.ManagementAddr = "127.0.0.1:9000"
	assert.NoError(t, cfg.Validate())
}

// testLog sends logs to the test log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
