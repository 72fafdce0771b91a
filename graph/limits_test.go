package graph_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/introspection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/graph/generated"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

// fullIntrospection is a schema query as large as GraphiQL's when it opens: every field of the
// introspection types, deprecated ones included (gqlgen's rendering of graphql-js's
// getIntrospectionQuery with every option on).
var fullIntrospection = introspection.NewQuery(introspection.QueryOptions{OneOf: true})

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
	assert.Equal(t, 14003, costOf(t, s, string(audit), map[string]any{"limit": 1000}), "the REST audit page of 1000 rows")
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
	schema := generated.NewExecutableSchema(graph.ExecutableConfig(s.App.Service())).Schema()
	maxPage := s.App.Service().MaxPageSize
	paths := selectionPaths(schema)

	var weighed []string
	for _, typ := range schema.Types {
		if typ.Kind != ast.Object || strings.HasPrefix(typ.Name, "__") || isRelayConnection(typ) {
			continue
		}
		for _, f := range typ.Fields {
			elem := schema.Types[f.Type.Name()]
			list, connection := f.Type.Elem != nil, f.Type.Elem == nil && isRelayConnection(elem)
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
// isRelayConnection tells a Relay connection type (edges and pageInfo) from a type that only
// has the word in its name (SSOConnection).
func isRelayConnection(def *ast.Definition) bool {
	return def != nil && def.Fields.ForName("edges") != nil && def.Fields.ForName("pageInfo") != nil
}

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

// repeated writes f(0) … f(n-1), separated by spaces.
func repeated(n int, f func(i int) string) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(f(i))
		b.WriteByte(' ')
	}
	return b.String()
}

func times(s string) func(int) string { return func(int) string { return s } }

// hostileDocument is a document built to cost the server time, and how it must be refused.
type hostileDocument struct {
	name, query     string
	reason, message string
}

// hostileDocuments are refused before they cost time: by the token limit while parsing, by the
// document limits before validation, by the introspection and complexity limits before
// execution. With the default limits (app.DefaultConfig).
func hostileDocuments() []hostileDocument {
	// The largest query whose JSON request fits MAX_BODY_BYTES (1 MiB).
	const mib = 1<<20 - 64
	fill := func(prefix, unit, suffix string) string {
		return prefix + strings.Repeat(unit, (mib-len(prefix)-len(suffix))/len(unit)) + suffix
	}
	nested := strings.Repeat("members{edges{node{organization{", 10000)
	return []hostileDocument{
		{"the issue's 4,000 repeated fields (48 KB)", `{viewer{` + repeated(4000, times("user{email}")) + `}}`,
			"GRAPHQL_PARSE_FAILED", "exceeded token limit of 5000"},
		{"a 1 MiB document of repeated fields", fill(`{viewer{`, "user{email} ", `}}`),
			"GRAPHQL_PARSE_FAILED", "exceeded token limit of 5000"},
		{"a 1 MiB document of nested selections", fill(`{viewer{organization{`+nested, "}", ``),
			"GRAPHQL_PARSE_FAILED", "exceeded maximum nesting depth of 1000"},
		{"3,000 aliases", `{viewer{` + repeated(3000, func(i int) string { return fmt.Sprintf("a%d:user{email}", i) }) + `}}`,
			"GRAPHQL_PARSE_FAILED", "exceeded token limit of 5000"},
		{"the issue's 2,000 introspection aliases (80 KB)",
			`{` + repeated(2000, func(i int) string { return fmt.Sprintf("s%d:__schema{types{name fields{name}}}", i) }) + `}`,
			"GRAPHQL_PARSE_FAILED", "exceeded token limit of 5000"},
		{"one field repeated 100 times", `{viewer{` + repeated(100, times("user{email}")) + `}}`,
			"FIELD_LIMIT_EXCEEDED", `"viewer.user" is selected more than 20 times`},
		{"one alias repeated in nested selections", `{` + repeated(5, times(`a:viewer{`+repeated(5, times("b:user{email}"))+`}`)) + `}`,
			"FIELD_LIMIT_EXCEEDED", `"a.b" is selected more than 20 times`},
		{"2,001 distinct fields", `{` + repeated(2001, func(i int) string { return fmt.Sprintf("f%d", i) }) + `}`,
			"FIELD_LIMIT_EXCEEDED", "too many selections: 2001"},
		{"a fragment bomb", `{viewer{...F30}} fragment F0 on Viewer{user{email}} ` +
			repeated(30, func(i int) string { return fmt.Sprintf("fragment F%d on Viewer{...F%d ...F%d}", i+1, i, i) }),
			"FIELD_LIMIT_EXCEEDED", "too many selections: more than"},
		{"a fragment of 2,001 fields", `{viewer{...W}} fragment W on Viewer{` + repeated(2001, func(i int) string { return fmt.Sprintf("f%d", i) }) + `}`,
			"FIELD_LIMIT_EXCEEDED", "too many selections"},
		{"a fragment spread in 100 operations", repeated(100, func(i int) string { return fmt.Sprintf("query Q%d{viewer{...W}}", i) }) +
			`fragment W on Viewer{` + repeated(20, func(i int) string { return fmt.Sprintf("f%d", i) }) + `}`,
			"FIELD_LIMIT_EXCEEDED", "too many selections"},
		{"a chain of 31 fragments", `{viewer{...F0}} ` + repeated(31, func(i int) string {
			return fmt.Sprintf("fragment F%d on Viewer{a%d:user{email} ...F%d}", i, i, i+1)
		}) + `fragment F31 on Viewer{__typename}`,
			"FRAGMENT_LIMIT_EXCEEDED", `"viewer" holds more than 30 fragment spreads and inline fragments`},
		{"250 fragments spread side by side", `{viewer{` + repeated(250, func(i int) string { return fmt.Sprintf("...F%d", i) }) + `}} ` +
			repeated(250, func(i int) string { return fmt.Sprintf("fragment F%d on Viewer{a%d:__typename}", i, i) }),
			"FRAGMENT_LIMIT_EXCEEDED", `"viewer" holds more than 30`},
		{"500 inline fragments", `{viewer{` + repeated(500, times("... on Viewer{user{email}}")) + `}}`,
			"FIELD_LIMIT_EXCEEDED", `"viewer.user" is selected more than 20 times`},
		{"100 inline fragments of distinct aliases", `{viewer{` + repeated(100, func(i int) string { return fmt.Sprintf("... on Viewer{a%d:__typename}", i) }) + `}}`,
			"FRAGMENT_LIMIT_EXCEEDED", `"viewer" holds more than 30`},
		{"a fragment that spreads itself", `{viewer{...A}} fragment A on Viewer{user{email} ...B} fragment B on Viewer{...A}`,
			"GRAPHQL_VALIDATION_FAILED", `Cannot spread fragment "A" within itself`},
		{"two __schema", `{a:__schema{types{name}} b:__schema{types{name}}}`,
			"INTROSPECTION_LIMIT_EXCEEDED", "__schema at most 1 time"},
		{"eleven __type", `{` + repeated(11, func(i int) string { return fmt.Sprintf(`t%d:__type(name:"User"){fields{name}}`, i) }) + `}`,
			"INTROSPECTION_LIMIT_EXCEEDED", "__type at most 10 times"},
		{"__schema in a fragment", `{__schema{queryType{name}} ...S} fragment S on Query{__schema{types{name}}}`,
			"INTROSPECTION_LIMIT_EXCEEDED", "__schema at most 1 time"},
		{"the issue's 200 aliases of members(first:100)",
			`{viewer{organization{` + repeated(200, func(i int) string { return fmt.Sprintf("m%d:members(first:100){edges{node{id}}}", i) }) + `}}}`,
			"COMPLEXITY_LIMIT_EXCEEDED", "complexity 60202 exceeds the limit of 20000"},
		{"100 aliases of organizations(first:100)",
			`{` + repeated(100, func(i int) string { return fmt.Sprintf("o%d:organizations(first:100){edges{node{id name}}}", i) }) + `}`,
			"COMPLEXITY_LIMIT_EXCEEDED", "complexity 40100 exceeds"},
		{"two audit pages of 1000 rows", `{viewer{organization{` +
			repeated(2, func(i int) string {
				return fmt.Sprintf("a%d:auditLogList(limit:1000){id createdAt actorEmail action category resourceType resourceID details ipAddress userAgent status}", i)
			}) + `}}}`,
			"COMPLEXITY_LIMIT_EXCEEDED", "complexity 22004 exceeds"},
		{"nodes with 5,000 ids, through a variable", `query($ids:[ID!]!){nodes(ids:$ids){id ... on User{email name createdAt lastActiveAt}}}`,
			"COMPLEXITY_LIMIT_EXCEEDED", "complexity 25001 exceeds"},
	}
}

// hostileVariables are the variables of the hostile documents that have any.
func hostileVariables(name string) map[string]any {
	if strings.HasPrefix(name, "nodes with 5,000 ids") {
		ids := make([]any, 5000)
		for i := range ids {
			ids[i] = "00000000-0000-0000-0000-000000000000"
		}
		return map[string]any{"ids": ids}
	}
	return nil
}

func TestHostileDocumentsAreRefusedBeforeTheyCostTime(t *testing.T) {
	s := apptest.Start(t)
	for _, d := range hostileDocuments() {
		t.Run(d.name, func(t *testing.T) {
			r := s.Do(t, "", d.query, hostileVariables(d.name))
			require.NotEmpty(t, r.Errors)
			assert.Equal(t, "BAD_USER_INPUT", r.Code())
			assert.Equal(t, d.reason, r.Errors[0].Extensions["reason"])
			assert.Contains(t, r.Errors[0].Message, d.message)
			assert.Len(t, r.Errors, 1, "one clear error, not one per selection")
			assert.Nil(t, r.Get("viewer"))
		})
	}
}

// legitimateDocuments are what real clients send.
func legitimateDocuments() map[string]string {
	docs := map[string]string{"GraphiQL's schema query": fullIntrospection}
	for page, q := range settingsPages {
		docs["the dashboard's "+page+" page"] = q
	}
	return docs
}

func TestLegitimateDocumentsPassTheLimitsWithAWideMargin(t *testing.T) {
	// A quarter of the default token and field limits is enough for every one of them.
	def := app.DefaultConfig()
	s := apptest.Start(t, func(c *app.Config, _ *app.Options) {
		c.MaxQueryTokens = def.MaxQueryTokens / 4
		c.MaxQueryFields = def.MaxQueryFields / 4
	})
	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	for name, q := range legitimateDocuments() {
		t.Run(name, func(t *testing.T) {
			require.Empty(t, s.Do(t, tok.Access, q, nil).Errors)
		})
	}
	// Every REST call sends the REST layer's whole document, every operation in it; the audit
	// log's largest page (1000 rows) fits the default complexity limit. That document grows with
	// every route (1,718 tokens and 561 selections once single sign-on joined): two fifths of
	// the token limit and a third of the selection limit, not a quarter, are its margins.
	s = apptest.Start(t, func(c *app.Config, _ *app.Options) {
		c.MaxQueryTokens = def.MaxQueryTokens * 2 / 5
		c.MaxQueryFields = def.MaxQueryFields / 3
	})
	tok = s.Login(t, apptest.RootEmail, apptest.RootPassword)
	for _, path := range []string{"/auth/me", "/admin/users?limit=100", "/admin/roles", "/management/invitations", "/audit/logs?limit=1000"} {
		t.Run("REST "+path, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+tok.Access)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		})
	}
}

// worstPassingDocuments are the most expensive documents the limits before validation let
// through, by shape, at the default limits (5,000 tokens, 2,000 selections, 20 selections of
// one response name, 30 fragments under one): validation runs on them, and some of them are
// refused by it or by the limits after it.
func worstPassingDocuments() []hostileDocument {
	fragments := func(on string, n int) string {
		return repeated(n, func(i int) string { return fmt.Sprintf("fragment F%d on %s{e%d:__typename}", i, on, i) })
	}
	spreads := repeated(30, func(i int) string { return fmt.Sprintf("...F%d", i) })
	args := "(" + repeated(830, func(i int) string { return fmt.Sprintf("x%d:1", i) }) + ")"
	return []hostileDocument{
		{name: "GraphiQL's schema query", query: fullIntrospection},
		{name: "199 fields, 20 of each response name, each with 3 more", query: `{` + repeated(199, func(i int) string {
			return fmt.Sprintf("v%d:viewer{o:organization{name id} u:user{email id} r:role{name}}", i/20)
		}) + `}`},
		{name: "832 fields, 20 of each response name", query: `{viewer{` + repeated(832, func(i int) string { return fmt.Sprintf("a%d:user{email}", i/20) }) + `}}`},
		{name: "30 fragments spread in each of 32 selections", query: `{viewer{` + repeated(32, func(i int) string {
			return fmt.Sprintf("u%d:user{%s}", i, spreads)
		}) + `}} ` + fragments("User", 30)},
		{name: "a chain of 30 fragments", query: `{viewer{...F0}} ` + repeated(29, func(i int) string {
			return fmt.Sprintf("fragment F%d on Viewer{a%d:user{email} ...F%d}", i, i, i+1)
		}) + `fragment F29 on Viewer{__typename}`},
		{name: "1,999 unknown fields", query: `{` + repeated(1999, func(i int) string { return fmt.Sprintf("f%d", i) }) + `}`,
			reason: "GRAPHQL_VALIDATION_FAILED"},
		{name: "two fields of 830 arguments", query: `{a:viewer` + args + `{__typename} a:viewer` + args + `{__typename}}`,
			reason: "GRAPHQL_VALIDATION_FAILED"},
		{name: "384 __schema aliases", query: `{` + repeated(384, func(i int) string { return fmt.Sprintf("s%d:__schema{types{name fields{name}}}", i) }) + `}`,
			reason: "INTROSPECTION_LIMIT_EXCEEDED"},
		{name: "293 aliases of members(first:100)", query: `{viewer{organization{` +
			repeated(293, func(i int) string { return fmt.Sprintf("m%d:members(first:100){edges{node{id}}}", i) }) + `}}}`,
			reason: "COMPLEXITY_LIMIT_EXCEEDED"},
	}
}

func TestTheWorstDocumentsThatPassTheLimitsAreValidated(t *testing.T) {
	s := apptest.Start(t)
	for _, d := range worstPassingDocuments() {
		t.Run(d.name, func(t *testing.T) {
			r := s.Do(t, "", d.query, nil)
			if d.reason == "" {
				require.Empty(t, r.Errors)
				return
			}
			require.NotEmpty(t, r.Errors)
			assert.Equal(t, "BAD_USER_INPUT", r.Code())
			assert.Equal(t, d.reason, r.Errors[0].Extensions["reason"])
		})
	}
}

// BenchmarkHostileDocuments reports, per shape, the time the server spends on a document before
// refusing it (refused/...), and on the worst documents that pass the limits before validation
// (validated/...): parsing, the limits, validation and the cost, everything but execution. A
// comment numbers each request, so no document comes from the query cache.
func BenchmarkHostileDocuments(b *testing.B) {
	s := apptest.Start(b)
	exec := graph.NewServer(s.App.Service()).Executor()
	run := func(b *testing.B, d hostileDocument) {
		query, vars := d.query, hostileVariables(d.name)
		reason := func(n int) string {
			ctx := graphql.StartOperationTrace(context.Background())
			_, errs := exec.CreateOperationContext(ctx, &graphql.RawParams{Query: query + "\n#" + strconv.Itoa(n), Variables: vars})
			if len(errs) == 0 {
				return ""
			}
			code, _ := errs[0].Extensions["code"].(string)
			return code
		}
		if got := reason(-1); got != d.reason {
			b.Fatalf("refused with %q, want %q", got, d.reason)
		}
		n := 0
		for b.Loop() {
			n++
			reason(n)
		}
		b.ReportMetric(float64(len(query)), "bytes")
	}
	for _, d := range hostileDocuments() {
		b.Run("refused/"+d.name, func(b *testing.B) { run(b, d) })
	}
	for _, d := range worstPassingDocuments() {
		b.Run("validated/"+d.name, func(b *testing.B) { run(b, d) })
	}
}
