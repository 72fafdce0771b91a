package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	"github.com/inferiallm/orgserver/ent/privacy"
)

// RateLimit counts recent failures of one kind for one key (an account or a client address),
// so that every replica slows down the same attacker. Rows expire on their own: a key whose
// last failure is older than the window starts again from zero.
type RateLimit struct{ ent.Schema }

// Fields of the RateLimit.
func (RateLimit) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().Immutable().StorageKey("key"),
		field.Int("failures").Default(0),
		field.Time("window_start"),
		field.Time("blocked_until").Optional().Nillable(),
	}
}

// Annotations of the RateLimit.
func (RateLimit) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the RateLimit: only the server itself, with an explicit bypass, reads or writes
// these rows.
func (RateLimit) Policy() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{privacy.AlwaysDenyRule()},
		Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()},
	}
}
