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

// AuditLog is one security-relevant event: who did what to which resource, from where, and
// whether it succeeded. Entries are append-only.
type AuditLog struct{ ent.Schema }

// Mixin of the AuditLog.
func (AuditLog) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{}, orgMixin{ref: "audit_logs", optional: true}}
}

// Fields of the AuditLog.
func (AuditLog) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("actor_id", uuid.UUID{}).Optional().Nillable().Immutable().
			Comment("Kept when the actor's account is no longer visible, e.g. after they left.").
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		field.UUID("actor_api_key_id", uuid.UUID{}).Optional().Nillable().Immutable().
			Comment("The organization API key that acted, when the actor is a key rather than a person (actor_id is then empty).").
			Annotations(entgql.Type("ID"), entgql.Skip(entgql.SkipWhereInput)),
		field.String("actor_email").Default("").Immutable(),
		field.String("action").NotEmpty().Immutable(),
		field.String("category").NotEmpty().Immutable(),
		field.String("resource_type").Default("").Immutable(),
		field.String("resource_id").Default("").Immutable(),
		field.JSON("details", map[string]any{}).Optional().Immutable(),
		field.String("ip_address").Default("").Immutable(),
		field.String("user_agent").Default("").Immutable(),
		field.String("status").Default("success").Immutable(),
		field.Time("created_at").Default(now).Immutable().
			Annotations(entgql.OrderField("CREATED_AT")),
	}
}

// Edges of the AuditLog.
func (AuditLog) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("actor", User.Type).Ref("audit_logs").Field("actor_id").Unique().Immutable(),
	}
}

// Indexes of the AuditLog.
func (AuditLog) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "created_at", "id"),
		index.Fields("organization_id", "action", "created_at"),
		index.Fields("actor_id", "created_at"),
		// The actor filter matches a user or an API key.
		index.Fields("actor_api_key_id", "created_at"),
	}
}

// Annotations of the AuditLog.
func (AuditLog) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput),
	}
}

// Policy of the AuditLog: append-only; read inside the active organization with audit_log:list.
func (AuditLog) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			denyIfNoViewer(),
			filterAuditLogs(),
			allow(),
		},
		Mutation: privacy.MutationPolicy{
			denyOps(ent.OpUpdate | ent.OpUpdateOne | ent.OpDelete | ent.OpDeleteOne),
			denyIfNoViewer(),
			denyCreateOutsideActiveOrg(),
			allow(),
		},
	}
}
