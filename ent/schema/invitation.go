package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// Invitation asks someone, by e-mail, to join an organization with a role. The link's token is
// stored only as a hash.
type Invitation struct{ ent.Schema }

// Mixin of the Invitation.
func (Invitation) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{}, timeMixin{}, orgMixin{ref: "invitations"}}
}

// Fields of the Invitation.
func (Invitation) Fields() []ent.Field {
	hidden := entgql.Skip(entgql.SkipAll)
	return []ent.Field{
		field.String("email").NotEmpty().MaxLen(254),
		field.UUID("role_id", uuid.UUID{}).Annotations(hidden),
		field.String("token_hash").Sensitive().Unique().Annotations(hidden),
		field.String("token_encrypted").Sensitive().Optional().
			Comment("The token sealed with the data key, so that admins can copy the link again.").
			Annotations(hidden),
		field.Enum("status").Values("PENDING", "ACCEPTED", "REVOKED", "EXPIRED").Default("PENDING").
			Comment("Stored as PENDING, ACCEPTED or REVOKED; EXPIRED is what a pending invitation past expires_at reads as.").
			Annotations(entgql.Type("InvitationStatus"), entgql.Skip(entgql.SkipType)),
		field.Time("expires_at"),
		field.UUID("invited_by_id", uuid.UUID{}).Optional().Nillable().Annotations(hidden),
		field.Time("accepted_at").Optional().Nillable(),
	}
}

// Edges of the Invitation.
func (Invitation) Edges() []ent.Edge {
	return []ent.Edge{
		// Served by a hand-written field (schema.graphqls), like a membership's role.
		edge.From("role", Role.Type).Ref("invitations").Field("role_id").Unique().Required().
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.From("invited_by", User.Type).Ref("invitations_sent").Field("invited_by_id").Unique(),
	}
}

// Indexes of the Invitation.
func (Invitation) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "status", "created_at"),
		index.Fields("organization_id", "email").Unique().
			Annotations(entsql.IndexWhere("status = 'PENDING'")),
	}
}

// Annotations of the Invitation.
func (Invitation) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput),
	}
}

// Policy of the Invitation: visible and changeable only inside the active organization. Looking
// an invitation up by its token happens before the invitee is a member, in the invitation
// workflow, with an explicit bypass.
func (Invitation) Policy() ent.Policy {
	return orgOwnedPolicy(filterByActiveOrg())
}

// Hooks of the Invitation.
func (Invitation) Hooks() []ent.Hook {
	return []ent.Hook{normalizeEmail()}
}
