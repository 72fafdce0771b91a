// Package schemacheck keeps the GraphQL schema compatible for its clients. The schema as served
// (schema.graphqls and entgql's graph/ent.graphqls, merged) is printed to schema.graphql, a
// committed snapshot; the tests compare the live schema with it and classify every difference:
// additions pass, breaking changes (a type, field, argument, input field, enum value, union
// member or interface removed, a field or argument retyped, a nullable input made non-null, a
// required argument or input field added) need an entry in CHANGELOG.md that names each of them,
// and a removal needs the element to have been deprecated (@deprecated(reason:)) first.
//
//	go test ./graph/schemacheck             fails when the live schema differs from the snapshot
//	go test ./graph/schemacheck -update     rewrites the snapshot, unless a breaking change is
//	                                        not named in CHANGELOG.md's newest entry
package schemacheck

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
)

// Change is one difference between two versions of a schema.
type Change struct {
	// Path names the changed element: "Type", "Type.field", "Type.field(arg:)", "Enum.VALUE".
	Path string
	// Message says what changed.
	Message string
	// Breaking: a client that worked with the old schema may fail with the new one.
	Breaking bool
	// Undeprecated: a removal of an element the old schema did not mark @deprecated.
	Undeprecated bool
}

func (c Change) String() string {
	kind := "addition"
	if c.Breaking {
		kind = "BREAKING"
	}
	s := fmt.Sprintf("%s: %s %s", kind, c.Path, c.Message)
	if c.Undeprecated {
		s += " (it was not deprecated first: mark it @deprecated(reason: ...) in a release before removing it)"
	}
	return s
}

// Print is the schema as SDL, as `server schema` prints it: directives, then types, by name.
func Print(s *ast.Schema) string {
	var b bytes.Buffer
	formatter.NewFormatter(&b, formatter.WithIndent("  ")).FormatSchema(s)
	return b.String()
}

// Compare lists the differences from old to new, breaking or not, sorted by path.
func Compare(old, new *ast.Schema) []Change {
	c := &comparison{}
	for _, name := range slices.Sorted(maps.Keys(old.Types)) {
		o := old.Types[name]
		if o.BuiltIn {
			continue
		}
		n := new.Types[name]
		switch {
		case n == nil:
			c.removed(name, "type removed", true)
		case n.Kind != o.Kind:
			c.breaking(name, fmt.Sprintf("changed from %s to %s", strings.ToLower(string(o.Kind)), strings.ToLower(string(n.Kind))))
		default:
			c.definition(o, n)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(new.Types)) {
		if old.Types[name] == nil && !new.Types[name].BuiltIn {
			c.add(name, "type added")
		}
	}
	slices.SortStableFunc(c.changes, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	return c.changes
}

// Breaking returns the breaking changes of changes.
func Breaking(changes []Change) []Change {
	var out []Change
	for _, ch := range changes {
		if ch.Breaking {
			out = append(out, ch)
		}
	}
	return out
}

type comparison struct{ changes []Change }

func (c *comparison) add(path, msg string) {
	c.changes = append(c.changes, Change{Path: path, Message: msg})
}
func (c *comparison) breaking(path, msg string) {
	c.changes = append(c.changes, Change{Path: path, Message: msg, Breaking: true})
}
func (c *comparison) removed(path, msg string, deprecated bool) {
	c.changes = append(c.changes, Change{Path: path, Message: msg, Breaking: true, Undeprecated: !deprecated})
}

// definition compares two definitions of one name and kind.
func (c *comparison) definition(o, n *ast.Definition) {
	switch o.Kind {
	case ast.Object, ast.Interface:
		c.outputFields(o, n)
		c.members(o.Name, "interface", o.Interfaces, n.Interfaces)
	case ast.InputObject:
		c.inputFields(o, n)
	case ast.Enum:
		for _, v := range o.EnumValues {
			if n.EnumValues.ForName(v.Name) == nil {
				c.removed(o.Name+"."+v.Name, "enum value removed", isDeprecated(v.Directives))
			}
		}
		for _, v := range n.EnumValues {
			if o.EnumValues.ForName(v.Name) == nil {
				c.add(o.Name+"."+v.Name, "enum value added")
			}
		}
	case ast.Union:
		c.members(o.Name, "member type", o.Types, n.Types)
	}
}

// members compares the interfaces an object implements or the types of a union.
func (c *comparison) members(path, what string, old, new []string) {
	for _, m := range old {
		if !slices.Contains(new, m) {
			c.breaking(path, fmt.Sprintf("%s %s removed", what, m))
		}
	}
	for _, m := range new {
		if !slices.Contains(old, m) {
			c.add(path, fmt.Sprintf("%s %s added", what, m))
		}
	}
}

func (c *comparison) outputFields(o, n *ast.Definition) {
	for _, of := range o.Fields {
		if strings.HasPrefix(of.Name, "__") {
			continue
		}
		path := o.Name + "." + of.Name
		nf := n.Fields.ForName(of.Name)
		if nf == nil {
			c.removed(path, "field removed", isDeprecated(of.Directives))
			continue
		}
		if !outputCompatible(of.Type, nf.Type) {
			c.breaking(path, fmt.Sprintf("type changed from %s to %s", of.Type, nf.Type))
		} else if of.Type.String() != nf.Type.String() {
			c.add(path, fmt.Sprintf("type narrowed from %s to %s", of.Type, nf.Type))
		}
		c.arguments(path, of.Arguments, nf.Arguments)
	}
	for _, nf := range n.Fields {
		if o.Fields.ForName(nf.Name) == nil && !strings.HasPrefix(nf.Name, "__") {
			c.add(o.Name+"."+nf.Name, "field added")
		}
	}
}

func (c *comparison) arguments(field string, old, new ast.ArgumentDefinitionList) {
	for _, oa := range old {
		path := field + "(" + oa.Name + ":)"
		na := new.ForName(oa.Name)
		if na == nil {
			c.removed(path, "argument removed", isDeprecated(oa.Directives))
			continue
		}
		c.input(path, oa.Type, na.Type, oa.DefaultValue, na.DefaultValue)
	}
	for _, na := range new {
		if old.ForName(na.Name) == nil {
			c.addedInput(field+"("+na.Name+":)", "argument", na.Type, na.DefaultValue)
		}
	}
}

func (c *comparison) inputFields(o, n *ast.Definition) {
	for _, of := range o.Fields {
		path := o.Name + "." + of.Name
		nf := n.Fields.ForName(of.Name)
		if nf == nil {
			c.removed(path, "input field removed", isDeprecated(of.Directives))
			continue
		}
		c.input(path, of.Type, nf.Type, of.DefaultValue, nf.DefaultValue)
	}
	for _, nf := range n.Fields {
		if o.Fields.ForName(nf.Name) == nil {
			c.addedInput(o.Name+"."+nf.Name, "input field", nf.Type, nf.DefaultValue)
		}
	}
}

// input compares an argument or input field that both versions have.
func (c *comparison) input(path string, old, new *ast.Type, oldDefault, newDefault *ast.Value) {
	switch {
	case !inputCompatible(old, new):
		c.breaking(path, fmt.Sprintf("type changed from %s to %s", old, new))
	case old.String() != new.String():
		c.add(path, fmt.Sprintf("type widened from %s to %s", old, new))
	}
	if valueText(oldDefault) != valueText(newDefault) {
		// Clients that leave it out now get another value: worth reading, not refusing.
		c.add(path, fmt.Sprintf("default changed from %s to %s", valueText(oldDefault), valueText(newDefault)))
	}
}

// addedInput is a new argument or input field: breaking when a client must now send it.
func (c *comparison) addedInput(path, what string, t *ast.Type, def *ast.Value) {
	if t.NonNull && def == nil {
		c.breaking(path, fmt.Sprintf("required %s added (%s without a default)", what, t))
		return
	}
	c.add(path, what+" added")
}

// outputCompatible reports whether what a client read as old it can read as new: the same
// type, or one that is non-null where old was nullable.
func outputCompatible(old, new *ast.Type) bool {
	if new.NonNull && !old.NonNull {
		nullable := *new
		nullable.NonNull = false
		return outputCompatible(old, &nullable)
	}
	if old.NonNull != new.NonNull || (old.Elem == nil) != (new.Elem == nil) {
		return false
	}
	if old.Elem != nil {
		return outputCompatible(old.Elem, new.Elem)
	}
	return old.NamedType == new.NamedType
}

// inputCompatible reports whether what a client sent as old it can send as new: the same type,
// or one that is nullable where old was non-null.
func inputCompatible(old, new *ast.Type) bool {
	if old.NonNull && !new.NonNull {
		nullable := *old
		nullable.NonNull = false
		return inputCompatible(&nullable, new)
	}
	if old.NonNull != new.NonNull || (old.Elem == nil) != (new.Elem == nil) {
		return false
	}
	if old.Elem != nil {
		return inputCompatible(old.Elem, new.Elem)
	}
	return old.NamedType == new.NamedType
}

func isDeprecated(d ast.DirectiveList) bool { return d.ForName("deprecated") != nil }

func valueText(v *ast.Value) string {
	if v == nil {
		return "none"
	}
	return v.String()
}

// Accept decides whether changes may become the new snapshot: every breaking change must be
// named, as `Path` in backquotes, in the newest entry of changelog (its first "## " section),
// and nothing may be removed that the old schema had not deprecated. The error lists every
// change that stands in the way and says what to do.
func Accept(changes []Change, changelog string) error {
	entry := newestEntry(changelog)
	var problems []string
	for _, ch := range changes {
		switch {
		case ch.Undeprecated:
			problems = append(problems, ch.String())
		case ch.Breaking && !strings.Contains(entry, "`"+ch.Path+"`"):
			problems = append(problems, ch.String()+": not named in CHANGELOG.md's newest entry (write `"+ch.Path+"` there)")
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("the schema change is breaking and not accounted for:\n  %s\n"+
		"Clients built against the snapshot may fail. Deprecate before removing (@deprecated(reason: ...)), "+
		"and add an entry (\"## <date>: <summary>\") at the top of graph/schemacheck/CHANGELOG.md naming each breaking change",
		strings.Join(problems, "\n  "))
}

// EntryStamp names the newest entry of a changelog by its heading and the SHA-256 of its text,
// for the snapshot's header: a snapshot written with -update records the entry that accounted
// for it, so a snapshot committed without its changelog entry fails the check.
func EntryStamp(changelog string) string {
	entry := newestEntry(changelog)
	if entry == "" {
		return "none"
	}
	heading, _, _ := strings.Cut(entry, "\n")
	sum := sha256.Sum256([]byte(strings.TrimSpace(entry)))
	return fmt.Sprintf("%s (sha256 %x)", strings.TrimSpace(strings.TrimPrefix(heading, "## ")), sum[:6])
}

// newestEntry is the first "## " section of a changelog, heading included; headings inside
// fenced code blocks (an example entry) do not count.
func newestEntry(changelog string) string {
	var entry []string
	fenced := false
	for line := range strings.Lines(changelog) {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if !fenced && strings.HasPrefix(line, "## ") {
			if entry != nil {
				break
			}
			entry = []string{}
		}
		if entry != nil {
			entry = append(entry, line)
		}
	}
	return strings.Join(entry, "")
}

// DeprecatedUses lists what doc, validated against the schema, uses that is deprecated: fields
// and arguments, and input fields and enum values written in arguments ("Type.field (reason)").
func DeprecatedUses(doc *ast.QueryDocument) []string {
	seen := map[string]bool{}
	var out []string
	note := func(path string, d ast.DirectiveList) {
		dep := d.ForName("deprecated")
		if dep == nil || seen[path] {
			return
		}
		seen[path] = true
		reason := "No longer supported" // the default of @deprecated
		if a := dep.Arguments.ForName("reason"); a != nil && a.Value != nil {
			reason = a.Value.Raw
		}
		out = append(out, fmt.Sprintf("%s (%s)", path, reason))
	}
	// value notes deprecated input fields and enum values written in an argument.
	var value func(v *ast.Value)
	value = func(v *ast.Value) {
		if v == nil || v.Definition == nil {
			return
		}
		switch v.Kind {
		case ast.EnumValue:
			if ev := v.Definition.EnumValues.ForName(v.Raw); ev != nil {
				note(v.Definition.Name+"."+v.Raw, ev.Directives)
			}
		case ast.ObjectValue:
			for _, c := range v.Children {
				if f := v.Definition.Fields.ForName(c.Name); f != nil {
					note(v.Definition.Name+"."+c.Name, f.Directives)
				}
				value(c.Value)
			}
		case ast.ListValue:
			for _, c := range v.Children {
				value(c.Value)
			}
		}
	}
	var walk func(set ast.SelectionSet)
	walk = func(set ast.SelectionSet) {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				if s.Definition != nil && s.ObjectDefinition != nil {
					path := s.ObjectDefinition.Name + "." + s.Name
					note(path, s.Definition.Directives)
					for _, a := range s.Arguments {
						if ad := s.Definition.Arguments.ForName(a.Name); ad != nil {
							note(path+"("+a.Name+":)", ad.Directives)
						}
						value(a.Value)
					}
				}
				walk(s.SelectionSet)
			case *ast.InlineFragment:
				walk(s.SelectionSet)
			}
		}
	}
	for _, op := range doc.Operations {
		walk(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		walk(f.SelectionSet)
	}
	slices.Sort(out)
	return out
}
