package graph_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

func TestQueriesOverTheDepthOrComplexityLimitAreRefused(t *testing.T) {
	s := apptest.Start(t, func(c *app.Config, _ *app.Options) {
		c.MaxQueryDepth = 3
		c.MaxQueryComplexity = 300
	})
	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)

	require.Empty(t, s.Do(t, tok.Access, `{ viewer { memberships { id } } }`, nil).Errors, "depth 3 is the limit itself")

	for name, q := range map[string]string{
		"plain":    `{ viewer { memberships { organization { name } } } }`,
		"fragment": `{ viewer { ...V } } fragment V on Viewer { memberships { role { name } } }`,
		"inline":   `{ viewer { ... on Viewer { session { user { email } } } } }`,
	} {
		t.Run(name, func(t *testing.T) {
			r := s.Do(t, tok.Access, q, nil)
			require.NotEmpty(t, r.Errors)
			assert.Equal(t, "BAD_USER_INPUT", r.Code())
			assert.Contains(t, r.Errors[0].Message, "nested too deeply")
			assert.Nil(t, r.Get("viewer"))
		})
	}

	// Introspection is not counted in depth nor weighed (it is limited by count): GraphiQL's
	// schema query must keep working.
	intro := s.Do(t, "", `{ __schema { types { name fields { name type { name ofType { name ofType { name } } } } } } }`, nil)
	require.Empty(t, intro.Errors)

	// 100 organizations per page times the selection exceeds 300.
	s = apptest.Start(t, func(c *app.Config, _ *app.Options) { c.MaxQueryComplexity = 300 })
	tok = s.Login(t, apptest.RootEmail, apptest.RootPassword)
	r := s.Do(t, tok.Access, `{ organizations(first: 100) { edges { node { id name createdAt updatedAt settings { defaultRole } } } } }`, nil)
	require.NotEmpty(t, r.Errors)
	assert.Equal(t, "BAD_USER_INPUT", r.Code())
	assert.Contains(t, r.Errors[0].Message, "complexity")
	require.Empty(t, s.Do(t, tok.Access, `{ organizations(first: 5) { edges { node { id name } } } }`, nil).Errors)

	// Page sizes beyond the maximum are refused, not silently cut.
	assert.Equal(t, "BAD_USER_INPUT", s.Do(t, tok.Access, `{ organizations(first: 1000) { totalCount } }`, nil).Code())
	assert.Equal(t, "BAD_USER_INPUT", s.Do(t, tok.Access, `{ organizations(first: -1) { totalCount } }`, nil).Code())
}

func TestIntrospectionCanBeSwitchedOff(t *testing.T) {
	s := apptest.Start(t, func(c *app.Config, _ *app.Options) { c.Introspection = false })
	r := s.Do(t, "", `{ __schema { queryType { name } } }`, nil)
	require.NotEmpty(t, r.Errors)
	assert.Equal(t, "BAD_USER_INPUT", r.Code())
	assert.Contains(t, r.Errors[0].Message, "introspection disabled")
}

var complexityMessage = regexp.MustCompile(`complexity (\d+) exceeds`)

// costOf returns the cost the server computes for a query, read from its refusal: s must have
// a complexity limit of 1.
func costOf(t *testing.T, s *apptest.Server, query string, vars map[string]any) int {
	t.Helper()
	r := s.Do(t, "", query, vars)
	require.NotEmpty(t, r.Errors, "%s", query)
	m := complexityMessage.FindStringSubmatch(r.Errors[0].Message)
	require.NotNil(t, m, "%s: %s", query, r.Errors[0].Message)
	n, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	return n
}

func TestTheCostsTheREADMEQuotes(t *testing.T) {
	s := apptest.Start(t, func(c *app.Config, _ *app.Options) { c.MaxQueryComplexity = 1 })
	audit, err := os.ReadFile("../rest/operations/audit.graphql")
	require.NoError(t, err)
	assert.Equal(t, 13003, costOf(t, s, string(audit), map[string]any{"limit": 1000}), "the REST audit page of 1000 rows")
	assert.Equal(t, 1106, costOf(t, s, settingsPages["users"], nil), "the dashboard's Users page")
	assert.Equal(t, 2, costOf(t, s, `{ viewer { permissions } }`, nil), "a list of scalars counts 1")
}

// TestEveryListIsWeighedByItsPageSize walks the schema: for every field that returns a list
// of objects or a connection, outside connection types (whose edges the connection has
// weighed), it builds a query that reaches the field and checks that what is selected inside
// the field counts once per item of its page: the first, last or limit given, else the
// argument's default, else the largest page; the number of ids; or the largest page for a list
// without paging arguments. Nobody has to remember to weigh a new list.
func TestEveryListIsWeighedByItsPageSize(t *testing.T) {
	s := apptest.Start(t, func(c *app.Config, _ *app.Options) { c.MaxQueryComplexity = 1 })
	schema := graph.NewExecutableSchema(graph.ExecutableConfig(s.App.Service())).Schema()
	maxPage := s.App.Service().MaxPageSize
	paths := selectionPaths(schema)

	var weighed []string
	for _, typ := range schema.Types {
		if typ.Kind != ast.Object || strings.HasPrefix(typ.Name, "__") || strings.HasSuffix(typ.Name, "Connection") {
			continue
		}
		for _, f := range typ.Fields {
			elem := schema.Types[f.Type.Name()]
			list, connection := f.Type.Elem != nil, f.Type.Elem == nil && strings.HasSuffix(f.Type.NamedType, "Connection")
			if strings.HasPrefix(f.Name, "__") || !(list || connection) || elem.IsLeafType() {
				continue // lists of scalars count 1, like any scalar field
			}
			p, ok := paths[typ.Name]
			require.True(t, ok, "no query reaches %s", typ.Name)
			for _, c := range pageCases(f, maxPage) {
				name := typ.Name + "." + f.Name + c.args
				field := f.Name + c.args
				one := costOf(t, s, p.open+field+"{ __typename }"+p.close, nil)
				two := costOf(t, s, p.open+field+"{ __typename again: __typename }"+p.close, nil)
				// What one more field beside the list costs: how often the list's parent repeats.
				parent := costOf(t, s, p.open+"beside: __typename "+field+"{ __typename }"+p.close, nil) - one
				require.Positive(t, parent, name)
				assert.Equal(t, c.page*parent, two-one, "%s weighs its page of %d", name, c.page)
				weighed = append(weighed, name)
			}
		}
	}
	t.Logf("weighed %d list fields and page arguments: %v", len(weighed), weighed)
	for _, want := range []string{"Query.nodes(ids: [\"a\", \"b\", \"c\"])", "Query.organizations(first: 7)", "Query.organizations",
		"Viewer.memberships", "Organization.members(last: 7)", "Organization.auditLogList", "Organization.auditLogList(limit: 7)",
		"Organization.roles", "AuthPayload.memberships", "Query.permissionCatalog"} {
		assert.Contains(t, weighed, want)
	}
}

// pageCase is a way to call a list field and the page size it must weigh.
type pageCase struct {
	args string
	page int
}

// pageCases returns the calls of list field f to check: with each paging argument given, and
// without (its default, or maxPage); with three ids.
func pageCases(f *ast.FieldDefinition, maxPage int) []pageCase {
	if f.Arguments.ForName("ids") != nil {
		return []pageCase{{`(ids: ["a", "b", "c"])`, 3}}
	}
	cases := []pageCase{{"", maxPage}}
	for _, name := range []string{"first", "last", "limit"} {
		a := f.Arguments.ForName(name)
		if a == nil {
			continue
		}
		cases = append(cases, pageCase{"(" + name + ": 7)", 7})
		if a.DefaultValue != nil {
			n, err := strconv.Atoi(a.DefaultValue.Raw)
			if err == nil {
				cases[0].page = n
			}
		}
	}
	return cases
}

// selectionPath is how a query reaches a type: open + selections of the type + close.
type selectionPath struct{ open, close string }

// selectionPaths finds, breadth first from the query and mutation roots, the shortest query
// reaching each object type, filling in required arguments with literals of their types.
func selectionPaths(schema *ast.Schema) map[string]selectionPath {
	paths := map[string]selectionPath{
		schema.Query.Name:    {"query { ", " }"},
		schema.Mutation.Name: {"mutation { ", " }"},
	}
	queue := []string{schema.Query.Name, schema.Mutation.Name}
	for len(queue) > 0 {
		from := schema.Types[queue[0]]
		p := paths[from.Name]
		queue = queue[1:]
		for _, f := range from.Fields {
			to := schema.Types[f.Type.Name()]
			if strings.HasPrefix(f.Name, "__") || !to.IsCompositeType() {
				continue
			}
			open := p.open + f.Name + requiredArguments(schema, f) + " { "
			targets := []*ast.Definition{to}
			if to.IsAbstractType() {
				targets = schema.GetPossibleTypes(to)
			}
			for _, target := range targets {
				if _, seen := paths[target.Name]; seen {
					continue
				}
				next := selectionPath{open, " }" + p.close}
				if target != to {
					next = selectionPath{open + "... on " + target.Name + " { ", " } }" + p.close}
				}
				paths[target.Name] = next
				queue = append(queue, target.Name)
			}
		}
	}
	return paths
}

func requiredArguments(schema *ast.Schema, f *ast.FieldDefinition) string {
	var args []string
	for _, a := range f.Arguments {
		if a.Type.NonNull && a.DefaultValue == nil {
			args = append(args, a.Name+": "+literal(schema, a.Type))
		}
	}
	if len(args) == 0 {
		return ""
	}
	return "(" + strings.Join(args, ", ") + ")"
}

// literal returns a value of type t: validation accepts it, and the query is refused before
// anything reads it.
func literal(schema *ast.Schema, t *ast.Type) string {
	if t.Elem != nil {
		return "[" + literal(schema, t.Elem) + "]"
	}
	def := schema.Types[t.NamedType]
	switch {
	case def.Kind == ast.Enum:
		return def.EnumValues[0].Name
	case def.Kind == ast.InputObject:
		var fields []string
		for _, f := range def.Fields {
			if f.Type.NonNull && f.DefaultValue == nil {
				fields = append(fields, f.Name+": "+literal(schema, f.Type))
			}
		}
		return "{" + strings.Join(fields, ", ") + "}"
	case t.NamedType == "Int" || t.NamedType == "Float":
		return "1"
	case t.NamedType == "Boolean":
		return "true"
	}
	return `"x"`
}
