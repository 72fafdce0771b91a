// Package rest is the REST compatibility layer: the curl calls of the InferiaLLM documentation
// and the paths the InferiaLLM dashboard calls. Each route is a row of a table (routes.go) that
// names one GraphQL operation (operations/*.graphql, embedded), says how its variables come from
// the path, the query string and the body, and how its result is reshaped into the InferiaLLM
// JSON. Operations run through the same executor as /graphql, so permissions, tenant isolation,
// transactions, limits and audit are those of the GraphQL API; this package holds no business
// rules. The operations are validated against the schema when the handler is built.
package rest

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/server/auth"
)

//go:embed operations/*.graphql
var operationFiles embed.FS

// Options configure the REST layer.
type Options struct {
	Logger *slog.Logger
}

// Handler serves the REST routes, at the root and under /api.
type Handler struct {
	exec   *executor.Executor
	doc    string
	log    *slog.Logger
	mux    *http.ServeMux
	routes []route
}

// prefixes are where the routes are served: the documented paths and the dashboard's /api.
var prefixes = []string{"", "/api"}

// LoadOperations returns the embedded GraphQL document of every REST operation.
func LoadOperations() (string, error) {
	names, err := fs.Glob(operationFiles, "operations/*.graphql")
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		src, err := operationFiles.ReadFile(n)
		if err != nil {
			return "", err
		}
		b.Write(src)
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// ValidateOperations parses and validates the operations against schema and checks that every
// route names one of them. A stale route fails here, at start-up and in a unit test.
func ValidateOperations(schema *ast.Schema, doc string) error {
	q, errs := gqlparser.LoadQueryWithRules(schema, doc, rules.NewDefaultRules())
	if errs != nil {
		return fmt.Errorf("rest operations: %w", errs)
	}
	have := map[string]bool{}
	for _, op := range q.Operations {
		have[op.Name] = true
	}
	for _, r := range table() {
		if r.Op != "" && !have[r.Op] {
			return fmt.Errorf("rest route %s %s names unknown operation %q", r.Method, r.Path, r.Op)
		}
	}
	return nil
}

// New builds the handler over exec, whose schema the operations are validated against.
func New(exec *executor.Executor, schema *ast.Schema, opts Options) (*Handler, error) {
	doc, err := LoadOperations()
	if err != nil {
		return nil, err
	}
	if err := ValidateOperations(schema, doc); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &Handler{exec: exec, doc: doc, log: opts.Logger, mux: http.NewServeMux(), routes: table()}
	paths := map[string][]string{}
	for _, prefix := range prefixes {
		for _, r := range h.routes {
			h.mux.Handle(r.Method+" "+prefix+r.Path, h.serve(r))
			paths[prefix+r.Path] = append(paths[prefix+r.Path], r.Method)
		}
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Detail: "Not Found"})
	})
	for p, methods := range paths {
		allow := strings.Join(methods, ", ")
		h.mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeJSON(w, http.StatusMethodNotAllowed, errorBody{Detail: "Method Not Allowed"})
		})
	}
	return h, nil
}

// Mount serves the handler on mux: at each path of Mounts, and GET /openapi.json.
func (h *Handler) Mount(mux *http.ServeMux) {
	for _, p := range h.Mounts() {
		mux.Handle(p, h)
	}
	mux.HandleFunc("GET /openapi.json", h.ServeOpenAPI)
}

// Mounts are the paths the handler serves everything under: the first segment of every route
// ("/auth/", "/admin/", ...), at the root and under /api. Other paths stay the caller's.
func (h *Handler) Mounts() []string {
	var out []string
	for _, prefix := range prefixes {
		for _, r := range h.routes {
			first, _, _ := strings.Cut(strings.TrimPrefix(r.Path, "/"), "/")
			if p := prefix + "/" + first + "/"; !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// Routes returns the route table.
func (h *Handler) Routes() []route { return h.routes }

// ServeHTTP serves the REST routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// call is one REST request being served.
type call struct {
	h    *Handler
	w    http.ResponseWriter
	r    *http.Request
	raw  []byte
	form url.Values
}

func (h *Handler) serve(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{h: h, w: w, r: r}
		if err := c.readBody(); err != nil {
			c.fail(err)
			return
		}
		if rt.Serve != nil {
			rt.Serve(c)
			return
		}
		vars := map[string]any{}
		if rt.Vars != nil {
			var err error
			if vars, err = rt.Vars(c); err != nil {
				c.fail(err)
				return
			}
		}
		data, err := c.run(rt.Op, vars)
		if err != nil {
			c.fail(err)
			return
		}
		if rt.Status == http.StatusNoContent {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		out, err := rt.Shape(c, data)
		if err != nil {
			c.fail(err)
			return
		}
		status := rt.Status
		if status == 0 {
			status = http.StatusOK
		}
		writeJSON(w, status, out)
	})
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

// bearer returns the raw bearer token of the request.
func (c *call) bearer() string { return auth.ClientFromContext(c.r.Context()).BearerToken }

// run executes a named operation of the document through the GraphQL executor and returns its
// data, or the first error translated to HTTP.
func (c *call) run(op string, vars map[string]any) (json.RawMessage, error) {
	resp := c.h.execute(c.r.Context(), op, vars)
	if len(resp.Errors) > 0 {
		return nil, errorFromGraphQL(resp.Errors[0])
	}
	return resp.Data, nil
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
