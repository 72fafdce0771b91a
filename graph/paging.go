package graph

import (
	"context"
	"slices"
	"time"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/membership"
)

// Paging rules shared by every list: page sizes, cursors and offsets.

// defaultPage applies the default page size when neither first nor last is given.
func (s *Service) defaultPage(first, last *int) (*int, error) {
	if err := s.checkPage(first, last); err != nil {
		return nil, err
	}
	if first == nil && last == nil {
		n := 50
		return &n, nil
	}
	return first, nil
}

// checkPage refuses page sizes outside 0..MaxPageSize.
func (s *Service) checkPage(first, last *int) error {
	for _, n := range []*int{first, last} {
		if n != nil && (*n < 0 || *n > s.MaxPageSize) {
			return Errorf(CodeBadUserInput, "first and last must be between 0 and %d", s.MaxPageSize)
		}
	}
	return nil
}

// checkCursors refuses cursors whose value does not fit the ordering they are used with: a
// cursor of another ordering, or a forged one, is bad input rather than a database error.
// text tells whether the ordering's column is text (else a time, or none for ID order).
func checkCursors(order string, cursors ...*entgql.Cursor[uuid.UUID]) error {
	for _, c := range cursors {
		if c == nil {
			continue
		}
		var ok bool
		switch order {
		case "text":
			_, ok = c.Value.(string)
		case "time":
			_, ok = c.Value.(time.Time)
		default:
			ok = c.Value == nil
		}
		if !ok {
			return Errorf(CodeBadUserInput, "Invalid cursor: it belongs to another ordering")
		}
	}
	return nil
}

// orderKind is the kind of value an ordering field's cursors carry.
func orderKind(field string) string {
	switch field {
	case "EMAIL", "NAME":
		return "text"
	case "":
		return "id"
	}
	return "time"
}

// checkOffset validates offset and limit.
func checkOffset(offset, limit *int, maxLimit int) (int, int, error) {
	o, l := ptr(offset), ptr(limit)
	if o < 0 || l < 1 || l > maxLimit {
		return 0, 0, Errorf(CodeBadUserInput, "offset must be at least 0 and limit between 1 and %d", maxLimit)
	}
	return o, l, nil
}

func orderByColumn(o *ent.MembershipOrder) string {
	// By name: a field read from a request is a copy of ent's, never the same pointer.
	switch o.Field.String() {
	case ent.MembershipOrderFieldJoinedAt.String():
		return membership.FieldJoinedAt
	case ent.MembershipOrderFieldLastActiveAt.String():
		return membership.FieldLastActiveAt
	}
	return membership.FieldEmail
}

// withoutTotals is ctx as a connection's resolver sees it, but for a selection without
// totalCount and pageInfo: entgql's Paginate counts the whole list for either, and the page info
// it builds from the page itself anyway. The caller fills in the total another way.
func withoutTotals(ctx context.Context) context.Context {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return ctx
	}
	trimmed := *fc
	trimmed.Field.Selections = slices.DeleteFunc(slices.Clone(fc.Field.Selections), func(s ast.Selection) bool {
		f, ok := s.(*ast.Field)
		return ok && (f.Name == "totalCount" || f.Name == "pageInfo")
	})
	return graphql.WithFieldContext(ctx, &trimmed)
}
