package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

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

// memberships returns the viewer's memberships in every organization, oldest first, with their
// organizations and roles.
func (s *Service) memberships(ctx context.Context) ([]*ent.Membership, error) {
	v := auth.FromContext(ctx)
	if v == nil {
		return nil, ErrUnauthenticated
	}
	return s.db(ctx).Membership.Query().
		Where(membership.UserID(v.UserID)).
		WithOrganization().WithRole().
		Order(ent.Asc(membership.FieldJoinedAt), ent.Asc(membership.FieldID)).
		All(ctx)
}

// payloadViewer is a field middleware: the fields of a sign-in's payload resolve as the viewer
// the sign-in made, not as the request's caller (anonymous, or the session it came from).
func payloadViewer(ctx context.Context, next graphql.Resolver) (any, error) {
	if fc := graphql.GetFieldContext(ctx); fc != nil && fc.Object == "AuthPayload" && fc.Parent != nil {
		if p, ok := fc.Parent.Result.(*model.AuthPayload); ok && p.Viewer != nil {
			ctx = auth.NewContext(ctx, p.Viewer)
		}
	}
	return next(ctx)
}
