// Package telemetry is what the server tells operators about itself besides its logs:
// Prometheus metrics, served on the management listener, and OpenTelemetry traces.
//
// Both cost nothing when off: a nil *Metrics takes every observation and drops it, and
// without a tracer no span is started anywhere (the server leaves the middleware, the GraphQL
// extension and the SQL layer that would start them out of the request path).
package telemetry

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes the name of every metric of the server's own (the Go runtime's and the
// process's keep their standard go_ and process_ names).
const Namespace = "inferia_org"

// Sign-in outcomes: the values of inferia_org_signins_total's outcome label.
const (
	SignInSuccess               = "success"
	SignInBadCredentials        = "bad_credentials"          // unknown e-mail or wrong password
	SignInTwoFactorCodeRequired = "two_factor_code_required" // right password, 2FA code missing
	SignInBadTwoFactorCode      = "bad_two_factor_code"
	SignInRateLimited           = "rate_limited"
	SignInNoMembership          = "no_membership" // right credentials, no organization to sign in to
	SignInUnavailable           = "unavailable"   // the database or the hashing queue could not serve
	SignInError                 = "error"
)

var signInOutcomes = []string{SignInSuccess, SignInBadCredentials, SignInTwoFactorCodeRequired,
	SignInBadTwoFactorCode, SignInRateLimited, SignInNoMembership, SignInUnavailable, SignInError}

// Rate limits: the values of the limit label of the rate limiter's metrics.
const (
	LimitLoginAccount = "login_account" // failed sign-ins of one account
	LimitLoginIP      = "login_ip"      // failed sign-ins from one address
	LimitAcceptIP     = "accept_ip"     // failed invitation acceptances from one address
	LimitTwoFactorIP  = "2fa_ip"        // wrong 2FA codes from one address
	// Password reset requests for one e-mail address (known or not) and from one address; bad
	// reset tokens from one address.
	LimitResetRequestAccount = "reset_request_account"
	LimitResetRequestIP      = "reset_request_ip"
	LimitResetIP             = "reset_ip"
	// Single sign-on attempts started from one address.
	LimitSSOStartIP = "sso_start_ip"
	// Refused single sign-on callbacks from one address.
	LimitSSOCallbackIP = "sso_callback_ip"
	// Well-formed but unknown API keys from one address, counted in each replica's memory.
	LimitAPIKeyIP = "api_key_ip"
)

var limits = []string{LimitLoginAccount, LimitLoginIP, LimitAcceptIP, LimitTwoFactorIP,
	LimitResetRequestAccount, LimitResetRequestIP, LimitResetIP, LimitSSOStartIP, LimitSSOCallbackIP, LimitAPIKeyIP}

// Metrics are the server's Prometheus metrics, in a registry of their own (each App has one,
// so servers started side by side in tests do not mix their numbers). A nil *Metrics drops
// every observation.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests      *prometheus.CounterVec
	httpDuration      *prometheus.HistogramVec
	httpInFlight      prometheus.Gauge
	operations        *prometheus.CounterVec
	operationDuration *prometheus.HistogramVec
	signIns           *prometheus.CounterVec
	rateLimitBlocks   *prometheus.CounterVec
	rateLimitRefusals *prometheus.CounterVec
}

// NewMetrics returns the metrics, with the Go runtime's and the process's collectors.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "http_requests_total",
		Help: "HTTP requests answered, by route pattern, method and status (499: the client went away).",
	}, []string{"route", "method", "status"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "http_request_duration_seconds",
		Help:    "Time from a request's arrival to its answer, by route pattern and method.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route", "method"})
	m.httpInFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "http_requests_in_flight",
		Help: "HTTP requests being served.",
	})
	m.operations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "graphql_operations_total",
		Help: "GraphQL operations (REST routes included), by operation name and outcome: ok, or the first error's code in lower case.",
	}, []string{"operation", "outcome"})
	m.operationDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "graphql_operation_duration_seconds",
		Help:    "Time GraphQL operations took to run, by operation name.",
		Buckets: prometheus.DefBuckets,
	}, []string{"operation"})
	m.signIns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "signins_total",
		Help: "Sign-ins with e-mail and password, by outcome.",
	}, []string{"outcome"})
	m.rateLimitBlocks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "rate_limit_blocks_total",
		Help: "Times a rate-limit key was blocked (or its block lengthened) by a failure past its threshold, by limit.",
	}, []string{"limit"})
	m.rateLimitRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "rate_limit_refusals_total",
		Help: "Attempts refused with RATE_LIMITED because a key was blocked, by limit.",
	}, []string{"limit"})
	for _, o := range signInOutcomes {
		m.signIns.WithLabelValues(o)
	}
	for _, l := range limits {
		m.rateLimitBlocks.WithLabelValues(l)
		m.rateLimitRefusals.WithLabelValues(l)
	}
	m.reg.MustRegister(m.httpRequests, m.httpDuration, m.httpInFlight, m.operations, m.operationDuration,
		m.signIns, m.rateLimitBlocks, m.rateLimitRefusals,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds a collector (the database pools') to the registry.
func (m *Metrics) Register(c prometheus.Collector) error {
	if m == nil {
		return nil
	}
	return m.reg.Register(c)
}

// Handler serves the metrics in Prometheus's exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Gatherer returns the registry, for tests that read metrics without HTTP.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// RequestStarted counts a request in flight until the returned function is called.
func (m *Metrics) RequestStarted() func() {
	if m == nil {
		return func() {}
	}
	m.httpInFlight.Inc()
	return m.httpInFlight.Dec
}

// HTTPRequest records an answered request. route must be a pattern, never the raw path, and
// method is bounded here.
func (m *Metrics) HTTPRequest(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	method = Method(method)
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// Method is the label of an HTTP method: a standard method as it is, any other a client
// invents folded into _OTHER.
func Method(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "_OTHER"
}

// Operation records a GraphQL operation; name must come from OperationNames.
func (m *Metrics) Operation(name, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.operations.WithLabelValues(name, outcome).Inc()
	m.operationDuration.WithLabelValues(name).Observe(d.Seconds())
}

// OperationRefused records an operation refused before it ran.
func (m *Metrics) OperationRefused(outcome string) {
	if m == nil {
		return
	}
	m.operations.WithLabelValues(OperationRefused, outcome).Inc()
}

// SignIn records a sign-in's outcome (one of the SignIn constants).
func (m *Metrics) SignIn(outcome string) {
	if m == nil {
		return
	}
	m.signIns.WithLabelValues(outcome).Inc()
}

// RateLimitBlock records that a key of limit was blocked.
func (m *Metrics) RateLimitBlock(limit string) {
	if m == nil {
		return
	}
	m.rateLimitBlocks.WithLabelValues(limit).Inc()
}

// RateLimitRefusal records an attempt refused because a key of limit is blocked.
func (m *Metrics) RateLimitRefusal(limit string) {
	if m == nil {
		return
	}
	m.rateLimitRefusals.WithLabelValues(limit).Inc()
}
