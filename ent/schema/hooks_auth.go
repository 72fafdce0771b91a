package schema

import (
	"context"
	"slices"
	"sync"

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
// Creations are announced for roles only (a new role joins an organization's cached list).
func announceAuthChange(kind authchange.Kind, fields ...string) ent.Hook {
	ops := ent.OpUpdate | ent.OpUpdateOne | ent.OpDelete | ent.OpDeleteOne
	if kind == authchange.KindRole {
		ops |= ent.OpCreate
	}
	return hook.On(func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			c := m.(interface{ Client() *gen.Client }).Client()
			sys := privacy.DecisionContext(ctx, privacy.Allow)
			if m.Op().Is(ent.OpCreate) {
				v, err := next.Mutate(ctx, m)
				if err != nil {
					return nil, err
				}
				if id, ok := m.(interface{ ID() (uuid.UUID, bool) }).ID(); ok {
					return v, announce(ctx, sys, c, kind, []string{id.String()})
				}
				return v, nil
			}
			deletes := m.Op().Is(ent.OpDelete | ent.OpDeleteOne)
			if !deletes && !slices.ContainsFunc(append(m.Fields(), m.ClearedFields()...), func(f string) bool {
				return slices.Contains(fields, f)
			}) {
				return next.Mutate(ctx, m)
			}
			// Which rows change is the system's business, whatever the viewer may read.
			ids, err := m.(interface {
				IDs(context.Context) ([]uuid.UUID, error)
			}).IDs(sys)
			if err != nil {
				return nil, err
			}
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
			return v, announce(ctx, sys, c, kind, keys)
		})
	}, ops)
}

// announce writes the AuthChange rows of keys, and tells a collector in ctx.
func announce(ctx, sys context.Context, c *gen.Client, kind authchange.Kind, keys []string) error {
	changes := make([]*gen.AuthChangeCreate, len(keys))
	for i, k := range keys {
		changes[i] = c.AuthChange.Create().SetKind(kind).SetKey(k)
	}
	if err := c.AuthChange.CreateBulk(changes...).Exec(sys); err != nil {
		return err
	}
	if col, ok := ctx.Value(authChangesKey{}).(*AuthChanges); ok {
		col.add(kind, keys)
	}
	return nil
}

// AuthChanges collects the changes announced through a context, so that the server that made
// them can drop what it cached at once when they commit, without waiting for the notification
// that reaches the other replicas.
type AuthChanges struct {
	mu      sync.Mutex
	changes []string // kind:key
}

type authChangesKey struct{}

// CollectAuthChanges returns a context whose mutations report their announced changes to the
// returned collector.
func CollectAuthChanges(ctx context.Context) (context.Context, *AuthChanges) {
	c := &AuthChanges{}
	return context.WithValue(ctx, authChangesKey{}, c), c
}

func (c *AuthChanges) add(kind authchange.Kind, keys []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		c.changes = append(c.changes, string(kind)+":"+k)
	}
}

// Take returns the changes collected so far (kind:key) and forgets them.
func (c *AuthChanges) Take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.changes
	c.changes = nil
	return out
}
