package schema

import (
	"context"
	"slices"

	"entgo.io/ent"
	"github.com/google/uuid"

	gen "github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/authchange"
	"github.com/inferiallm/orgserver/ent/hook"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/privacy"
)

// announceAuthChange records an AuthChange, in the mutation's own transaction, whenever a
// mutation of kind deletes rows or changes one of fields: what authenticating a request reads
// from them (see AuthChange). Other changes (a session's last use, a member's last activity, an
// organization's member count) are not announced: they change nothing a cache must drop.
func announceAuthChange(kind authchange.Kind, fields ...string) ent.Hook {
	return hook.On(func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			deletes := m.Op().Is(ent.OpDelete | ent.OpDeleteOne)
			if !deletes && !slices.ContainsFunc(append(m.Fields(), m.ClearedFields()...), func(f string) bool {
				return slices.Contains(fields, f)
			}) {
				return next.Mutate(ctx, m)
			}
			// Which rows change is the system's business, whatever the viewer may read.
			sys := privacy.DecisionContext(ctx, privacy.Allow)
			ids, err := m.(interface {
				IDs(context.Context) ([]uuid.UUID, error)
			}).IDs(sys)
			if err != nil {
				return nil, err
			}
			c := m.(interface{ Client() *gen.Client }).Client()
			keys := make([]string, len(ids))
			for i, id := range ids {
				keys[i] = id.String()
			}
			if kind == authchange.KindMembership && len(ids) > 0 {
				// A membership is cached by the user and organization it joins.
				var pairs []struct {
					UserID         uuid.UUID `json:"user_id"`
					OrganizationID uuid.UUID `json:"organization_id"`
				}
				if err := c.Membership.Query().Where(membership.IDIn(ids...)).
					Select(membership.FieldUserID, membership.FieldOrganizationID).Scan(sys, &pairs); err != nil {
					return nil, err
				}
				keys = keys[:0]
				for _, p := range pairs {
					keys = append(keys, p.UserID.String()+":"+p.OrganizationID.String())
				}
			}
			v, err := next.Mutate(ctx, m)
			if err != nil || len(keys) == 0 {
				return v, err
			}
			changes := make([]*gen.AuthChangeCreate, len(keys))
			for i, k := range keys {
				changes[i] = c.AuthChange.Create().SetKind(kind).SetKey(k)
			}
			return v, c.AuthChange.CreateBulk(changes...).Exec(sys)
		})
	}, ent.OpUpdate|ent.OpUpdateOne|ent.OpDelete|ent.OpDeleteOne)
}
