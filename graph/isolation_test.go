package graph_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/auditlog"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/session"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/auth"
)

// tenant is one organization's rows of every org-owned type.
type tenant struct {
	org        *ent.Organization
	admin      *ent.User
	token      apptest.Tokens
	membership uuid.UUID
	role       uuid.UUID
	invitation uuid.UUID
	session    uuid.UUID
	auditLog   uuid.UUID
}

func (tn tenant) ids() map[string]uuid.UUID {
	return map[string]uuid.UUID{
		"Organization": tn.org.ID, "User": tn.admin.ID, "Membership": tn.membership, "Role": tn.role,
		"Invitation": tn.invitation, "Session": tn.session, "AuditLog": tn.auditLog,
	}
}

// seedTenant makes an organization with an admin (signed in), a custom role and an invitation.
func seedTenant(t *testing.T, s *apptest.Server, org *ent.Organization, adminEmail string, invitedBy *ent.User) tenant {
	t.Helper()
	ctx := apptest.SystemContext()
	c := s.App.Client()
	admin := s.AddUser(t, adminEmail, org, "admin")
	tn := tenant{org: org, admin: admin}
	tn.token = s.Login(t, adminEmail, apptest.Password(adminEmail))
	m, err := c.Membership.Query().Where(membership.UserID(admin.ID), membership.OrganizationID(org.ID)).Only(ctx)
	require.NoError(t, err)
	tn.membership = m.ID
	r, err := c.Role.Create().SetOrganizationID(org.ID).SetName("auditor").SetPermissions([]string{"audit_log:list"}).Save(ctx)
	require.NoError(t, err)
	tn.role = r.ID
	if invitedBy == nil {
		invitedBy = admin
	}
	inv, err := c.Invitation.Create().SetOrganizationID(org.ID).SetEmail("invitee@" + org.Name + ".test").
		SetRoleID(r.ID).SetTokenHash(auth.HashToken(uuid.NewString())).SetExpiresAt(time.Now().Add(time.Hour)).
		SetInvitedByID(invitedBy.ID).Save(ctx)
	require.NoError(t, err)
	tn.invitation = inv.ID
	sess, err := c.Session.Query().Where(session.UserID(admin.ID)).Only(ctx)
	require.NoError(t, err)
	tn.session = sess.ID
	a, err := c.AuditLog.Query().Where(auditlog.ActorID(admin.ID), auditlog.OrganizationID(org.ID)).First(ctx)
	require.NoError(t, err)
	tn.auditLog = a.ID
	return tn
}

// An isolation test reads like a proof: every row of globex is NOT_FOUND for acme's admin,
// through node, nodes, nested edges, updates and deletes, while the same query for acme's own
// rows succeeds (so the test can fail).
func TestAnotherOrganizationsRowsAreInvisibleAndUntouchable(t *testing.T) {
	s := apptest.Start(t)
	globexOrg := s.CreateOrg(t, "globex")
	globex := seedTenant(t, s, globexOrg, "gina@globex.test", nil)
	// acme's invitation was sent by gina, who is no member of acme: a nested edge across orgs.
	acme := seedTenant(t, s, s.Org(t, apptest.RootOrg), "alice@acme.test", globex.admin)

	const nodeQuery = `query($id: ID!) { node(id: $id) { id } }`
	for typ, foreign := range globex.ids() {
		t.Run(typ, func(t *testing.T) {
			own := acme.ids()[typ]
			r := s.Do(t, acme.token.Access, nodeQuery, map[string]any{"id": own})
			require.Empty(t, r.Errors, "acme's own %s is visible", typ)
			assert.Equal(t, own.String(), r.Str("node.id"))

			r = s.Do(t, acme.token.Access, nodeQuery, map[string]any{"id": foreign})
			assert.Equal(t, "NOT_FOUND", r.Code(), "node")
			assert.Nil(t, r.Get("node"))

			r = s.Do(t, acme.token.Access, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`,
				map[string]any{"ids": []uuid.UUID{own, foreign}})
			require.Len(t, r.Errors, 1, "nodes: one error, for the foreign id")
			assert.Equal(t, "NOT_FOUND", r.Code())
			nodes := r.Get("nodes").([]any)
			assert.NotNil(t, nodes[0])
			assert.Nil(t, nodes[1])

			// An unknown ID answers exactly like a foreign one: existence does not leak.
			unknown := s.Do(t, acme.token.Access, nodeQuery, map[string]any{"id": uuid.New()})
			assert.Equal(t, r.Errors[0].Message, unknown.Errors[0].Message)
		})
	}

	t.Run("nested edges", func(t *testing.T) {
		r := s.Do(t, acme.token.Access, `query($id: ID!) { node(id: $id) { ... on Invitation { email invitedBy { id email } role { name } } } }`,
			map[string]any{"id": acme.invitation})
		require.Empty(t, r.Errors)
		assert.Equal(t, "auditor", r.Str("node.role.name"))
		assert.Nil(t, r.Get("node.invitedBy"), "gina of globex is not visible from acme")

		r = s.Do(t, acme.token.Access, `{ viewer { memberships { organization { name } } } }`, nil)
		require.Empty(t, r.Errors)
		assert.Len(t, r.Get("viewer.memberships"), 1)
	})

	t.Run("lists", func(t *testing.T) {
		r := s.Do(t, acme.token.Access, `{ organizations { totalCount } }`, nil)
		assert.Equal(t, "FORBIDDEN", r.Code(), "only super admins list organizations")
	})

	t.Run("updates through GraphQL reach only the active organization", func(t *testing.T) {
		r := s.Do(t, acme.token.Access, `mutation { updateOrganization(input: {name: "Acme Renamed"}) { id name } }`, nil)
		require.Empty(t, r.Errors)
		assert.Equal(t, acme.org.ID.String(), r.Str("updateOrganization.id"))
		g, err := s.App.Client().Organization.Get(apptest.SystemContext(), globex.org.ID)
		require.NoError(t, err)
		assert.Equal(t, "globex", g.Name)

		login := s.Do(t, "", `mutation($e: String!, $p: String!, $o: ID) { login(input: {email: $e, password: $p, organizationId: $o}) { accessToken } }`,
			map[string]any{"e": "alice@acme.test", "p": apptest.Password("alice@acme.test"), "o": globex.org.ID})
		assert.Equal(t, "FORBIDDEN", login.Code())
	})

	t.Run("updates and deletes through ent", func(t *testing.T) {
		v, err := s.App.Service().Authenticate(context.Background(), acme.token.Access)
		require.NoError(t, err)
		ctx := auth.NewContext(context.Background(), v)
		c := s.App.Client()
		now := time.Now()
		updates := map[string]func(uuid.UUID) error{
			"Organization": func(id uuid.UUID) error {
				return c.Organization.UpdateOneID(id).SetName("x-" + id.String()[:8]).Exec(ctx)
			},
			"User":       func(id uuid.UUID) error { return c.User.UpdateOneID(id).SetName("x").Exec(ctx) },
			"Membership": func(id uuid.UUID) error { return c.Membership.UpdateOneID(id).SetLastActiveAt(now).Exec(ctx) },
			"Role":       func(id uuid.UUID) error { return c.Role.UpdateOneID(id).SetDescription("x").Exec(ctx) },
			"Invitation": func(id uuid.UUID) error { return c.Invitation.UpdateOneID(id).SetStatus("REVOKED").Exec(ctx) },
			"Session":    func(id uuid.UUID) error { return c.Session.UpdateOneID(id).SetRevokedAt(now).Exec(ctx) },
			"AuditLog":   func(id uuid.UUID) error { return c.AuditLog.DeleteOneID(id).Exec(ctx) },
		}
		deletes := map[string]func(uuid.UUID) error{
			"Membership": func(id uuid.UUID) error { return c.Membership.DeleteOneID(id).Exec(ctx) },
			"Role":       func(id uuid.UUID) error { return c.Role.DeleteOneID(id).Exec(ctx) },
			"Invitation": func(id uuid.UUID) error { return c.Invitation.DeleteOneID(id).Exec(ctx) },
		}
		for typ, id := range globex.ids() {
			err := updates[typ](id)
			assert.True(t, ent.IsNotFound(err) || isDenied(err), "%s update: %v", typ, err)
			if del, ok := deletes[typ]; ok {
				err := del(id)
				assert.True(t, ent.IsNotFound(err), "%s delete: %v", typ, err)
			}
		}
		// The control: the same calls work on acme's own rows where the rules allow them.
		require.NoError(t, updates["Role"](acme.role))
		require.NoError(t, updates["Invitation"](acme.invitation))
		require.NoError(t, updates["Session"](acme.session))

		n, err := c.Organization.Query().Count(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, n, "alice sees one organization")
		n, err = c.Membership.Query().Count(ctx)
		require.NoError(t, err)
		assert.Equal(t, 2, n, "acme's two memberships (root and alice)")
		n, err = c.User.Query().Count(ctx)
		require.NoError(t, err)
		assert.Equal(t, 2, n)

		// Nobody without a viewer reads anything.
		_, err = c.Organization.Query().All(context.Background())
		assert.True(t, isDenied(err), "no viewer: %v", err)
	})
}
