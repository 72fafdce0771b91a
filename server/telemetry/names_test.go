package telemetry

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// However many names clients make up, at most MaxOperationNames label metrics; the names known
// from the start and those admitted before the cap keep theirs.
func TestOperationNamesAreBounded(t *testing.T) {
	var names OperationNames
	names.Know("Login", "Me")
	assert.Equal(t, "Login", names.Label("Login", false), "known from the start, whoever sends it")
	assert.Equal(t, OperationOther, names.Label("Probe", false), "not admitted")
	assert.Equal(t, OperationAnonymous, names.Label("", true))
	assert.Equal(t, OperationOther, names.Label(strings.Repeat("x", 65), true), "too long")
	assert.Equal(t, "Dashboard", names.Label("Dashboard", true))
	for i := range 2 * MaxOperationNames {
		names.Label("Made"+strconv.Itoa(i), true)
	}
	labels := map[string]bool{}
	for i := range 2 * MaxOperationNames {
		labels[names.Label("Made"+strconv.Itoa(i), true)] = true
	}
	assert.Len(t, labels, MaxOperationNames-3+1, "the names that fit, and (other)")
	assert.True(t, labels[OperationOther])
	assert.Equal(t, "Dashboard", names.Label("Dashboard", false), "admitted before the cap")
	assert.Equal(t, "Me", names.Label("Me", true))
}

func TestMethodsAreBounded(t *testing.T) {
	assert.Equal(t, "GET", Method("GET"))
	assert.Equal(t, "_OTHER", Method("PROPFIND"))
	assert.Equal(t, "_OTHER", Method("get"), "methods are case-sensitive")
}

// A nil *Metrics takes every observation and drops it.
func TestNilMetricsDropEverything(t *testing.T) {
	var m *Metrics
	m.SignIn(SignInSuccess)
	m.RateLimitBlock(LimitLoginIP)
	m.RateLimitRefusal(LimitLoginIP)
	m.HTTPRequest("/graphql", "POST", 200, 0)
	m.Operation("Me", "ok", 0)
	m.OperationRefused("bad_user_input")
	m.RequestStarted()()
	assert.NoError(t, m.Register(nil))
}
