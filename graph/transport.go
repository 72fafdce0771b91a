package graph

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// The transports follow the GraphQL-over-HTTP specification (checked by the graphql-http
// server audits, server/conformance):
//
//   - a request that is not a GraphQL request (a body that is not JSON, a parameter of the
//     wrong type, no query) answers 400, whatever the media type;
//   - a request error (the document does not parse or validate, the variables cannot be
//     coerced, a limit or the trusted-documents gate refuses it) answers a body with errors
//     and no data entry: 200 as application/json, 400 as application/graphql-response+json;
//   - an executed operation answers 200, its field errors beside its data.
//
// The answer is written directly: gqlgen writes every response with json.Marshal, which
// re-scans the already marshalled data to compact it, 5 % of a Users page's CPU for nothing,
// since the executor writes compact JSON.

const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// params are the parameters of a GraphQL-over-HTTP request. A parameter of the wrong type
// fails decoding, so the request answers 400.
type params struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
	Extensions    map[string]any `json:"extensions"`
	// DocumentID names a trusted document instead of sending its text: "sha256:<hex>".
	DocumentID string `json:"documentId"`
}

// postJSON is the POST transport for application/json bodies.
type postJSON struct {
	transport.POST
	docs *DocumentStore
}

func (t postJSON) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	media := responseMedia(r.Header.Get("Accept"))
	w.Header().Set("Content-Type", media)
	start := graphql.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		badRequest(w, "The request body could not be read: %v", err)
		return
	}
	var p params
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		badRequest(w, "The request body is not a GraphQL request (a JSON object with query, operationName, variables, extensions): %v", err)
		return
	}
	if dec.More() {
		badRequest(w, "The request body holds more than one JSON value; batches are not accepted")
		return
	}
	serve(w, r, exec, t.docs, media, &p, graphql.TraceTiming{Start: start, End: graphql.Now()}, false)
}

// getQuery is the GET transport: the parameters in the query string, variables and extensions
// as JSON; queries only.
type getQuery struct{ docs *DocumentStore }

func (getQuery) Supports(r *http.Request) bool {
	return r.Method == http.MethodGet && r.Header.Get("Upgrade") == ""
}

func (t getQuery) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	media := responseMedia(r.Header.Get("Accept"))
	w.Header().Set("Content-Type", media)
	start := graphql.Now()
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		badRequest(w, "The query string could not be read: %v", err)
		return
	}
	p := params{Query: q.Get("query"), OperationName: q.Get("operationName"), DocumentID: q.Get("documentId")}
	for _, v := range []struct {
		name string
		dst  *map[string]any
	}{{"variables", &p.Variables}, {"extensions", &p.Extensions}} {
		if raw := q.Get(v.name); raw != "" {
			dec := json.NewDecoder(strings.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(v.dst); err != nil {
				badRequest(w, "The %s parameter is not a JSON object: %v", v.name, err)
				return
			}
			if dec.More() {
				badRequest(w, "The %s parameter holds more than one JSON value", v.name)
				return
			}
		}
	}
	serve(w, r, exec, t.docs, media, &p, graphql.TraceTiming{Start: start, End: graphql.Now()}, true)
}

// serve runs a decoded request and answers it.
func serve(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, docs *DocumentStore, media string, p *params, read graphql.TraceTiming, get bool) {
	ctx := r.Context()
	if p.DocumentID != "" && p.Query != "" {
		badRequest(w, "Send either query or documentId, not both")
		return
	}
	if p.Query == "" && p.DocumentID == "" && persistedQueryHash(p.Extensions) == "" {
		badRequest(w, "The request has no query: send the GraphQL document as query, or a trusted document's documentId")
		return
	}
	raw := &graphql.RawParams{Query: p.Query, OperationName: p.OperationName, Variables: p.Variables,
		Extensions: p.Extensions, Headers: r.Header, ReadTime: read}
	if p.DocumentID != "" {
		hash, ok := parseDocumentID(p.DocumentID)
		if !ok {
			badRequest(w, "documentId must be sha256: followed by the 64 hexadecimal digits of the document's SHA-256")
			return
		}
		if raw.Query, ok = docs.Lookup(hash); !ok {
			requestError(w, exec, r, media, nil, gqlerror.List{refusal(ReasonPersistedDocumentNotFound,
				"No trusted document has the id %s (server documents lists them)", p.DocumentID)})
			return
		}
	}
	oc, errs := exec.CreateOperationContext(ctx, raw)
	if errs != nil {
		requestError(w, exec, r, media, oc, errs)
		return
	}
	if get && oc.Operation.Operation != ast.Query {
		w.Header().Set("Allow", http.MethodPost)
		w.WriteHeader(http.StatusMethodNotAllowed)
		writeErrors(w, exec.DispatchError(graphql.WithOperationContext(ctx, oc),
			gqlerror.List{refusal(ReasonMethod, "GET runs queries only: send a %s as POST", oc.Operation.Operation)}))
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, oc)
	writeResponse(w, responses(ctx))
}

// persistedQueryHash is the hash of an automatic persisted query
// (extensions.persistedQuery.sha256Hash), or "".
func persistedQueryHash(ext map[string]any) string {
	pq, _ := ext["persistedQuery"].(map[string]any)
	hash, _ := pq["sha256Hash"].(string)
	return hash
}

// badRequest answers 400 to a request that is not a GraphQL request.
func badRequest(w http.ResponseWriter, format string, args ...any) {
	w.WriteHeader(http.StatusBadRequest)
	err := gqlerror.Errorf(format, args...)
	err.Extensions = map[string]any{"code": string(CodeBadUserInput), "reason": string(ReasonInvalidRequest)}
	writeErrors(w, &graphql.Response{Errors: gqlerror.List{err}})
}

// requestError answers a request error: errors and no data, 200 as application/json and 400
// as application/graphql-response+json.
func requestError(w http.ResponseWriter, exec graphql.GraphExecutor, r *http.Request, media string, oc *graphql.OperationContext, errs gqlerror.List) {
	if media == mediaGraphQLResponse {
		w.WriteHeader(http.StatusBadRequest)
	}
	ctx := r.Context()
	if oc != nil {
		ctx = graphql.WithOperationContext(ctx, oc)
	}
	writeErrors(w, exec.DispatchError(ctx, errs))
}

// writeErrors writes a response that has no data entry.
func writeErrors(w io.Writer, resp *graphql.Response) {
	out, err := json.Marshal(struct {
		Errors     gqlerror.List  `json:"errors"`
		Extensions map[string]any `json:"extensions,omitempty"`
	}{resp.Errors, resp.Extensions})
	if err != nil {
		out = []byte(`{"errors":[{"message":"internal error: the response could not be encoded","extensions":{"code":"INTERNAL"}}]}`)
	}
	_, _ = w.Write(out)
}

// responseMedia chooses the response's media type from an Accept header, as gqlgen does:
// application/json when there is none or it takes anything, otherwise the first of the two
// GraphQL media types it names, and application/graphql-response+json when it names neither.
func responseMedia(accept string) string {
	if accept == "" {
		return mediaJSON
	}
	for part := range strings.SplitSeq(accept, ",") {
		media, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch media {
		case "*/*", "application/*", mediaJSON:
			return mediaJSON
		case mediaGraphQLResponse:
			return mediaGraphQLResponse
		}
	}
	return mediaGraphQLResponse
}

// writeResponse writes the response of an executed operation. The common answer, data alone,
// is written around the data as the executor produced it; anything else goes through
// json.Marshal.
func writeResponse(w io.Writer, resp *graphql.Response) {
	if resp == nil {
		resp = &graphql.Response{}
	}
	if len(resp.Errors) == 0 && len(resp.Extensions) == 0 && len(resp.Data) > 0 && resp.Label == "" && resp.Path == nil && resp.HasNext == nil {
		const head, tail = `{"data":`, `}`
		out := make([]byte, 0, len(head)+len(resp.Data)+len(tail))
		out = append(append(append(out, head...), resp.Data...), tail...)
		_, _ = w.Write(out)
		return
	}
	out, err := json.Marshal(resp)
	if err != nil {
		// The executor writes valid JSON; this would be a bug in it, not the client's fault.
		out = []byte(`{"errors":[{"message":"internal error: the response could not be encoded","extensions":{"code":"INTERNAL"}}]}`)
	}
	_, _ = w.Write(out)
}
