package graph

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Introspection is limited by count rather than weighed: one schema and a few types per
// operation, aliases and fragments included. (Weighing __Schema's unpaged lists as full pages
// would refuse GraphiQL's own schema query.)
const (
	maxSchemaFields = 1
	maxTypeFields   = 10
)

// pageArguments are the arguments that bound how many items a list or connection returns.
var pageArguments = []string{"first", "last", "limit"}

// costLimit refuses operations that could answer with more than max values, and operations
// with more introspection than maxSchemaFields and maxTypeFields allow. The cost is computed
// from the schema alone, so a new list field is weighed without anyone remembering to:
//
//   - every field counts 1 (__typename too);
//   - a field returning a list, or a connection (a type named ...Connection), multiplies the
//     cost of its selections by its page size: its first, last or limit argument, else that
//     argument's default, else maxPage; ids: the number of ids; a list without paging
//     arguments, maxPage. A connection's edges do not multiply again;
//   - aliases and fragments count each time they appear, inline fragments on different types
//     are added up, and __schema and __type count 1 (they are limited by count instead).
type costLimit struct{ max, maxPage int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = costLimit{}

func (costLimit) ExtensionName() string                   { return "CostLimit" }
func (costLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (c costLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	w := costWalker{vars: oc.Variables, maxPage: c.maxPage,
		fragments: map[string]*ast.FragmentDefinition{}, memo: map[string]weight{}}
	for _, f := range oc.Doc.Fragments {
		if _, ok := w.fragments[f.Name]; !ok {
			w.fragments[f.Name] = f
		}
	}
	wt := w.set(oc.Operation.SelectionSet)
	if wt.schemas > maxSchemaFields || wt.types > maxTypeFields {
		return refusal(ReasonIntrospection,
			"Too much introspection: an operation may select __schema at most %d time and __type at most %d times, aliases included",
			maxSchemaFields, maxTypeFields)
	}
	if c.max > 0 && wt.cost > c.max {
		return refusal(ReasonComplexity,
			"Query complexity %s exceeds the limit of %d (every field counts 1; lists and connections multiply their selections by their page size)",
			countText(wt.cost), c.max)
	}
	return nil
}

// weight is the cost of a selection and the introspection fields in it.
type weight struct{ cost, schemas, types int }

func (w weight) plus(o weight) weight {
	return weight{addCapped(w.cost, o.cost), addCapped(w.schemas, o.schemas), addCapped(w.types, o.types)}
}

// costWalker computes the weight of one operation.
type costWalker struct {
	vars      map[string]any
	maxPage   int
	fragments map[string]*ast.FragmentDefinition
	// memo holds the weight of each fragment: it does not depend on where it is spread.
	memo map[string]weight
}

func (w *costWalker) set(set ast.SelectionSet) weight {
	var total weight
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			total = total.plus(w.field(s))
		case *ast.InlineFragment:
			total = total.plus(w.set(s.SelectionSet))
		case *ast.FragmentSpread:
			total = total.plus(w.fragment(s.Name))
		}
	}
	return total
}

func (w *costWalker) fragment(name string) weight {
	if wt, ok := w.memo[name]; ok {
		return wt
	}
	var wt weight
	if f := w.fragments[name]; f != nil {
		wt = w.set(f.SelectionSet)
	}
	w.memo[name] = wt
	return wt
}

func (w *costWalker) field(f *ast.Field) weight {
	switch f.Name {
	case "__schema":
		return weight{cost: 1, schemas: 1}
	case "__type":
		return weight{cost: 1, types: 1}
	}
	inner := w.set(f.SelectionSet)
	inner.cost = addCapped(1, mulCapped(w.multiplier(f), inner.cost))
	return inner
}

// multiplier returns how many times the selections of f can appear in the response.
func (w *costWalker) multiplier(f *ast.Field) int {
	def := f.Definition
	if def == nil {
		return 1
	}
	list := def.Type.Elem != nil
	connection := !list && strings.HasSuffix(def.Type.NamedType, "Connection")
	switch {
	case !list && !connection:
		return 1
	case list && f.ObjectDefinition != nil && strings.HasSuffix(f.ObjectDefinition.Name, "Connection"):
		return 1 // a connection's edges: the connection has multiplied already
	}
	return w.pageSize(f)
}

// pageSize returns the most items f can return, from its arguments.
func (w *costWalker) pageSize(f *ast.Field) int {
	if def := f.Definition.Arguments.ForName("ids"); def != nil {
		switch ids := w.argument(f, def).(type) {
		case []any:
			return len(ids)
		case nil:
			return 0
		default:
			return 1
		}
	}
	page, given := 0, false
	for _, name := range pageArguments {
		def := f.Definition.Arguments.ForName(name)
		if def == nil {
			continue
		}
		if n, ok := toInt(w.argument(f, def)); ok {
			page, given = max(page, n), true
		}
	}
	if !given {
		return w.maxPage
	}
	return min(max(page, 0), countCap)
}

// argument returns the value of the argument def of f: given, from a variable, or its default.
func (w *costWalker) argument(f *ast.Field, def *ast.ArgumentDefinition) any {
	if arg := f.Arguments.ForName(def.Name); arg != nil {
		if v, err := arg.Value.Value(w.vars); err == nil && v != nil {
			return v
		}
	}
	if def.DefaultValue != nil {
		if v, err := def.DefaultValue.Value(nil); err == nil {
			return v
		}
	}
	return nil
}

// toInt reads an Int argument, whichever Go type coercion gave it.
func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int32:
		return int(n), true
	case int64:
		return int(min(max(n, -countCap), countCap)), true
	case float64:
		return int(min(max(n, -countCap), countCap)), true
	case json.Number:
		return toInt(string(n))
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return 0, false
		}
		return toInt(i)
	}
	return 0, false
}

// countText writes a saturated count as "more than ...".
func countText(n int) string {
	if n >= countCap {
		return "more than " + strconv.Itoa(countCap-1)
	}
	return strconv.Itoa(n)
}

// countCap is where counts and costs saturate: far above any limit, far below overflow.
const countCap = math.MaxInt32 / 2

func addCapped(a, b int) int { return min(a+b, countCap) }

func mulCapped(a, b int) int {
	if a != 0 && b > countCap/a {
		return countCap
	}
	return min(a*b, countCap)
}
