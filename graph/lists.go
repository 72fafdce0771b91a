package graph

import (
	"context"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/auditlog"
	"github.com/inferiallm/orgserver/ent/invitation"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/schema/schematype"
	"github.com/inferiallm/orgserver/graph/model"
	"github.com/inferiallm/orgserver/server/auth"
)

// Offset-paged lists, for clients that page with skip and limit (the REST layer).

// checkOffset validates offset and limit.
func checkOffset(offset, limit *int, maxLimit int) (int, int, error) {
	o, l := ptr(offset), ptr(limit)
	if o < 0 || l < 1 || l > maxLimit {
		return 0, 0, Errorf(CodeBadUserInput, "offset must be at least 0 and limit between 1 and %d", maxLimit)
	}
	return o, l, nil
}

// memberList lists the active organization's members by offset.
func (s *Service) memberList(ctx context.Context, obj *ent.Organization, offset, limit *int, where *model.MemberFilter, orderBy *ent.MembershipOrder) ([]*ent.Membership, error) {
	if _, err := activeOrg(ctx, obj); err != nil {
		return nil, err
	}
	o, l, err := checkOffset(offset, limit, s.MaxPageSize)
	if err != nil {
		return nil, err
	}
	q := s.memberQuery(ctx, obj, where)
	if orderBy == nil {
		orderBy = defaultMemberOrder
	}
	term := ent.Asc
	if orderBy.Direction == "DESC" {
		term = ent.Desc
	}
	q.Order(term(orderByColumn(orderBy)), term(membership.FieldID)).Offset(o).Limit(l)
	q, err = q.CollectFields(ctx)
	if err != nil {
		return nil, err
	}
	return q.All(ctx)
}

func orderByColumn(o *ent.MembershipOrder) string {
	switch o.Field {
	case ent.MembershipOrderFieldJoinedAt:
		return membership.FieldJoinedAt
	case ent.MembershipOrderFieldLastActiveAt:
		return membership.FieldLastActiveAt
	}
	return membership.FieldEmail
}

// auditLogList lists the active organization's audit entries by offset, newest first.
func (s *Service) auditLogList(ctx context.Context, obj *ent.Organization, offset, limit *int, where *model.AuditLogFilterInput) ([]*ent.AuditLog, error) {
	if _, err := activeOrg(ctx, obj); err != nil {
		return nil, err
	}
	o, l, err := checkOffset(offset, limit, 1000)
	if err != nil {
		return nil, err
	}
	q := s.auditQuery(ctx, obj, where).
		Order(ent.Desc(auditlog.FieldCreatedAt), ent.Desc(auditlog.FieldID)).Offset(o).Limit(l)
	q, err = q.CollectFields(ctx)
	if err != nil {
		return nil, err
	}
	return q.All(ctx)
}

// organizationBilling is the active organization's billing information, or null for viewers
// without billing:view (which says nothing about other organizations). The schema's
// @authenticated applies the 2FA requirement.
func organizationBilling(ctx context.Context, obj *ent.Organization) (*schematype.BillingInfo, error) {
	v := auth.FromContext(ctx)
	if v == nil || obj.ID != v.OrgID || !v.Can("billing:view") {
		return nil, nil
	}
	return &obj.Billing, nil
}

// organizationSecurityPolicy is the active organization's security policy (the directive has
// checked security:view there).
func organizationSecurityPolicy(ctx context.Context, obj *ent.Organization) (*schematype.SecurityPolicy, error) {
	if _, err := activeOrg(ctx, obj); err != nil {
		return nil, err
	}
	return &obj.SecurityPolicy, nil
}

// invitationToken opens the sealed token of a pending invitation for holders of member:invite.
func (s *Service) invitationToken(ctx context.Context, inv *ent.Invitation) (*string, error) {
	if !auth.FromContext(ctx).Can("member:invite") || inv.TokenEncrypted == "" ||
		effectiveStatus(inv, s.now()) != invitation.StatusPENDING {
		return nil, nil
	}
	token, err := s.Sealer.Open(inv.TokenEncrypted, "invitation:"+inv.ID.String())
	if err != nil {
		return nil, err
	}
	return &token, nil
}

// invitationLink is the link of a pending invitation for holders of member:invite.
func (s *Service) invitationLink(ctx context.Context, inv *ent.Invitation) (*string, error) {
	token, err := s.invitationToken(ctx, inv)
	if token == nil || err != nil {
		return nil, err
	}
	link := s.inviteLink(*token)
	return &link, nil
}

// activeOrganization returns the viewer's active organization.
func (s *Service) activeOrganization(ctx context.Context) (*ent.Organization, error) {
	return s.db(ctx).Organization.Get(ctx, auth.FromContext(ctx).OrgID)
}
