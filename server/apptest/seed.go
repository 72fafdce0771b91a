package apptest

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/privacy"
)

// SeedMembers adds n members with the role roleID to organization orgID with bulk inserts,
// bypassing the API: user<i>@<domain>, joined and last active a minute apart. Benchmarks and the
// load script use it to build large organizations quickly.
func SeedMembers(ctx context.Context, c *ent.Client, orgID, roleID uuid.UUID, n int, domain string) error {
	// Seeding writes as the system.
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	const batch = 500
	base := time.Now().Add(-time.Duration(n) * time.Minute)
	for i := 0; i < n; i += batch {
		users := make([]*ent.UserCreate, 0, batch)
		for j := i; j < min(i+batch, n); j++ {
			users = append(users, c.User.Create().SetEmail(fmt.Sprintf("user%05d@%s", j, domain)).
				SetName(fmt.Sprintf("User %05d", j)).SetPasswordHash("x"))
		}
		created, err := c.User.CreateBulk(users...).Save(ctx)
		if err != nil {
			return err
		}
		ms := make([]*ent.MembershipCreate, 0, len(created))
		for k, u := range created {
			at := base.Add(time.Duration(i+k) * time.Minute)
			ms = append(ms, c.Membership.Create().SetUserID(u.ID).SetOrganizationID(orgID).SetRoleID(roleID).
				SetEmail(u.Email).SetJoinedAt(at).SetLastActiveAt(at))
		}
		if err := c.Membership.CreateBulk(ms...).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// SettleAfterSeeding does on PostgreSQL what autovacuum does a minute after a bulk load: it
// gives the planner statistics of the seeded tables and sets the visibility map that lets an
// index-only scan skip the table. Without it the planner takes a 10,000-member organization
// for an empty one and sorts it whole. SQLite needs nothing.
func (s *Server) SettleAfterSeeding(tb testing.TB) {
	tb.Helper()
	if !strings.HasPrefix(s.Config.DatabaseURL, "postgres") {
		return
	}
	db, err := sql.Open("postgres", s.Config.DatabaseURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("VACUUM ANALYZE memberships, users"); err != nil {
		tb.Fatal(err)
	}
}
