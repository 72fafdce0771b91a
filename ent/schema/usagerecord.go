package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent/privacy"
)

// UsageRecord is what the inference gateway reported for one API key of an organization, one
// UTC day and one model: the day's totals so far. A new report for the same key, day and model
// replaces the row (graph/usage.go), so that a report sent twice counts once.
type UsageRecord struct{ ent.Schema }

// Mixin of the UsageRecord.
func (UsageRecord) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{}, timeMixin{}, orgMixin{ref: "usage_records"}}
}

// Fields of the UsageRecord.
func (UsageRecord) Fields() []ent.Field {
	return []ent.Field{
		// A plain column, not an edge to the key: usage is history and outlives its key (the revoked
		// keys of a deleted role are deleted with it), which is why the key's prefix and name are
		// kept beside it.
		field.UUID("api_key_id", uuid.UUID{}).Immutable(),
		field.String("key_prefix").NotEmpty().MaxLen(64),
		field.String("key_name").Default("").MaxLen(200),
		field.String("day").NotEmpty().MaxLen(10).Immutable().
			Comment("The UTC date, YYYY-MM-DD: text compares and indexes the same on both databases."),
		field.String("model").NotEmpty().MaxLen(200).Immutable(),
		field.Int64("requests").NonNegative(),
		field.Int64("tokens").NonNegative(),
	}
}

// Indexes of the UsageRecord.
func (UsageRecord) Indexes() []ent.Index {
	return []ent.Index{
		// The key of a report: the upsert's conflict target.
		index.Fields("organization_id", "api_key_id", "day", "model").Unique(),
		// Today's usage of an organization.
		index.Fields("organization_id", "day"),
	}
}

// Annotations of the UsageRecord: served by a hand-written GraphQL field (schema.graphqls).
func (UsageRecord) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the UsageRecord: read inside the active organization; written only by the server
// for the inference gateway, with an explicit bypass, since the gateway is not a viewer.
func (UsageRecord) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			denyIfNoViewer(),
			filterByActiveOrg(),
			allow(),
		},
		Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()},
	}
}
