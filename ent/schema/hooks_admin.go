package schema

import (
	"context"
	"errors"

	"entgo.io/ent"
	"github.com/google/uuid"

	gen "github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/hook"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/role"
)

// ErrLastAdmin is returned when a change would leave an organization without an admin.
var ErrLastAdmin = errors.New("organization must keep at least one admin")

// keepOneAdmin keeps at least one admin in every organization that has one: a role change or a
// removal that would leave none fails, and its transaction rolls back. Workflows that change
// memberships lock the organization first (on PostgreSQL), so two admins demoting each other at
// the same moment are checked one after the other.
func keepOneAdmin() ent.Hook {
	return hook.On(func(next ent.Mutator) ent.Mutator {
		return hook.MembershipFunc(func(ctx context.Context, m *gen.MembershipMutation) (ent.Value, error) {
			if _, changesRole := m.RoleID(); !changesRole && m.Op().Is(ent.OpUpdate|ent.OpUpdateOne) {
				return next.Mutate(ctx, m) // e.g. activity tracking
			}
			// The invariant is checked by the system, whatever the viewer may read.
			sys := privacy.DecisionContext(ctx, privacy.Allow)
			ids, err := m.IDs(sys)
			if err != nil {
				return nil, err
			}
			c := m.Client()
			var orgs []uuid.UUID
			if err := c.Membership.Query().Where(membership.IDIn(ids...)).
				Unique(true).Select(membership.FieldOrganizationID).Scan(sys, &orgs); err != nil {
				return nil, err
			}
			before := make(map[uuid.UUID]int, len(orgs))
			for _, o := range orgs {
				if before[o], err = countAdmins(sys, c, o); err != nil {
					return nil, err
				}
			}
			v, err := next.Mutate(ctx, m)
			if err != nil {
				return nil, err
			}
			for _, o := range orgs {
				n, err := countAdmins(sys, c, o)
				if err != nil {
					return nil, err
				}
				if n == 0 && before[o] > 0 {
					return nil, ErrLastAdmin
				}
			}
			return v, nil
		})
	}, ent.OpUpdate|ent.OpUpdateOne|ent.OpDelete|ent.OpDeleteOne)
}

func countAdmins(ctx context.Context, c *gen.Client, org uuid.UUID) (int, error) {
	return c.Membership.Query().
		Where(membership.OrganizationID(org), membership.HasRoleWith(role.Name("admin"), role.BuiltIn(true))).
		Count(ctx)
}

// copyMemberEmail fills a new membership's email from its user, so that every way of creating a
// membership keeps the Users page's search and sort column right.
func copyMemberEmail() ent.Hook {
	return hook.On(func(next ent.Mutator) ent.Mutator {
		return hook.MembershipFunc(func(ctx context.Context, m *gen.MembershipMutation) (ent.Value, error) {
			if _, ok := m.Email(); !ok {
				uid, _ := m.UserID()
				// Reading the e-mail of the user being added, who may not be visible yet.
				u, err := m.Client().User.Get(privacy.DecisionContext(ctx, privacy.Allow), uid)
				if err != nil {
					return nil, err
				}
				m.SetEmail(u.Email)
			}
			return next.Mutate(ctx, m)
		})
	}, ent.OpCreate)
}

// countMembers keeps organizations.member_count equal to the number of the organization's
// memberships: the transaction that adds or removes a membership changes the count too (an
// atomic increment, so concurrent joins and removals add up exactly). The Users page's total
// reads it instead of counting the members.
func countMembers() ent.Hook {
	return hook.On(func(next ent.Mutator) ent.Mutator {
		return hook.MembershipFunc(func(ctx context.Context, m *gen.MembershipMutation) (ent.Value, error) {
			// The count is kept by the system, whoever adds or removes the member.
			sys := privacy.DecisionContext(ctx, privacy.Allow)
			c := m.Client()
			if m.Op().Is(ent.OpCreate) {
				v, err := next.Mutate(ctx, m)
				if err != nil {
					return nil, err
				}
				org, _ := m.OrganizationID()
				return v, c.Organization.UpdateOneID(org).AddMemberCount(1).Exec(sys)
			}
			ids, err := m.IDs(sys)
			if err != nil {
				return nil, err
			}
			var rows []struct {
				OrganizationID uuid.UUID `json:"organization_id"`
				Count          int       `json:"count"`
			}
			if err := c.Membership.Query().Where(membership.IDIn(ids...)).
				GroupBy(membership.FieldOrganizationID).Aggregate(gen.Count()).Scan(sys, &rows); err != nil {
				return nil, err
			}
			v, err := next.Mutate(ctx, m)
			if err != nil {
				return nil, err
			}
			for _, r := range rows {
				if err := c.Organization.UpdateOneID(r.OrganizationID).AddMemberCount(-r.Count).Exec(sys); err != nil {
					return nil, err
				}
			}
			return v, nil
		})
	}, ent.OpCreate|ent.OpDelete|ent.OpDeleteOne)
}
