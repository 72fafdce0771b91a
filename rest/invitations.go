package rest

import (
	"net/http"
	"strings"

	"github.com/inferiallm/orgserver/server/auth"
)

// Invitations: the routes of operations/invitations.graphql. Three of them choose their
// operation at run time: /auth/register-invite by the body, /auth/accept-invite by the body or
// the form of the invitation page (page.go), which its GET shows.
var invitationRoutes = []route{
	{Pattern: "POST /auth/register-invite", Serve: served(serveRegisterInvite), Ops: []string{opInviteMember, opRegisterWithInvitation},
		Reply: signedUp, Auth: "member:invite, or public with a token",
		Summary: "With a Bearer token and {email, role}: invite someone (201). " +
			"Public with {token, password, name}: create the invited account and sign in."},
	{Pattern: "GET /auth/invitations/{token}", Op: opInvitationPreview, Vars: fromPath("token", "token"), Reply: via("invitationPreview", pendingInvitation),
		Auth: "public", Summary: "A pending invitation"},
	{Pattern: "GET /auth/accept-invite", Serve: servedWithoutBody(serveAcceptPage), Ops: []string{opInvitationPreview},
		Auth: "public", Summary: "The invitation page (HTML)"},
	{Pattern: "POST /auth/accept-invite", Serve: served(serveAccept), Ops: []string{opAcceptInvitation, opInvitationPreview},
		Reply: signedUp, Auth: "public or bearer",
		Summary: "Accept an invitation: public {token, password, name} creates the account; " +
			"with the invitee's Bearer token (token in the body or ?token=) joins with that account"},
	{Pattern: "POST /management/invitations", Op: opInviteMember, Vars: withBody(inviteVars), Status: http.StatusCreated,
		Reply: invited, Auth: auth.MemberInvite, Summary: "Invite someone"},
	{Pattern: "GET /management/invitations", Op: "Invitations", Reply: at[InvitationsResponse]("viewer.organization.invitations"),
		Auth: auth.MemberList, Summary: "Pending invitations, newest first"},
	{Pattern: "POST /management/invitations/{id}/resend", Op: "ResendInvitation", Vars: fromPath("id", "id"),
		Reply: via("resendInvitation", newInvitation), Auth: auth.MemberInvite, Summary: "New token and expiry for a pending invitation"},
	{Pattern: "DELETE /management/invitations/{id}", Op: "RevokeInvitation", Vars: fromPath("id", "id"), Status: http.StatusNoContent,
		Auth: auth.MemberDelete, Summary: "Revoke a pending invitation"},
}

// The operations the Go code below names, beside the rows that run them.
const (
	opInviteMember           = "InviteMember"
	opRegisterWithInvitation = "RegisterWithInvitation"
	opAcceptInvitation       = "AcceptInvitation"
	opInvitationPreview      = "InvitationPreview"
)

type inviteBody struct {
	Email string  `json:"email"`
	Role  *string `json:"role,omitempty"`
}

func inviteVars(_ *call, b inviteBody) (map[string]any, error) {
	return map[string]any{"email": b.Email, "role": b.Role}, nil
}

// InviteResponse is an invitation of Invite.
type InviteResponse struct {
	ID               string  `json:"id" gql:"id"`
	Email            string  `json:"email" gql:"email"`
	Role             string  `json:"role" gql:"role.name"`
	Token            *string `json:"token" gql:"token"`
	InviteLink       *string `json:"invite_link" gql:"inviteLink"`
	Status           string  `json:"status" gql:"status,lower"`
	ExpiresAt        string  `json:"expires_at" gql:"expiresAt,time"`
	CreatedAt        string  `json:"created_at" gql:"createdAt,time"`
	OrganizationName string  `json:"organization_name" gql:"organization.name"`
}

// InvitationsResponse lists pending invitations.
type InvitationsResponse struct {
	Invitations []InviteResponse `json:"invitations" gql:"edges.node"`
}

// invitePayload is a new or renewed invitation (InvitePayload).
type invitePayload struct {
	Token      string         `gql:"token"`
	InviteLink string         `gql:"inviteLink"`
	Invitation InviteResponse `gql:"invitation"`
}

// invited answers a new invitation.
var invited = via("inviteMember", newInvitation)

// newInvitation answers a new or renewed invitation with its token and link: they are shown to
// its inviter.
func newInvitation(_ *call, p invitePayload) (InviteResponse, error) {
	r := p.Invitation
	r.Token, r.InviteLink = &p.Token, &p.InviteLink
	return r, nil
}

// preview is an invitation as its link shows it, before it is accepted (InvitationPreview).
type preview struct {
	ID                string  `gql:"id"`
	Email             string  `gql:"email"`
	Role              string  `gql:"role"`
	OrganizationName  string  `gql:"organizationName"`
	InvitedBy         *string `gql:"invitedBy"`
	ExpiresAt         string  `gql:"expiresAt"`
	CreatedAt         string  `gql:"createdAt"`
	Status            string  `gql:"status"`
	InviteLink        string  `gql:"inviteLink"`
	PasswordMinLength int     `gql:"passwordMinLength"`
}

// previewError is how an invitation that cannot be accepted reads on the REST paths.
func previewError(p *preview) *httpError {
	switch {
	case p == nil || p.Status == "REVOKED":
		return &httpError{Status: http.StatusNotFound, Detail: "Invitation not found"}
	case p.Status == "EXPIRED":
		return &httpError{Status: http.StatusBadRequest, Detail: "Invitation expired"}
	case p.Status == "ACCEPTED":
		return &httpError{Status: http.StatusBadRequest, Detail: "Invitation already accepted"}
	}
	return nil
}

// pendingInvitation answers a pending invitation, with the token of the path.
func pendingInvitation(c *call, p *preview) (InviteResponse, error) {
	if he := previewError(p); he != nil {
		return InviteResponse{}, he
	}
	token := c.path("token")
	return InviteResponse{ID: p.ID, Email: p.Email, Role: p.Role, Token: &token, InviteLink: &p.InviteLink,
		Status: "pending", ExpiresAt: stamp(p.ExpiresAt), CreatedAt: stamp(p.CreatedAt), OrganizationName: p.OrganizationName}, nil
}

// signedUp answers an accepted invitation: the invitee is signed in to its organization.
var signedUp = at[AuthToken]("acceptInvitation")

type registerInviteBody struct {
	Email    *string `json:"email,omitempty"`
	Role     *string `json:"role,omitempty"`
	Token    *string `json:"token,omitempty"`
	Password *string `json:"password,omitempty"`
	Name     *string `json:"name,omitempty"`
}

// serveRegisterInvite tells the two forms of /auth/register-invite apart by the body: the
// documented {email, role} invites someone; the dashboard's {token, password, name} signs up.
func serveRegisterInvite(c *call, b registerInviteBody) {
	switch {
	case b.Email != nil:
		c.respond(opInviteMember, map[string]any{"email": *b.Email, "role": b.Role}, http.StatusCreated, invited)
	case b.Token != nil:
		if b.Password == nil || strings.TrimSpace(*b.Password) == "" {
			c.fail(unprocessable("Field required: password"))
			return
		}
		c.respond(opRegisterWithInvitation, map[string]any{"token": *b.Token, "password": *b.Password, "name": b.Name},
			http.StatusOK, signedUp)
	default:
		c.fail(unprocessable("Field required: email (to invite) or token (to sign up)"))
	}
}

type acceptInviteBody struct {
	Token    *string `json:"token,omitempty"`
	Password *string `json:"password,omitempty"`
	Name     *string `json:"name,omitempty"`
}

// serveAccept accepts an invitation: JSON for API clients and the dashboard, HTML for the form
// of the invitation page.
func serveAccept(c *call, b acceptInviteBody) {
	if c.form != nil {
		serveAcceptForm(c)
		return
	}
	token := deref(b.Token)
	if token == "" {
		token = deref(c.query("token"))
	}
	if token == "" {
		c.fail(unprocessable("Field required: token"))
		return
	}
	c.respond(opAcceptInvitation, map[string]any{"token": token, "password": b.Password, "name": b.Name}, http.StatusOK, signedUp)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
