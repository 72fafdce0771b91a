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

	"github.com/inferiallm/orgserver/ent/authchange"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/server/auth"
)

// APIKey is a service credential of an organization: a script or a service acts with it, as
// Authorization: Bearer <secret>, with exactly the permissions of its role in its organization.
// The secret is shown once; only its keyed hash is stored, with a short display prefix.
type APIKey struct{ ent.Schema }

// Mixin of the APIKey.
func (APIKey) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{}, timeMixin{}, orgMixin{ref: "api_keys"}}
}

// Fields of the APIKey.
func (APIKey) Fields() []ent.Field {
	hidden := entgql.Skip(entgql.SkipAll)
	return []ent.Field{
		field.String("name").NotEmpty().MaxRuneLen(100),
		field.UUID("role_id", uuid.UUID{}).Annotations(hidden),
		field.String("prefix").NotEmpty().Immutable().
			Comment("The first characters of the secret, not enough to use it: how lists tell keys apart."),
		field.String("secret_hash").Sensitive().Unique().Immutable().
			Comment("HMAC-SHA256 of the secret under a key derived from the server's encryption key.").
			Annotations(hidden),
		field.UUID("created_by_id", uuid.UUID{}).Optional().Nillable().Immutable().Annotations(hidden),
		field.Time("expires_at").Optional().Nillable().Immutable(),
		field.Time("revoked_at").Optional().Nillable(),
		field.Time("last_used_at").Optional().Nillable().
			Comment("Last authenticated request with the key, written at most once a minute."),
	}
}

// Edges of the APIKey.
func (APIKey) Edges() []ent.Edge {
	return []ent.Edge{
		// Served by a hand-written field (schema.graphqls) that reads the organization's roles
		// from the cache, like a membership's role.
		edge.From("role", Role.Type).Ref("api_keys").Field("role_id").Unique().Required().
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.From("created_by", User.Type).Ref("api_keys_created").Field("created_by_id").Unique().Immutable(),
	}
}

// Indexes of the APIKey.
func (APIKey) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "created_at", "id"),
		index.Fields("created_by_id"),
		index.Fields("role_id"),
	}
}

// Annotations of the APIKey.
func (APIKey) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput),
	}
}

// Policy of the APIKey: visible inside the active organization to holders of an api_key
// permission, changed only there. Authenticating a request by its key looks the key up by hash
// before there is a viewer, in graph/apikeys.go, with an explicit bypass.
func (APIKey) Policy() ent.Policy {
	return orgOwnedPolicy(filterAPIKeys())
}

// Hooks of the APIKey.
func (APIKey) Hooks() []ent.Hook {
	return []ent.Hook{announceAuthChange(authchange.KindAPIKey, "revoked_at", "role_id")}
}

// filterAPIKeys keeps the active organization's keys, for viewers holding an api_key permission.
func filterAPIKeys() privacy.FilterFunc {
	return filter(func(v *auth.Viewer) entql.P {
		if !v.Can(auth.APIKeyList) && !v.Can(auth.APIKeyCreate) && !v.Can(auth.APIKeyRevoke) {
			return entql.FieldEQ("id", uuid.Nil)
		}
		return inActiveOrg(v)
	})
}
