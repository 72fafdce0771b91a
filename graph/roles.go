package graph

import (
	"context"
	"strings"

	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/role"
	"github.com/inferiallm/orgserver/server/auth"
)

// builtInRoleNamespace derives the fixed IDs of the built-in roles, so that every replica and
// every start agrees on them without coordination.
var builtInRoleNamespace = uuid.MustParse("6f1c1e52-8d7a-4d0b-9a55-3f0c1a2b7e11")

// builtInRoleID returns the ID of the built-in role name.
func builtInRoleID(name string) uuid.UUID {
	return uuid.NewSHA1(builtInRoleNamespace, []byte("role:"+name))
}

// syncBuiltInRoles writes the built-in roles as this version of the server defines them.
// Concurrent starts are harmless: the rows have fixed IDs and the same content.
func syncBuiltInRoles(ctx context.Context, c *ent.Client) error {
	// Built-in roles belong to no organization; only the server writes them.
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	for _, r := range auth.BuiltInRoles() {
		id := builtInRoleID(r.Name)
		err := c.Role.UpdateOneID(id).SetDescription(r.Description).SetPermissions(r.Permissions).Exec(ctx)
		if ent.IsNotFound(err) {
			err = c.Role.Create().SetID(id).SetName(r.Name).SetDescription(r.Description).
				SetPermissions(r.Permissions).SetBuiltIn(true).Exec(ctx)
			if ent.IsConstraintError(err) {
				err = nil // another replica created it just now
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// findRole returns the role called name that the active organization can assign: a built-in
// role or one of its custom roles.
func (s *Service) findRole(ctx context.Context, name string) (*ent.Role, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	v := auth.FromContext(ctx)
	r, err := s.db(ctx).Role.Query().
		Where(role.Name(name), role.Or(role.OrganizationIDIsNil(), role.OrganizationID(v.OrgID))).
		Only(ctx)
	if ent.IsNotFound(err) {
		return nil, Errorf(CodeBadUserInput, "Role '%s' does not exist", name)
	}
	return r, err
}
