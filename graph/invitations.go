package graph

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"time"

	"entgo.io/contrib/entgql"
	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/invitation"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/schema/schematype"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/graph/model"
	"github.com/inferiallm/orgserver/server/auth"
)

// Mailer delivers the server's e-mails: invitations, password reset links and the notice that a
// password was reset.
type Mailer interface {
	SendInvitation(ctx context.Context, m InvitationMail) error
	SendPasswordReset(ctx context.Context, m PasswordResetMail) error
	SendPasswordChanged(ctx context.Context, m PasswordChangedMail) error
}

// InvitationMail is what an invitation e-mail says.
type InvitationMail struct {
	To               string
	OrganizationName string
	InvitedBy        string
	Role             string
	Link             string
	ExpiresAt        time.Time
}

// normalizeEmail checks an e-mail address and returns it in its stored form (auth.ParseEmail).
func normalizeEmail(s string) (string, error) {
	email, err := auth.ParseEmail(s)
	if err != nil {
		return "", Errorf(CodeBadUserInput, "Invalid e-mail address")
	}
	return email, nil
}

// checkEmailDomain refuses an address outside the organization's allowed e-mail domains, if it
// has any.
func checkEmailDomain(org *ent.Organization, email string) error {
	domains := org.SecurityPolicy.AllowedEmailDomains
	if len(domains) == 0 {
		return nil
	}
	domain := email[strings.LastIndexByte(email, '@')+1:]
	key, ok := schematype.DomainKey(domain)
	if !ok || !slices.ContainsFunc(domains, func(d string) bool { k, ok := schematype.DomainKey(d); return ok && k == key }) {
		return Errorf(CodeBadUserInput, "E-mail domain %s is not allowed by this organization", domain)
	}
	return nil
}

// effectiveStatus is the status an invitation reads as now: a pending one past its expiry is
// EXPIRED.
func effectiveStatus(inv *ent.Invitation, now time.Time) invitation.Status {
	if inv.Status == invitation.StatusPENDING && !now.Before(inv.ExpiresAt) {
		return invitation.StatusEXPIRED
	}
	return inv.Status
}

// inviteLink is the link an invitee follows.
func (s *Service) inviteLink(token string) string {
	return strings.TrimRight(s.PublicURL, "/") + "/auth/accept-invite?token=" + url.QueryEscape(token)
}

// newInvitationToken returns a token (256 random bits), its hash and its sealed copy.
func (s *Service) newInvitationToken(id uuid.UUID) (token, hash, sealed string, err error) {
	if token, err = auth.RandomToken(32); err != nil {
		return "", "", "", err
	}
	if sealed, err = s.Sealer.Seal(token, "invitation:"+id.String()); err != nil {
		return "", "", "", err
	}
	return token, auth.HashToken(token), sealed, nil
}

// inviteMember invites someone into the active organization.
//  1. A valid e-mail in an allowed domain; a role the inviter may grant (default: the
//     organization's default role).
//  2. Not a member already; no other pending invitation (an expired one is closed).
//  3. A new token, stored as a hash and a sealed copy; expiry from the policy.
//  4. Audit; the e-mail goes out after commit.
func (s *Service) inviteMember(ctx context.Context, in model.InviteMemberInput) (*model.InvitationPayload, error) {
	v := auth.FromContext(ctx)
	db := s.db(ctx)
	email, err := normalizeEmail(in.Email)
	if err != nil {
		return nil, err
	}
	org, err := db.Organization.Get(ctx, v.OrgID)
	if err != nil {
		return nil, err
	}
	if err := checkEmailDomain(org, email); err != nil {
		return nil, err
	}
	r, err := s.grantableRole(ctx, v, org, ptr(in.Role))
	if err != nil {
		return nil, err
	}
	member, err := db.Membership.Query().Where(membership.OrganizationID(org.ID), membership.Email(email)).Exist(ctx)
	if err != nil {
		return nil, err
	}
	if member {
		return nil, Errorf(CodeBadUserInput, "User is already a member of this organization")
	}
	now := s.now()
	pending, err := db.Invitation.Query().
		Where(invitation.OrganizationID(org.ID), invitation.Email(email), invitation.StatusEQ(invitation.StatusPENDING)).
		Only(ctx)
	switch {
	case err == nil && effectiveStatus(pending, now) == invitation.StatusPENDING:
		return nil, Errorf(CodeBadUserInput, "Pending invitation already exists for this email")
	case err == nil:
		if err := db.Invitation.UpdateOne(pending).SetStatus(invitation.StatusEXPIRED).Exec(ctx); err != nil {
			return nil, err
		}
	case !ent.IsNotFound(err):
		return nil, err
	}
	id := uuid.New()
	token, hash, sealed, err := s.newInvitationToken(id)
	if err != nil {
		return nil, err
	}
	c := db.Invitation.Create()
	if !v.IsAPIKey() { // a key is nobody's account
		c.SetInvitedByID(v.UserID)
	}
	inv, err := c.
		SetID(id).
		SetOrganizationID(org.ID).
		SetEmail(email).
		SetRoleID(r.ID).
		SetTokenHash(hash).
		SetTokenEncrypted(sealed).
		SetExpiresAt(now.Add(time.Duration(org.SecurityPolicy.InvitationTTLHours) * time.Hour)).
		Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, Errorf(CodeBadUserInput, "Pending invitation already exists for this email")
	}
	if err != nil {
		return nil, err
	}
	if err := s.audit(ctx, auditEntry{Action: "invitation.create", Category: categoryOrganization,
		ResourceType: "invitation", ResourceID: inv.ID.String(),
		Details: map[string]any{"email": email, "role": r.Name}}); err != nil {
		return nil, err
	}
	s.mailAfterCommit(ctx, v, inv, org.Name, r.Name, token)
	inv.Edges.Role = r
	return &model.InvitationPayload{Invitation: inv, Token: token, InviteLink: s.inviteLink(token)}, nil
}

// resendInvitation renews a pending invitation: a new token (the old link stops working) and a
// new expiry, and sends it again.
func (s *Service) resendInvitation(ctx context.Context, id uuid.UUID) (*model.InvitationPayload, error) {
	v := auth.FromContext(ctx)
	db := s.db(ctx)
	inv, err := db.Invitation.Query().Where(invitation.ID(id)).WithRole().WithOrganization().Only(ctx)
	if err != nil {
		return nil, err
	}
	if inv.Status != invitation.StatusPENDING {
		return nil, Errorf(CodeBadUserInput, "Only pending invitations can be resent")
	}
	if err := checkCanGrant(v, inv.Edges.Role.Permissions); err != nil {
		return nil, err
	}
	token, hash, sealed, err := s.newInvitationToken(inv.ID)
	if err != nil {
		return nil, err
	}
	org := inv.Edges.Organization
	updated, err := db.Invitation.UpdateOne(inv).
		SetTokenHash(hash).
		SetTokenEncrypted(sealed).
		SetExpiresAt(s.now().Add(time.Duration(org.SecurityPolicy.InvitationTTLHours) * time.Hour)).
		Save(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.audit(ctx, auditEntry{Action: "invitation.resend", Category: categoryOrganization,
		ResourceType: "invitation", ResourceID: inv.ID.String(), Details: map[string]any{"email": inv.Email}}); err != nil {
		return nil, err
	}
	s.mailAfterCommit(ctx, v, updated, org.Name, inv.Edges.Role.Name, token)
	updated.Edges.Role = inv.Edges.Role
	return &model.InvitationPayload{Invitation: updated, Token: token, InviteLink: s.inviteLink(token)}, nil
}

// revokeInvitation revokes a pending invitation; its link stops working. Like removing a
// member, it is refused when the invitation's role has permissions the viewer lacks.
func (s *Service) revokeInvitation(ctx context.Context, id uuid.UUID) (*ent.Invitation, error) {
	v := auth.FromContext(ctx)
	db := s.db(ctx)
	inv, err := db.Invitation.Query().Where(invitation.ID(id)).WithRole().Only(ctx)
	if err != nil {
		return nil, err
	}
	if inv.Status != invitation.StatusPENDING {
		return nil, Errorf(CodeBadUserInput, "Only pending invitations can be revoked")
	}
	if len(auth.MissingPermissions(v.Permissions, inv.Edges.Role.Permissions)) > 0 {
		return nil, Errorf(CodeForbidden, "Cannot revoke an invitation to a role with permissions you do not have")
	}
	inv, err = db.Invitation.UpdateOne(inv).SetStatus(invitation.StatusREVOKED).Save(ctx)
	if err != nil {
		return nil, err
	}
	return inv, s.audit(ctx, auditEntry{Action: "invitation.revoke", Category: categoryOrganization,
		ResourceType: "invitation", ResourceID: inv.ID.String(), Details: map[string]any{"email": inv.Email}})
}

// invitationByToken finds an invitation by its token, with its organization and role.
func (s *Service) invitationByToken(ctx context.Context, token string) (*ent.Invitation, error) {
	if token == "" || len(token) > 512 {
		return nil, &ent.NotFoundError{}
	}
	// Looking an invitation up by token: the invitee is not a member yet.
	return s.db(ctx).Invitation.Query().
		Where(invitation.TokenHash(auth.HashToken(token))).
		WithOrganization().WithRole().WithInvitedBy().
		Only(privacy.DecisionContext(ctx, privacy.Allow))
}

// invitationPreview is what the invitation link shows; nil for an unknown token.
func (s *Service) invitationPreview(ctx context.Context, token string) (*model.InvitationPreview, error) {
	inv, err := s.invitationByToken(ctx, token)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p := &model.InvitationPreview{
		ID: inv.ID, Email: inv.Email, Role: inv.Edges.Role.Name, OrganizationName: inv.Edges.Organization.Name,
		ExpiresAt: inv.ExpiresAt, CreatedAt: inv.CreatedAt, Status: effectiveStatus(inv, s.now()),
		InviteLink: s.inviteLink(token), PasswordMinLength: inv.Edges.Organization.SecurityPolicy.MinPasswordLength(),
	}
	if by := inv.Edges.InvitedBy; by != nil {
		name := by.Name
		if name == "" {
			name = by.Email
		}
		p.InvitedBy = &name
	}
	return p, nil
}

// acceptInvitation joins the invited organization and starts a session there.
//  1. Look the invitation up by token hash; it must be pending and unexpired.
//  2. Before any transaction, who joins: the signed-in user (with the invited e-mail); else the
//     existing account of that e-mail, proven by its password under the sign-in limits; else a
//     new account with name and password, hashed now.
//  3. In one transaction: claim the invitation (only one of simultaneous accepts changes its
//     token's PENDING to ACCEPTED); check the proven account still has that password, or create
//     the new one; create the membership; sign in to the organization; audit.
func (s *Service) acceptInvitation(ctx context.Context, in model.AcceptInvitationInput) (*model.AuthPayload, error) {
	keys := s.ipKey(ctx, "accept", s.Limits.AcceptPerIP)
	if err := s.checkLimits(ctx, keys); err != nil {
		return nil, err
	}
	inv, err := s.invitationByToken(ctx, in.Token)
	if ent.IsNotFound(err) {
		s.recordFailures(ctx, keys)
		return nil, Errorf(CodeNotFound, "Invalid invitation token")
	}
	if err != nil {
		return nil, err
	}
	if err := invitationUsable(inv, s.now()); err != nil {
		return nil, err
	}
	if inv.Edges.Organization.SSOPolicy.Required {
		// Accepting starts a session, and one that did not come through the organization's
		// identity provider may not start there (the invitee is no member, so not on its
		// break-glass list). Refused before any password is checked or hashed.
		return nil, errSSORequiredToJoin
	}
	j, err := s.joiner(ctx, auth.FromContext(ctx), inv, in)
	if err != nil {
		return nil, err
	}
	var payload *model.AuthPayload
	err = s.inTx(ctx, func(ctx context.Context) error {
		// Accepting acts before the invitee is a member; every step below is checked here.
		sys := privacy.DecisionContext(ctx, privacy.Allow)
		db := s.db(ctx)
		n, err := db.Invitation.Update().
			Where(invitation.ID(inv.ID), invitation.TokenHash(inv.TokenHash), invitation.StatusEQ(invitation.StatusPENDING)).
			SetStatus(invitation.StatusACCEPTED).SetAcceptedAt(s.now()).Save(sys)
		if err != nil {
			return err
		}
		if n == 0 {
			// Accepted, revoked or renewed since it was looked up.
			now, err := db.Invitation.Get(sys, inv.ID)
			if err != nil {
				return err
			}
			if now.TokenHash != inv.TokenHash {
				return Errorf(CodeNotFound, "Invalid invitation token")
			}
			return invitationUsable(now, s.now())
		}
		u, err := j.account(ctx, s, inv)
		if err != nil {
			return err
		}
		org := inv.Edges.Organization
		already, err := db.Membership.Query().Where(membership.UserID(u.ID), membership.OrganizationID(org.ID)).Exist(sys)
		if err != nil {
			return err
		}
		if already {
			return Errorf(CodeBadUserInput, "User is already a member of this organization")
		}
		m, err := db.Membership.Create().
			SetUserID(u.ID).SetOrganizationID(org.ID).SetRoleID(inv.RoleID).SetEmail(u.Email).Save(sys)
		if ent.IsConstraintError(err) {
			return Errorf(CodeBadUserInput, "User is already a member of this organization")
		}
		if err != nil {
			return err
		}
		m.Edges.Organization, m.Edges.Role = org, inv.Edges.Role
		if payload, err = s.startSession(ctx, j.viewer, u, m); err != nil {
			return err
		}
		return s.audit(auth.NewContext(ctx, payload.Viewer), auditEntry{Action: actionInvitationAccept, Category: categoryAuth,
			ResourceType: "invitation", ResourceID: inv.ID.String(),
			Details: map[string]any{"email": u.Email, "role": inv.Edges.Role.Name, "user_id": u.ID.String()}})
	})
	if err != nil {
		return nil, err
	}
	return payload, nil
}

// invitationUsable refuses an invitation that is not pending.
func invitationUsable(inv *ent.Invitation, now time.Time) error {
	switch effectiveStatus(inv, now) {
	case invitation.StatusACCEPTED:
		return Errorf(CodeBadUserInput, "Invitation already accepted")
	case invitation.StatusEXPIRED:
		return Errorf(CodeBadUserInput, "Invitation expired")
	case invitation.StatusREVOKED:
		return Errorf(CodeNotFound, "Invalid invitation token")
	}
	return nil
}

// joiner is who accepts an invitation, as established before the transaction: the signed-in
// viewer, an existing account proven by its password, or a new account.
type joiner struct {
	viewer *auth.Viewer
	proven *ent.User
	// For a new account.
	name, hash string
}

// joiner establishes who accepts inv. Checking or hashing a password happens here, outside any
// transaction.
func (s *Service) joiner(ctx context.Context, v *auth.Viewer, inv *ent.Invitation, in model.AcceptInvitationInput) (*joiner, error) {
	if v != nil {
		if v.Email != inv.Email {
			return nil, Errorf(CodeForbidden, "Invitation email does not match logged in user")
		}
		return &joiner{viewer: v}, nil
	}
	password := ptr(in.Password)
	// Whether the invited e-mail has an account is the system's business.
	u, err := s.db(ctx).User.Query().Where(user.Email(inv.Email)).Only(privacy.DecisionContext(ctx, privacy.Allow))
	switch {
	case err == nil:
		// An existing account proves itself like a sign-in: its password, under the sign-in rate
		// limits; an account with 2FA must sign in (with its second factor) and accept from there.
		if password == "" || ptr(in.CreateAccount) || u.TwoFactorEnabled {
			return nil, errAccountExists
		}
		keys := append(s.loginKeys(ctx, u.Email), s.ipKey(ctx, "accept", s.Limits.AcceptPerIP)...)
		if err := s.checkLimits(ctx, keys); err != nil {
			return nil, err
		}
		ok, err := s.verifyPassword(ctx, password, u.PasswordHash, keys)
		if err != nil {
			return nil, err
		}
		if !ok {
			s.recordFailures(ctx, keys)
			return nil, ErrBadCredentials
		}
		return &joiner{proven: u}, nil
	case !ent.IsNotFound(err):
		return nil, err
	}
	if err := inv.Edges.Organization.SecurityPolicy.CheckPassword(password); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(ptr(in.Name))
	if name == "" {
		name = inv.Email[:strings.IndexByte(inv.Email, '@')]
	}
	if err := schematype.UserName(name); err != nil {
		return nil, err
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return nil, err
	}
	return &joiner{name: name, hash: hash}, nil
}

// errAccountExists refuses to accept for an existing account without signing in as it.
var errAccountExists = Errorf(CodeBadUserInput, "User already exists. Please login and accept the invitation.")

// account returns the joining account inside the accepting transaction: the viewer's, the proven
// one if it still has the password that was checked and no 2FA, or the new one, created now.
func (j *joiner) account(ctx context.Context, s *Service, inv *ent.Invitation) (*ent.User, error) {
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	db := s.db(ctx)
	switch {
	case j.viewer != nil:
		return db.User.Get(sys, j.viewer.UserID)
	case j.proven != nil:
		u, err := db.User.Query().
			Where(user.ID(j.proven.ID), user.PasswordHash(j.proven.PasswordHash), user.TwoFactorEnabled(false)).
			Only(sys)
		if ent.IsNotFound(err) {
			return nil, ErrBadCredentials
		}
		return u, err
	}
	u, err := db.User.Create().SetEmail(inv.Email).SetName(j.name).SetPasswordHash(j.hash).
		SetDefaultOrgID(inv.OrganizationID).Save(sys)
	if ent.IsConstraintError(err) {
		// The e-mail got an account since the invitation was looked up.
		return nil, errAccountExists
	}
	return u, err
}

// mailAfterCommit queues the invitation e-mail once the transaction has committed (never for a
// change that rolled back), without holding up the response.
func (s *Service) mailAfterCommit(ctx context.Context, inviter *auth.Viewer, inv *ent.Invitation, orgName, roleName, token string) {
	by := inviter.Email
	if inviter.IsAPIKey() {
		// Not the key's label (api_key:<prefix>), which means nothing to someone outside.
		by = orgName
	}
	msg := InvitationMail{To: inv.Email, OrganizationName: orgName, Role: roleName,
		Link: s.inviteLink(token), ExpiresAt: inv.ExpiresAt, InvitedBy: by}
	s.onCommit(ctx, func() { s.outbox.send(context.WithoutCancel(ctx), msg, inv.ID) })
}

// invitations lists the active organization's invitations, newest first.
func (s *Service) invitations(ctx context.Context, obj *ent.Organization, status *invitation.Status, after *entgql.Cursor[uuid.UUID], first *int) (*ent.InvitationConnection, error) {
	first, err := s.defaultPage(first, nil)
	if err != nil {
		return nil, err
	}
	if err := checkCursors("time", after); err != nil {
		return nil, err
	}
	q := s.db(ctx).Invitation.Query().Where(invitation.OrganizationID(obj.ID))
	now := s.now()
	if status != nil {
		switch *status {
		case invitation.StatusPENDING:
			q.Where(invitation.StatusEQ(invitation.StatusPENDING), invitation.ExpiresAtGT(now))
		case invitation.StatusEXPIRED:
			q.Where(invitation.Or(invitation.StatusEQ(invitation.StatusEXPIRED),
				invitation.And(invitation.StatusEQ(invitation.StatusPENDING), invitation.ExpiresAtLTE(now))))
		default:
			q.Where(invitation.StatusEQ(*status))
		}
	}
	return q.Paginate(ctx, after, first, nil, nil, ent.WithInvitationOrder(&ent.InvitationOrder{
		Field: ent.InvitationOrderFieldCreatedAt, Direction: entgql.OrderDirectionDesc}))
}

// logMailer writes invitation links to the log when no SMTP server is configured.
type logMailer struct{ s *Service }

func (m logMailer) SendInvitation(ctx context.Context, msg InvitationMail) error {
	m.s.Logger.InfoContext(ctx, "invitation (no SMTP_URL set, so not e-mailed)",
		"to", msg.To, "organization", msg.OrganizationName, "role", msg.Role, "link", msg.Link)
	return nil
}

// SendPasswordReset logs the reset link: with no SMTP server, the operator passes it on. The
// link is the only place a token is ever logged.
func (m logMailer) SendPasswordReset(ctx context.Context, msg PasswordResetMail) error {
	m.s.Logger.InfoContext(ctx, "password reset (no SMTP_URL set, so not e-mailed)",
		"to", msg.To, "link", msg.Link, "expires_at", msg.ExpiresAt)
	return nil
}

// SendPasswordChanged logs the notice.
func (m logMailer) SendPasswordChanged(ctx context.Context, msg PasswordChangedMail) error {
	m.s.Logger.InfoContext(ctx, "password reset notice (no SMTP_URL set, so not e-mailed)", "to", msg.To)
	return nil
}

// invitationToken opens the sealed token of a pending invitation for holders of member:invite.
func (s *Service) invitationToken(ctx context.Context, inv *ent.Invitation) (*string, error) {
	if !auth.FromContext(ctx).Can(auth.MemberInvite) || inv.TokenEncrypted == "" ||
		effectiveStatus(inv, s.now()) != invitation.StatusPENDING {
		return nil, nil
	}
	token, err := s.Sealer.Open(inv.TokenEncrypted, "invitation:"+inv.ID.String())
	if err != nil {
		return nil, err
	}
	return &token, nil
}

// invitationLink is the link of a pending invitation for holders of member:invite.
func (s *Service) invitationLink(ctx context.Context, inv *ent.Invitation) (*string, error) {
	token, err := s.invitationToken(ctx, inv)
	if token == nil || err != nil {
		return nil, err
	}
	link := s.inviteLink(*token)
	return &link, nil
}
