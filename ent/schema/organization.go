package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"github.com/inferiallm/orgserver/ent/authchange"

	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/schema/schematype"
)

// Organization is the tenant boundary: every member, role, invitation, session and audit entry
// belongs to exactly one organization.
type Organization struct{ ent.Schema }

// Mixin of the Organization.
func (Organization) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{}, timeMixin{}}
}

// Fields of the Organization.
func (Organization) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Validate(schematype.OrganizationName).MaxRuneLen(100).Unique().
			Annotations(entgql.OrderField("NAME")),
		field.JSON("settings", schematype.OrganizationSettings{}).
			Default(schematype.DefaultOrganizationSettings()).
			Annotations(entgql.Type("OrganizationSettings")),
		field.JSON("billing", schematype.BillingInfo{}).
			Default(schematype.BillingInfo{}).
			Annotations(entgql.Type("BillingInfo"), entgql.Skip(entgql.SkipType)),
		field.JSON("security_policy", schematype.SecurityPolicy{}).
			Default(schematype.DefaultSecurityPolicy()).
			Annotations(entgql.Type("SecurityPolicy"), entgql.Skip(entgql.SkipType)),
		field.JSON("sso_policy", schematype.SSOPolicy{}).Optional().
			Comment("Whether members must sign in through the organization's SSO connections, and who may still use a password; null: not required.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("member_count").Default(0).NonNegative().
			Comment("How many memberships the organization has, kept by the hook countMembers in the transactions that add and remove them.").
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Edges of the Organization. They are served by hand-written GraphQL fields (members,
// invitations, roles, sessions, auditLogs) with their own arguments and permissions.
func (Organization) Edges() []ent.Edge {
	skip := entgql.Skip(entgql.SkipAll)
	return []ent.Edge{
		edge.To("memberships", Membership.Type).Annotations(skip),
		edge.To("roles", Role.Type).Annotations(skip),
		edge.To("invitations", Invitation.Type).Annotations(skip),
		edge.To("sessions", Session.Type).Annotations(skip),
		edge.To("audit_logs", AuditLog.Type).Annotations(skip),
		edge.To("policies", OrgPolicy.Type).Annotations(skip),
		edge.To("usage_records", UsageRecord.Type).Annotations(skip),
		edge.To("api_keys", APIKey.Type).Annotations(skip),
		edge.To("sso_connections", SSOConnection.Type).Annotations(skip),
		edge.To("sso_domains", SSODomain.Type).Annotations(skip),
		edge.To("sso_identities", SSOIdentity.Type).Annotations(skip),
		edge.To("sso_attempts", SSOAttempt.Type).Annotations(skip),
	}
}

// Annotations of the Organization.
func (Organization) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.QueryField().Directives(superAdmin()),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// Policy of the Organization: super admins see and create every organization; members see the
// organizations they belong to and change only the active one, with the permissions of the
// fields they change.
func (Organization) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			denyIfNoViewer(),
			allowIfSuperAdmin(),
			filterOrganizationsByMembership(),
			allow(),
		},
		Mutation: privacy.MutationPolicy{
			denyIfNoViewer(),
			allowIfSuperAdminCreates(),
			denyOps(ent.OpDelete | ent.OpDeleteOne),
			denyUpdateWithoutFieldPermissions(),
			filterActiveOrganization(),
			allow(),
		},
	}
}

// Hooks of the Organization.
func (Organization) Hooks() []ent.Hook {
	return []ent.Hook{validSecurityPolicy(),
		announceAuthChange(authchange.KindOrganization, "security_policy", "sso_policy", "name", "settings", "billing"),
		announceAuthChange(authchange.KindMembers, "member_count")}
}
