package graph

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/inferiallm/orgserver/ent"
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

// person is @person: the field is about a person, which an organization API key is not.
func person(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
	if auth.FromContext(ctx).IsAPIKey() {
		return nil, Errorf(CodeForbidden, "API keys cannot do this: it needs a person's sign-in")
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

// twoFactorExempt are the fields a member without 2FA can still reach in an organization that
// requires it: set 2FA up, sign out, and switch to another organization.
var twoFactorExempt = map[string]bool{
	"logout": true, "switchOrganization": true, "beginTwoFactorSetup": true, "confirmTwoFactorSetup": true,
}

// checkTwoFactor refuses the current field when the active organization requires 2FA, the viewer
// has none, and the field is not one of the exempt ones.
func checkTwoFactor(ctx context.Context, v *auth.Viewer) error {
	if !v.RequireTwoFactor || v.TwoFactorEnabled || v.IdPMFA {
		return nil
	}
	if fc := graphql.GetFieldContext(ctx); fc != nil && twoFactorExempt[fc.Field.Name] {
		return nil
	}
	return ErrTwoFactorRequired
}

// activeOrganization is @activeOrganization: the organization whose field this is must be the
// viewer's active one; its members, invitations, roles, sessions, policy and logs are visible only
// from a session scoped to it.
func activeOrganization(ctx context.Context, obj any, next graphql.Resolver) (any, error) {
	v, err := requireViewer(ctx)
	if err != nil {
		return nil, err
	}
	if org, ok := obj.(*ent.Organization); !ok || org.ID != v.OrgID {
		return nil, Errorf(CodeForbidden, "Switch to this organization to see its members, roles and logs")
	}
	return next(ctx)
}

// CheckPermissionNames refuses a schema whose @hasPermission names a permission the catalog does
// not have: a typo would otherwise be a silent deny. The server runs it when it starts.
func CheckPermissionNames(schema *ast.Schema) error {
	var unknown []string
	for _, t := range schema.Types {
		for _, f := range t.Fields {
			for _, d := range f.Directives.ForNames("hasPermission") {
				if arg := d.Arguments.ForName("permission"); arg != nil && !auth.IsPermission(arg.Value.Raw) {
					unknown = append(unknown, t.Name+"."+f.Name+": "+arg.Value.Raw)
				}
			}
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("schema names permissions missing from the catalog: %s", strings.Join(unknown, "; "))
	}
	return nil
}
