package graph

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/invitation"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/role"
	"github.com/inferiallm/orgserver/server/auth"
)

// Joining an organization at an SSO sign-in. An account that is not a member of the
// connection's organization joins it there:
//   - by its pending invitation to the organization, addressed to the account's e-mail: with
//     the invitation's role, which the inviting admin chose (an admin role too), and the
//     invitation is accepted. This is how an organization that requires SSO is joined: accepting
//     an invitation with a password would open a password session there, which is refused.
//   - else, where the caller allows it, just in time: with the connection's default role (never
//     one that manages the organization or its SSO), when the connection admits members so.
//
// A linked identity whose account left (or was removed from) the organization does not come back
// just in time, only by a new invitation: the removal stands until an admin says otherwise.

// ssoAdmission is how an account joins c's organization: by inv, or just in time when inv is nil.
type ssoAdmission struct {
	inv *ent.Invitation
}

// errSSONotAdmitted refuses a sign-in of an account that is not a member and may not join; the
// error wrapping it says why.
var errSSONotAdmitted = errors.New("not a member of the organization")

// ssoAdmit decides whether the account of email may join c's organization at this sign-in:
// errSSONotAdmitted when it has no pending invitation there and jit is false (or the connection
// does not admit members just in time).
func (s *Service) ssoAdmit(ctx context.Context, c *ent.SSOConnection, email string, jit bool) (*ssoAdmission, error) {
	inv, err := s.db(ctx).Invitation.Query().
		Where(invitation.OrganizationID(c.OrganizationID), invitation.Email(email),
			invitation.StatusEQ(invitation.StatusPENDING), invitation.ExpiresAtGT(s.now())).
		WithRole().Only(privacy.DecisionContext(ctx, privacy.Allow))
	switch {
	case err == nil:
		return &ssoAdmission{inv: inv}, nil
	case !ent.IsNotFound(err):
		return nil, err
	case !jit:
		return nil, fmt.Errorf("%w, and no pending invitation (a linked account that left comes back by invitation only)", errSSONotAdmitted)
	case !c.JitEnabled:
		return nil, fmt.Errorf("%w, no pending invitation, and just-in-time membership is off", errSSONotAdmitted)
	}
	return &ssoAdmission{}, nil
}

// join makes the account a member of c's organization, inside the sign-in's transaction, and
// returns the role it got. By invitation it claims the invitation first: of an SSO sign-in and
// an accept (or a revocation) at once, one wins.
func (a *ssoAdmission) join(ctx context.Context, s *Service, c *ent.SSOConnection, userID uuid.UUID, email string) (string, error) {
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	db := s.db(ctx)
	var r *ent.Role
	if a.inv != nil {
		n, err := db.Invitation.Update().
			Where(invitation.ID(a.inv.ID), invitation.StatusEQ(invitation.StatusPENDING), invitation.ExpiresAtGT(s.now())).
			SetStatus(invitation.StatusACCEPTED).SetAcceptedAt(s.now()).Save(sys)
		if err != nil {
			return "", err
		}
		if n == 0 {
			return "", fmt.Errorf("%w: the invitation was accepted, revoked or renewed meanwhile", errSSONotAdmitted)
		}
		r = a.inv.Edges.Role
	} else {
		var err error
		if r, err = s.jitRole(ctx, c); err != nil {
			return "", err
		}
	}
	err := db.Membership.Create().SetUserID(userID).SetOrganizationID(c.OrganizationID).SetRoleID(r.ID).
		SetEmail(email).Exec(sys)
	if ent.IsConstraintError(err) {
		return "", Errorf(CodeConflict, "The account joined the organization meanwhile; sign in again")
	}
	if err != nil || a.inv == nil {
		return r.Name, err
	}
	return r.Name, auditEntry{Action: actionInvitationAccept, Category: categoryAuth, OrgID: &c.OrganizationID,
		ActorID: &userID, ActorEmail: email, ResourceType: "invitation", ResourceID: a.inv.ID.String(),
		Details: map[string]any{"email": email, "role": r.Name, "user_id": userID.String(), "method": "sso",
			"connection_id": c.ID.String()}}.create(ctx, db).Exec(sys)
}

// ssoJoin makes the account of userID a member of c's organization if it is not one and may
// join (see ssoAdmit); errSSONotAdmitted if it may not.
func (s *Service) ssoJoin(ctx context.Context, c *ent.SSOConnection, userID uuid.UUID, jit bool) error {
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	db := s.db(ctx)
	member, err := db.Membership.Query().
		Where(membership.UserID(userID), membership.OrganizationID(c.OrganizationID)).Exist(sys)
	if err != nil || member {
		return err
	}
	u, err := db.User.Get(sys, userID)
	if err != nil {
		return err
	}
	return s.ssoJoinNonMember(ctx, c, userID, u.Email, jit)
}

// ssoJoinNonMember is ssoJoin for an account known not to be a member, whose address is email.
func (s *Service) ssoJoinNonMember(ctx context.Context, c *ent.SSOConnection, userID uuid.UUID, email string, jit bool) error {
	// The invitation is to the account's address (not the provider's, which may differ for a
	// linked identity), as when a signed-in account accepts one.
	a, err := s.ssoAdmit(ctx, c, email, jit)
	if err != nil {
		return err
	}
	_, err = a.join(ctx, s, c, userID, email)
	return err
}

// jitRole is the role a just-in-time member of c's organization gets: the connection's default
// role, read now, and refused if it has become one that manages the organization or its SSO
// (a custom role may gain permissions after the connection named it).
func (s *Service) jitRole(ctx context.Context, c *ent.SSOConnection) (*ent.Role, error) {
	r, err := s.db(ctx).Role.Query().Where(role.Name(c.DefaultRole), role.Or(role.OrganizationIDIsNil(), role.OrganizationID(c.OrganizationID))).
		Only(privacy.DecisionContext(ctx, privacy.Allow))
	if err != nil {
		return nil, err
	}
	if r.Name == auth.RoleAdmin || slices.Contains(r.Permissions, auth.SSOManage) {
		return nil, errors.New("sso: a connection's default role may not be admin or manage SSO")
	}
	return r, nil
}
