package graph

import (
	"context"

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
	return s.db(ctx).Organization.Query().Paginate(ctx, after, first, before, last,
		ent.WithOrganizationOrder(orderBy), ent.WithOrganizationFilter(where.Filter))
}
