package graph

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/invitation"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/role"
	"github.com/inferiallm/orgserver/ent/schema/schematype"
	"github.com/inferiallm/orgserver/graph/model"
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
		err := c.Role.Create().SetID(builtInRoleID(r.Name)).SetName(r.Name).SetDescription(r.Description).
			SetPermissions(r.Permissions).SetBuiltIn(true).
			OnConflictColumns(role.FieldID).
			Update(func(u *ent.RoleUpsert) { u.UpdateDescription().UpdatePermissions() }).
			Exec(ctx)
		if err != nil {
			return err
		}
	}
	return nil
}

// findRole returns the role called name that the active organization can assign: a built-in
// role or one of its custom roles.
func (s *Service) findRole(ctx context.Context, v *auth.Viewer, name string) (*ent.Role, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	r, err := s.db(ctx).Role.Query().
		Where(role.Name(name), role.Or(role.OrganizationIDIsNil(), role.OrganizationID(v.OrgID))).
		Only(ctx)
	if ent.IsNotFound(err) {
		return nil, Errorf(CodeBadUserInput, "Role '%s' does not exist", name)
	}
	return r, err
}

// normalizePermissions validates a permission list against the catalog and the viewer's own
// permissions.
func normalizePermissions(v *auth.Viewer, perms []string) ([]string, error) {
	out, err := auth.NormalizePermissions(perms)
	if err != nil {
		return nil, &Error{Code: CodeBadUserInput, Message: err.Error()}
	}
	if err := checkCanGrant(v, out); err != nil {
		return nil, err
	}
	return out, nil
}

// roles lists the built-in roles and the active organization's custom roles.
func (s *Service) roles(ctx context.Context, obj *ent.Organization) ([]*ent.Role, error) {
	roles, err := s.orgRoles(ctx, obj.ID)
	if err != nil || !selects(ctx, "memberCount") || !auth.FromContext(ctx).Can(auth.MemberList) {
		return roles, err
	}
	// Count every listed role's members in one statement now, rather than leaving the batching
	// of the memberCount fields to timing.
	ids := make([]uuid.UUID, len(roles))
	for i, r := range roles {
		ids[i] = r.ID
	}
	counts, errs := s.memberCounts(ctx, ids)
	l := loadersFrom(ctx).memberCount
	for i, id := range ids {
		if errs[i] == nil {
			l.Prime(id, counts[i])
		}
	}
	return roles, nil
}

// selects reports whether the current field's selection asks for the named child field.
func selects(ctx context.Context, name string) bool {
	for _, f := range graphql.CollectFieldsCtx(ctx, nil) {
		if f.Name == name {
			return true
		}
	}
	return false
}

// createRole creates a custom role in the active organization.
func (s *Service) createRole(ctx context.Context, in model.CreateRoleInput) (*ent.Role, error) {
	v := auth.FromContext(ctx)
	name := strings.ToLower(strings.TrimSpace(in.Name))
	if err := schematype.RoleName(name); err != nil {
		return nil, err
	}
	if auth.IsBuiltInRole(name) {
		return nil, Errorf(CodeBadUserInput, "Role already exists")
	}
	perms, err := normalizePermissions(v, in.Permissions)
	if err != nil {
		return nil, err
	}
	db := s.db(ctx)
	exists, err := db.Role.Query().Where(role.OrganizationID(v.OrgID), role.Name(name)).Exist(ctx)
	if err != nil {
		return nil, err
	}
	if exists {
		return nil, Errorf(CodeBadUserInput, "Role already exists")
	}
	r, err := db.Role.Create().
		SetOrganizationID(v.OrgID).
		SetName(name).
		SetDescription(strings.TrimSpace(ptr(in.Description))).
		SetPermissions(perms).
		Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, Errorf(CodeBadUserInput, "Role already exists")
	}
	if err != nil {
		return nil, err
	}
	return r, s.audit(ctx, auditEntry{Action: "role.create", Category: categoryUserManagement, ResourceType: "role",
		ResourceID: r.ID.String(), Details: map[string]any{"name": name, "permissions": perms}})
}

// customRole finds a custom role of the active organization by name.
func (s *Service) customRole(ctx context.Context, v *auth.Viewer, name string, builtInMessage string) (*ent.Role, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if auth.IsBuiltInRole(name) {
		return nil, Errorf(CodeBadUserInput, "%s", builtInMessage)
	}
	r, err := s.db(ctx).Role.Query().Where(role.OrganizationID(v.OrgID), role.Name(name)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, Errorf(CodeNotFound, "Role not found")
	}
	return r, err
}

// updateRole changes a custom role's description or permissions. Members holding it get the
// new permissions on their next request; keys that would then hold more than their creator's
// role are revoked with it (revokeKeysBeyondCreators).
func (s *Service) updateRole(ctx context.Context, name string, in model.UpdateRoleInput) (*ent.Role, error) {
	v := auth.FromContext(ctx)
	r, err := s.customRole(ctx, v, name, "Built-in roles cannot be changed")
	if err != nil {
		return nil, err
	}
	// Changing a role is granting its permissions: you must hold what it has and what it gets.
	if err := checkCanGrant(v, r.Permissions); err != nil {
		return nil, err
	}
	upd := s.db(ctx).Role.UpdateOne(r)
	details := map[string]any{"name": r.Name}
	if in.Description != nil {
		upd.SetDescription(strings.TrimSpace(*in.Description))
		details["description"] = strings.TrimSpace(*in.Description)
	}
	if in.Permissions != nil {
		perms, err := normalizePermissions(v, in.Permissions)
		if err != nil {
			return nil, err
		}
		upd.SetPermissions(perms)
		details["old_permissions"], details["new_permissions"] = r.Permissions, perms
	}
	r, err = upd.Save(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.audit(ctx, auditEntry{Action: "role.update", Category: categoryUserManagement, ResourceType: "role",
		ResourceID: r.ID.String(), Details: details}); err != nil {
		return nil, err
	}
	if in.Permissions == nil {
		return r, nil
	}
	// Nobody keeps, through a key, permissions their role no longer gives them.
	return r, s.revokeKeysBeyondCreators(ctx, r)
}

// deleteRole deletes a custom role that no member holds and no pending invitation offers.
func (s *Service) deleteRole(ctx context.Context, name string) (bool, error) {
	v := auth.FromContext(ctx)
	r, err := s.customRole(ctx, v, name, "Cannot delete default system roles")
	if err != nil {
		return false, err
	}
	db := s.db(ctx)
	members, err := db.Membership.Query().Where(membership.RoleID(r.ID)).Count(ctx)
	if err != nil {
		return false, err
	}
	pending, err := db.Invitation.Query().Where(invitation.RoleID(r.ID), invitation.StatusEQ(invitation.StatusPENDING)).Count(ctx)
	if err != nil {
		return false, err
	}
	if members > 0 || pending > 0 {
		return false, Errorf(CodeConflict, "Role is in use by %d member(s) and %d pending invitation(s)", members, pending)
	}
	if keys, err := s.keysUsingRole(ctx, r.ID); err != nil {
		return false, err
	} else if keys > 0 {
		return false, Errorf(CodeConflict, "Role is in use by %d API key(s); revoke them first", keys)
	}
	if err := s.deleteRevokedKeysOfRole(ctx, r.ID); err != nil {
		return false, err
	}
	// Accepted and revoked invitations that offered the role are history; the audit log keeps it.
	if _, err := db.Invitation.Delete().Where(invitation.RoleID(r.ID)).Exec(ctx); err != nil {
		return false, err
	}
	if err := db.Role.DeleteOne(r).Exec(ctx); err != nil {
		return false, err
	}
	return true, s.audit(ctx, auditEntry{Action: "role.delete", Category: categoryUserManagement, ResourceType: "role",
		ResourceID: r.ID.String(), Details: map[string]any{"name": r.Name, "permissions": r.Permissions}})
}

// memberCounts counts the active organization's members holding each of the roles, in one
// statement; it is the batch function of the memberCount loader.
func (s *Service) memberCounts(ctx context.Context, roleIDs []uuid.UUID) ([]int, []error) {
	v := auth.FromContext(ctx)
	errs := make([]error, len(roleIDs))
	counts := make([]int, len(roleIDs))
	if v == nil {
		for i := range errs {
			errs[i] = ErrUnauthenticated
		}
		return counts, errs
	}
	var rows []struct {
		RoleID uuid.UUID `json:"role_id"`
		Count  int       `json:"count"`
	}
	err := s.db(ctx).Membership.Query().
		Where(membership.OrganizationID(v.OrgID), membership.RoleIDIn(roleIDs...)).
		GroupBy(membership.FieldRoleID).Aggregate(ent.Count()).Scan(ctx, &rows)
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return counts, errs
	}
	byRole := make(map[uuid.UUID]int, len(rows))
	for _, r := range rows {
		byRole[r.RoleID] = r.Count
	}
	for i, id := range roleIDs {
		counts[i] = byRole[id]
	}
	return counts, errs
}

// orgRoles returns the roles an organization can assign, built-in first, then its custom roles
// oldest first: from the cache when it has them.
func (s *Service) orgRoles(ctx context.Context, org uuid.UUID) ([]*ent.Role, error) {
	load := func() ([]*ent.Role, error) {
		if roles, ok := s.authCache.roles(ctx, org); ok {
			return roles, nil
		}
		gen := s.authCache.generation(ctx)
		roles, err := s.db(ctx).Role.Query().
			Where(role.Or(role.OrganizationIDIsNil(), role.OrganizationID(org))).
			Order(ent.Desc(role.FieldBuiltIn), ent.Asc(role.FieldCreatedAt), ent.Asc(role.FieldName)).
			All(ctx)
		if err == nil {
			s.authCache.putRoles(gen, org, roles)
		}
		return roles, err
	}
	if l := loadersFrom(ctx); l != nil {
		// Once per operation: a page's 50 members ask the cache (on SQLite, a look at the
		// database's change counter) once, not 50 times.
		return l.once(org, load)
	}
	return load()
}

// roleOf returns the role id of organization org (a member's or an invitation's), from the
// organization's roles.
func (s *Service) roleOf(ctx context.Context, org, id uuid.UUID) (*ent.Role, error) {
	roles, err := s.orgRoles(ctx, org)
	if err != nil {
		return nil, err
	}
	for _, r := range roles {
		if r.ID == id {
			return r, nil
		}
	}
	// Not among them (a role created a moment ago elsewhere): the database knows.
	return s.db(ctx).Role.Get(ctx, id)
}
