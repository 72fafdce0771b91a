package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	"github.com/inferiallm/orgserver/ent/privacy"
)

// ServerSetting is a value every replica must agree on, such as the generated JWT signing key.
// It is never exposed through the API.
type ServerSetting struct{ ent.Schema }

// Fields of the ServerSetting.
func (ServerSetting) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().Immutable().StorageKey("key"),
		field.String("value").Sensitive(),
		field.Time("created_at").Default(now).Immutable(),
	}
}

// Annotations of the ServerSetting.
func (ServerSetting) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the ServerSetting: only the server itself, with an explicit bypass, reads or writes
// these rows.
func (ServerSetting) Policy() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{privacy.AlwaysDenyRule()},
		Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()},
	}
}
