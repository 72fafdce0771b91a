package graph

import (
	"context"
	"strings"

	"entgo.io/contrib/entgql"
	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/organization"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/schema"
	"github.com/inferiallm/orgserver/ent/schema/schematype"
	"github.com/inferiallm/orgserver/graph/model"
	"github.com/inferiallm/orgserver/server/auth"
)

// createOrganization creates an organization and makes its creator (a super admin) its admin.
func (s *Service) createOrganization(ctx context.Context, in model.CreateOrganizationInput) (*ent.Organization, error) {
	v := auth.FromContext(ctx)
	db := s.db(ctx)
	name, err := s.freeOrganizationName(ctx, in.Name, uuid.Nil)
	if err != nil {
		return nil, err
	}
	settings := mergeSettings(schematype.DefaultOrganizationSettings(), in.Settings)
	if !auth.IsBuiltInRole(settings.DefaultRole) {
		return nil, Errorf(CodeBadUserInput, "Role '%s' does not exist", settings.DefaultRole)
	}
	org, err := db.Organization.Create().
		SetName(name).
		SetSettings(settings).
		SetBilling(mergeBilling(schematype.BillingInfo{}, in.Billing)).
		SetSecurityPolicy(schematype.DefaultSecurityPolicy()).
		Save(ctx)
	if err != nil {
		return nil, err
	}
	// The creator joins the organization they just created, which is not their active one.
	if err := db.Membership.Create().
		SetOrganizationID(org.ID).
		SetUserID(v.UserID).
		SetRoleID(builtInRoleID(auth.RoleAdmin)).
		Exec(privacy.DecisionContext(ctx, privacy.Allow)); err != nil {
		return nil, err
	}
	return org, s.audit(ctx, auditEntry{Action: "organization.create", Category: categoryOrganization,
		OrgID: &org.ID, ResourceType: "organization", ResourceID: org.ID.String(),
		Details: map[string]any{"name": name}})
}

// updateOrganization changes the name, settings or billing information of the active
// organization. Billing needs billing:update besides organization:update.
func (s *Service) updateOrganization(ctx context.Context, in model.UpdateOrganizationInput) (*ent.Organization, error) {
	v := auth.FromContext(ctx)
	db := s.db(ctx)
	org, err := db.Organization.Get(ctx, v.OrgID)
	if err != nil {
		return nil, err
	}
	upd := db.Organization.UpdateOne(org)
	var changed []string
	if in.Name != nil {
		name, err := s.freeOrganizationName(ctx, *in.Name, org.ID)
		if err != nil {
			return nil, err
		}
		if name != org.Name {
			upd.SetName(name)
			changed = append(changed, "name")
		}
	}
	if in.Settings != nil {
		settings := mergeSettings(org.Settings, in.Settings)
		if in.Settings.DefaultRole != nil {
			r, err := s.findRole(ctx, v, settings.DefaultRole)
			if err != nil {
				return nil, err
			}
			settings.DefaultRole = r.Name
		}
		upd.SetSettings(settings)
		changed = append(changed, "settings")
	}
	if in.Billing != nil {
		// Changing billing needs billing:update too: a privacy rule of the organization.
		upd.SetBilling(mergeBilling(org.Billing, in.Billing))
		changed = append(changed, "billing")
	}
	if len(changed) == 0 {
		return org, nil
	}
	org, err = upd.Save(ctx)
	if err != nil {
		return nil, err
	}
	return org, s.audit(ctx, auditEntry{Action: "organization.update", Category: categoryOrganization,
		ResourceType: "organization", ResourceID: org.ID.String(),
		Details: map[string]any{"changed": changed}})
}

// freeOrganizationName validates name and checks no other organization (other than self) has
// it, whatever the case.
func (s *Service) freeOrganizationName(ctx context.Context, name string, self uuid.UUID) (string, error) {
	name = strings.TrimSpace(name)
	if err := schematype.OrganizationName(name); err != nil {
		return "", err
	}
	// Names are unique across the server, so the check must see every organization.
	taken, err := s.db(ctx).Organization.Query().
		Where(organization.NameEqualFold(name), organization.IDNEQ(self)).
		Exist(privacy.DecisionContext(ctx, privacy.Allow))
	if err != nil {
		return "", err
	}
	if taken {
		return "", Errorf(CodeConflict, "Organization name already exists")
	}
	return name, nil
}

func mergeSettings(s schematype.OrganizationSettings, in *model.OrganizationSettingsInput) schematype.OrganizationSettings {
	if in == nil {
		return s
	}
	if in.DefaultRole != nil {
		s.DefaultRole = strings.ToLower(strings.TrimSpace(*in.DefaultRole))
	}
	if in.LogPayloads != nil {
		s.LogPayloads = *in.LogPayloads
	}
	return s
}

func mergeBilling(b schematype.BillingInfo, in *model.BillingInfoInput) schematype.BillingInfo {
	if in == nil {
		return b
	}
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = strings.TrimSpace(*src)
		}
	}
	set(&b.BillingEmail, in.BillingEmail)
	set(&b.CompanyName, in.CompanyName)
	set(&b.Address, in.Address)
	set(&b.TaxID, in.TaxID)
	set(&b.Plan, in.Plan)
	return b
}

// organizationBilling is the organization's billing information where the privacy rule lets the
// viewer read it, and null elsewhere (which says nothing about other organizations). The
// schema's @authenticated applies the 2FA requirement.
func organizationBilling(ctx context.Context, obj *ent.Organization) (*schematype.BillingInfo, error) {
	if !schema.CanReadBilling(auth.FromContext(ctx), obj.ID) {
		return nil, nil
	}
	return &obj.Billing, nil
}

// organizationSecurityPolicy is the active organization's security policy (the directive has
// checked security:view there).
func organizationSecurityPolicy(ctx context.Context, obj *ent.Organization) (*schematype.SecurityPolicy, error) {
	return &obj.SecurityPolicy, nil
}

// activeOrganization returns the viewer's active organization.
func (s *Service) activeOrganization(ctx context.Context) (*ent.Organization, error) {
	return s.db(ctx).Organization.Get(ctx, auth.FromContext(ctx).OrgID)
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
