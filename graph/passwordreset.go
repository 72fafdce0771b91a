package graph

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/organization"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/schema/schematype"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/graph/model"
	"github.com/inferiallm/orgserver/server/auth"
	"github.com/inferiallm/orgserver/server/telemetry"
)

// Password reset by e-mail: a single-use link, stored only as the hash of its token on the
// account (password_reset_hash), replaced by the next request, cleared by its use and by any
// other change of the password (the forgetPasswordReset hook).

// DefaultPasswordResetTTL is how long a reset link works unless configured otherwise.
const DefaultPasswordResetTTL = 30 * time.Minute

// Audit actions of the reset flow, all in the security category.
const (
	actionPasswordResetRequest = "security.password_reset_request"
	actionPasswordResetSend    = "security.password_reset_send"
	actionPasswordResetDone    = "security.password_reset"
	actionPasswordResetFailed  = "security.password_reset_failed"
)

// errResetLinkInvalid is the answer to an unknown, used or replaced token.
var errResetLinkInvalid = Errorf(CodeNotFound, "This password reset link is invalid or has already been used; request a new one")

// errResetLinkExpired is the answer to a token past its expiry.
var errResetLinkExpired = Errorf(CodeBadUserInput, "This password reset link has expired; request a new one")

// PasswordResetMail is what a password reset e-mail says.
type PasswordResetMail struct {
	To        string
	Link      string
	ExpiresAt time.Time
	// SentBy is who asked for the link when it was not the account holder (an admin, or the
	// organization for an API key); empty for a self-service request.
	SentBy string
}

// PasswordChangedMail tells an account holder that their password was reset.
type PasswordChangedMail struct {
	To string
	At time.Time
}

// passwordResetTTL is the configured lifetime of a link.
func (s *Service) passwordResetTTL() time.Duration {
	if s.PasswordResetTTL > 0 {
		return s.PasswordResetTTL
	}
	return DefaultPasswordResetTTL
}

// passwordResetLink is the link an account holder follows.
func (s *Service) passwordResetLink(token string) string {
	return strings.TrimRight(s.PublicURL, "/") + "/auth/reset-password?token=" + url.QueryEscape(token)
}

// resetRequestKeys are the limits of reset requests: per address asked for (whether or not it
// has an account, so a refusal tells nothing) and per client address. Both refuse alike.
func (s *Service) resetRequestKeys(ctx context.Context, email string) []limitKey {
	ip := auth.ClientFromContext(ctx).IP
	return []limitKey{
		{name: "reset_request:account:" + email, threshold: s.Limits.ResetRequestPerAccount, limit: telemetry.LimitResetRequestAccount},
		{name: "reset_request:ip:" + ip, threshold: s.Limits.ResetRequestPerIP, limit: telemetry.LimitResetRequestIP},
	}
}

// accountOrganizations returns every organization of the account.
func (s *Service) accountOrganizations(ctx context.Context, userID uuid.UUID) ([]*ent.Organization, error) {
	// Which organizations an account belongs to is the system's business here: the caller may be
	// a member of one of them only, or nobody yet (a reset link).
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	return s.db(ctx).Organization.Query().
		Where(organization.HasMembershipsWith(membership.UserID(userID))).All(sys)
}

// policiesOf returns the security policies of orgs; the default policy when there are none.
func policiesOf(orgs []*ent.Organization) []schematype.SecurityPolicy {
	if len(orgs) == 0 {
		return []schematype.SecurityPolicy{schematype.DefaultSecurityPolicy()}
	}
	policies := make([]schematype.SecurityPolicy, len(orgs))
	for i, o := range orgs {
		policies[i] = o.SecurityPolicy
	}
	return policies
}

// accountPolicies returns the security policies of every organization of the account; the
// default policy when it has none.
func (s *Service) accountPolicies(ctx context.Context, userID uuid.UUID) ([]schematype.SecurityPolicy, error) {
	orgs, err := s.accountOrganizations(ctx, userID)
	if err != nil {
		return nil, err
	}
	return policiesOf(orgs), nil
}

// checkPasswordPolicies refuses a password that some policy refuses: the strictest rules of
// all the account's organizations apply.
func checkPasswordPolicies(password string, policies []schematype.SecurityPolicy) error {
	for _, p := range policies {
		if err := p.CheckPassword(password); err != nil {
			return err
		}
	}
	return nil
}

// longestMinPassword is the longest minimum password length of policies.
func longestMinPassword(policies []schematype.SecurityPolicy) int {
	n := 0
	for _, p := range policies {
		n = max(n, p.MinPasswordLength())
	}
	return n
}

// checkAccountPassword refuses a new password for the account that the policy of any of its
// organizations refuses.
func (s *Service) checkAccountPassword(ctx context.Context, userID uuid.UUID, password string) error {
	policies, err := s.accountPolicies(ctx, userID)
	if err != nil {
		return err
	}
	return checkPasswordPolicies(password, policies)
}

// accountOrgs lists the organizations an account belongs to, for its audit entries.
func (s *Service) accountOrgs(ctx context.Context, userID uuid.UUID) ([]uuid.UUID, error) {
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	ms, err := s.db(ctx).Membership.Query().Where(membership.UserID(userID)).
		Order(ent.Asc(membership.FieldJoinedAt), ent.Asc(membership.FieldID)).All(sys)
	if err != nil {
		return nil, err
	}
	orgs := make([]uuid.UUID, len(ms))
	for i, m := range ms {
		orgs[i] = m.OrganizationID
	}
	return orgs, nil
}

// auditInAccountOrgs records e in each organization the account belongs to.
func (s *Service) auditInAccountOrgs(ctx context.Context, userID uuid.UUID, e auditEntry) error {
	orgs, err := s.accountOrgs(ctx, userID)
	if err != nil {
		return err
	}
	for _, o := range orgs {
		e.OrgID = &o
		if err := s.audit(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// requestPasswordReset sends a reset link to the account of email, if there is one.
//  1. Refuse while the address asked for or the client address is rate limited; every request
//     counts, known address or not, so a refusal tells nothing.
//  2. Mint a token whatever the address, and run the same update: for an unknown address it
//     matches no row. The answer is true either way; the work, and so the time, the same.
//  3. For an account: the new token replaces any earlier link; audit in each of its
//     organizations; the e-mail goes out after commit.
func (s *Service) requestPasswordReset(ctx context.Context, raw string) (_ bool, err error) {
	// The work differs a little between known and unknown addresses (an account's audit entries
	// are written, an unknown address's are not): about a millisecond, which many requests would
	// tell apart. So the answer waits until a fixed time after the request began, once the
	// transaction has ended (inTx below joins the operation's transaction, which ends after this
	// returns: afterTx waits then), holding no connection. A refusal (bad input, rate limited),
	// which began no transaction, waits too.
	deadline := time.Now().Add(resetRequestFloor)
	defer s.afterTx(ctx, func(ctx context.Context, _ *ent.Client) error { holdUntil(ctx, deadline); return nil })
	email, err := normalizeEmail(raw)
	if err != nil {
		return false, err
	}
	keys := s.resetRequestKeys(ctx, email)
	if err := s.checkLimits(ctx, keys); err != nil {
		return false, err
	}
	s.recordFailures(ctx, keys)
	token, err := auth.RandomToken(32)
	if err != nil {
		return false, err
	}
	// Asking for a reset: there is no viewer.
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	id := uuid.Nil // matches no account
	u, err := s.db(ctx).User.Query().Where(user.Email(email)).Only(sys)
	switch {
	case err == nil:
		id = u.ID
	case !ent.IsNotFound(err):
		return false, err
	}
	expires := s.now().Add(s.passwordResetTTL())
	err = s.inTx(ctx, func(ctx context.Context) error {
		n, err := s.db(ctx).User.Update().Where(user.ID(id)).
			SetPasswordResetHash(auth.HashToken(token)).SetPasswordResetExpiresAt(expires).Save(sys)
		if err != nil {
			return err
		}
		if n == 0 {
			// Where an account's audit entries go is read for an unknown address too, so that
			// the two differ by the audit inserts only.
			_, err := s.accountOrgs(ctx, id)
			return err
		}
		if err := s.auditInAccountOrgs(ctx, u.ID, auditEntry{Action: actionPasswordResetRequest, Category: categorySecurity,
			ActorID: &u.ID, ActorEmail: email, ResourceType: "user", ResourceID: u.ID.String(),
			Details: map[string]any{"expires_at": expires}}); err != nil {
			return err
		}
		s.mailResetAfterCommit(ctx, PasswordResetMail{To: u.Email, Link: s.passwordResetLink(token), ExpiresAt: expires}, u.ID)
		return nil
	})
	return err == nil, err
}

// sendPasswordReset sends a member of the active organization a reset link. It never sets a
// password.
//  1. The member exists here, is not the caller, and the caller may manage them (the rule of
//     changing their role). An API key may, within its role.
//  2. A new token replaces any earlier link; audit in the active organization; the e-mail goes
//     out after commit.
func (s *Service) sendPasswordReset(ctx context.Context, userID uuid.UUID) (bool, error) {
	v := auth.FromContext(ctx)
	if !v.IsAPIKey() && v.UserID == userID {
		return false, Errorf(CodeBadUserInput, "Use requestPasswordReset or changePassword for your own account")
	}
	m, err := s.memberOf(ctx, v, userID)
	if err != nil {
		return false, err
	}
	if err := checkCanManage(v, m); err != nil {
		return false, err
	}
	token, err := auth.RandomToken(32)
	if err != nil {
		return false, err
	}
	expires := s.now().Add(s.passwordResetTTL())
	u := m.Edges.User
	// The account is not the caller's: the membership above is what entitles the change.
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	if err := s.db(ctx).User.UpdateOneID(u.ID).
		SetPasswordResetHash(auth.HashToken(token)).SetPasswordResetExpiresAt(expires).Exec(sys); err != nil {
		return false, err
	}
	if err := s.audit(ctx, auditEntry{Action: actionPasswordResetSend, Category: categorySecurity,
		ResourceType: "user", ResourceID: u.ID.String(),
		Details: map[string]any{"email": u.Email, "expires_at": expires}}); err != nil {
		return false, err
	}
	by := v.Email
	if v.IsAPIKey() {
		org, err := s.viewerOrganization(ctx, v)
		if err != nil {
			return false, err
		}
		by = org.Name
	}
	s.mailResetAfterCommit(ctx, PasswordResetMail{To: u.Email, Link: s.passwordResetLink(token), ExpiresAt: expires, SentBy: by}, u.ID)
	return true, nil
}

// accountByResetToken finds the account whose pending reset link has token; errResetLinkInvalid
// or errResetLinkExpired otherwise.
func (s *Service) accountByResetToken(ctx context.Context, token string) (*ent.User, error) {
	if token == "" || len(token) > 512 {
		return nil, errResetLinkInvalid
	}
	// Following a reset link: nobody is signed in.
	u, err := s.db(ctx).User.Query().Where(user.PasswordResetHash(auth.HashToken(token))).
		Only(privacy.DecisionContext(ctx, privacy.Allow))
	if ent.IsNotFound(err) {
		return nil, errResetLinkInvalid
	}
	if err != nil {
		return nil, err
	}
	if u.PasswordResetExpiresAt == nil || !s.now().Before(*u.PasswordResetExpiresAt) {
		return u, errResetLinkExpired
	}
	return u, nil
}

// passwordResetPreview is what the reset page shows; nil for a link that does not work.
func (s *Service) passwordResetPreview(ctx context.Context, token string) (*model.PasswordResetPreview, error) {
	u, err := s.accountByResetToken(ctx, token)
	if err == errResetLinkInvalid || err == errResetLinkExpired {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	policies, err := s.accountPolicies(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	return &model.PasswordResetPreview{Email: u.Email, ExpiresAt: *u.PasswordResetExpiresAt,
		PasswordMinLength: longestMinPassword(policies)}, nil
}

// resetPassword sets a new password with a reset link's token.
//  1. Refuse while the client address is rate limited; a bad token counts against it.
//  2. Before any transaction: find the account by the token's hash, unexpired; check the new
//     password against the strictest policy of its organizations; hash it.
//  3. In one transaction: replace the password only if the link is still the account's and
//     unexpired and the password still the one read (of simultaneous uses, one wins), clearing
//     the link; end every session; audit in each organization. 2FA is left as it is, so the
//     next sign-in still asks for the second factor.
//  4. After commit, tell the account holder by e-mail.
func (s *Service) resetPassword(ctx context.Context, in model.ResetPasswordInput) (bool, error) {
	keys := s.ipKey(ctx, "reset", s.Limits.ResetPerIP) // labelled telemetry.LimitResetIP
	if err := s.checkLimits(ctx, keys); err != nil {
		return false, err
	}
	u, err := s.accountByResetToken(ctx, in.Token)
	if err == errResetLinkInvalid || err == errResetLinkExpired {
		s.recordFailures(ctx, keys)
		if u != nil {
			s.auditResetFailure(ctx, u, "expired link")
		}
		return false, err
	}
	if err != nil {
		return false, err
	}
	if len(in.Password) > schematype.MaxPasswordLength {
		return false, Errorf(CodeBadUserInput, "Password is too long")
	}
	if err := s.checkAccountPassword(ctx, u.ID, in.Password); err != nil {
		return false, err
	}
	hash, err := s.hashPassword(ctx, in.Password)
	if err != nil {
		return false, err
	}
	now := s.now()
	err = s.inTx(ctx, func(ctx context.Context) error {
		sys := privacy.DecisionContext(ctx, privacy.Allow)
		db := s.db(ctx)
		n, err := db.User.Update().
			Where(user.ID(u.ID), user.PasswordResetHash(*u.PasswordResetHash), user.PasswordResetExpiresAtGT(now),
				user.PasswordHash(u.PasswordHash)).
			SetPasswordHash(hash).ClearPasswordResetHash().ClearPasswordResetExpiresAt().Save(sys)
		if err != nil {
			return err
		}
		if n == 0 {
			s.auditResetFailure(ctx, u, "link used or password changed meanwhile")
			return errResetLinkInvalid
		}
		// Every session of the account: a viewer of none of them.
		ended, err := s.revokeUserSessions(sys, &auth.Viewer{UserID: u.ID}, "password reset")
		if err != nil {
			return err
		}
		return s.auditInAccountOrgs(ctx, u.ID, auditEntry{Action: actionPasswordResetDone, Category: categorySecurity,
			ActorID: &u.ID, ActorEmail: u.Email, ResourceType: "user", ResourceID: u.ID.String(),
			Details: map[string]any{"sessions_revoked": ended, "two_factor_enabled": u.TwoFactorEnabled}})
	})
	if err != nil {
		return false, err
	}
	// Inside a mutation the transaction is the operation's and commits after this returns.
	s.onCommit(ctx, func() {
		s.outbox.deliver(context.WithoutCancel(ctx), "password changed", u.ID, func(ctx context.Context) error {
			return s.Mailer.SendPasswordChanged(ctx, PasswordChangedMail{To: u.Email, At: now})
		})
	})
	return true, nil
}

// auditResetFailure records, after the transaction, a refused reset of u in its organizations.
func (s *Service) auditResetFailure(ctx context.Context, u *ent.User, reason string) {
	orgs, err := s.accountOrgs(ctx, u.ID)
	if err != nil {
		s.Logger.ErrorContext(ctx, "auditing a refused password reset", "err", err)
		return
	}
	for _, o := range orgs {
		s.auditFailure(ctx, auditEntry{Action: actionPasswordResetFailed, Category: categorySecurity, OrgID: &o,
			ActorID: &u.ID, ActorEmail: u.Email, ResourceType: "user", ResourceID: u.ID.String(),
			Details: map[string]any{"reason": reason}})
	}
}

// mailResetAfterCommit queues a reset e-mail once the transaction has committed.
func (s *Service) mailResetAfterCommit(ctx context.Context, msg PasswordResetMail, userID uuid.UUID) {
	s.onCommit(ctx, func() {
		s.outbox.deliver(context.WithoutCancel(ctx), "password reset", userID, func(ctx context.Context) error {
			return s.Mailer.SendPasswordReset(ctx, msg)
		})
	})
}

// resetRequestFloor is how long a password reset request takes to answer, whatever the address:
// far above the work it does (a few milliseconds), so that the work's differences do not show.
const resetRequestFloor = 150 * time.Millisecond

// holdUntil waits until t, or until ctx ends.
func holdUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}
