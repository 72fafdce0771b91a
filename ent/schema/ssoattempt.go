package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent/privacy"
)

// SSOAttempt is one single sign-on attempt, from the redirect to the provider to the session:
// the single-use state with its PKCE verifier and nonce, bound to the browser that started it,
// and then the single-use handoff code the dashboard exchanges for tokens. Only hashes of the
// state, the browser binding and the codes are stored.
type SSOAttempt struct{ ent.Schema }

// Mixin of the SSOAttempt.
func (SSOAttempt) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{}, orgMixin{ref: "sso_attempts"}}
}

// Fields of the SSOAttempt.
func (SSOAttempt) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("connection_id", uuid.UUID{}).Immutable(),
		field.Enum("purpose").Values("signin", "test").Immutable(),
		field.String("ticket_hash").Optional().Nillable().Unique().Sensitive().
			Comment("A test sign-in is started from a one-time link its admin got from beginSsoTest."),
		field.String("state_hash").Optional().Nillable().Unique().Sensitive(),
		field.String("browser_hash").Default("").Sensitive(),
		field.String("nonce").Default("").Sensitive(),
		field.String("code_verifier").Default("").Sensitive().Comment("Sealed with the encryption key."),
		field.String("return_to").Default("/"),
		field.UUID("started_by_id", uuid.UUID{}).Optional().Nillable().Immutable(),
		field.Time("created_at").Default(now).Immutable(),
		field.Time("expires_at"),
		field.Time("state_used_at").Optional().Nillable(),
		field.String("handoff_hash").Optional().Nillable().Unique().Sensitive(),
		field.Enum("handoff_kind").Values("session", "link").Optional().Nillable(),
		field.Time("handoff_expires_at").Optional().Nillable(),
		field.Time("handoff_used_at").Optional().Nillable(),
		field.UUID("user_id", uuid.UUID{}).Optional().Nillable(),
		field.String("issuer").Default(""),
		field.String("subject").Default(""),
		field.String("email").Default(""),
		field.String("name").Default(""),
		field.Bool("idp_mfa").Default(false).
			Comment("The provider showed MFA evidence with a recent auth_time, and the connection trusts it."),
	}
}

// Edges of the SSOAttempt.
func (SSOAttempt) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("connection", SSOConnection.Type).Ref("attempts").Field("connection_id").Unique().Required().Immutable(),
	}
}

// Indexes of the SSOAttempt.
func (SSOAttempt) Indexes() []ent.Index {
	return []ent.Index{index.Fields("expires_at")}
}

// Annotations of the SSOAttempt.
func (SSOAttempt) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the SSOAttempt: only the sign-in workflows touch attempts, as the system, before
// there is a viewer; no viewer ever reads or changes one.
func (SSOAttempt) Policy() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{privacy.AlwaysDenyRule()},
		Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()},
	}
}
