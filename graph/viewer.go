package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/apikey"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/role"
	"github.com/inferiallm/orgserver/ent/user"
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
	if v.IsAPIKey() {
		return s.db(ctx).Role.Query().Where(role.HasAPIKeysWith(apikey.ID(v.APIKeyID))).Only(ctx)
	}
	if e, ok := s.authCache.session(ctx, v.SessionID); ok {
		return s.roleOf(ctx, v.OrgID, e.roleID)
	}
	return s.db(ctx).Role.Query().Where(role.HasMembershipsWith(membership.ID(v.MembershipID))).Only(ctx)
}

// publicUserColumns are the columns of a user the API shows: never the password hash or the
// second factor's secrets.
var publicUserColumns = func() []string {
	var out []string
	for _, c := range user.Columns {
		switch c {
		case user.FieldPasswordHash, user.FieldTotpSecret, user.FieldTotpPendingSecret,
			user.FieldRecoveryCodeHashes, user.FieldTotpLastStep, user.FieldSecurityVersion:
		default:
			out = append(out, c)
		}
	}
	return out
}()

// viewerUser returns the viewer's account, without its secret columns: from the cache when it
// has it.
func (s *Service) viewerUser(ctx context.Context, v *auth.Viewer) (*ent.User, error) {
	if e, ok := s.authCache.session(ctx, v.SessionID); ok && e.user != nil {
		return e.user, nil
	}
	gen := s.authCache.generation(ctx)
	u, err := s.db(ctx).User.Query().Where(user.ID(v.UserID)).Select(publicUserColumns...).Only(ctx)
	if err != nil {
		return nil, err
	}
	s.authCache.updateIf(gen, v.SessionID, func(e *authEntry) { e.user = u })
	return u, nil
}

// viewerOrganization returns the viewer's active organization: from the cache when it has it.
func (s *Service) viewerOrganization(ctx context.Context, v *auth.Viewer) (*ent.Organization, error) {
	if o, ok := s.authCache.org(ctx, v.OrgID); ok {
		return o, nil
	}
	gen := s.authCache.generation(ctx)
	o, err := s.db(ctx).Organization.Get(ctx, v.OrgID)
	if err != nil {
		return nil, err
	}
	s.authCache.putOrg(gen, o)
	return o, nil
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
	if ms, ok := ctx.Value(loadedMembershipsKey{}).([]*ent.Membership); ok {
		return ms, nil
	}
	return s.db(ctx).Membership.Query().
		Where(membership.UserID(v.UserID)).
		WithOrganization().WithRole().
		Order(ent.Asc(membership.FieldJoinedAt), ent.Asc(membership.FieldID)).
		All(ctx)
}

// loadedMembershipsKey carries a sign-in's loaded memberships to its payload's memberships field.
type loadedMembershipsKey struct{}

// payloadViewerContext is part of the field middleware: the fields of a sign-in's payload
// resolve as the viewer the sign-in made, not as the request's caller (anonymous, or the
// session it came from).
func payloadViewerContext(ctx context.Context) context.Context {
	if fc := graphql.GetFieldContext(ctx); fc != nil && fc.Object == "AuthPayload" && fc.Parent != nil {
		if p, ok := fc.Parent.Result.(*model.AuthPayload); ok && p.Viewer != nil {
			ctx = auth.NewContext(ctx, p.Viewer)
			if p.Loaded != nil && fc.Field.Name == "memberships" {
				ctx = context.WithValue(ctx, loadedMembershipsKey{}, p.Loaded)
			}
		}
	}
	return ctx
}
