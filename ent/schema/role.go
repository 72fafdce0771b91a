package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/inferiallm/orgserver/ent/authchange"

	"github.com/inferiallm/orgserver/ent/schema/schematype"
)

// Role is a named permission set. Built-in roles (admin, developer, member, viewer) have no
// organization and are shared and read-only; custom roles belong to one organization.
type Role struct{ ent.Schema }

// Mixin of the Role.
func (Role) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{}, timeMixin{}, orgMixin{ref: "roles", optional: true}}
}

// Fields of the Role.
func (Role) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Validate(schematype.RoleName).MaxLen(64),
		field.String("description").Default("").MaxLen(500),
		field.Strings("permissions").Default([]string{}),
		field.Bool("built_in").Default(false).Immutable(),
	}
}

// Edges of the Role.
func (Role) Edges() []ent.Edge {
	skip := entgql.Skip(entgql.SkipAll)
	return []ent.Edge{
		edge.To("memberships", Membership.Type).Annotations(skip),
		edge.To("invitations", Invitation.Type).Annotations(skip),
		edge.To("api_keys", APIKey.Type).Annotations(skip),
	}
}

// Indexes of the Role.
func (Role) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id", "name").Unique()}
}

// Annotations of the Role.
func (Role) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput),
	}
}

// Policy of the Role: built-in roles are visible to everyone signed in and changed by nobody;
// custom roles are visible to members of their organization and changed only in the active one.
func (Role) Policy() ent.Policy {
	return orgOwnedPolicy(filterRolesByMembership())
}

// Hooks of the Role.
func (Role) Hooks() []ent.Hook {
	return []ent.Hook{announceAuthChange(authchange.KindRole, "name", "permissions")}
}
