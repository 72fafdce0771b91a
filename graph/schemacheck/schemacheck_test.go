package schemacheck_test

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/inferiallm/orgserver/graph/documents"
	"github.com/inferiallm/orgserver/graph/generated"
	"github.com/inferiallm/orgserver/graph/schemacheck"
	"github.com/inferiallm/orgserver/rest"
)

var update = flag.Bool("update", false, "rewrite schema.graphql from the served schema; refused when a breaking change is not accounted for in CHANGELOG.md")

const (
	snapshotFile  = "schema.graphql"
	changelogFile = "CHANGELOG.md"
	// snapshotHeader opens the snapshot; the rest is the served schema as `server schema` prints it.
	snapshotHeader = "# The GraphQL schema as served (schema.graphqls and graph/ent.graphqls): the snapshot clients\n" +
		"# are checked against. Do not edit; `go test ./graph/schemacheck -update` rewrites it (see CHANGELOG.md).\n"
)

// live is the schema the server executes.
func live() *ast.Schema { return generated.NewExecutableSchema(generated.Config{}).Schema() }

// load parses a schema from SDL.
func load(t *testing.T, name, sdl string) *ast.Schema {
	t.Helper()
	s, err := gqlparser.LoadSchema(&ast.Source{Name: name, Input: sdl})
	require.NoError(t, err, "%s", name)
	return s
}

// snapshotText is the snapshot of schema written with changelog: the header, which records the
// changelog's newest entry, then the schema as `server schema` prints it.
func snapshotText(schema *ast.Schema, changelog string) string {
	return snapshotHeader + "# CHANGELOG.md's newest entry: " + schemacheck.EntryStamp(changelog) + "\n" + schemacheck.Print(schema)
}

// withoutHeader is a snapshot without its leading comment lines.
func withoutHeader(snapshot string) string {
	for strings.HasPrefix(snapshot, "#") {
		_, snapshot, _ = strings.Cut(snapshot, "\n")
	}
	return snapshot
}

// The served schema is the committed snapshot, written with the committed changelog. A change
// fails here until the snapshot is rewritten with -update, which refuses a breaking change that
// CHANGELOG.md's newest entry does not name, and a removal of something not deprecated first;
// the snapshot records that entry, so a snapshot committed without it fails too. A breaking
// change thus reaches CI only with its snapshot and its changelog entry in the same change.
func TestTheServedSchemaIsTheSnapshot(t *testing.T) {
	changelog, err := os.ReadFile(changelogFile)
	require.NoError(t, err)
	want := snapshotText(live(), string(changelog))
	raw, err := os.ReadFile(snapshotFile)
	if os.IsNotExist(err) && *update {
		require.NoError(t, os.WriteFile(snapshotFile, []byte(want), 0o644))
		t.Logf("wrote %s", snapshotFile)
		return
	}
	require.NoError(t, err)
	if string(raw) == want {
		return
	}
	changes := schemacheck.Compare(load(t, snapshotFile, string(raw)), live())
	var list strings.Builder
	for _, ch := range changes {
		list.WriteString("\n  " + ch.String())
	}
	sameSchema := withoutHeader(string(raw)) == schemacheck.Print(live())
	switch {
	case *update:
		require.NoError(t, schemacheck.Accept(changes, string(changelog)))
		require.NoError(t, os.WriteFile(snapshotFile, []byte(want), 0o644))
		t.Logf("rewrote %s:%s", snapshotFile, list.String())
	case sameSchema:
		t.Fatalf("graph/schemacheck/%s was written with another newest entry of %s than the one committed (now: %s).\n"+
			"Commit %s together with the snapshot; after editing the entry, run `go test ./graph/schemacheck -update`.",
			snapshotFile, changelogFile, schemacheck.EntryStamp(string(changelog)), changelogFile)
	default:
		if len(changes) == 0 {
			list.WriteString("\n  (descriptions, directives or order only)")
		}
		t.Fatalf("the served schema differs from graph/schemacheck/%s:%s\n\n"+
			"If this is intended, run `go test ./graph/schemacheck -update` and commit the snapshot: additions pass; "+
			"a breaking change must be named in a new entry at the top of graph/schemacheck/%s, committed with it.",
			snapshotFile, list.String(), changelogFile)
	}
}

// The snapshot records the changelog's newest entry: a new entry, or an edited one, changes
// the record, so a snapshot and a changelog from different changes do not match.
func TestTheSnapshotRecordsTheNewestChangelogEntry(t *testing.T) {
	s := load(t, "base", base)
	first := "# Changelog\n\n## 2027-01-10: first\n\n- `A.b`\n"
	second := "# Changelog\n\n## 2027-02-01: second\n\n- `C.d`\n\n## 2027-01-10: first\n\n- `A.b`\n"
	edited := strings.Replace(first, "`A.b`", "`A.c`", 1)
	assert.Equal(t, snapshotText(s, first), snapshotText(s, first+"\n"), "the same entry")
	assert.NotEqual(t, snapshotText(s, first), snapshotText(s, second), "a new entry")
	assert.NotEqual(t, snapshotText(s, first), snapshotText(s, edited), "an edited entry")
	assert.Contains(t, schemacheck.EntryStamp(second), "2027-02-01: second (sha256 ")
	assert.Equal(t, schemacheck.Print(s), withoutHeader(snapshotText(s, second)))
	example := "# Changelog\n\n```\n## 2099-01-01: an example\n```\n\n## 2027-01-10: first\n\n- `A.b`\n"
	assert.Contains(t, schemacheck.EntryStamp(example), "2027-01-10: first", "an example in a code block is not an entry")
	require.NoError(t, schemacheck.Accept([]schemacheck.Change{{Path: "A.b", Breaking: true}}, example))
}

// shippedDocuments are the documents the server ships: the REST layer's and the dashboard's.
func shippedDocuments(t *testing.T) map[string]string {
	t.Helper()
	restDoc, err := rest.LoadOperations()
	require.NoError(t, err)
	docs := map[string]string{"rest/operations": restDoc}
	for _, p := range documents.Dashboard() {
		docs[p.File] = p.Text
	}
	return docs
}

// The documents the server ships use nothing deprecated (field, argument, input field, enum
// value): what is deprecated is
// on its way out, and the server's own clients move off it first, in the change that
// deprecates it.
func TestShippedDocumentsUseNothingDeprecated(t *testing.T) {
	schema := live()
	for name, text := range shippedDocuments(t) {
		doc, err := parser.ParseQuery(&ast.Source{Name: name, Input: text})
		require.NoError(t, err)
		require.Empty(t, validator.ValidateWithRules(schema, doc, nil), name)
		assert.Empty(t, schemacheck.DeprecatedUses(doc), "%s uses deprecated fields or arguments", name)
	}
}

// DeprecatedUses finds deprecated fields, arguments, input fields and enum values, through
// fragments and lists.
func TestDeprecatedUsesFindsDeprecatedFieldsAndArguments(t *testing.T) {
	s := load(t, "deprecations", `type Query { a: String @deprecated(reason: "use b") b(old: Int @deprecated(reason: "gone"), new: Int): String c: T
  e(f: [F!]): String }
type T { d: String @deprecated }
input F { g: Int @deprecated(reason: "use h") h: Int k: K }
enum K { L M @deprecated(reason: "use L") }`)
	doc, errs := gqlparser.LoadQueryWithRules(s, `query { a b(old: 1) ...F e(f: [{h: 1}, {g: 2, k: M}]) } fragment F on Query { c { d } x: b(new: 2) }`, nil)
	require.Empty(t, errs)
	assert.Equal(t, []string{"F.g (use h)", "K.M (use L)", "Query.a (use b)", "Query.b(old:) (gone)", "T.d (No longer supported)"}, schemacheck.DeprecatedUses(doc))
}

// base is the schema the classifier's cases change.
const base = `
type Query {
  user(id: ID!, locale: String): User
  users(first: Int = 20): [User!]!
  legacy: String @deprecated(reason: "use users")
  search(term: String): [Result!]!
}
type Mutation { updateUser(input: UserInput!): User }
interface Node { id: ID! }
type User implements Node { id: ID! name: String role: Role! tags: [String!] }
type Team { id: ID! }
type Audit { id: ID! }
enum Role { ADMIN MEMBER GUEST @deprecated(reason: "use MEMBER") }
input UserInput { name: String! email: String nickname: String }
union Result = User | Team
`

// The classifier, change by change: what breaks a client that worked with the old schema, and
// what does not.
func TestTheClassifierTellsBreakingChangesFromAdditions(t *testing.T) {
	for _, c := range []struct {
		name         string
		from, to     string
		path         string
		breaking     bool
		undeprecated bool
	}{
		{"a removed field breaks, and was not deprecated", " name: String role", " role", "User.name", true, true},
		{"a removed deprecated field breaks, deprecated first", "  legacy: String @deprecated(reason: \"use users\")\n", "", "Query.legacy", true, false},
		{"a retyped field breaks", "name: String", "name: Int", "User.name", true, false},
		{"a non-null output made nullable breaks", "role: Role!", "role: Role", "User.role", true, false},
		{"a list made a single value breaks", "tags: [String!]", "tags: String", "User.tags", true, false},
		{"a nullable output made non-null passes", "name: String", "name: String!", "User.name", false, false},
		{"a removed type breaks (types cannot be deprecated; their fields can)", "type Audit { id: ID! }\n", "", "Audit", true, false},
		{"a type of another kind breaks", "type Audit { id: ID! }", "input Audit { id: ID! }", "Audit", true, false},
		{"a removed enum value breaks", "ADMIN MEMBER", "ADMIN", "Role.MEMBER", true, true},
		{"a removed deprecated enum value breaks, deprecated first", ` GUEST @deprecated(reason: "use MEMBER")`, "", "Role.GUEST", true, false},
		{"an added enum value passes", "ADMIN MEMBER", "ADMIN MEMBER OWNER", "Role.OWNER", false, false},
		{"a removed argument breaks", "user(id: ID!, locale: String)", "user(id: ID!)", "Query.user(locale:)", true, true},
		{"a retyped argument breaks", "locale: String)", "locale: Int)", "Query.user(locale:)", true, false},
		{"a nullable argument made non-null breaks", "locale: String)", "locale: String!)", "Query.user(locale:)", true, false},
		{"a non-null argument made nullable passes", "user(id: ID!", "user(id: ID", "Query.user(id:)", false, false},
		{"an added required argument breaks", "search(term: String)", "search(term: String, limit: Int!)", "Query.search(limit:)", true, false},
		{"an added optional argument passes", "search(term: String)", "search(term: String, limit: Int)", "Query.search(limit:)", false, false},
		{"an added argument with a default passes", "search(term: String)", "search(term: String, limit: Int! = 10)", "Query.search(limit:)", false, false},
		{"a changed default is reported, not refused", "first: Int = 20", "first: Int = 50", "Query.users(first:)", false, false},
		{"a nullable input field made non-null breaks", "email: String nickname", "email: String! nickname", "UserInput.email", true, false},
		{"a removed input field breaks", " nickname: String }", " }", "UserInput.nickname", true, true},
		{"an added required input field breaks", "nickname: String }", "nickname: String age: Int! }", "UserInput.age", true, false},
		{"an added optional input field passes", "nickname: String }", "nickname: String age: Int }", "UserInput.age", false, false},
		{"a removed union member breaks", "User | Team", "User", "Result", true, false},
		{"a removed interface breaks", "type User implements Node {", "type User {", "User", true, false},
		{"an added field passes", "tags: [String!] }", "tags: [String!] email: String }", "User.email", false, false},
		{"an added type passes", "type Team { id: ID! }", "type Team { id: ID! }\ntype Group { id: ID! }", "Group", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Contains(t, base, c.from)
			changes := schemacheck.Compare(load(t, "old", base), load(t, "new", strings.Replace(base, c.from, c.to, 1)))
			var found *schemacheck.Change
			for i := range changes {
				if changes[i].Path == c.path {
					found = &changes[i]
				}
			}
			require.NotNil(t, found, "no change at %s in %v", c.path, changes)
			assert.Equal(t, c.breaking, found.Breaking, "%s", found)
			assert.Equal(t, c.undeprecated, found.Undeprecated, "%s", found)
			if !c.breaking {
				assert.Empty(t, schemacheck.Breaking(changes), "%v", changes)
			}
		})
	}
	assert.Empty(t, schemacheck.Compare(load(t, "old", base), load(t, "new", base)), "the same schema has no changes")
}

// A deliberately broken copy of the snapshot: the check reports each break, and refuses to
// accept it until every removed element was deprecated first and the changelog names each one.
func TestABrokenCopyOfTheSnapshotIsRefused(t *testing.T) {
	raw, err := os.ReadFile(snapshotFile)
	require.NoError(t, err)
	snapshot := load(t, "snapshot", string(raw))
	broken := load(t, "broken", string(raw))

	// Organization.name removed, Viewer.permissions retyped, MemberFilter.search made
	// non-null, InvitationStatus.EXPIRED removed, Query.node(id:) made nullable (allowed).
	org := broken.Types["Organization"]
	org.Fields = removeField(org.Fields, "name")
	broken.Types["Viewer"].Fields.ForName("permissions").Type = ast.NamedType("String", nil)
	broken.Types["MemberFilter"].Fields.ForName("search").Type = ast.NonNullNamedType("String", nil)
	status := broken.Types["InvitationStatus"]
	var values ast.EnumValueList
	for _, v := range status.EnumValues {
		if v.Name != "EXPIRED" {
			values = append(values, v)
		}
	}
	status.EnumValues = values

	changes := schemacheck.Compare(snapshot, broken)
	var paths []string
	for _, ch := range schemacheck.Breaking(changes) {
		paths = append(paths, ch.Path)
	}
	assert.ElementsMatch(t, []string{"Organization.name", "Viewer.permissions", "MemberFilter.search", "InvitationStatus.EXPIRED"}, paths)

	err = schemacheck.Accept(changes, "# Changelog\n")
	require.Error(t, err)
	for _, p := range paths {
		assert.Contains(t, err.Error(), p)
	}
	assert.Contains(t, err.Error(), "it was not deprecated first")

	// Named in the newest entry, the retyping and the stricter input pass; the removals still
	// need their deprecation first. An older entry naming them does not count.
	named := "# Changelog\n\n## 2027-01-10: stricter filters\n\n- `Viewer.permissions` is a String\n- `MemberFilter.search` is required\n- `Organization.name` `InvitationStatus.EXPIRED`\n\n## 2026-01-01: older\n"
	err = schemacheck.Accept(changes, named)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "Viewer.permissions")
	assert.Contains(t, err.Error(), "Organization.name")
	old := "# Changelog\n\n## 2027-01-10: newer\n\n- nothing\n\n## 2026-01-01: older\n\n- `Viewer.permissions` `MemberFilter.search`\n"
	err = schemacheck.Accept(schemacheck.Breaking(changes)[1:2], old)
	require.Error(t, err, "only the newest entry counts")

	// Deprecated first, then removed and named: accepted.
	deprecated := load(t, "deprecated", string(raw))
	deprecated.Types["Organization"].Fields.ForName("name").Directives = ast.DirectiveList{{Name: "deprecated"}}
	changes = schemacheck.Compare(deprecated, broken)
	accepted := []schemacheck.Change{}
	for _, ch := range changes {
		if ch.Path != "InvitationStatus.EXPIRED" {
			accepted = append(accepted, ch)
		}
	}
	assert.NoError(t, schemacheck.Accept(accepted, named))
}

func removeField(fields ast.FieldList, name string) ast.FieldList {
	var out ast.FieldList
	for _, f := range fields {
		if f.Name != name {
			out = append(out, f)
		}
	}
	return out
}
