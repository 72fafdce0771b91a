package graph

import (
	"context"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// Bounds on the shape of a document that GRAPHQL_MAX_FIELDS does not cover. gqlparser's
// OverlappingFieldsCanBeMerged rule compares pairwise the selections that share a response path
// (the same alias or name under the same parents, inline fragments and fragments written out),
// and pairwise the fragments spread where those selections are: a document that repeats either
// makes validation quadratic in its size. These bounds keep that work linear in the number of
// selections, so the worst document that passes validates in a few milliseconds (measured in
// BenchmarkHostileDocuments) while clients that merge fields from many fragments keep a wide
// margin.
const (
	// maxSameResponse is how many selections may share one response path.
	maxSameResponse = 20
	// maxFragmentsPerPath is how many fragment spreads and inline fragments the selection sets
	// on one response path may hold together.
	maxFragmentsPerPath = 30
)

// documentLimits refuses documents that would be slow to validate, before gqlgen validates
// them: gqlgen has no hook between parsing and validation, so this runs as the last operation
// parameter mutator (after APQ has filled in the query) and parses the document itself, with
// the same token limit as the executor. A document found in the executor's query cache was
// validated, so checked, before and is not looked at again.
type documentLimits struct {
	maxTokens, maxFields int
	validated            graphql.Cache[*ast.QueryDocument]
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = documentLimits{}

func (documentLimits) ExtensionName() string                   { return "DocumentLimits" }
func (documentLimits) Validate(graphql.ExecutableSchema) error { return nil }

func (d documentLimits) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if d.maxFields <= 0 {
		return nil
	}
	if _, ok := d.validated.Get(ctx, p.Query); ok {
		return nil
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: p.Query}, d.maxTokens)
	if err != nil {
		// The executor parses it again and reports the error in its own words.
		return nil
	}
	return checkDocument(doc, d.maxFields)
}

// checkDocument refuses a parsed, not yet validated, document that holds more than maxFields
// selections, more than maxSameResponse selections on one response path, or more than
// maxFragmentsPerPath fragments under one response path. Selections are fields, fragment
// spreads and inline fragments, counted in every operation and every fragment definition with
// the fragments they spread written out, as the validator walks them.
func checkDocument(doc *ast.QueryDocument, maxFields int) *gqlerror.Error {
	c := &docCheck{
		fragments: make(map[string]*ast.FragmentDefinition, len(doc.Fragments)),
		sizes:     make(map[*ast.FragmentDefinition]int, len(doc.Fragments)),
		open:      map[*ast.FragmentDefinition]bool{},
	}
	for _, f := range doc.Fragments {
		// The first of duplicate names is the one spreads use, as in the validator (which then
		// refuses the duplicate).
		if _, ok := c.fragments[f.Name]; !ok {
			c.fragments[f.Name] = f
		}
	}

	// First the total, memoised per fragment, so a fragment bomb costs its definitions, not
	// its expansion; only then the walks, whose work the total bounds.
	total := 0
	for _, op := range doc.Operations {
		n, err := c.size(op.SelectionSet)
		if err != nil {
			return err
		}
		total = addCapped(total, n)
	}
	for _, f := range doc.Fragments {
		n, err := c.size(f.SelectionSet)
		if err != nil {
			return err
		}
		total = addCapped(total, n)
	}
	if total > maxFields {
		return refusal(ReasonFields,
			"Query has too many selections: %s (fields, fragment spreads and inline fragments, fragments counted where they are spread); the limit is %d",
			countText(total), maxFields)
	}

	for _, op := range doc.Operations {
		if err := c.walkRoot(op.SelectionSet); err != nil {
			return err
		}
	}
	for _, f := range doc.Fragments {
		if err := c.walkRoot(f.SelectionSet); err != nil {
			return err
		}
	}
	return nil
}

// docCheck is the state of checkDocument.
type docCheck struct {
	fragments map[string]*ast.FragmentDefinition
	// sizes are the selections of each fragment with its own spreads written out.
	sizes map[*ast.FragmentDefinition]int
	// open are the fragments being sized: spreading one of them again is a cycle.
	open map[*ast.FragmentDefinition]bool

	// The response paths of the root being walked: index by parent and response name.
	paths map[pathKey]int
	nodes []pathNode
}

type pathKey struct {
	parent int
	name   string
}

// pathNode is one response path: how many selections it has, and how many fragment spreads and
// inline fragments their selection sets hold.
type pathNode struct {
	pathKey
	n, fragments int
}

// size returns the selections of set with fragment spreads written out, saturating instead of
// overflowing. A fragment that spreads itself is refused here, so the walks can expand
// fragments without looking for cycles.
func (c *docCheck) size(set ast.SelectionSet) (int, *gqlerror.Error) {
	n := 0
	for _, sel := range set {
		var inner int
		var err *gqlerror.Error
		switch s := sel.(type) {
		case *ast.Field:
			inner, err = c.size(s.SelectionSet)
		case *ast.InlineFragment:
			inner, err = c.size(s.SelectionSet)
		case *ast.FragmentSpread:
			inner, err = c.fragmentSize(s.Name)
		}
		if err != nil {
			return 0, err
		}
		n = addCapped(n, addCapped(1, inner))
	}
	return n, nil
}

func (c *docCheck) fragmentSize(name string) (int, *gqlerror.Error) {
	f := c.fragments[name]
	if f == nil {
		return 0, nil // unknown: the validator refuses it
	}
	if n, ok := c.sizes[f]; ok {
		return n, nil
	}
	if c.open[f] {
		err := gqlerror.Errorf("Cannot spread fragment %q within itself.", name)
		err.Extensions = map[string]any{"code": errcode.ValidationFailed}
		return 0, err
	}
	c.open[f] = true
	n, err := c.size(f.SelectionSet)
	delete(c.open, f)
	c.sizes[f] = n
	return n, err
}

// walkRoot walks an operation or a fragment definition with its fragments written out,
// counting the selections on each response path and the fragments under each.
func (c *docCheck) walkRoot(set ast.SelectionSet) *gqlerror.Error {
	c.paths = map[pathKey]int{}
	c.nodes = append(c.nodes[:0], pathNode{pathKey: pathKey{parent: -1}})
	return c.walkSet(set, 0)
}

// walkSet walks a selection set under the response path node parent (0: the root).
func (c *docCheck) walkSet(set ast.SelectionSet, parent int) *gqlerror.Error {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			name := s.Alias
			if name == "" {
				name = s.Name
			}
			key := pathKey{parent, name}
			i, ok := c.paths[key]
			if !ok {
				i = len(c.nodes)
				c.paths[key] = i
				c.nodes = append(c.nodes, pathNode{pathKey: key})
			}
			if c.nodes[i].n++; c.nodes[i].n > maxSameResponse {
				return refusal(ReasonFields,
					"%q is selected more than %d times (fragments included); at most %d selections may share one response name",
					c.pathOf(i), maxSameResponse, maxSameResponse)
			}
			if err := c.walkSet(s.SelectionSet, i); err != nil {
				return err
			}
		case *ast.InlineFragment:
			if err := c.countFragment(parent); err != nil {
				return err
			}
			if err := c.walkSet(s.SelectionSet, parent); err != nil {
				return err
			}
		case *ast.FragmentSpread:
			if err := c.countFragment(parent); err != nil {
				return err
			}
			if f := c.fragments[s.Name]; f != nil {
				if err := c.walkSet(f.SelectionSet, parent); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (c *docCheck) countFragment(node int) *gqlerror.Error {
	if c.nodes[node].fragments++; c.nodes[node].fragments > maxFragmentsPerPath {
		return refusal(ReasonFragments,
			"%s holds more than %d fragment spreads and inline fragments (fragments written out); at most %d are allowed",
			c.selectionOf(node), maxFragmentsPerPath, maxFragmentsPerPath)
	}
	return nil
}

// pathOf returns the response path of node i, e.g. "viewer.user".
func (c *docCheck) pathOf(i int) string {
	var names []string
	for ; i > 0; i = c.nodes[i].parent {
		names = append(names, c.nodes[i].name)
	}
	for l, r := 0, len(names)-1; l < r; l, r = l+1, r-1 {
		names[l], names[r] = names[r], names[l]
	}
	return strings.Join(names, ".")
}

// selectionOf names the selection of node i in a message.
func (c *docCheck) selectionOf(i int) string {
	if i == 0 {
		return "The operation"
	}
	return strconv.Quote(c.pathOf(i))
}
