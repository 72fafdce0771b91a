// Package rest is the REST compatibility layer: the curl calls of the InferiaLLM documentation
// and the paths the InferiaLLM dashboard calls. Each route is a row of a table: its method and
// path, the GraphQL operation it runs (operations/*.graphql, embedded), the named functions that
// make the variables from the path, the query string and the body and the InferiaLLM JSON from
// the result, and its success status. The rows live by resource, each file beside the
// operations it runs (members.go beside operations/members.graphql), and routes.go gathers
// them. Operations run through the same executor as /graphql, so permissions, tenant isolation,
// transactions, limits and audit are those of the GraphQL API; this package holds no business
// rules. The operations and the table are checked against the schema when the handler is built.
package rest

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/inferiallm/orgserver/server/auth"
)

//go:embed operations/*.graphql
var operationFiles embed.FS

// Options configure the REST layer.
type Options struct {
	Logger *slog.Logger
	// InternalAPIKey authenticates the inference gateway on the /internal routes; empty turns
	// them off (503).
	InternalAPIKey string
	// Usage stores the gateway's usage reports.
	Usage UsageRecorder
}

// Handler serves the REST routes, at the root and under /api.
type Handler struct {
	exec   *executor.Executor
	doc    string
	log    *slog.Logger
	mux    *http.ServeMux
	routes []route

	internalKey string
	usage       UsageRecorder
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

// ValidateOperations parses and validates the operations against schema and checks the route
// table against them: every route names one of them, reads only fields its operation selects,
// and its Auth names what the operation checks. A stale route fails here, at start-up and in a
// unit test.
func ValidateOperations(schema *ast.Schema, doc string) error {
	q, errs := gqlparser.LoadQueryWithRules(schema, doc, rules.NewDefaultRules())
	if errs != nil {
		return fmt.Errorf("rest operations: %w", errs)
	}
	var problems []error
	for _, r := range table() {
		var defs []*ast.OperationDefinition
		for _, name := range r.operations() {
			def := q.Operations.ForName(name)
			if def == nil {
				problems = append(problems, fmt.Errorf("rest route %s names unknown operation %q", r.Pattern, name))
				continue
			}
			defs = append(defs, def)
		}
		if len(defs) == 0 {
			continue
		}
		if r.Reply.in != nil {
			// A route that chooses between operations replies with the data of those that
			// select what its reply reads.
			read := false
			for _, def := range defs {
				if _, ok := selected(def.SelectionSet, r.Reply.path); !ok && r.Op == "" {
					continue
				}
				read = true
				for _, err := range checkSelected(def.SelectionSet, r.Reply.path, r.Reply.in) {
					problems = append(problems, fmt.Errorf("rest route %s: %w (operation %s)", r.Pattern, err, def.Name))
				}
			}
			if !read {
				problems = append(problems, fmt.Errorf("rest route %s replies with %q, which none of its operations selects", r.Pattern, r.Reply.path))
			}
		}
		if err := checkAuth(r, defs); err != nil {
			problems = append(problems, err)
		}
	}
	return errors.Join(problems...)
}

// checkAuth holds a route's Auth to what its operations check: the first thing it names must be
// the permission (or "super admin") of a field they select, and a route whose operations check
// none must not name one.
func checkAuth(r route, defs []*ast.OperationDefinition) error {
	var checked []string
	for _, def := range defs {
		checked = guards(def.SelectionSet, checked)
	}
	first, _, _ := strings.Cut(r.Auth, ",")
	switch {
	case len(checked) > 0 && !slices.Contains(checked, first):
		return fmt.Errorf("rest route %s: Auth says %q; its operation checks %s", r.Pattern, r.Auth, strings.Join(checked, ", "))
	case len(checked) == 0 && auth.IsPermission(r.Auth):
		return fmt.Errorf("rest route %s: Auth says %q; its operation checks no permission", r.Pattern, r.Auth)
	}
	return nil
}

// guards appends what the fields of set and below are guarded by: the permission of each
// @hasPermission, and "super admin" for @superAdmin.
func guards(set ast.SelectionSet, out []string) []string {
	for _, f := range fields(set) {
		if f.Definition == nil {
			continue
		}
		if d := f.Definition.Directives.ForName("hasPermission"); d != nil {
			out = append(out, d.Arguments.ForName("permission").Value.Raw)
		}
		if f.Definition.Directives.ForName("superAdmin") != nil {
			out = append(out, "super admin")
		}
		out = guards(f.SelectionSet, out)
	}
	return out
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
	h := &Handler{exec: exec, doc: doc, log: opts.Logger, mux: http.NewServeMux(), routes: table(),
		internalKey: opts.InternalAPIKey, usage: opts.Usage}
	paths := map[string][]string{}
	for _, prefix := range prefixes {
		for _, r := range h.routes {
			h.mux.Handle(r.Method()+" "+prefix+r.Path(), h.serve(r))
			paths[prefix+r.Path()] = append(paths[prefix+r.Path()], r.Method())
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
			first, _, _ := strings.Cut(strings.TrimPrefix(r.Path(), "/"), "/")
			if p := prefix + "/" + first + "/"; !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// Routes returns the route table.
func (h *Handler) Routes() []route { return h.routes }

// Operations names the operations the routes run, each once, in the table's order (metrics
// label operations by these names).
func (h *Handler) Operations() []string {
	var out []string
	for _, r := range h.routes {
		for _, op := range r.operations() {
			if !slices.Contains(out, op) {
				out = append(out, op)
			}
		}
	}
	return out
}

// ServeHTTP serves the REST routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// serve serves one route: the variables from the request, the operation, the answer.
func (h *Handler) serve(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{h: h, w: w, r: r}
		if err := c.readBody(); err != nil {
			c.fail(err)
			return
		}
		if rt.Serve.run != nil {
			rt.Serve.run(c)
			return
		}
		vars, err := rt.variables(c)
		if err != nil {
			c.fail(err)
			return
		}
		c.respond(rt.Op, vars, rt.Status, rt.Reply)
	})
}

// variables are the route's operation variables for the request.
func (r route) variables(c *call) (map[string]any, error) {
	if r.Vars.make == nil {
		return map[string]any{}, nil
	}
	return r.Vars.make(c)
}
