package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// SSODomain is an e-mail domain an organization claims for single sign-on. It routes sign-in
// and admits new members only once verified by a DNS TXT record; a verified domain belongs to
// one organization only (the unique verified_domain column holds it while verified).
type SSODomain struct{ ent.Schema }

// Mixin of the SSODomain.
func (SSODomain) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{}, timeMixin{}, orgMixin{ref: "sso_domains"}}
}

// Fields of the SSODomain.
func (SSODomain) Fields() []ent.Field {
	hidden := entgql.Skip(entgql.SkipAll)
	return []ent.Field{
		field.String("domain").NotEmpty().MaxLen(253).Immutable().
			Comment("IDNA-normalised (A-label), lower-case."),
		field.UUID("connection_id", uuid.UUID{}).Optional().Nillable().Annotations(hidden).
			Comment("The connection whose sign-ins may use the domain."),
		field.String("verification_token").NotEmpty().Immutable().Annotations(hidden),
		field.Time("verified_at").Optional().Nillable(),
		field.String("verified_domain").Optional().Nillable().Unique().Annotations(hidden).
			Comment("The domain while verified, null otherwise: the unique index lets one organization only hold it."),
	}
}

// Edges of the SSODomain.
func (SSODomain) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("connection", SSOConnection.Type).Ref("domains").Field("connection_id").Unique().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the SSODomain.
func (SSODomain) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "domain").Unique(),
		index.Fields("connection_id"),
	}
}

// Annotations of the SSODomain.
func (SSODomain) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput),
	}
}

// Policy of the SSODomain: like its connections, sso:manage in the active organization.
func (SSODomain) Policy() ent.Policy {
	return orgOwnedPolicy(filterSSOManaged())
}
