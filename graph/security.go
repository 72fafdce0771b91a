package graph

import (
	"context"

	"github.com/inferiallm/orgserver/ent/schema/schematype"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/server/auth"
)

// updateSecurityPolicy changes the active organization's security policy.
func (s *Service) updateSecurityPolicy(ctx context.Context, in schematype.UpdateSecurityPolicyInput) (*schematype.SecurityPolicy, error) {
	v := auth.FromContext(ctx)
	db := s.db(ctx)
	org, err := db.Organization.Get(ctx, v.OrgID)
	if err != nil {
		return nil, err
	}
	p, err := in.Apply(org.SecurityPolicy)
	if err != nil {
		return nil, err
	}
	if err := db.Organization.UpdateOne(org).SetSecurityPolicy(p).Exec(ctx); err != nil {
		return nil, err
	}
	return &p, s.audit(ctx, auditEntry{Action: "security.policy_update", Category: categorySecurity,
		ResourceType: "organization", ResourceID: org.ID.String(),
		Details: map[string]any{"old": org.SecurityPolicy, "new": p}})
}

// changePassword changes the viewer's password and ends their other sessions.
//  1. Before any transaction: under the sign-in limits, check the current password; check the
//     new one against the strictest policy of the viewer's organizations and hash it.
//  2. In one transaction: replace the hash only if it is still the one just checked, end the
//     other sessions, audit.
func (s *Service) changePassword(ctx context.Context, current, next string) (bool, error) {
	v := auth.FromContext(ctx)
	keys := s.loginKeys(ctx, v.Email)
	if err := s.checkLimits(ctx, keys); err != nil {
		return false, err
	}
	db := s.db(ctx)
	u, err := db.User.Get(ctx, v.UserID)
	if err != nil {
		return false, err
	}
	ok, err := s.verifyPassword(ctx, current, u.PasswordHash, keys)
	if err != nil {
		return false, err
	}
	if !ok {
		s.recordFailures(ctx, keys)
		return false, Errorf(CodeBadUserInput, "Current password is incorrect")
	}
	// The strictest policy of all the viewer's organizations, not only the active one's: the
	// password is the account's, used to sign in to each of them.
	if err := s.checkAccountPassword(ctx, u.ID, next); err != nil {
		return false, err
	}
	hash, err := s.hashPassword(ctx, next)
	if err != nil {
		return false, err
	}
	err = s.inTx(ctx, func(ctx context.Context) error {
		n, err := s.db(ctx).User.Update().Where(user.ID(u.ID), user.PasswordHash(u.PasswordHash)).
			SetPasswordHash(hash).Save(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return Errorf(CodeConflict, "The password was changed meanwhile; try again")
		}
		revoked, err := s.revokeUserSessions(ctx, v, "password changed")
		if err != nil {
			return err
		}
		return s.audit(ctx, auditEntry{Action: "security.password_change", Category: categorySecurity,
			ResourceType: "user", ResourceID: u.ID.String(), Details: map[string]any{"sessions_revoked": revoked}})
	})
	return err == nil, err
}
