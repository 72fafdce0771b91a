package graph

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// postJSON is the POST transport: gqlgen's rules (which requests it takes, the response's
// media type from Accept, the status of a request that cannot run), with the answer written
// directly. gqlgen writes every response with json.Marshal, which re-scans the already
// marshalled data to compact it: 5 % of a Users page's CPU for nothing, since the executor
// writes compact JSON.
type postJSON struct{ transport.POST }

const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

func (postJSON) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	media := responseMedia(r.Header.Get("Accept"))
	w.Header().Set("Content-Type", media)
	start := graphql.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeResponse(w, exec.DispatchError(ctx, gqlerror.List{gqlerror.Errorf("could not read request body: %v", err)}))
		return
	}
	var params graphql.RawParams
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		writeResponse(w, exec.DispatchError(ctx, gqlerror.List{gqlerror.Errorf("json request body could not be decoded: %v", err)}))
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	oc, errs := exec.CreateOperationContext(ctx, &params)
	if errs != nil {
		if errcode.GetErrorKind(errs) == errcode.KindProtocol {
			if media == mediaGraphQLResponse {
				w.WriteHeader(http.StatusBadRequest)
			} else {
				w.WriteHeader(http.StatusUnprocessableEntity)
			}
		}
		writeResponse(w, exec.DispatchError(graphql.WithOperationContext(ctx, oc), errs))
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, oc)
	writeResponse(w, responses(ctx))
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

// writeResponse writes resp. The common answer, data alone, is written around the data as the
// executor produced it; anything else goes through json.Marshal.
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
