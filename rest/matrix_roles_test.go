package rest_test

import (
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/rest"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/auth"
)

// The permission × custom role matrices of graph/matrix_roles_test.go, on REST: every route
// runs a named GraphQL operation, so a route is refused 403 exactly when that operation, sent to
// /graphql with the same caller, is refused FORBIDDEN, with the same message. The routes and
// their operations come from the route table; what each operation guards comes from the schema.

// opRoute is a route of the table with what its operation selects.
type opRoute struct {
	method, path, auth, op string
	status                 int // on success
	body                   any // a dummy request body, nil without one
	def                    *ast.OperationDefinition
	roots                  []string // the operation's root fields
	guards                 []string // "super admin" or the permission of each guarded field it selects
}

func (r opRoute) String() string { return r.method + " " + r.path }

// servedRoutes are the routes that pick their operation at run time (Serve): the operation each
// runs for a signed-in caller, its success status, and a body that picks it.
var servedRoutes = map[string]struct {
	op     string
	status int
	body   map[string]any
}{
	"POST /auth/register-invite": {"InviteMember", http.StatusCreated, map[string]any{"email": "x"}},
}

// tableRoutes returns the routes that run an operation, read from the route table, with the
// schema the operations are validated against.
func tableRoutes(t testing.TB, s *apptest.Server) ([]opRoute, *ast.Schema) {
	t.Helper()
	gql := graph.NewServer(s.App.Service())
	h, err := rest.New(gql.Executor(), gql.Schema(), rest.Options{})
	require.NoError(t, err)
	doc, err := rest.LoadOperations()
	require.NoError(t, err)
	q, errs := gqlparser.LoadQueryWithRules(gql.Schema(), doc, rules.NewDefaultRules())
	require.Nil(t, errs)
	var out []opRoute
	seen := 0
	for _, r := range h.Routes() {
		name := r.Pattern
		op, status := r.Op, r.Status
		body := dummyBody(r.Body())
		if served, ok := servedRoutes[name]; ok && op == "" {
			op, status, body = served.op, served.status, served.body
			seen++
		}
		if op == "" {
			continue
		}
		def := q.Operations.ForName(op)
		require.NotNil(t, def, "%s runs %s", name, op)
		if status == 0 {
			status = http.StatusOK
		}
		rt := opRoute{method: r.Method(), path: r.Path(), auth: r.Auth, op: op, status: status, body: body, def: def}
		for _, sel := range def.SelectionSet {
			if f, ok := sel.(*ast.Field); ok {
				rt.roots = append(rt.roots, f.Name)
			}
		}
		rt.guards = guardsSelected(def.SelectionSet, nil)
		out = append(out, rt)
	}
	require.Equal(t, len(servedRoutes), seen, "servedRoutes are routes of the table that pick their operation at run time")
	return out, gql.Schema()
}

// guardsSelected appends what every field of set and below is guarded by: the permission of
// @hasPermission, or "super admin".
func guardsSelected(set ast.SelectionSet, out []string) []string {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Definition == nil {
				continue
			}
			if d := s.Definition.Directives.ForName("hasPermission"); d != nil {
				out = append(out, d.Arguments.ForName("permission").Value.Raw)
			}
			if s.Definition.Directives.ForName("superAdmin") != nil {
				out = append(out, "super admin")
			}
			out = guardsSelected(s.SelectionSet, out)
		case *ast.InlineFragment:
			out = guardsSelected(s.SelectionSet, out)
		case *ast.FragmentSpread:
			out = guardsSelected(s.Definition.SelectionSet, out)
		}
	}
	return out
}

// pathParam matches a parameter of a route pattern.
var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// dummyPath fills a route's path parameters: a random UUID for ids, "x" otherwise.
func dummyPath(path string) string {
	return pathParam.ReplaceAllStringFunc(path, func(p string) string {
		if strings.HasSuffix(p, "id}") {
			return uuid.NewString()
		}
		return "x"
	})
}

// dummyBody fills a body of type typ: "x" for every required string, an empty list for lists,
// an empty object for objects; optional (pointer) fields are left out. No type, no body.
func dummyBody(typ reflect.Type) any {
	if typ == nil {
		return nil
	}
	out := map[string]any{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		switch f.Type.Kind() {
		case reflect.String:
			out[name] = "x"
		case reflect.Slice:
			out[name] = []any{}
		case reflect.Map:
			out[name] = map[string]any{}
		}
	}
	return out
}

// dummyVariables fills an operation's required variables with well-typed dummy values.
func dummyVariables(t testing.TB, schema *ast.Schema, def *ast.OperationDefinition) map[string]any {
	out := map[string]any{}
	for _, v := range def.VariableDefinitions {
		if v.Type.NonNull && v.DefaultValue == nil {
			out[v.Variable] = dummyValue(t, schema, v.Type)
		}
	}
	return out
}

func dummyValue(t testing.TB, schema *ast.Schema, typ *ast.Type) any {
	if typ.Elem != nil {
		return []any{dummyValue(t, schema, typ.Elem)}
	}
	def := schema.Types[typ.NamedType]
	switch def.Kind {
	case ast.Enum:
		return def.EnumValues[0].Name
	case ast.InputObject:
		out := map[string]any{}
		for _, f := range def.Fields {
			if f.Type.NonNull && f.DefaultValue == nil {
				out[f.Name] = dummyValue(t, schema, f.Type)
			}
		}
		return out
	}
	switch typ.NamedType {
	case "ID":
		return uuid.NewString()
	case "String":
		return "x"
	case "Int", "Float":
		return 1
	case "Boolean":
		return false
	case "Map":
		return map[string]any{}
	}
	t.Fatalf("no dummy value for the scalar %s", typ.NamedType)
	return nil
}

// roleWorld is acme with custom roles and members made directly in the database.
type roleWorld struct {
	s    *apptest.Server
	acme *ent.Organization
	root string
	n    int
}

func newRoleWorld(t testing.TB) *roleWorld {
	t.Helper()
	s := apptest.Start(t, apptest.WithLimits(apptest.RoomyLimits))
	return &roleWorld{s: s, acme: s.Org(t, apptest.RootOrg), root: s.Login(t, apptest.RootEmail, apptest.RootPassword).Access}
}

func (w *roleWorld) unique(prefix string) string {
	w.n++
	return fmt.Sprintf("%s%d", prefix, w.n)
}

// role creates a custom role of acme holding exactly perms and returns its name.
func (w *roleWorld) role(t testing.TB, perms ...string) string {
	t.Helper()
	name := w.unique("holds-")
	_, err := w.s.App.Client().Role.Create().SetOrganizationID(w.acme.ID).SetName(name).
		SetPermissions(append([]string{}, perms...)).Save(apptest.SystemContext())
	require.NoError(t, err)
	return name
}

// member adds a member of acme whose custom role holds exactly perms.
func (w *roleWorld) member(t testing.TB, perms ...string) *ent.User {
	t.Helper()
	return w.s.AddUser(t, w.unique("member")+"@acme.test", w.acme, w.role(t, perms...))
}

// signIn returns the access token of a new member whose custom role holds exactly perms.
func (w *roleWorld) signIn(t testing.TB, perms ...string) string {
	t.Helper()
	u := w.member(t, perms...)
	return w.s.Login(t, u.Email, apptest.Password(u.Email)).Access
}

// key has the root admin create an API key whose custom role holds exactly perms; its secret
// and id.
func (w *roleWorld) key(t testing.TB, perms ...string) (secret, id string) {
	t.Helper()
	g := w.s.Operation(t, w.root, "CreateAPIKey", map[string]any{"name": w.unique("key"), "role": w.role(t, perms...)})
	require.Empty(t, g.Errors)
	return g.Str("createApiKey.secret"), g.Str("createApiKey.apiKey.id")
}

// keyOf is signIn for an API key: the secret of a new key whose custom role holds exactly perms.
func (w *roleWorld) keyOf(t testing.TB, perms ...string) string {
	t.Helper()
	secret, _ := w.key(t, perms...)
	return secret
}

// invitation has the root admin invite someone with a role holding exactly perms; its id.
func (w *roleWorld) invitation(t testing.TB, perms ...string) string {
	t.Helper()
	g := w.s.Operation(t, w.root, "InviteMember", map[string]any{"email": w.unique("invitee") + "@acme.test", "role": w.role(t, perms...)})
	require.Empty(t, g.Errors)
	return g.Str("inviteMember.invitation.id")
}

// session signs in a new member whose role holds exactly perms; the session's id.
func (w *roleWorld) session(t testing.TB, perms ...string) string {
	t.Helper()
	return sessionID(t, w.s, w.signIn(t, perms...))
}

// Rows: the 25 permissions of the catalog, each held alone by a custom role. Columns: every
// route whose operation selects a field behind @hasPermission or @superAdmin, with dummy path
// parameters and body; beside it, the same operation on /graphql with dummy variables. A route
// is refused 403 exactly when its operation selects a field guarded by another permission (or
// a super admin's field), and then GraphQL refuses it FORBIDDEN with the same message. The
// callers are members signed in and, in the second test, organization API keys of those roles.
func TestRESTCustomRoleOfOnePermissionIsRefusedWhereGraphQLRefusesIt(t *testing.T) {
	w := newRoleWorld(t)
	onePermissionMatrix(t, w, w.signIn, false)
}

func TestRESTAPIKeyOfOnePermissionIsRefusedWhereGraphQLRefusesIt(t *testing.T) {
	w := newRoleWorld(t)
	onePermissionMatrix(t, w, w.keyOf, true)
}

// personRefusal is the refusal of a field that needs a person (@person) to an API key.
const personRefusal = "API keys cannot do this: it needs a person's sign-in"

// grantRefusal starts the message of a workflow's refusal to hand out permissions the caller lacks.
const grantRefusal = "Cannot grant permissions you do not have: "

// onePermissionMatrix runs the matrix above with the callers caller makes; keys says they are
// API keys, which creating a key refuses whatever their permissions (a key cannot mint keys).
func onePermissionMatrix(t *testing.T, w *roleWorld, caller func(t testing.TB, perms ...string) string, keys bool) {
	routes, schema := tableRoutes(t, w.s)
	var guarded []opRoute
	for _, r := range routes {
		// The table's Auth column is documentation; it must name what the operation checks.
		switch {
		case len(r.guards) > 0:
			assert.Contains(t, r.guards, strings.Split(r.auth, ",")[0], "the Auth of %s names what %s checks", r, r.op)
			guarded = append(guarded, r)
		case r.auth != "public":
			assert.False(t, auth.IsPermission(r.auth), "%s: its operation %s checks no permission, its Auth says %s", r, r.op, r.auth)
		}
	}
	require.GreaterOrEqual(t, len(guarded), 15, "routes whose operation checks a permission")

	for _, p := range auth.AllPermissions() {
		t.Run(p, func(t *testing.T) {
			tok := caller(t, p)
			for _, r := range guarded {
				t.Run(r.String(), func(t *testing.T) {
					var denied []string
					for _, g := range r.guards {
						if g != p {
							denied = append(denied, "Permission denied: "+g+" required")
						}
					}
					res := w.s.REST(t, request{Method: r.method, Path: dummyPath(r.path), Bearer: tok, Body: r.body})
					g := w.s.Operation(t, tok, r.op, dummyVariables(t, schema, r.def))
					if keys && slices.Contains(r.roots, "createApiKey") {
						assert.Equal(t, http.StatusForbidden, res.Status, "REST %s", res.Raw)
						assert.Equal(t, personRefusal, res.Detail())
						assert.Equal(t, "FORBIDDEN", g.Code(), "GraphQL %+v", g.Errors)
						return
					}
					refused := len(denied) > 0
					if !refused && res.Status == http.StatusForbidden && strings.HasPrefix(res.Detail(), grantRefusal) {
						// Past the gate, the workflow refuses to hand out the organization's
						// default role (a new key's) to a caller lacking its permissions: the
						// escalation matrix below is about that rule.
						assert.Equal(t, res.Detail(), g.Errors[0].Message, "the same message on both paths")
						return
					}
					assert.Equal(t, refused, res.Status == http.StatusForbidden, "REST %d %s", res.Status, res.Raw)
					assert.Equal(t, refused, g.Code() == "FORBIDDEN", "GraphQL %+v", g.Errors)
					if refused && res.Status == http.StatusForbidden && len(g.Errors) > 0 {
						assert.Contains(t, denied, res.Detail())
						assert.Equal(t, g.Errors[0].Message, res.Detail(), "the same message on both paths")
					}
				})
			}
		})
	}
}

// Rows: the workflows that act on a member, an invitation or a role, or hand out a role or
// permissions, through every route of the table whose operation runs them. The caller's custom
// role holds the workflow's permission and the read permission that finds the target, if any.
// Columns: the target's role holds no permission, the caller's permissions, those plus one, or
// every permission. REST answers the route's success status for the first two and 403 for the
// others (security:update revokes any member's session), and GraphQL agrees, case by case.
func TestRESTCustomRoleCannotActOnAnyoneWhoseRoleHoldsPermissionsItLacks(t *testing.T) {
	w := newRoleWorld(t)
	routes, _ := tableRoutes(t, w.s)
	type target struct {
		name  string
		perms func(caller []string) []string
	}
	targets := []target{
		{"no permission", func([]string) []string { return nil }},
		{"the same permissions", func(caller []string) []string { return caller }},
		{"one permission more", func(caller []string) []string {
			for _, p := range auth.AllPermissions() {
				if !slices.Contains(caller, p) {
					return append(slices.Clone(caller), p)
				}
			}
			panic("the caller holds every permission")
		}},
		{"every permission", func([]string) []string { return auth.AllPermissions() }},
	}
	// A case is a target made twice, once per path: its path parameters, REST body and
	// GraphQL variables.
	type made struct {
		params map[string]string
		body   map[string]any
		vars   map[string]any
	}
	rows := []struct {
		name, permission, read string
		field                  string // the root field the routes' operations run
		make                   func(t *testing.T, target []string) made
		anyTarget              bool
	}{
		{"role:update changes a member's role", "role:update", "member:list", "updateMemberRole",
			func(t *testing.T, target []string) made {
				u, r := w.member(t, target...).ID.String(), w.role(t)
				return made{map[string]string{"user_id": u}, map[string]any{"role": r}, map[string]any{"userId": u, "role": r}}
			}, false},
		{"role:update gives a member a role", "role:update", "member:list", "updateMemberRole",
			func(t *testing.T, target []string) made {
				u, r := w.member(t).ID.String(), w.role(t, target...)
				return made{map[string]string{"user_id": u}, map[string]any{"role": r}, map[string]any{"userId": u, "role": r}}
			}, false},
		{"member:delete removes a member", "member:delete", "member:list", "removeMember",
			func(t *testing.T, target []string) made {
				u := w.member(t, target...).ID.String()
				return made{map[string]string{"user_id": u}, nil, map[string]any{"userId": u}}
			}, false},
		{"member:delete revokes an invitation", "member:delete", "member:list", "revokeInvitation",
			func(t *testing.T, target []string) made {
				id := w.invitation(t, target...)
				return made{map[string]string{"id": id}, nil, map[string]any{"id": id}}
			}, false},
		{"member:invite invites with a role", "member:invite", "", "inviteMember",
			func(t *testing.T, target []string) made {
				e, r := w.unique("new")+"@acme.test", w.role(t, target...)
				return made{nil, map[string]any{"email": e, "role": r}, map[string]any{"email": e, "role": r}}
			}, false},
		{"member:invite resends an invitation", "member:invite", "member:list", "resendInvitation",
			func(t *testing.T, target []string) made {
				id := w.invitation(t, target...)
				return made{map[string]string{"id": id}, nil, map[string]any{"id": id}}
			}, false},
		{"role:create creates a role with permissions", "role:create", "", "createRole",
			func(t *testing.T, target []string) made {
				n, p := w.unique("new-"), append([]string{}, target...)
				return made{nil, map[string]any{"name": n, "permissions": p}, map[string]any{"name": n, "permissions": p}}
			}, false},
		{"role:update changes a role", "role:update", "role:list", "updateRole",
			func(t *testing.T, target []string) made {
				n := w.role(t, target...)
				return made{map[string]string{"name": n}, map[string]any{"description": "changed"}, map[string]any{"name": n, "description": "changed"}}
			}, false},
		{"role:update gives a role permissions", "role:update", "role:list", "updateRole",
			func(t *testing.T, target []string) made {
				n, p := w.role(t), append([]string{}, target...)
				return made{map[string]string{"name": n}, map[string]any{"permissions": p}, map[string]any{"name": n, "permissions": p}}
			}, false},
		{"api_key:create creates a key with a role", "api_key:create", "", "createApiKey",
			func(t *testing.T, target []string) made {
				n, r := w.unique("key"), w.role(t, target...)
				return made{nil, map[string]any{"name": n, "role": r}, map[string]any{"name": n, "role": r}}
			}, false},
		{"api_key:revoke revokes a key", "api_key:revoke", "", "revokeApiKey",
			func(t *testing.T, target []string) made {
				_, id := w.key(t, target...)
				return made{map[string]string{"key_id": id}, nil, map[string]any{"id": id}}
			}, false},
		{"security:update revokes a member's session", "security:update", "security:view", "revokeSession",
			func(t *testing.T, target []string) made {
				id := w.session(t, target...)
				return made{map[string]string{"id": id}, nil, map[string]any{"id": id}}
			}, true},
	}
	for _, row := range rows {
		var through []opRoute
		for _, r := range routes {
			if slices.Equal(r.roots, []string{row.field}) {
				through = append(through, r)
			}
		}
		require.NotEmpty(t, through, "no route runs %s", row.field)
		caller := []string{row.permission}
		if row.read != "" {
			caller = append(caller, row.read)
		}
		caller = auth.SortPermissions(caller)
		tok := w.signIn(t, caller...)
		for _, r := range through {
			for i, c := range targets {
				t.Run(row.name+"/"+r.String()+"/"+c.name, func(t *testing.T) {
					status := http.StatusForbidden
					if i < 2 || row.anyTarget {
						status = r.status
					}
					m := row.make(t, c.perms(caller))
					path := pathParam.ReplaceAllStringFunc(r.path, func(p string) string { return m.params[strings.Trim(p, "{}")] })
					var body any
					if m.body != nil {
						body = m.body
					}
					res := w.s.REST(t, request{Method: r.method, Path: path, Bearer: tok, Body: body})
					m = row.make(t, c.perms(caller))
					apptest.SameAnswer(t, res, w.s.Operation(t, tok, r.op, m.vars), status, "")
				})
			}
		}
	}
}
