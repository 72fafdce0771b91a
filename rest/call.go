package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/server/auth"
)

// call is one REST request being served: what the routes' functions read the request with,
// and how they run an operation and answer.
type call struct {
	h    *Handler
	w    http.ResponseWriter
	r    *http.Request
	raw  []byte
	form url.Values
}

// readBody reads the request body (its size is limited by the server's middleware).
func (c *call) readBody() error {
	if c.r.Body == nil {
		return nil
	}
	raw, err := io.ReadAll(c.r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &httpError{Status: http.StatusRequestEntityTooLarge, Detail: "Request body too large"}
		}
		return &httpError{Status: http.StatusBadRequest, Detail: "Could not read the request body"}
	}
	c.raw = raw
	if strings.HasPrefix(c.r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		form, err := url.ParseQuery(string(raw))
		if err != nil {
			return unprocessable("Invalid form body")
		}
		c.form = form
	}
	return nil
}

// decode unmarshals the JSON (or form) body into dst; an empty body leaves dst as it is.
func (c *call) decode(dst any) error {
	if c.form != nil {
		m := map[string]string{}
		for k := range c.form {
			m[k] = c.form.Get(k)
		}
		b, _ := json.Marshal(m)
		return c.decodeJSON(b, dst)
	}
	if len(strings.TrimSpace(string(c.raw))) == 0 {
		return nil
	}
	return c.decodeJSON(c.raw, dst)
}

func (c *call) decodeJSON(raw []byte, dst any) error {
	if err := json.Unmarshal(raw, dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			if typeErr.Field == "" {
				return unprocessable("The request body must be a JSON object")
			}
			return unprocessable("Invalid value for %s: expected %s", typeErr.Field, jsonKind(typeErr.Type.Kind()))
		}
		return unprocessable("Invalid JSON body")
	}
	return nil
}

// path returns a path parameter.
func (c *call) path(name string) string { return c.r.PathValue(name) }

// query returns a query parameter, or nil when absent or empty.
func (c *call) query(name string) *string {
	if v := c.r.URL.Query().Get(name); v != "" {
		return &v
	}
	return nil
}

// intQuery returns a query parameter as an int within [lo, hi], or def when absent.
func (c *call) intQuery(name string, def, lo, hi int) (int, error) {
	v := c.query(name)
	if v == nil {
		return def, nil
	}
	n, err := strconv.Atoi(*v)
	if err != nil || n < lo || n > hi {
		return 0, unprocessable("%s must be an integer between %d and %d", name, lo, hi)
	}
	return n, nil
}

// page reads skip and limit.
func (c *call) page(maxLimit int) (skip, limit int, err error) {
	if skip, err = c.intQuery("skip", 0, 0, 1<<31-1); err != nil {
		return
	}
	limit, err = c.intQuery("limit", 50, 1, maxLimit)
	return
}

// bearer returns the raw bearer token of the request.
func (c *call) bearer() string { return auth.ClientFromContext(c.r.Context()).BearerToken }

// respond runs op and answers with the reply made from its data, with status.
func (c *call) respond(op string, vars map[string]any, status int, r reply) {
	resp := c.h.execute(c.r.Context(), op, vars)
	if len(resp.Errors) > 0 {
		c.fail(errorFromGraphQL(resp.Errors[0]))
		return
	}
	if status == http.StatusNoContent {
		c.w.WriteHeader(http.StatusNoContent)
		return
	}
	// The reply decodes the data itself, straight into the types it answers with.
	out, err := r.make(c, resp.Data)
	if err != nil {
		c.fail(err)
		return
	}
	writeJSON(c.w, statusOr(status), out)
}

// run executes a named operation of the document through the GraphQL executor and returns its
// data, decoded, or the first error translated to HTTP.
func (c *call) run(op string, vars map[string]any) (any, error) {
	resp := c.h.execute(c.r.Context(), op, vars)
	if len(resp.Errors) > 0 {
		return nil, errorFromGraphQL(resp.Errors[0])
	}
	var data any
	if err := json.Unmarshal(resp.Data, &data); err != nil {
		return nil, fmt.Errorf("the data of %s: %w", op, err)
	}
	return data, nil
}

func (h *Handler) execute(ctx context.Context, op string, vars map[string]any) *graphql.Response {
	// Variables reach the executor exactly as from a JSON request body (gqlgen's transports decode
	// with UseNumber), so typed Go values built by the routes cannot behave differently.
	raw, err := json.Marshal(vars)
	if err != nil {
		return &graphql.Response{Errors: gqlerror.List{{Message: err.Error(), Extensions: map[string]any{"code": string(graph.CodeInternal)}}}}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	vars = nil
	_ = dec.Decode(&vars)
	ctx = graphql.StartOperationTrace(ctx)
	now := graphql.Now()
	params := &graphql.RawParams{Query: h.doc, OperationName: op, Variables: vars,
		ReadTime: graphql.TraceTiming{Start: now, End: now}}
	rc, errs := h.exec.CreateOperationContext(ctx, params)
	if errs != nil {
		return h.exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
	}
	responses, ctx := h.exec.DispatchOperation(ctx, rc)
	return responses(ctx)
}

// OperationOf returns what a REST request runs: the operation of its route and the variables
// the route makes from the request, as when it is served (the bearer token read from the
// Authorization header, as the server's middleware does). Tests send them to /graphql to hold
// both paths to one answer. A route that chooses its operation at run time has none to give.
func OperationOf(r *http.Request) (op string, vars map[string]any, err error) {
	if auth.ClientFromContext(r.Context()).BearerToken == "" {
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(token) != "" {
			r = r.WithContext(auth.WithClient(r.Context(), &auth.Client{BearerToken: strings.TrimSpace(token)}))
		}
	}
	out := &operationOf{err: fmt.Errorf("no REST route serves %s %s", r.Method, r.URL.Path)}
	operationMux().ServeHTTP(discard{}, r.WithContext(context.WithValue(r.Context(), operationOfKey{}, out)))
	return out.op, out.vars, out.err
}

type operationOfKey struct{}

// operationOf is what OperationOf finds.
type operationOf struct {
	op   string
	vars map[string]any
	err  error
}

// operationMux routes requests as the handler does, to functions that only make variables.
var operationMux = sync.OnceValue(func() *http.ServeMux {
	mux := http.NewServeMux()
	for _, prefix := range prefixes {
		for _, rt := range table() {
			mux.HandleFunc(rt.Method()+" "+prefix+rt.Path(), func(_ http.ResponseWriter, r *http.Request) {
				out := r.Context().Value(operationOfKey{}).(*operationOf)
				c := &call{r: r}
				if out.err = c.readBody(); out.err != nil {
					return
				}
				if rt.Op == "" {
					out.err = fmt.Errorf("rest route %s chooses its operation at run time", rt.Pattern)
					return
				}
				out.op = rt.Op
				out.vars, out.err = rt.variables(c)
			})
		}
	}
	return mux
})

// discard is a ResponseWriter that keeps nothing.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
