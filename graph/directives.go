package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/inferiallm/orgserver/server/auth"
)

// The schema directives are the early gate: they refuse a field before its resolver runs. The
// wall behind them is ent privacy, which holds whatever path reaches the database.

// requireViewer returns the viewer, or UNAUTHENTICATED.
func requireViewer(ctx context.Context) (*auth.Viewer, error) {
	v := auth.FromContext(ctx)
	if v == nil {
		if err := auth.ClientFromContext(ctx).AuthError; err != nil {
			return nil, &Error{Code: CodeUnauthenticated, Message: "Invalid or expired token"}
		}
		return nil, ErrUnauthenticated
	}
	return v, nil
}

// requireMember returns the viewer, or UNAUTHENTICATED, or TWO_FACTOR_REQUIRED when the active
// organization requires 2FA the viewer lacks (except for the fields that set it up).
func requireMember(ctx context.Context) (*auth.Viewer, error) {
	v, err := requireViewer(ctx)
	if err != nil {
		return nil, err
	}
	return v, checkTwoFactor(ctx, v)
}

// authenticated is @authenticated: a signed-in viewer.
func authenticated(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
	if _, err := requireMember(ctx); err != nil {
		return nil, err
	}
	return next(ctx)
}

// hasPermission is @hasPermission(permission:): the viewer holds the permission in the active
// organization.
func hasPermission(ctx context.Context, _ any, next graphql.Resolver, permission string) (any, error) {
	v, err := requireMember(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Can(permission) {
		return nil, permissionDenied(permission)
	}
	return next(ctx)
}

// superAdmin is @superAdmin: the viewer is a super admin.
func superAdmin(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
	v, err := requireMember(ctx)
	if err != nil {
		return nil, err
	}
	if !v.SuperAdmin {
		return nil, Errorf(CodeForbidden, "Permission denied: super admin required")
	}
	return next(ctx)
}
