package rest

import (
	"cmp"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
)

// table is the REST API: every documented and dashboard route. The rows live with their
// resource, each file beside the operations it runs: auth.go beside operations/auth.graphql,
// and so on.
func table() []route {
	return slices.Concat(authRoutes, securityRoutes, passwordResetRoutes, invitationRoutes, memberRoutes, organizationRoutes,
		roleRoutes, auditRoutes, apiKeyRoutes, policyRoutes, usageRoutes, ssoRoutes)
}

// route is one REST endpoint, a row of the table.
type route struct {
	// Pattern is the method and the path, a ServeMux pattern; it is served under each prefix.
	Pattern string
	// Op is the operation of operations/*.graphql the route runs.
	Op string
	// Vars makes the operation's variables from the path, the query and the body (none: no
	// variables).
	Vars vars
	// Status is the success status: 200 when zero; 204 answers no body.
	Status int
	// Reply makes the answer from the operation's data.
	Reply reply
	// Serve stands in for Op, Vars and Reply in the few routes that choose their operation at
	// run time or answer in HTML. Ops names the operations it may run; Reply then only
	// documents the JSON answer.
	Serve serve
	Ops   []string
	// Auth is who may call: "public", "bearer", or what the operation checks (a permission or
	// "super admin"), first. ValidateOperations holds it to the fields the operation selects.
	Auth string
	// Summary and Query describe the route in /openapi.json.
	Summary string
	Query   []param
}

// Method is the route's HTTP method.
func (r route) Method() string { m, _, _ := strings.Cut(r.Pattern, " "); return m }

// Path is the route's path, with its {parameters}.
func (r route) Path() string { _, p, _ := strings.Cut(r.Pattern, " "); return p }

// Body is the type of the JSON body the route reads, or nil.
func (r route) Body() reflect.Type { return cmp.Or(r.Vars.body, r.Serve.body) }

// operations are the operations the route may run.
func (r route) operations() []string {
	if r.Op != "" {
		return []string{r.Op}
	}
	return r.Ops
}

// param is a query parameter, for /openapi.json.
type param struct {
	Name, Type, Description string
}

var pageParams = []param{
	{"skip", "integer", "items to skip (>= 0, default 0)"},
	{"limit", "integer", "items to return (1..100, default 50)"},
}

// vars makes an operation's variables from a request; body is the type of the JSON body it
// reads, which /openapi.json documents.
type vars struct {
	body reflect.Type
	make func(c *call) (map[string]any, error)
}

// withBody reads the body into a B, refuses it (422) when it is not B's shape or lacks a
// required field (a string without omitempty), and makes the variables with f.
func withBody[B any](f func(c *call, b B) (map[string]any, error)) vars {
	return vars{body: reflect.TypeFor[B](), make: func(c *call) (map[string]any, error) {
		b, err := bodyOf[B](c)
		if err != nil {
			return nil, err
		}
		return f(c, b)
	}}
}

// withOptionalBody is withBody for a route that takes a body it cannot read for none.
func withOptionalBody[B any](f func(c *call, b B) (map[string]any, error)) vars {
	return vars{body: reflect.TypeFor[B](), make: func(c *call) (map[string]any, error) {
		var b B
		_ = c.decode(&b)
		return f(c, b)
	}}
}

// fromRequest makes the variables with f, from the path and the query.
func fromRequest(f func(c *call) (map[string]any, error)) vars {
	return vars{make: f}
}

// fromPath sets variables to path parameters, in pairs: fromPath("userId", "user_id") sets
// $userId to {user_id}.
func fromPath(pairs ...string) vars {
	return fromRequest(func(c *call) (map[string]any, error) {
		out := map[string]any{}
		for i := 0; i < len(pairs); i += 2 {
			out[pairs[i]] = c.path(pairs[i+1])
		}
		return out, nil
	})
}

// bodyOf decodes the request body into a new B and checks that its required fields, the
// strings without omitempty, are there.
func bodyOf[B any](c *call) (B, error) {
	var b B
	if err := c.decode(&b); err != nil {
		return b, err
	}
	v := reflect.ValueOf(b)
	if v.Kind() != reflect.Struct {
		return b, nil
	}
	var missing []string
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Type.Kind() == reflect.String && !strings.Contains(opts, "omitempty") && strings.TrimSpace(v.Field(i).String()) == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return b, unprocessable("Field required: %s", strings.Join(missing, ", "))
	}
	return b, nil
}

// reply makes a route's answer from its operation's data. typ is the answer's type, which
// /openapi.json documents; path and in say where the data is read and into what type (whose
// gql tags ValidateOperations checks against the operation).
type reply struct {
	typ  reflect.Type
	path string
	in   reflect.Type
	make func(c *call, data json.RawMessage) (any, error)
}

// at answers the data at path, read into a T by its gql tags (see fill.go); fixes set what
// the data does not say.
func at[T any](path string, fixes ...func(*T)) reply {
	return via(path, func(_ *call, v T) (T, error) {
		for _, fix := range fixes {
			fix(&v)
		}
		return v, nil
	})
}

// via reads the data at path into an In and makes the answer with f.
func via[In, Out any](path string, f func(c *call, in In) (Out, error)) reply {
	return reply{typ: reflect.TypeFor[Out](), path: path, in: reflect.TypeFor[In](),
		make: func(c *call, data json.RawMessage) (any, error) {
			in, err := decodeAt[In](data, path)
			if err != nil {
				return nil, err
			}
			return f(c, in)
		}}
}

// constant answers v whatever the data.
func constant[T any](v T) reply {
	return reply{typ: reflect.TypeFor[T](), make: func(*call, json.RawMessage) (any, error) { return v, nil }}
}

// Message is a plain confirmation.
type Message struct {
	Message string `json:"message"`
}

// message answers {"message": text}.
func message(text string) reply { return constant(Message{Message: text}) }

// paged answers the list r makes, cut to the query's skip and limit (at most maxLimit). The
// query is read before the data, so malformed paging is refused first, before a signed-out
// caller's 401.
func paged(maxLimit int, r reply) reply {
	inner := r.make
	r.make = func(c *call, data json.RawMessage) (any, error) {
		skip, limit, err := c.page(maxLimit)
		if err != nil {
			return nil, err
		}
		out, err := inner(c, data)
		if err != nil {
			return nil, err
		}
		list := reflect.ValueOf(out)
		lo := min(skip, list.Len())
		return list.Slice(lo, min(lo+limit, list.Len())).Interface(), nil
	}
	return r
}

// serve is a route that runs its own flow; body is the type of the JSON body it reads.
type serve struct {
	body reflect.Type
	run  func(c *call)
}

// served reads the body into a B as withBody does and hands it to f.
func served[B any](f func(c *call, b B)) serve {
	return serve{body: reflect.TypeFor[B](), run: func(c *call) {
		b, err := bodyOf[B](c)
		if err != nil {
			c.fail(err)
			return
		}
		f(c, b)
	}}
}

// servedWithoutBody hands the request to f.
func servedWithoutBody(f func(c *call)) serve { return serve{run: f} }

// statusOr is the success status of a route: 200 unless it says otherwise.
func statusOr(status int) int {
	if status == 0 {
		return http.StatusOK
	}
	return status
}
