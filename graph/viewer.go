package graph

import (
	"context"
	"time"

	"entgo.io/contrib/entgql"
	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/role"
	"github.com/inferiallm/orgserver/graph/model"
	"github.com/inferiallm/orgserver/server/auth"
)

// viewer returns the signed-in caller; null when the request carries no token, and
// UNAUTHENTICATED when it carries one that is not valid, so that clients know to refresh.
func (s *Service) viewer(ctx context.Context) (*model.Viewer, error) {
	v := auth.FromContext(ctx)
	if v == nil {
		if auth.ClientFromContext(ctx).AuthError != nil {
			_, err := requireViewer(ctx)
			return nil, err
		}
		return nil, nil
	}
	return &model.Viewer{Auth: v}, nil
}

// viewerRole returns the viewer's role in the active organization.
func (s *Service) viewerRole(ctx context.Context, v *auth.Viewer) (*ent.Role, error) {
	return s.db(ctx).Role.Query().Where(role.HasMembershipsWith(membership.ID(v.MembershipID))).Only(ctx)
}

// isCurrentSession reports whether sess is the session of the request's access token.
func isCurrentSession(ctx context.Context, sess *ent.Session) bool {
	v := auth.FromContext(ctx)
	return v != nil && v.SessionID == sess.ID
}

// permissionCatalog lists the catalog for the GraphQL API.
func permissionCatalog() []*model.PermissionInfo {
	out := make([]*model.PermissionInfo, len(auth.Catalog))
	for i, p := range auth.Catalog {
		out[i] = &model.PermissionInfo{Name: p.Name, Description: p.Description, Category: p.Category}
	}
	return out
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

// organizations lists every organization, for super admins.
func (s *Service) organizations(ctx context.Context, after *entgql.Cursor[uuid.UUID], first *int, before *entgql.Cursor[uuid.UUID], last *int, orderBy *ent.OrganizationOrder, where *ent.OrganizationWhereInput) (*ent.OrganizationConnection, error) {
	if err := s.checkPage(first, last); err != nil {
		return nil, err
	}
	if first == nil && last == nil {
		n := s.MaxPageSize
		first = &n
	}
	field := ""
	if orderBy != nil {
		field = orderBy.Field.String()
	}
	if err := checkCursors(orderKind(field), after, before); err != nil {
		return nil, err
	}
	return s.db(ctx).Organization.Query().Paginate(ctx, after, first, before, last,
		ent.WithOrganizationOrder(orderBy), ent.WithOrganizationFilter(where.Filter))
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
