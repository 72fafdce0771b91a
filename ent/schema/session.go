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
	"github.com/inferiallm/orgserver/server/auth"
)

// Session is one sign-in of a user into one organization: the family of its rotating refresh
// tokens. Access tokens name their session, and every request checks it is still live.
type Session struct{ ent.Schema }

// Mixin of the Session.
func (Session) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{}, orgMixin{ref: "sessions"}}
}

// Fields of the Session.
func (Session) Fields() []ent.Field {
	hidden := entgql.Skip(entgql.SkipAll)
	return []ent.Field{
		field.UUID("user_id", uuid.UUID{}).Immutable().Annotations(hidden),
		field.String("refresh_token_hash").Sensitive().Annotations(hidden),
		field.Strings("rotated_token_hashes").Sensitive().Default([]string{}).
			Comment("Hashes of refresh tokens already exchanged; presenting one again means theft.").
			Annotations(hidden),
		field.String("user_agent").Default("").MaxLen(512),
		field.String("ip_address").Default(""),
		field.Time("created_at").Default(now).Immutable(),
		field.Time("last_used_at").Default(now).Annotations(entgql.OrderField("LAST_USED_AT")),
		field.Time("expires_at"),
		field.Time("revoked_at").Optional().Nillable().Annotations(hidden),
		field.String("revoke_reason").Optional().Annotations(hidden),
		field.Enum("sign_in_method").Values("password", "sso").Default("password").Immutable().Annotations(hidden).
			Comment("How the session's user proved who they are: a session switched or refreshed from another keeps its method."),
		field.UUID("sso_connection_id", uuid.UUID{}).Optional().Nillable().Immutable().Annotations(hidden).
			Comment("The SSO connection the session signed in through."),
		field.Bool("idp_mfa").Default(false).Immutable().Annotations(hidden).
			Comment("The identity provider's MFA, trusted by the connection, stands in for 2FA in this session."),
	}
}

// Edges of the Session.
func (Session) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("sessions").Field("user_id").Unique().Required().Immutable(),
	}
}

// Indexes of the Session.
func (Session) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "organization_id"),
		index.Fields("organization_id", "last_used_at", "id"),
	}
}

// Annotations of the Session.
func (Session) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput),
	}
}

// Policy of the Session: users see and revoke their own sessions; holders of security:view see
// the active organization's sessions and holders of security:update revoke them. Sessions are
// created by the sign-in workflows only.
func (Session) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			denyIfNoViewer(),
			filterSessions(auth.SecurityView),
			allow(),
		},
		Mutation: privacy.MutationPolicy{
			denyIfNoViewer(),
			denyOps(ent.OpCreate | ent.OpDelete | ent.OpDeleteOne),
			filterSessions(auth.SecurityUpdate),
			allow(),
		},
	}
}

// Hooks of the Session.
func (Session) Hooks() []ent.Hook {
	return []ent.Hook{announceAuthChange(authchange.KindSession, "revoked_at", "expires_at")}
}
