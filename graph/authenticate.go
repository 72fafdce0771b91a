package graph

import (
	"context"
	stdsql "database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/organization"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/role"
	"github.com/inferiallm/orgserver/ent/schema/schematype"
	"github.com/inferiallm/orgserver/ent/session"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/server/auth"
)

// Authentication: from a bearer access token to the request's viewer, with the session's
// liveness under its organization's policy and the once-a-minute record of activity.

// Authenticate resolves a bearer access token, or an organization API key (see
// authenticateKey), to the viewer of a request. Beyond the token's
// signature and expiry it checks that the session is live and the user is still a member of the
// token's organization, and reads the member's current role, so that a revoked session, a
// removed member or a changed role takes effect on the very next request, on every replica.
// What it reads comes from the authentication cache when that has it (see authCache), else from
// one SQL statement.
func (s *Service) Authenticate(ctx context.Context, token string) (*auth.Viewer, error) {
	if auth.LooksLikeAPIKey(token) {
		return s.authenticateKey(ctx, token)
	}
	id, err := s.Tokens.ParseAccess(token)
	if err != nil {
		s.debugAuth(ctx, "access token refused: malformed, forged or expired", uuid.Nil, false)
		return nil, err
	}
	now := s.now()
	e, cached := s.authCache.session(ctx, id.SessionID)
	if !cached || !sessionAlive(e.policy, e.createdAt, e.seen.session, e.expiresAt, now) {
		// Not cached, or cached as idle: another replica may have seen the session used since.
		gen := s.authCache.generation(ctx)
		if e, err = s.loadAuth(ctx, id.SessionID); err != nil {
			if errors.Is(err, auth.ErrInvalidToken) {
				s.debugAuth(ctx, "access token refused: no live session of a member", id.SessionID, false)
			}
			return nil, err
		}
		if !sessionAlive(e.policy, e.createdAt, e.seen.session, e.expiresAt, now) {
			s.debugAuth(ctx, "access token refused: the session expired or was idle too long", id.SessionID, false)
			return nil, auth.ErrInvalidToken
		}
		e.loaded = now
		s.authCache.putSession(gen, e)
	}
	if e.viewer.UserID != id.UserID || e.viewer.OrgID != id.OrgID {
		s.debugAuth(ctx, "access token refused: its user or organization is not the session's", id.SessionID, cached)
		return nil, auth.ErrInvalidToken
	}
	s.debugAuth(ctx, "authenticated", id.SessionID, cached)
	v := e.viewer // a copy: the request's own
	if seen := s.trackActivity(ctx, &v, e.seen); seen != e.seen {
		s.authCache.update(v.SessionID, func(e *authEntry) { e.seen = seen })
	}
	return &v, nil
}

// debugAuth logs an authentication decision at debug level: the session it concerns and
// whether the cache answered, never the token.
func (s *Service) debugAuth(ctx context.Context, decision string, sessionID uuid.UUID, cached bool) {
	if !s.Logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{slog.String("request_id", auth.ClientFromContext(ctx).RequestID), slog.Bool("from_cache", cached)}
	if sessionID != uuid.Nil {
		attrs = append(attrs, slog.String("session_id", sessionID.String()))
	}
	s.Logger.LogAttrs(ctx, slog.LevelDebug, decision, attrs...)
}

// loadAuth reads what authentication needs about a live (not revoked) session in one statement:
// the session, the user, the membership of the session's organization, its role and the
// organization's policy.
func (s *Service) loadAuth(ctx context.Context, sid uuid.UUID) (authEntry, error) {
	b := sql.Dialect(s.Dialect)
	st, u, m, r, o := b.Table(session.Table).As("s"), b.Table(user.Table).As("u"),
		b.Table(membership.Table).As("m"), b.Table(role.Table).As("r"), b.Table(organization.Table).As("o")
	q := b.Select(
		st.C(session.FieldUserID), st.C(session.FieldOrganizationID), st.C(session.FieldExpiresAt),
		st.C(session.FieldCreatedAt), st.C(session.FieldLastUsedAt), o.C(organization.FieldSecurityPolicy),
		st.C(session.FieldSignInMethod), st.C(session.FieldSSOConnectionID), st.C(session.FieldIdpMfa),
		u.C(user.FieldEmail), u.C(user.FieldIsSuperAdmin), u.C(user.FieldTwoFactorEnabled), u.C(user.FieldLastActiveAt),
		m.C(membership.FieldID), m.C(membership.FieldLastActiveAt), r.C(role.FieldID), r.C(role.FieldName), r.C(role.FieldPermissions),
	).From(st).
		Join(u).On(u.C(user.FieldID), st.C(session.FieldUserID)).
		Join(m).OnP(sql.And(
		sql.ColumnsEQ(m.C(membership.FieldUserID), st.C(session.FieldUserID)),
		sql.ColumnsEQ(m.C(membership.FieldOrganizationID), st.C(session.FieldOrganizationID)),
	)).
		Join(r).On(r.C(role.FieldID), m.C(membership.FieldRoleID)).
		Join(o).On(o.C(organization.FieldID), st.C(session.FieldOrganizationID)).
		Where(sql.And(sql.EQ(st.C(session.FieldID), sid), sql.IsNull(st.C(session.FieldRevokedAt))))
	query, args := q.Query()
	var rows sql.Rows
	if err := s.Driver.Query(ctx, query, args, &rows); err != nil {
		return authEntry{}, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return authEntry{}, err
		}
		return authEntry{}, auth.ErrInvalidToken
	}
	var (
		e                = authEntry{viewer: auth.Viewer{SessionID: sid}}
		v                = &e.viewer
		userSeen         stdsql.NullTime
		ssoConn          uuid.NullUUID
		perms, rawPolicy []byte
	)
	if err := rows.Scan(&v.UserID, &v.OrgID, &e.expiresAt, &e.createdAt, &e.seen.session, &rawPolicy,
		&v.SignInMethod, &ssoConn, &v.IdPMFA,
		&v.Email, &v.SuperAdmin, &v.TwoFactorEnabled, &userSeen,
		&v.MembershipID, &e.seen.member, &e.roleID, &v.Role, &perms); err != nil {
		return authEntry{}, err
	}
	rows.Close()
	e.seen.user = userSeen.Time
	if ssoConn.Valid {
		v.SSOConnectionID = &ssoConn.UUID
	}
	if err := json.Unmarshal(rawPolicy, &e.policy); err != nil {
		return authEntry{}, err
	}
	if err := json.Unmarshal(perms, &v.Permissions); err != nil {
		return authEntry{}, err
	}
	v.RequireTwoFactor = e.policy.RequireTwoFactor
	return e, nil
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

// activityInterval is how stale lastActiveAt may get: authenticated requests write it at most
// once per interval per user and organization.
const activityInterval = time.Minute

// activityWriteTimeout bounds the wait of the activity record on a request's path.
const activityWriteTimeout = 2 * time.Second

// activity is when a viewer's membership, account and session were last marked as used.
type activity struct{ member, user, session time.Time }

// trackActivity records that the viewer made a request, at most once per activityInterval:
// reads must not turn into a write per request. The conditional updates also keep replicas from
// writing the same minute twice. The session's last use drives its idle timeout. It returns
// the activity as it stands afterwards.
func (s *Service) trackActivity(ctx context.Context, v *auth.Viewer, seen activity) activity {
	now := s.now()
	cutoff := now.Add(-activityInterval)
	// Bookkeeping must not hold up the request it records: when the database is slow to take a
	// write (a lock held by another process, a long writer queue), it is skipped this time.
	ctx, cancel := context.WithTimeout(ctx, activityWriteTimeout)
	defer cancel()
	// Recording activity is bookkeeping by the system, not a change the viewer makes.
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	var errs []error
	record := func(last *time.Time, write func() error) {
		if !last.Before(cutoff) {
			return
		}
		if err := write(); err != nil {
			errs = append(errs, err)
			return
		}
		*last = now
	}
	record(&seen.member, func() error {
		return s.Client.Membership.Update().
			Where(membership.ID(v.MembershipID), membership.LastActiveAtLT(cutoff)).
			SetLastActiveAt(now).Exec(sys)
	})
	record(&seen.user, func() error {
		return s.Client.User.Update().
			Where(user.ID(v.UserID), user.Or(user.LastActiveAtIsNil(), user.LastActiveAtLT(cutoff))).
			SetLastActiveAt(now).Exec(sys)
	})
	record(&seen.session, func() error {
		return s.Client.Session.Update().
			Where(session.ID(v.SessionID), session.LastUsedAtLT(cutoff)).
			SetLastUsedAt(now).Exec(sys)
	})
	if err := errors.Join(errs...); err != nil {
		s.Logger.WarnContext(ctx, "recording activity", "err", err)
	}
	return seen
}
