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
)

// Membership puts a user into an organization with exactly one role.
type Membership struct{ ent.Schema }

// Mixin of the Membership.
func (Membership) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{}, orgMixin{ref: "memberships"}}
}

// Fields of the Membership.
func (Membership) Fields() []ent.Field {
	hidden := entgql.Skip(entgql.SkipAll)
	return []ent.Field{
		field.UUID("user_id", uuid.UUID{}).Immutable().Annotations(hidden),
		field.UUID("role_id", uuid.UUID{}).Annotations(hidden),
		field.String("email").NotEmpty().
			Comment("The member's e-mail, copied from the user so the Users page can search and sort by it with an index.").
			Annotations(entgql.OrderField("EMAIL"), entgql.Skip(entgql.SkipType, entgql.SkipWhereInput)),
		field.Time("joined_at").Default(now).Immutable().
			Annotations(entgql.OrderField("JOINED_AT")),
		field.Time("last_active_at").Default(now).
			Comment("Last authenticated request in this organization, written at most once a minute; joining counts.").
			Annotations(entgql.OrderField("LAST_ACTIVE_AT")),
	}
}

// Edges of the Membership.
func (Membership) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("memberships").Field("user_id").Unique().Required().Immutable(),
		// Served by a hand-written field (schema.graphqls) that reads the organization's roles
		// from the cache, rather than by a query per page.
		edge.From("role", Role.Type).Ref("memberships").Field("role_id").Unique().Required().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the Membership.
func (Membership) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "organization_id").Unique(),
		// The Users page's orderings, with the id tie-breaker of cursor pagination, so that a
		// page is an index range scan rather than a sort of the whole organization.
		index.Fields("organization_id", "joined_at", "id"),
		index.Fields("organization_id", "last_active_at", "id"),
		index.Fields("organization_id", "email", "id"),
		index.Fields("role_id"),
	}
}

// Annotations of the Membership.
func (Membership) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput),
	}
}

// Policy of the Membership: a viewer sees the active organization's memberships and their own
// elsewhere; changes stay inside the active organization.
func (Membership) Policy() ent.Policy {
	return orgOwnedPolicy(filterMembershipsByOrgOrSelf())
}

// Hooks of the Membership.
func (Membership) Hooks() []ent.Hook {
	return []ent.Hook{copyMemberEmail(), keepOneAdmin(), countMembers(),
		announceAuthChange(authchange.KindMembership, "role_id")}
}
