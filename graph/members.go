package graph

import (
	"context"
	"errors"
	"slices"
	"strings"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/organization"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/role"
	"github.com/inferiallm/orgserver/ent/schema"
	"github.com/inferiallm/orgserver/ent/session"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/graph/model"
	"github.com/inferiallm/orgserver/server/auth"
)

// ErrLastAdmin is the error of a change that would leave the organization without an admin.
var ErrLastAdmin = &Error{Code: CodeConflict, Message: "Organization must keep at least one admin"}

// members lists the active organization's members: the Users page.
func (s *Service) members(ctx context.Context, obj *ent.Organization, after *entgql.Cursor[uuid.UUID], first *int, before *entgql.Cursor[uuid.UUID], last *int, where *model.MemberFilter, orderBy *ent.MembershipOrder) (*ent.MembershipConnection, error) {
	first, err := s.defaultPage(first, last)
	if err != nil {
		return nil, err
	}
	if orderBy == nil {
		orderBy = defaultMemberOrder
	}
	if err := checkCursors(orderKind(orderBy.Field.String()), after, before); err != nil {
		return nil, err
	}
	q := s.memberQuery(ctx, obj, where)
	if !selects(ctx, "edges") || ptr(first) == 0 && first != nil || ptr(last) == 0 && last != nil {
		// No page: what is asked is the count (and page info made from it).
		return q.Paginate(ctx, after, first, before, last, ent.WithMembershipOrder(orderBy))
	}
	// The page without the count entgql would run for totalCount or pageInfo: the page info
	// comes from the page itself (it reads one row more than it shows), and the total of an
	// unfiltered list is the organization's member_count, kept by the transactions that add and
	// remove members.
	var conn *ent.MembershipConnection
	done := false
	if unfiltered(where) {
		conn, done, err = s.memberPage(ctx, obj, after, first, before, last, orderBy)
	}
	if !done {
		conn, err = q.Clone().Paginate(withoutTotals(ctx), after, first, before, last, ent.WithMembershipOrder(orderBy))
	}
	if err != nil || !selects(ctx, "totalCount") {
		return conn, err
	}
	if unfiltered(where) {
		// The organization as this request read it (from the cache, which drops it whenever a
		// member joins or leaves, or from the database).
		conn.TotalCount = obj.MemberCount
	} else {
		conn.TotalCount, err = q.Count(ctx)
	}
	return conn, err
}

// unfiltered reports whether a member filter lets every member through.
func unfiltered(where *model.MemberFilter) bool {
	return where == nil || strings.TrimSpace(ptr(where.Search)) == "" && strings.TrimSpace(ptr(where.Role)) == ""
}

// defaultMemberOrder lists members by e-mail.
var defaultMemberOrder = &ent.MembershipOrder{Field: ent.MembershipOrderFieldEmail, Direction: entgql.OrderDirectionAsc}

// memberQuery selects the organization's members matching the Users page's filters.
func (s *Service) memberQuery(ctx context.Context, obj *ent.Organization, where *model.MemberFilter) *ent.MembershipQuery {
	q := s.db(ctx).Membership.Query().Where(membership.OrganizationID(obj.ID))
	if where != nil {
		if term := strings.TrimSpace(ptr(where.Search)); term != "" {
			q.Where(membership.Or(membership.EmailContainsFold(term), membership.HasUserWith(user.NameContainsFold(term))))
		}
		if r := strings.ToLower(strings.TrimSpace(ptr(where.Role))); r != "" {
			q.Where(membership.HasRoleWith(role.Name(r)))
		}
	}
	return q
}

// lockOrganization serializes changes to the organization's memberships for the rest of the
// transaction. On PostgreSQL it locks the organization's row; SQLite transactions here take the
// database's write lock when they begin, which serializes them already.
func (s *Service) lockOrganization(ctx context.Context, orgID uuid.UUID) error {
	if s.Dialect != dialect.Postgres {
		return nil
	}
	// Locking is the system's business; the viewer may be anyone allowed to change members.
	_, err := s.db(ctx).Organization.Query().Where(organization.ID(orgID)).ForUpdate().
		Only(privacy.DecisionContext(ctx, privacy.Allow))
	return err
}

// memberOf returns the membership of userID in the active organization, with its role.
func (s *Service) memberOf(ctx context.Context, v *auth.Viewer, userID uuid.UUID) (*ent.Membership, error) {
	m, err := s.db(ctx).Membership.Query().
		Where(membership.UserID(userID), membership.OrganizationID(v.OrgID)).
		WithRole().WithUser().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, Errorf(CodeNotFound, "User not found in this organization")
	}
	return m, err
}

// checkCanManage refuses to act on a member whose role holds permissions the viewer lacks, so
// nobody can demote or remove someone more powerful than themselves.
func checkCanManage(v *auth.Viewer, target *ent.Membership) error {
	if missing := auth.MissingPermissions(v.Permissions, target.Edges.Role.Permissions); len(missing) > 0 {
		return Errorf(CodeForbidden, "Cannot manage a member whose role has permissions you do not have")
	}
	return nil
}

// checkCanGrant refuses roles whose permissions exceed the viewer's own.
func checkCanGrant(v *auth.Viewer, perms []string) error {
	if missing := auth.MissingPermissions(v.Permissions, perms); len(missing) > 0 {
		return Errorf(CodeForbidden, "Cannot grant permissions you do not have: %s", strings.Join(missing, ", "))
	}
	return nil
}

// grantableRole is the role of org named name, or org's default role when name is blank, refused
// when it holds permissions the viewer lacks: what an invitation or a new API key hands out.
func (s *Service) grantableRole(ctx context.Context, v *auth.Viewer, org *ent.Organization, name string) (*ent.Role, error) {
	if strings.TrimSpace(name) == "" {
		name = org.Settings.DefaultRole
	}
	r, err := s.findRole(ctx, v, name)
	if err != nil {
		return nil, err
	}
	return r, checkCanGrant(v, r.Permissions)
}

// keepAdmin translates the last-admin invariant of the schema into the API's error.
func keepAdmin(err error) error {
	if err != nil && errors.Is(err, schema.ErrLastAdmin) {
		return ErrLastAdmin
	}
	return err
}

// updateMemberRole gives a member of the active organization another role.
//  1. Not your own role; the member exists here; you may manage them.
//  2. The role exists for this organization and you hold all its permissions.
//  3. Lock the organization, change the role; the schema keeps one admin.
//  4. Audit with the old and the new role. It takes effect on the member's next request.
func (s *Service) updateMemberRole(ctx context.Context, userID uuid.UUID, roleName string) (*ent.Membership, error) {
	v := auth.FromContext(ctx)
	if userID == v.UserID {
		return nil, Errorf(CodeForbidden, "You cannot change your own role")
	}
	target, err := s.memberOf(ctx, v, userID)
	if err != nil {
		return nil, err
	}
	if err := checkCanManage(v, target); err != nil {
		return nil, err
	}
	r, err := s.findRole(ctx, v, roleName)
	if err != nil {
		return nil, err
	}
	if err := checkCanGrant(v, r.Permissions); err != nil {
		return nil, err
	}
	old := target.Edges.Role.Name
	if r.ID == target.RoleID {
		return target, nil
	}
	if err := s.lockOrganization(ctx, v.OrgID); err != nil {
		return nil, err
	}
	m, err := s.db(ctx).Membership.UpdateOne(target).SetRoleID(r.ID).Save(ctx)
	if err != nil {
		return nil, keepAdmin(err)
	}
	if err := s.audit(ctx, auditEntry{Action: "member.role_change", Category: categoryUserManagement,
		ResourceType: "user", ResourceID: userID.String(),
		Details: map[string]any{"email": target.Email, "old_role": old, "new_role": r.Name}}); err != nil {
		return nil, err
	}
	// The keys they created that hold what the new role does not go: nobody keeps, through a
	// key, permissions taken from them.
	return m, s.revokeKeysOfCreator(ctx, target, "creator's role changed to "+r.Name, func(k *ent.APIKey) bool {
		return len(auth.MissingPermissions(r.Permissions, k.Edges.Role.Permissions)) > 0
	})
}

// removeMember removes a member from the active organization and ends their sessions there.
// The account and its other memberships stay.
func (s *Service) removeMember(ctx context.Context, userID uuid.UUID) (bool, error) {
	v := auth.FromContext(ctx)
	if userID == v.UserID {
		return false, Errorf(CodeBadUserInput, "Use leaveOrganization to leave the organization")
	}
	target, err := s.memberOf(ctx, v, userID)
	if err != nil {
		return false, err
	}
	if err := checkCanManage(v, target); err != nil {
		return false, err
	}
	if err := s.deleteMembership(ctx, target, "removed from organization"); err != nil {
		return false, err
	}
	return true, s.audit(ctx, auditEntry{Action: "member.remove", Category: categoryUserManagement,
		ResourceType: "user", ResourceID: userID.String(),
		Details: map[string]any{"email": target.Email, "role": target.Edges.Role.Name}})
}

// leaveOrganization removes the viewer from the active organization.
func (s *Service) leaveOrganization(ctx context.Context) (bool, error) {
	v := auth.FromContext(ctx)
	m, err := s.memberOf(ctx, v, v.UserID)
	if err != nil {
		return false, err
	}
	if err := s.deleteMembership(ctx, m, "left organization"); err != nil {
		return false, err
	}
	return true, s.audit(ctx, auditEntry{Action: "member.leave", Category: categoryUserManagement,
		ResourceType: "user", ResourceID: v.UserID.String(), Details: map[string]any{"role": m.Edges.Role.Name}})
}

// deleteMembership deletes m under the organization lock, revokes the user's sessions and the
// API keys they created in that organization, and forgets it as their default organization.
func (s *Service) deleteMembership(ctx context.Context, m *ent.Membership, reason string) error {
	if err := s.lockOrganization(ctx, m.OrganizationID); err != nil {
		return err
	}
	db := s.db(ctx)
	if err := db.Membership.DeleteOne(m).Exec(ctx); err != nil {
		return keepAdmin(err)
	}
	// Ending another user's sessions and editing their account is the system's consequence of
	// the removal the viewer was allowed to make.
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	if err := db.Session.Update().
		Where(session.UserID(m.UserID), session.OrganizationID(m.OrganizationID), session.RevokedAtIsNil()).
		SetRevokedAt(s.now()).SetRevokeReason(reason).Exec(sys); err != nil {
		return err
	}
	if err := s.revokeKeysOfCreator(ctx, m, reason, nil); err != nil {
		return err
	}
	return db.User.Update().Where(user.ID(m.UserID), user.DefaultOrgID(m.OrganizationID)).
		ClearDefaultOrgID().Exec(sys)
}

// memberList lists the active organization's members by offset.
func (s *Service) memberList(ctx context.Context, obj *ent.Organization, offset, limit *int, where *model.MemberFilter, orderBy *ent.MembershipOrder) ([]*ent.Membership, error) {
	o, l, err := checkOffset(offset, limit, s.MaxPageSize)
	if err != nil {
		return nil, err
	}
	if orderBy == nil {
		orderBy = defaultMemberOrder
	}
	if o == 0 && unfiltered(where) {
		if rows, done, err := s.memberListRows(ctx, obj, l, orderBy); done {
			return rows, err
		}
	}
	q := s.memberQuery(ctx, obj, where)
	term := ent.Asc
	if orderBy.Direction == "DESC" {
		term = ent.Desc
	}
	q.Order(term(orderByColumn(orderBy)), term(membership.FieldID)).Offset(o).Limit(l)
	if o == 0 {
		q, err = q.CollectFields(ctx)
		if err != nil {
			return nil, err
		}
		return q.All(ctx)
	}
	// OFFSET walks past the skipped rows, and walked with every column (and the privacy
	// filter's user_id) each is a table row. So the page's ids come first, from the ordering's
	// index alone ((organization_id, <column>, id): an index-only scan), then the page's rows by
	// their primary key. The walk reads without the privacy filter, whose OR would lead SQLite's
	// planner back to walking the organization: memberList is the active organization's
	// (@activeOrganization, after @hasPermission), all of whose memberships the filter lets
	// through. The rows and what they bring along are read with it, as on the first page.
	ids, err := q.IDs(privacy.DecisionContext(ctx, privacy.Allow))
	if err != nil || len(ids) == 0 {
		return []*ent.Membership{}, err
	}
	rows, err := s.db(ctx).Membership.Query().Where(membership.IDIn(ids...)).CollectFields(ctx)
	if err != nil {
		return nil, err
	}
	page, err := rows.All(ctx)
	if err != nil {
		return nil, err
	}
	at := make(map[uuid.UUID]int, len(ids))
	for i, id := range ids {
		at[id] = i
	}
	slices.SortFunc(page, func(a, b *ent.Membership) int { return at[a.ID] - at[b.ID] })
	return page, nil
}
