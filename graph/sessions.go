package graph

import (
	"context"
	"time"

	"entgo.io/contrib/entgql"
	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/predicate"
	"github.com/inferiallm/orgserver/ent/schema/schematype"
	"github.com/inferiallm/orgserver/ent/session"
	"github.com/inferiallm/orgserver/server/auth"
)

// Session lists and revocation: the Security page and the viewer's own sessions.

// sessions lists the live sessions of the active organization's members, most recently used
// first: the Security page.
func (s *Service) sessions(ctx context.Context, obj *ent.Organization, after *entgql.Cursor[uuid.UUID], first *int) (*ent.SessionConnection, error) {
	first, err := s.defaultPage(first, nil)
	if err != nil {
		return nil, err
	}
	if err := checkCursors("time", after); err != nil {
		return nil, err
	}
	return s.db(ctx).Session.Query().
		Where(session.OrganizationID(obj.ID)).
		Where(livePredicates(obj.SecurityPolicy, s.now())...).
		Paginate(ctx, after, first, nil, nil, ent.WithSessionOrder(&ent.SessionOrder{
			Field: ent.SessionOrderFieldLastUsedAt, Direction: entgql.OrderDirectionDesc}))
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
