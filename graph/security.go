package graph

import (
	"context"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/predicate"
	"github.com/inferiallm/orgserver/ent/schema/schematype"
	"github.com/inferiallm/orgserver/ent/session"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/graph/model"
	"github.com/inferiallm/orgserver/server/auth"
)

// twoFactorExempt are the fields a member without 2FA can still reach in an organization that
// requires it: set 2FA up, sign out, and switch to another organization.
var twoFactorExempt = map[string]bool{
	"logout": true, "switchOrganization": true, "beginTwoFactorSetup": true, "confirmTwoFactorSetup": true,
}

// checkTwoFactor refuses the current field when the active organization requires 2FA, the viewer
// has none, and the field is not one of the exempt ones.
func checkTwoFactor(ctx context.Context, v *auth.Viewer) error {
	if !v.RequireTwoFactor || v.TwoFactorEnabled {
		return nil
	}
	if fc := graphql.GetFieldContext(ctx); fc != nil && twoFactorExempt[fc.Field.Name] {
		return nil
	}
	return ErrTwoFactorRequired
}

// sessionAlive reports whether a session is still usable under its organization's policy: not
// revoked, not expired, not idle too long, not older than the maximum lifetime.
func sessionAlive(p schematype.SecurityPolicy, createdAt, lastUsedAt, expiresAt time.Time, now time.Time) bool {
	if !now.Before(expiresAt) {
		return false
	}
	if p.SessionIdleTimeoutMinutes > 0 && now.Sub(lastUsedAt) > time.Duration(p.SessionIdleTimeoutMinutes)*time.Minute {
		return false
	}
	if p.SessionMaxLifetimeHours > 0 && now.Sub(createdAt) > time.Duration(p.SessionMaxLifetimeHours)*time.Hour {
		return false
	}
	return true
}

// updateSecurityPolicy changes the active organization's security policy.
func (s *Service) updateSecurityPolicy(ctx context.Context, in model.UpdateSecurityPolicyInput) (*schematype.SecurityPolicy, error) {
	v := auth.FromContext(ctx)
	db := s.db(ctx)
	org, err := db.Organization.Get(ctx, v.OrgID)
	if err != nil {
		return nil, err
	}
	old, p := org.SecurityPolicy, org.SecurityPolicy
	between := func(name string, val *int, lo, hi int, dst *int) error {
		if val == nil {
			return nil
		}
		if *val < lo || *val > hi {
			return Errorf(CodeBadUserInput, "%s must be between %d and %d", name, lo, hi)
		}
		*dst = *val
		return nil
	}
	for _, err := range []error{
		between("sessionIdleTimeoutMinutes", in.SessionIdleTimeoutMinutes, 5, 43200, &p.SessionIdleTimeoutMinutes),
		between("sessionMaxLifetimeHours", in.SessionMaxLifetimeHours, 1, 8760, &p.SessionMaxLifetimeHours),
		between("invitationTtlHours", in.InvitationTTLHours, 1, 8760, &p.InvitationTTLHours),
		between("passwordMinLength", in.PasswordMinLength, 8, 128, &p.PasswordMinLength),
	} {
		if err != nil {
			return nil, err
		}
	}
	if in.RequireTwoFactor != nil {
		p.RequireTwoFactor = *in.RequireTwoFactor
	}
	if in.AllowedEmailDomains != nil {
		domains := []string{}
		for _, d := range in.AllowedEmailDomains {
			d = strings.TrimPrefix(strings.TrimSpace(d), "@")
			key, ok := domainKey(d)
			if _, err := normalizeEmail("x@" + key); err != nil || !ok {
				return nil, Errorf(CodeBadUserInput, "Invalid e-mail domain %q", d)
			}
			// Kept in the form they are compared in; an IDN as its ASCII (xn--) form.
			domains = append(domains, key)
		}
		p.AllowedEmailDomains = domains
	}
	if err := db.Organization.UpdateOne(org).SetSecurityPolicy(p).Exec(ctx); err != nil {
		return nil, err
	}
	return &p, s.audit(ctx, auditEntry{Action: "security.policy_update", Category: categorySecurity,
		ResourceType: "organization", ResourceID: org.ID.String(),
		Details: map[string]any{"old": old, "new": p}})
}

// viewerSessions lists the viewer's live sessions in every organization: not revoked, not
// expired, and not ended by their organization's idle timeout or maximum lifetime.
func (s *Service) viewerSessions(ctx context.Context, v *auth.Viewer) ([]*ent.Session, error) {
	all, err := s.db(ctx).Session.Query().
		Where(session.UserID(v.UserID), session.RevokedAtIsNil(), session.ExpiresAtGT(s.now())).
		WithOrganization().
		Order(ent.Desc(session.FieldLastUsedAt)).
		All(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	live := all[:0]
	for _, sess := range all {
		if o := sess.Edges.Organization; o != nil && sessionAlive(o.SecurityPolicy, sess.CreatedAt, sess.LastUsedAt, sess.ExpiresAt, now) {
			live = append(live, sess)
		}
	}
	return live, nil
}

// livePredicates select the sessions of an organization with policy p that are still usable.
func livePredicates(p schematype.SecurityPolicy, now time.Time) []predicate.Session {
	ps := []predicate.Session{session.RevokedAtIsNil(), session.ExpiresAtGT(now)}
	if p.SessionIdleTimeoutMinutes > 0 {
		ps = append(ps, session.LastUsedAtGTE(now.Add(-time.Duration(p.SessionIdleTimeoutMinutes)*time.Minute)))
	}
	if p.SessionMaxLifetimeHours > 0 {
		ps = append(ps, session.CreatedAtGTE(now.Add(-time.Duration(p.SessionMaxLifetimeHours)*time.Hour)))
	}
	return ps
}

// revokeSession revokes one session: the viewer's own, or with security:update a session of a
// member of the active organization (the privacy rule of sessions decides). Others' sessions
// are NOT_FOUND.
func (s *Service) revokeSession(ctx context.Context, id uuid.UUID) (bool, error) {
	db := s.db(ctx)
	n, err := db.Session.Update().Where(session.ID(id), session.RevokedAtIsNil()).
		SetRevokedAt(s.now()).SetRevokeReason("revoked").Save(ctx)
	if err != nil {
		return false, err
	}
	if n == 0 {
		return false, Errorf(CodeNotFound, "Session not found")
	}
	return true, s.audit(ctx, auditEntry{Action: "session.revoke", Category: categorySecurity,
		ResourceType: "session", ResourceID: id.String()})
}

// revokeOtherSessions revokes every live session of the viewer but the current one.
func (s *Service) revokeOtherSessions(ctx context.Context) (int, error) {
	v := auth.FromContext(ctx)
	n, err := s.revokeUserSessions(ctx, v, "revoked by user")
	if err != nil {
		return 0, err
	}
	return n, s.audit(ctx, auditEntry{Action: "session.revoke_others", Category: categorySecurity,
		ResourceType: "user", ResourceID: v.UserID.String(), Details: map[string]any{"count": n}})
}

func (s *Service) revokeUserSessions(ctx context.Context, v *auth.Viewer, reason string) (int, error) {
	return s.db(ctx).Session.Update().
		Where(session.UserID(v.UserID), session.IDNEQ(v.SessionID), session.RevokedAtIsNil()).
		SetRevokedAt(s.now()).SetRevokeReason(reason).Save(ctx)
}

// changePassword changes the viewer's password and ends their other sessions.
//  1. Before any transaction: under the sign-in limits, check the current password; check the
//     new one against the policy and hash it.
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
	org, err := db.Organization.Get(ctx, v.OrgID)
	if err != nil {
		return false, err
	}
	if err := checkPassword(next, org.SecurityPolicy.PasswordMinLength); err != nil {
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
