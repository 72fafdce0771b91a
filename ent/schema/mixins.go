package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"
	"github.com/google/uuid"
)

// idMixin gives an entity a random UUID primary key.
type idMixin struct{ mixin.Schema }

// Fields of the idMixin.
func (idMixin) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(uuid.New).Immutable(),
	}
}

// timeMixin records when a row was created and last updated.
type timeMixin struct{ mixin.Schema }

// Fields of the timeMixin.
func (timeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").Default(now).Immutable().
			Annotations(entgql.OrderField("CREATED_AT")),
		field.Time("updated_at").Default(now).UpdateDefault(now).
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
	}
}

func now() time.Time { return time.Now().UTC() }

// orgMixin makes an entity owned by one organization: an organization_id column with its edge.
// ref names the organization's edge back to the entity. Optional rows (built-in roles, audit
// entries of failed logins) may have no organization.
type orgMixin struct {
	mixin.Schema
	ref      string
	optional bool
}

// Fields of the orgMixin.
func (m orgMixin) Fields() []ent.Field {
	f := field.UUID("organization_id", uuid.UUID{}).Immutable().
		Annotations(entgql.Skip(entgql.SkipAll))
	if m.optional {
		f = f.Optional().Nillable()
	}
	return []ent.Field{f}
}

// Edges of the orgMixin.
func (m orgMixin) Edges() []ent.Edge {
	e := edge.From("organization", Organization.Type).Ref(m.ref).
		Field("organization_id").Unique().Immutable()
	if !m.optional {
		e = e.Required()
	}
	return []ent.Edge{e}
}
