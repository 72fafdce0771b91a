package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/entql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/server/auth"
)

// SSOIdentity links an account to a person at an identity provider: (connection, issuer,
// subject), never the e-mail address, which the provider may reassign.
type SSOIdentity struct{ ent.Schema }

// Mixin of the SSOIdentity.
func (SSOIdentity) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{}, timeMixin{}, orgMixin{ref: "sso_identities"}}
}

// Fields of the SSOIdentity.
func (SSOIdentity) Fields() []ent.Field {
	hidden := entgql.Skip(entgql.SkipAll)
	return []ent.Field{
		field.UUID("user_id", uuid.UUID{}).Immutable().Annotations(hidden),
		field.UUID("connection_id", uuid.UUID{}).Immutable().Annotations(hidden),
		field.String("issuer").NotEmpty().Immutable(),
		field.String("subject").NotEmpty().MaxLen(255).Immutable(),
		field.String("email").Default("").Comment("The e-mail address the provider gave at the last sign-in."),
		field.Time("last_sign_in_at").Optional().Nillable(),
	}
}

// Edges of the SSOIdentity.
func (SSOIdentity) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("sso_identities").Field("user_id").Unique().Required().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.From("connection", SSOConnection.Type).Ref("identities").Field("connection_id").Unique().Required().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the SSOIdentity.
func (SSOIdentity) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("connection_id", "issuer", "subject").Unique(),
		index.Fields("user_id"),
	}
}

// Annotations of the SSOIdentity.
func (SSOIdentity) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput),
	}
}

// Policy of the SSOIdentity: users see and unlink their own identities, holders of sso:manage
// those of the active organization. Identities are created by the sign-in workflow only.
func (SSOIdentity) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			denyIfNoViewer(),
			filterIdentities(),
			allow(),
		},
		Mutation: privacy.MutationPolicy{
			denyIfNoViewer(),
			denyOps(ent.OpCreate | ent.OpUpdate | ent.OpUpdateOne),
			filterIdentities(),
			allow(),
		},
	}
}

// filterIdentities keeps the viewer's own identities, and the active organization's for holders
// of sso:manage.
func filterIdentities() privacy.FilterFunc {
	return filter(func(v *auth.Viewer) entql.P {
		own := entql.FieldEQ("user_id", v.UserID)
		if v.Can(auth.SSOManage) {
			return entql.Or(own, inActiveOrg(v))
		}
		return own
	})
}
