package graph

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/organization"
	"github.com/inferiallm/orgserver/ent/predicate"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/role"
	"github.com/inferiallm/orgserver/ent/schema/schematype"
	"github.com/inferiallm/orgserver/ent/session"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/graph/model"
	"github.com/inferiallm/orgserver/server/auth"
)

// Sign-in: starting sessions (login, switching organization), refreshing and ending them.

// maxRotatedHashes bounds how many exchanged refresh tokens a session remembers for reuse
// detection.
const maxRotatedHashes = 50

// login signs a user in with e-mail and password and starts a session.
//  1. Refuse while the account or the client address is rate limited.
//  2. Before any transaction: find the account and check the password in the hashing queue. For
//     an unknown e-mail spend a check's time in the same queue anyway, so that neither the
//     answer, its timing nor a busy refusal tells whether the account exists. While the hash is
//     computed, read the memberships, organizations and roles and pick the organization (the
//     one asked for, else the default, else the oldest membership, skipping those that require
//     SSO when none was asked for): their round trips hide behind the hash.
//  3. An account with 2FA needs a code (asked for only once the password is right).
//  4. In one transaction: re-read the account, which must still have the password just checked,
//     and, in the same statement, the picked membership with the same role in an organization
//     not updated since (else read and pick again here); check and use up the second factor;
//     store the password's new hash if it was made with other parameters (computed in step 2's
//     turn); forget the account's failures if there are any; start the session; audit.
//  5. Failures, their audit entries and the rate limiter's counts survive the rollback.
func (s *Service) login(ctx context.Context, in model.LoginInput) (_ *model.AuthPayload, err error) {
	if s.Metrics != nil {
		defer func() { s.Metrics.SignIn(signInOutcome(ctx, err)) }()
	}
	email := auth.NormalizeEmail(in.Email)
	keys := s.loginKeys(ctx, email)
	if err := s.checkLimits(ctx, keys); err != nil {
		return nil, err
	}
	fail := func(ctx context.Context, reason string, u *ent.User, err error) error {
		e := auditEntry{Action: "auth.login", Category: categoryAuth, ActorEmail: email,
			ResourceType: "user", Details: map[string]any{"reason": reason}}
		if u != nil {
			e.ActorID, e.ResourceID, e.OrgID = &u.ID, u.ID.String(), s.auditOrgOf(ctx, u)
		}
		s.auditFailure(ctx, e)
		s.recordFailures(ctx, keys)
		return err
	}
	if len(in.Password) > schematype.MaxPasswordLength {
		return nil, fail(ctx, "password too long", nil, ErrBadCredentials)
	}
	// Signing in: there is no viewer yet.
	u, err := s.db(ctx).User.Query().Where(user.Email(email)).Only(privacy.DecisionContext(ctx, privacy.Allow))
	if ent.IsNotFound(err) {
		if err := s.spendVerification(ctx, in.Password, keys); err != nil {
			return nil, err
		}
		return nil, fail(ctx, "unknown email", nil, ErrBadCredentials)
	}
	if err != nil {
		return nil, err
	}
	code := strings.TrimSpace(ptr(in.TotpCode))
	if code == "" {
		code = strings.TrimSpace(ptr(in.RecoveryCode))
	}
	// While the password is checked, read where the session would start (for an account that
	// can start one now): the transaction then only confirms the read, in the statement that
	// re-reads the account, instead of making it after the hash.
	var pre *signInLoad
	var beside func()
	if u.PasswordHash != "" && (code != "" || !u.TwoFactorEnabled) {
		beside = func() { pre = s.preloadSignIn(ctx, u, in.OrganizationID) }
	}
	ok, rehash, err := s.verifyPasswordForSignIn(ctx, in.Password, u.PasswordHash, keys, beside)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fail(ctx, "wrong password", u, ErrBadCredentials)
	}
	var payload *model.AuthPayload
	err = s.inTx(ctx, func(ctx context.Context) error {
		sys := privacy.DecisionContext(ctx, privacy.Allow)
		// The password checked above must still be the account's.
		checked := u
		account := s.db(ctx).User.Query().Where(user.ID(checked.ID), user.PasswordHash(checked.PasswordHash))
		u, err := account.Clone().Where(pre.unchanged()...).Only(sys)
		if ent.IsNotFound(err) && pre != nil {
			// The membership read beside the hash has changed since: read again here.
			pre = nil
			u, err = account.Only(sys)
		}
		if ent.IsNotFound(err) {
			return fail(ctx, "password changed meanwhile", checked, ErrBadCredentials)
		}
		if err != nil {
			return err
		}
		if u.TwoFactorEnabled {
			if code == "" {
				return &Error{Code: CodeTwoFactorCodeRequired, Message: "TOTP_REQUIRED"}
			}
			if err := s.verifySecondFactor(ctx, u, code); err != nil {
				var e *Error
				if errors.As(err, &e) && e == errInvalidCode {
					return fail(ctx, "invalid 2FA code", u, err)
				}
				return err
			}
		}
		if stored, err := s.storeRehash(ctx, u, checked.PasswordHash, rehash); err != nil {
			return err
		} else if !stored {
			return fail(ctx, "password changed meanwhile", checked, ErrBadCredentials)
		}
		if err := s.clearLimits(ctx, keys[0]); err != nil {
			return err
		}
		var m *ent.Membership
		var ms []*ent.Membership
		if pre != nil {
			m, ms = pre.m, pre.ms
			pre.primeLoaders(sys)
		} else {
			if m, ms, err = s.signInMembership(sys, u, in.OrganizationID); err != nil {
				return err
			}
			if m, err = passwordMembership(m, ms, u, in.OrganizationID != nil); err != nil {
				s.auditFailure(ctx, auditEntry{Action: "auth.login", Category: categoryAuth, ActorEmail: email,
					ActorID: &u.ID, OrgID: &m.OrganizationID, ResourceType: "user", ResourceID: u.ID.String(),
					Details: map[string]any{"reason": "sso required"}})
				return err
			}
		}
		if payload, err = s.startSession(ctx, nil, u, m); err != nil {
			return err
		}
		payload.Loaded = ms
		return s.audit(auth.NewContext(ctx, payload.Viewer), auditEntry{Action: "auth.login", Category: categoryAuth,
			ResourceType: "user", ResourceID: u.ID.String()})
	})
	if err != nil {
		return nil, err
	}
	return payload, nil
}

// signInMembership picks the membership a sign-in starts in, and loads at once what the token
// and the payload need: all of u's memberships, oldest first, with their organizations and
// roles, which it returns too for the payload's memberships. Three statements (loadSignIn);
// the roles also serve this operation's later role lookups (a payload's memberships { role })
// without loading them again.
func (s *Service) signInMembership(sys context.Context, u *ent.User, want *uuid.UUID) (*ent.Membership, []*ent.Membership, error) {
	l, err := s.loadSignIn(sys, u, want)
	if err != nil {
		return nil, nil, err
	}
	l.primeLoaders(sys)
	return l.m, l.ms, nil
}

// signInLoad is what a sign-in reads about where its session starts.
type signInLoad struct {
	m     *ent.Membership   // where the session starts
	ms    []*ent.Membership // all of the user's, with organization and role
	roles map[uuid.UUID][]*ent.Role
}

// errNotMember is loadSignIn's refusal of an organization the user is not a member of.
var errNotMember = &Error{Code: CodeForbidden, Message: "User is not a member of this organization"}

// loadSignIn reads u's memberships with their organizations, and the roles of those
// organizations (built-in and custom), and picks the membership asked for (want), else the
// default organization's, else the oldest. Three statements.
func (s *Service) loadSignIn(sys context.Context, u *ent.User, want *uuid.UUID) (*signInLoad, error) {
	db := s.db(sys)
	ms, err := db.Membership.Query().Where(membership.UserID(u.ID)).WithOrganization().
		Order(ent.Asc(membership.FieldJoinedAt), ent.Asc(membership.FieldID)).All(sys)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		if want != nil {
			return nil, errNotMember
		}
		return nil, Errorf(CodeForbidden, "User is not a member of any organization")
	}
	orgs := make([]uuid.UUID, len(ms))
	for i, m := range ms {
		orgs[i] = m.OrganizationID
	}
	// In the order orgRoles lists an organization's roles, so that the lists can serve it.
	roles, err := db.Role.Query().Where(role.Or(role.OrganizationIDIsNil(), role.OrganizationIDIn(orgs...))).
		Order(ent.Desc(role.FieldBuiltIn), ent.Asc(role.FieldCreatedAt), ent.Asc(role.FieldName)).All(sys)
	if err != nil {
		return nil, err
	}
	byOrg := make(map[uuid.UUID][]*ent.Role, len(orgs))
	for _, org := range orgs {
		if _, ok := byOrg[org]; ok {
			continue
		}
		list := []*ent.Role{}
		for _, r := range roles {
			if r.OrganizationID == nil || *r.OrganizationID == org {
				list = append(list, r)
			}
		}
		byOrg[org] = list
	}
	for _, m := range ms {
		for _, r := range byOrg[m.OrganizationID] {
			if r.ID == m.RoleID {
				m.Edges.Role = r
			}
		}
		if m.Edges.Role == nil {
			return nil, fmt.Errorf("membership %s: role %s not found", m.ID, m.RoleID)
		}
	}
	pick := ms[0]
	switch {
	case want != nil:
		i := slices.IndexFunc(ms, func(m *ent.Membership) bool { return m.OrganizationID == *want })
		if i < 0 {
			return nil, errNotMember
		}
		pick = ms[i]
	case u.DefaultOrgID != nil:
		if i := slices.IndexFunc(ms, func(m *ent.Membership) bool { return m.OrganizationID == *u.DefaultOrgID }); i >= 0 {
			pick = ms[i]
		}
	}
	return &signInLoad{m: pick, ms: ms, roles: byOrg}, nil
}

// primeLoaders hands the organizations' roles to the operation's loaders, so that the payload's
// memberships { role } read none again.
func (l *signInLoad) primeLoaders(ctx context.Context) {
	ld := loadersFrom(ctx)
	if ld == nil {
		return
	}
	for org, list := range l.roles {
		_, _ = ld.once(org, func() ([]*ent.Role, error) { return list, nil })
	}
}

// preloadSignIn is loadSignIn for a password sign-in, outside any transaction while the
// password is being checked, with the membership passwordMembership picks; nil when either
// refuses (the transaction then reads again, to refuse in its place and order).
func (s *Service) preloadSignIn(ctx context.Context, u *ent.User, want *uuid.UUID) *signInLoad {
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	l, err := s.loadSignIn(sys, u, want)
	if err != nil {
		return nil
	}
	if l.m, err = passwordMembership(l.m, l.ms, u, want != nil); err != nil {
		return nil
	}
	return l
}

// unchanged is the condition under which a sign-in's transaction may use l, read before it
// began: the membership is still there with the same role, and its organization (whose policy
// decided that a password may sign in there) has not been updated since. None for no l.
func (l *signInLoad) unchanged() []predicate.User {
	if l == nil {
		return nil
	}
	return []predicate.User{user.HasMembershipsWith(membership.ID(l.m.ID), membership.RoleID(l.m.RoleID),
		membership.HasOrganizationWith(organization.UpdatedAt(l.m.Edges.Organization.UpdatedAt)))}
}

// passwordMembership is where a password sign-in starts: m, unless its organization requires
// SSO of u; then, when no organization was asked for, the first other membership that does not.
func passwordMembership(m *ent.Membership, ms []*ent.Membership, u *ent.User, asked bool) (*ent.Membership, error) {
	if mayUsePassword(m.Edges.Organization, u.ID) {
		return m, nil
	}
	if !asked {
		if i := slices.IndexFunc(ms, func(o *ent.Membership) bool { return mayUsePassword(o.Edges.Organization, u.ID) }); i >= 0 {
			return ms[i], nil
		}
	}
	return m, errSSORequired
}

// startSession creates a session of u in m's organization and issues its tokens. m must have
// its organization and role loaded.
//
// A session started from another one of the same user (from: switching organization, or
// accepting an invitation while signed in) keeps the sign-in time and expiry of the session it
// came from: no proof of identity was given again, so it must not outlive the original sign-in or
// its maximum lifetime.
func (s *Service) startSession(ctx context.Context, from *auth.Viewer, u *ent.User, m *ent.Membership) (*model.AuthPayload, error) {
	return s.openSession(ctx, from, u, m, signIn{method: session.SignInMethodPassword})
}

// signIn is how a new session proved who its user is: a password, or an SSO connection (whose
// provider's MFA may stand in for 2FA, and whose maximum may shorten the session).
type signIn struct {
	method     session.SignInMethod
	connection *uuid.UUID
	idpMFA     bool
	maxLife    time.Duration
}

// openSession is startSession for a sign-in of the given kind.
func (s *Service) openSession(ctx context.Context, from *auth.Viewer, u *ent.User, m *ent.Membership, how signIn) (*model.AuthPayload, error) {
	cl := auth.ClientFromContext(ctx)
	id := uuid.New()
	refresh, err := auth.NewRefreshToken(id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	signedIn, expires := now, now.Add(s.RefreshTTL)
	if how.maxLife > 0 && now.Add(how.maxLife).Before(expires) {
		expires = now.Add(how.maxLife)
	}
	if from != nil && from.UserID == u.ID {
		// Reading the session the new one comes from.
		prev, err := s.db(ctx).Session.Get(privacy.DecisionContext(ctx, privacy.Allow), from.SessionID)
		if err != nil {
			return nil, err
		}
		signedIn, expires = prev.CreatedAt, prev.ExpiresAt
		how = signIn{method: prev.SignInMethod, connection: prev.SSOConnectionID, idpMFA: prev.IdpMfa}
	}
	// Sessions are created by the sign-in workflows only, never by a viewer's own request.
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	sess, err := s.db(ctx).Session.Create().
		SetID(id).
		SetUserID(u.ID).
		SetOrganizationID(m.OrganizationID).
		SetRefreshTokenHash(auth.HashToken(refresh)).
		SetUserAgent(truncate(cl.UserAgent, 512)).
		SetIPAddress(cl.IP).
		SetCreatedAt(signedIn).
		SetLastUsedAt(now).
		SetExpiresAt(expires).
		SetSignInMethod(how.method).
		SetNillableSSOConnectionID(how.connection).
		SetIdpMfa(how.idpMFA).
		Save(sys)
	if err != nil {
		return nil, err
	}
	return s.issue(ctx, u, m, sess, refresh)
}

// issue signs an access token for the session and builds the payload, with the viewer the
// token makes.
func (s *Service) issue(ctx context.Context, u *ent.User, m *ent.Membership, sess *ent.Session, refresh string) (*model.AuthPayload, error) {
	sid := sess.ID
	access, exp, err := s.Tokens.IssueAccess(u.ID, m.OrganizationID, sid)
	if err != nil {
		return nil, err
	}
	r := m.Edges.Role
	v := &auth.Viewer{
		UserID: u.ID, Email: u.Email, OrgID: m.OrganizationID, SessionID: sid, MembershipID: m.ID,
		Role: r.Name, Permissions: r.Permissions, SuperAdmin: u.IsSuperAdmin, TwoFactorEnabled: u.TwoFactorEnabled,
		RequireTwoFactor: m.Edges.Organization.SecurityPolicy.RequireTwoFactor,
		SignInMethod:     sess.SignInMethod.String(), SSOConnectionID: sess.SSOConnectionID, IdPMFA: sess.IdpMfa,
	}
	auth.ClientFromContext(ctx).ActedAs = v
	return &model.AuthPayload{
		Viewer:       v,
		AccessToken:  access,
		RefreshToken: refresh,
		TokenType:    "bearer",
		ExpiresIn:    int(exp.Sub(s.now()).Round(time.Second).Seconds()),
		User:         u,
		Organization: m.Edges.Organization,
	}, nil
}

// refresh exchanges a refresh token for new tokens of the same session.
//  1. Find the session the token names; it must be live and its user still a member.
//  2. The token must be the session's current one. A token that was already exchanged means it
//     was copied: the whole session is revoked (after the rollback, so it sticks).
//  3. Rotate: the new hash replaces the old one only if the old one is still current, so two
//     concurrent uses of one token cannot both succeed.
func (s *Service) refresh(ctx context.Context, token string) (*model.AuthPayload, error) {
	sid, err := auth.RefreshSessionID(token)
	if err != nil {
		return nil, ErrRefreshFailed
	}
	// Refreshing: the caller has no valid access token, the refresh token is the credential.
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	db := s.db(ctx)
	sess, err := db.Session.Query().Where(session.ID(sid)).WithUser().Only(sys)
	if err != nil {
		if ent.IsNotFound(err) {
			return nil, ErrRefreshFailed
		}
		return nil, err
	}
	now := s.now()
	if sess.RevokedAt != nil || !now.Before(sess.ExpiresAt) {
		return nil, ErrRefreshFailed
	}
	hash := auth.HashToken(token)
	if subtle.ConstantTimeCompare([]byte(hash), []byte(sess.RefreshTokenHash)) != 1 {
		if slices.Contains(sess.RotatedTokenHashes, hash) {
			s.revokeForReuse(ctx, sess)
		}
		return nil, ErrRefreshFailed
	}
	m, err := db.Membership.Query().
		Where(membership.UserID(sess.UserID), membership.OrganizationID(sess.OrganizationID)).
		WithOrganization().WithRole().Only(sys)
	if err != nil {
		if ent.IsNotFound(err) {
			return nil, ErrRefreshFailed
		}
		return nil, err
	}
	if !sessionAlive(m.Edges.Organization.SecurityPolicy, sess.CreatedAt, sess.LastUsedAt, sess.ExpiresAt, now) {
		return nil, ErrRefreshFailed
	}
	if sess.SignInMethod == session.SignInMethodPassword && !mayUsePassword(m.Edges.Organization, sess.UserID) {
		// The organization has required SSO since this password sign-in.
		return nil, ErrRefreshFailed
	}
	next, err := auth.NewRefreshToken(sid)
	if err != nil {
		return nil, err
	}
	rotated := append(slices.Clone(sess.RotatedTokenHashes), hash)
	if len(rotated) > maxRotatedHashes {
		rotated = rotated[len(rotated)-maxRotatedHashes:]
	}
	n, err := db.Session.Update().
		Where(session.ID(sid), session.RefreshTokenHash(hash), session.RevokedAtIsNil()).
		SetRefreshTokenHash(auth.HashToken(next)).
		SetRotatedTokenHashes(rotated).
		SetLastUsedAt(now).
		Save(sys)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		// Another request exchanged this token a moment ago: the same token used twice.
		s.revokeForReuse(ctx, sess)
		return nil, ErrRefreshFailed
	}
	return s.issue(ctx, sess.Edges.User, m, sess, next)
}

// revokeForReuse revokes a session whose refresh token was presented after it had been
// exchanged, and audits it. It runs after the transaction so that it survives the refusal.
func (s *Service) revokeForReuse(ctx context.Context, sess *ent.Session) {
	now := s.now()
	s.afterTx(ctx, func(ctx context.Context, c *ent.Client) error {
		// Theft detection acts for the system: the caller holds no valid credential.
		sys := privacy.DecisionContext(ctx, privacy.Allow)
		if err := c.Session.UpdateOneID(sess.ID).SetRevokedAt(now).SetRevokeReason("refresh token reuse").Exec(sys); err != nil {
			return err
		}
		e := auditEntry{Action: "session.revoke", Category: categorySecurity, OrgID: &sess.OrganizationID,
			ActorID: &sess.UserID, ResourceType: "session", ResourceID: sess.ID.String(),
			Details: map[string]any{"reason": "refresh token reuse"}}
		if u := sess.Edges.User; u != nil {
			e.ActorEmail = u.Email
		}
		return e.create(ctx, c).Exec(sys)
	})
}

// logout revokes the viewer's current session.
func (s *Service) logout(ctx context.Context) (bool, error) {
	v := auth.FromContext(ctx)
	if err := s.db(ctx).Session.UpdateOneID(v.SessionID).
		SetRevokedAt(s.now()).SetRevokeReason("logout").Exec(ctx); err != nil {
		return false, err
	}
	return true, s.audit(ctx, auditEntry{Action: "auth.logout", Category: categoryAuth,
		ResourceType: "session", ResourceID: v.SessionID.String()})
}

// switchOrganization starts a session of the viewer in another organization they belong to and
// makes it their default organization.
func (s *Service) switchOrganization(ctx context.Context, orgID uuid.UUID) (*model.AuthPayload, error) {
	v := auth.FromContext(ctx)
	db := s.db(ctx)
	m, err := db.Membership.Query().
		Where(membership.UserID(v.UserID), membership.OrganizationID(orgID)).
		WithOrganization().WithRole().Only(ctx)
	if err != nil {
		if ent.IsNotFound(err) {
			return nil, Errorf(CodeForbidden, "User is not a member of this organization")
		}
		return nil, err
	}
	if err := s.checkSwitchSSO(ctx, v, m.Edges.Organization); err != nil {
		return nil, err
	}
	u, err := db.User.UpdateOneID(v.UserID).SetDefaultOrgID(orgID).Save(ctx)
	if err != nil {
		return nil, err
	}
	payload, err := s.startSession(ctx, v, u, m)
	if err != nil {
		return nil, err
	}
	return payload, s.audit(auth.NewContext(ctx, payload.Viewer), auditEntry{Action: "auth.switch_org", Category: categoryAuth,
		ResourceType: "organization", ResourceID: orgID.String(),
		Details: map[string]any{"from_org_id": v.OrgID.String()}})
}

// auditOrgOf is the organization whose audit log records a failed sign-in of u: the default
// organization while u is still a member of it, else the oldest membership's.
func (s *Service) auditOrgOf(ctx context.Context, u *ent.User) *uuid.UUID {
	// Where a failed sign-in is recorded is the system's business.
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	ms, err := s.db(sys).Membership.Query().Where(membership.UserID(u.ID)).
		Order(ent.Asc(membership.FieldJoinedAt), ent.Asc(membership.FieldID)).All(sys)
	if err != nil || len(ms) == 0 {
		return nil
	}
	for _, m := range ms {
		if u.DefaultOrgID != nil && m.OrganizationID == *u.DefaultOrgID {
			return &m.OrganizationID
		}
	}
	return &ms[0].OrganizationID
}
