package rest

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/inferiallm/orgserver/graph"
)

// Every code of the closed set has its REST answer, and only INTERNAL is a 500: a code added to
// graph.Codes without a row in answers fails this test instead of reaching clients as a 500.
func TestEveryErrorCodeHasItsOwnRESTAnswer(t *testing.T) {
	assert.Len(t, answers, len(graph.Codes), "a row for each code of graph.Codes, and no other")
	for _, code := range graph.Codes {
		t.Run(string(code), func(t *testing.T) {
			if _, ok := answers[code]; !assert.True(t, ok, "no REST answer for %s", code) {
				return
			}
			got := errorFromGraphQL(&gqlerror.Error{Message: "the message",
				Extensions: map[string]any{"code": string(code), "retryAfter": 7}})
			if code == graph.CodeInternal {
				assert.Equal(t, http.StatusInternalServerError, got.Status)
				assert.Equal(t, "Internal server error", got.Detail, "never described to the client")
				return
			}
			assert.NotEqual(t, http.StatusInternalServerError, got.Status, "only INTERNAL is a 500")
			assert.Equal(t, "the message", got.Detail)
			// The statuses are the contract's (TestTheRESTAnswersOfTheContract); the answers that
			// tell when to come back are these two, whatever the table says.
			if code == graph.CodeRateLimited || code == graph.CodeUnavailable {
				assert.Equal(t, "7", got.Header.Get("Retry-After"))
			} else {
				assert.Empty(t, got.Header.Get("Retry-After"))
			}
		})
	}
}

// The answers rest.md and the README name, code by code.
func TestTheRESTAnswersOfTheContract(t *testing.T) {
	answer := func(ext map[string]any) *httpError {
		return errorFromGraphQL(&gqlerror.Error{Message: "m", Extensions: ext})
	}
	for code, status := range map[graph.Code]int{
		graph.CodeUnauthenticated:       401,
		graph.CodeForbidden:             403,
		graph.CodeNotFound:              404,
		graph.CodeBadUserInput:          400,
		graph.CodeConflict:              409,
		graph.CodeRateLimited:           429,
		graph.CodeTwoFactorRequired:     403,
		graph.CodeTwoFactorCodeRequired: 403,
		graph.CodeUnavailable:           503,
		graph.CodeInternal:              500,
	} {
		assert.Equal(t, status, answer(map[string]any{"code": string(code)}).Status, code)
	}

	// gqlgen's refusals of a malformed request carry a reason: a malformed body is 422.
	assert.Equal(t, 422, answer(map[string]any{"code": "BAD_USER_INPUT", "reason": "INVALID_INPUT"}).Status)
	// The dashboard tells the 2FA requirement from other refusals by its code.
	assert.Equal(t, graph.CodeTwoFactorRequired, answer(map[string]any{"code": "TWO_FACTOR_REQUIRED"}).Code)
	assert.Empty(t, answer(map[string]any{"code": "FORBIDDEN"}).Code)
	// Retry-After in whole seconds, whether the executor's number is an int or a float.
	assert.Equal(t, "3", answer(map[string]any{"code": "RATE_LIMITED", "retryAfter": 3}).Header.Get("Retry-After"))
	assert.Equal(t, "2", answer(map[string]any{"code": "UNAVAILABLE", "retryAfter": 2.0}).Header.Get("Retry-After"))
	// No code, or one outside the closed set, is answered as INTERNAL and not described.
	for _, ext := range []map[string]any{nil, {"code": "SOMETHING_NEW"}} {
		got := answer(ext)
		assert.Equal(t, 500, got.Status)
		assert.Equal(t, "Internal server error", got.Detail)
	}
}
