package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent/authchange"

	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/schema/schematype"
)

// User is an account. One account per e-mail address; it may belong to several organizations
// through memberships, with one role in each.
type User struct{ ent.Schema }

// Mixin of the User.
func (User) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{}, timeMixin{}}
}

// Fields of the User.
func (User) Fields() []ent.Field {
	hidden := entgql.Skip(entgql.SkipAll)
	return []ent.Field{
		field.String("email").NotEmpty().MaxLen(254).Unique().
			Comment("Lower-case; see the normalizeEmail hook.").
			Annotations(entgql.OrderField("EMAIL")),
		field.String("name").Default("").Validate(schematype.UserName).MaxRuneLen(200),
		field.String("password_hash").Sensitive().Annotations(hidden),
		field.Bool("is_super_admin").Default(false).
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		field.UUID("default_org_id", uuid.UUID{}).Optional().Nillable().Annotations(hidden),
		field.Time("last_active_at").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		field.Bool("two_factor_enabled").Default(false).
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		field.String("totp_secret").Sensitive().Optional().
			Comment("The TOTP secret, sealed with the encryption key; set while 2FA is on.").Annotations(hidden),
		field.String("totp_pending_secret").Sensitive().Optional().
			Comment("A secret from beginTwoFactorSetup, sealed, until confirmTwoFactorSetup.").Annotations(hidden),
		field.Int64("totp_last_step").Default(0).
			Comment("The last TOTP time step accepted: a code is accepted once.").Annotations(hidden),
		field.Strings("recovery_code_hashes").Sensitive().Default([]string{}).Annotations(hidden),
		field.Int("security_version").Default(0).
			Comment("Incremented by every change of 2FA state, so concurrent changes cannot both apply.").Annotations(hidden),
		field.String("password_reset_hash").Sensitive().Optional().Nillable().Unique().
			Comment("The hash of the latest password reset link's token, until it is used, replaced or the password changes.").
			Annotations(hidden),
		field.Time("password_reset_expires_at").Optional().Nillable().Annotations(hidden),
	}
}

// Edges of the User.
func (User) Edges() []ent.Edge {
	skip := entgql.Skip(entgql.SkipAll)
	return []ent.Edge{
		edge.To("memberships", Membership.Type).Annotations(skip),
		edge.To("sessions", Session.Type).Annotations(skip),
		edge.To("invitations_sent", Invitation.Type).Annotations(skip),
		edge.To("audit_logs", AuditLog.Type).Annotations(skip),
		edge.To("api_keys_created", APIKey.Type).Annotations(skip),
		edge.To("sso_identities", SSOIdentity.Type).Annotations(skip),
	}
}

// Indexes of the User.
func (User) Indexes() []ent.Index {
	return []ent.Index{index.Fields("created_at")}
}

// Annotations of the User.
func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// Policy of the User: a viewer sees themself and the members of the active organization, and
// changes only their own account. Accounts are created by sign-up workflows, not by viewers.
func (User) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			denyIfNoViewer(),
			filterUsersByMembership(),
			allow(),
		},
		Mutation: privacy.MutationPolicy{
			denyIfNoViewer(),
			denyOps(ent.OpCreate | ent.OpDelete | ent.OpDeleteOne),
			filterSelf(),
			allow(),
		},
	}
}

// Hooks of the User.
func (User) Hooks() []ent.Hook {
	return []ent.Hook{normalizeEmail(), forgetPasswordReset(),
		announceAuthChange(authchange.KindUser, "email", "name", "is_super_admin", "two_factor_enabled", "password_hash", "security_version")}
}
