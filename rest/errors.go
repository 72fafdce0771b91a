package rest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/server/auth"
)

// answer is how the REST routes answer an error of one GraphQL code.
type answer struct {
	// Status is the HTTP status.
	Status int
	// Malformed, when set, is the status of an error gqlgen raised while reading the request
	// (extensions.reason is set): a value of the wrong type in the body is a malformed body.
	Malformed int
	// Retry sends extensions.retryAfter as the Retry-After header.
	Retry bool
	// ShowCode repeats the code in the body, for the clients that act on it.
	ShowCode bool
	// Hidden replaces the message: internal errors are never described to the client.
	Hidden bool
}

// answers is the one table from GraphQL error codes to REST answers. It covers graph.Codes,
// the closed set (a test holds it to that); a code missing here would be answered as INTERNAL.
var answers = map[graph.Code]answer{
	graph.CodeUnauthenticated:       {Status: http.StatusUnauthorized},
	graph.CodeForbidden:             {Status: http.StatusForbidden},
	graph.CodeNotFound:              {Status: http.StatusNotFound},
	graph.CodeBadUserInput:          {Status: http.StatusBadRequest, Malformed: http.StatusUnprocessableEntity},
	graph.CodeConflict:              {Status: http.StatusConflict},
	graph.CodeRateLimited:           {Status: http.StatusTooManyRequests, Retry: true},
	graph.CodeTwoFactorRequired:     {Status: http.StatusForbidden, ShowCode: true},
	graph.CodeTwoFactorCodeRequired: {Status: http.StatusForbidden},
	graph.CodeUnavailable:           {Status: http.StatusServiceUnavailable, Retry: true},
	graph.CodeInternal:              {Status: http.StatusInternalServerError, Hidden: true},
}

// httpError is a REST error: a status and the {"detail": ...} body.
type httpError struct {
	Status int
	Detail string
	Code   graph.Code
	Header http.Header
}

func (e *httpError) Error() string { return e.Detail }

func unprocessable(format string, args ...any) *httpError {
	return &httpError{Status: http.StatusUnprocessableEntity, Detail: fmt.Sprintf(format, args...)}
}

// errorBody is the body of every error response.
type errorBody struct {
	Detail string     `json:"detail"`
	Code   graph.Code `json:"code,omitempty"`
}

// errorFromGraphQL translates a GraphQL error by the answers table.
func errorFromGraphQL(e *gqlerror.Error) *httpError {
	code, _ := e.Extensions["code"].(string)
	a, ok := answers[graph.Code(code)]
	if !ok {
		a = answers[graph.CodeInternal]
	}
	out := &httpError{Status: a.Status, Detail: e.Message}
	if a.Malformed != 0 && e.Extensions["reason"] != nil {
		out.Status = a.Malformed
	}
	if a.ShowCode {
		out.Code = graph.Code(code)
	}
	if a.Retry {
		out.Header = http.Header{}
		if s, ok := e.Extensions["retryAfter"].(int); ok {
			out.Header.Set("Retry-After", strconv.Itoa(s))
		} else if f, ok := e.Extensions["retryAfter"].(float64); ok {
			out.Header.Set("Retry-After", strconv.Itoa(int(f)))
		}
	}
	if a.Hidden {
		out.Detail = "Internal server error"
	}
	return out
}

// fail writes err as a REST error response.
func (c *call) fail(err error) {
	var he *httpError
	if !errors.As(err, &he) {
		c.h.log.ErrorContext(c.r.Context(), "rest", "err", err, "request_id", auth.ClientFromContext(c.r.Context()).RequestID)
		he = &httpError{Status: http.StatusInternalServerError, Detail: "Internal server error"}
	}
	for k, v := range he.Header {
		c.w.Header()[k] = v
	}
	writeJSON(c.w, he.Status, errorBody{Detail: he.Detail, Code: he.Code})
}

// writeJSON writes a REST answer. None may be stored by a cache: they are one caller's data, and
// some carry secrets (tokens, a new API key's secret, a TOTP secret).
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// jsonKind names a Go kind as JSON calls it.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "an array"
	}
	return "an object"
}
