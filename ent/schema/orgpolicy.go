package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// OrgPolicy is one policy of an organization for the inference gateway, such as its quota: a
// type and a configuration that graph/policies.go validates by type. An organization has at
// most one policy of each type; one never saved reads as {"enabled": false}.
type OrgPolicy struct{ ent.Schema }

// Mixin of the OrgPolicy.
func (OrgPolicy) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{}, timeMixin{}, orgMixin{ref: "policies"}}
}

// Fields of the OrgPolicy.
func (OrgPolicy) Fields() []ent.Field {
	return []ent.Field{
		field.String("policy_type").NotEmpty().MaxLen(64).Immutable(),
		field.JSON("config", map[string]any{}).
			Comment("Validated and normalized by the policy type's rules before it is saved."),
	}
}

// Indexes of the OrgPolicy.
func (OrgPolicy) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "policy_type").Unique(),
	}
}

// Annotations of the OrgPolicy: served by hand-written GraphQL fields (schema.graphqls).
func (OrgPolicy) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the OrgPolicy: visible and changeable only inside the active organization.
func (OrgPolicy) Policy() ent.Policy {
	return orgOwnedPolicy(filterByActiveOrg())
}
