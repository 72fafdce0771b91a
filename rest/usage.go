package rest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/inferiallm/orgserver/graph"
)

// InternalKeyHeader is the header the inference gateway sends INTERNAL_API_KEY in.
const InternalKeyHeader = "X-Internal-API-Key"

// authInternalKey is the Auth of the routes for the inference gateway.
const authInternalKey = "internal key"

// usageRoutes are the routes the inference gateway calls, authenticated by the internal API key
// rather than a viewer, so they run no GraphQL operation: the gateway is not a member of
// anything, and the GraphQL API has no field it could call.
var usageRoutes = []route{
	{Pattern: "POST /internal/usage", Serve: serve{body: reflect.TypeFor[usageBody](), run: serveUsage},
		Reply: constant(UsageRecorded{}), Auth: authInternalKey,
		Summary: "Record the inference gateway's usage per API key, day and model (header " + InternalKeyHeader + ")"},
}

// UsageRecorder stores the inference gateway's usage reports (graph.Service.RecordUsage).
type UsageRecorder func(ctx context.Context, reports []graph.UsageReport) error

// usageReport is one report of the body: the day's totals so far of an API key for a model.
type usageReport struct {
	OrganizationID uuid.UUID `json:"organization_id"`
	APIKeyID       uuid.UUID `json:"api_key_id"`
	KeyPrefix      string    `json:"key_prefix"`
	KeyName        string    `json:"key_name,omitempty"`
	Day            string    `json:"day"`
	Model          string    `json:"model"`
	Requests       *int64    `json:"requests"`
	Tokens         *int64    `json:"tokens"`
}

// usageBody is a batch {"records": [...]}.
type usageBody struct {
	Records []usageReport `json:"records"`
}

// UsageRecorded confirms a batch.
type UsageRecorded struct {
	Status   string `json:"status"`
	Recorded int    `json:"recorded"`
}

// checkInternalKey lets the request through when it carries the internal API key: without a
// key configured the routes are off (503, as InferiaLLM's internal endpoints answer); no header
// is 401, another key 403. The keys are compared by their hashes in constant time, so that
// neither their content nor their length shows in the timing.
func (h *Handler) checkInternalKey(r *http.Request) error {
	if h.internalKey == "" {
		return &httpError{Status: http.StatusServiceUnavailable, Detail: "Internal API key not configured"}
	}
	got := r.Header.Get(InternalKeyHeader)
	if got == "" {
		return &httpError{Status: http.StatusUnauthorized, Detail: "Missing " + InternalKeyHeader + " header",
			Header: http.Header{"Www-Authenticate": {InternalKeyHeader}}}
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(h.internalKey))
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		return &httpError{Status: http.StatusForbidden, Detail: "Invalid internal API key"}
	}
	return nil
}

// serveUsage records a batch of usage reports: strictly read (an unknown field, a missing
// count, a fraction or trailing data is 422), then checked and stored all or nothing by graph.
func serveUsage(c *call) {
	if err := c.h.checkInternalKey(c.r); err != nil {
		c.fail(err)
		return
	}
	reports, err := readUsage(c.raw)
	if err != nil {
		c.fail(err)
		return
	}
	if c.h.usage == nil {
		c.fail(&httpError{Status: http.StatusServiceUnavailable, Detail: "Usage recording is not available"})
		return
	}
	if err := c.h.usage(c.r.Context(), reports); err != nil {
		c.fail(errorFromService(err))
		return
	}
	writeJSON(c.w, http.StatusOK, UsageRecorded{Status: "success", Recorded: len(reports)})
}

// readUsage decodes a usage body strictly.
func readUsage(raw []byte) ([]graph.UsageReport, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var b usageBody
	if err := dec.Decode(&b); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return nil, unprocessable("Field required: records")
		case errors.As(err, &typeErr) && typeErr.Field != "":
			return nil, unprocessable("Invalid value for %s", typeErr.Field)
		case errors.As(err, &typeErr):
			return nil, unprocessable("The request body must be a JSON object")
		}
		// Unknown fields, malformed UUIDs and malformed JSON.
		return nil, unprocessable("Invalid usage body: %s", jsonProblem(err))
	}
	if dec.More() {
		return nil, unprocessable("Invalid usage body: data after the JSON object")
	}
	if b.Records == nil {
		return nil, unprocessable("Field required: records")
	}
	out := make([]graph.UsageReport, len(b.Records))
	for i, r := range b.Records {
		if r.Requests == nil || r.Tokens == nil {
			return nil, unprocessable("Report %d: requests and tokens are required", i)
		}
		out[i] = graph.UsageReport{OrganizationID: r.OrganizationID, APIKeyID: r.APIKeyID, KeyPrefix: r.KeyPrefix,
			KeyName: r.KeyName, Day: r.Day, Model: r.Model, Requests: *r.Requests, Tokens: *r.Tokens}
	}
	return out, nil
}

// jsonProblem describes a decoding error without echoing the body: the decoder's own messages
// for unknown fields and syntax, and a fixed text for the rest.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "malformed JSON"
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown field " + field
	}
	return "a value is not of its type (IDs are UUIDs)"
}

// errorFromService answers an error of a graph.Service call as the same error of a GraphQL
// operation would be answered.
func errorFromService(err error) error {
	var e *graph.Error
	if !errors.As(err, &e) {
		return err
	}
	ext := map[string]any{"code": string(e.Code)}
	for k, v := range e.Extensions {
		ext[k] = v
	}
	return errorFromGraphQL(&gqlerror.Error{Message: e.Message, Extensions: ext})
}
