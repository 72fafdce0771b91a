package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/inferiallm/orgserver/ent/privacy"
)

// AuthChange records a write that can change what authenticating a request finds: a session
// revoked, an account's 2FA or super-admin flag changed, a member removed or given another role,
// a role's permissions or an organization's policy changed. It is written in the transaction of
// the change (by the hooks in hooks_auth.go), so every replica can drop what it cached about it
// once the change commits: on PostgreSQL a trigger notifies the listening replicas; on SQLite the
// replicas read the rows newer than the last one they saw. Old rows are pruned.
type AuthChange struct{ ent.Schema }

// Fields of the AuthChange.
func (AuthChange) Fields() []ent.Field {
	return []ent.Field{
		// "members": an organization's member count changed (a join or a removal); the
		// organization's other rows and its sessions stand.
		// "api_key": an organization API key revoked, renamed or given another role.
		field.Enum("kind").Values("session", "user", "membership", "role", "organization", "members", "api_key").Immutable(),
		field.String("key").NotEmpty().Immutable().
			Comment("The changed row's id; for a membership, the user's and the organization's ids, joined by a colon."),
		field.Time("created_at").Default(now).Immutable(),
	}
}

// Indexes of the AuthChange.
func (AuthChange) Indexes() []ent.Index {
	return []ent.Index{index.Fields("created_at")}
}

// Annotations of the AuthChange.
func (AuthChange) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the AuthChange: only the server itself, with an explicit bypass, reads or writes
// these rows.
func (AuthChange) Policy() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{privacy.AlwaysDenyRule()},
		Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()},
	}
}
