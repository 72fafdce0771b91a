package rest

import (
	"encoding/json"
	"net/http"
	"time"
)

func shapeMe(_ *call, data json.RawMessage) (any, error) {
	v, err := viewerOf[struct {
		User struct {
			ID, Email, Name, CreatedAt     string
			TwoFactorEnabled, IsSuperAdmin bool
		}
		Organization struct{ ID string }
		Role         struct{ Name string }
		Permissions  []string
	}](data)
	if err != nil {
		return nil, err
	}
	return MeResponse{UserID: v.User.ID, Username: v.User.Email, Email: v.User.Email, Name: v.User.Name,
		Roles: []string{v.Role.Name}, Permissions: sorted(v.Permissions), OrgID: v.Organization.ID,
		CreatedAt: stamp(v.User.CreatedAt), IsActive: true, TotpEnabled: v.User.TwoFactorEnabled, IsSuperAdmin: v.User.IsSuperAdmin}, nil
}

// viewerOf decodes the viewer of an operation's data. The viewer query needs no token, so an
// anonymous caller gets a null viewer: on the REST routes that is a 401.
func viewerOf[T any](data json.RawMessage) (*T, error) {
	m, err := decode[struct{ Viewer *T }](data)
	if err != nil {
		return nil, err
	}
	if m.Viewer == nil {
		return nil, &httpError{Status: http.StatusUnauthorized, Detail: "Not authenticated"}
	}
	return m.Viewer, nil
}

func shapePermissions(_ *call, data json.RawMessage) (any, error) {
	v, err := viewerOf[struct{ Permissions []string }](data)
	if err != nil {
		return nil, err
	}
	return PermissionsResponse{Permissions: v.Permissions, AllowedModels: []string{}}, nil
}

func shapeMyOrganizations(c *call, data json.RawMessage) (any, error) {
	skip, limit, err := c.page(100)
	if err != nil {
		return nil, err
	}
	v, err := viewerOf[struct{ Memberships []gqlMembership }](data)
	if err != nil {
		return nil, err
	}
	out := []OrganizationBasicInfo{}
	for i, ms := range v.Memberships {
		if i >= skip && len(out) < limit {
			out = append(out, OrganizationBasicInfo{ID: ms.Organization.ID, Name: ms.Organization.Name, Role: ms.Role.Name})
		}
	}
	return out, nil
}

// serveRegisterInvite tells the two forms of /auth/register-invite apart by the body: the
// documented {email, role} invites someone; the dashboard's {token, password, name} signs up.
func serveRegisterInvite(c *call) {
	b, err := body[registerInviteBody](c)
	switch {
	case err != nil:
		c.fail(err)
	case b.Email != nil:
		c.respond("InviteMember", map[string]any{"email": *b.Email, "role": b.Role}, http.StatusCreated, shapeInvitePayload("inviteMember"))
	case b.Token != nil:
		if err := required(map[string]string{"password": deref(b.Password)}); err != nil {
			c.fail(err)
			return
		}
		c.respond("RegisterWithInvitation", map[string]any{"token": *b.Token, "password": *b.Password, "name": b.Name},
			http.StatusOK, shapeAuthToken("acceptInvitation"))
	default:
		c.fail(unprocessable("Field required: email (to invite) or token (to sign up)"))
	}
}

// respond runs op and writes its shaped result with status.
func (c *call) respond(op string, vars map[string]any, status int, shape func(*call, json.RawMessage) (any, error)) {
	data, err := c.run(op, vars)
	if err != nil {
		c.fail(err)
		return
	}
	out, err := shape(c, data)
	if err != nil {
		c.fail(err)
		return
	}
	writeJSON(c.w, status, out)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

type gqlPreview struct {
	ID, Email, Role, OrganizationName string
	InvitedBy                         *string
	ExpiresAt, CreatedAt, Status      string
	InviteLink                        string
	PasswordMinLength                 int
}

// previewError is how an invitation that cannot be accepted reads on the REST paths.
func previewError(p *gqlPreview) *httpError {
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

func shapePreview(c *call, data json.RawMessage) (any, error) {
	m, err := decode[struct{ InvitationPreview *gqlPreview }](data)
	if err != nil {
		return nil, err
	}
	p := m.InvitationPreview
	if he := previewError(p); he != nil {
		return nil, he
	}
	token := c.path("token")
	return InviteResponse{ID: p.ID, Email: p.Email, Role: p.Role, Token: &token, InviteLink: &p.InviteLink,
		Status: "pending", ExpiresAt: stamp(p.ExpiresAt), CreatedAt: stamp(p.CreatedAt), OrganizationName: p.OrganizationName}, nil
}

// serveAccept accepts an invitation: JSON for API clients and the dashboard, HTML for the form
// of the invitation page.
func serveAccept(c *call) {
	if c.form != nil {
		serveAcceptForm(c)
		return
	}
	b, err := body[acceptInviteBody](c)
	if err != nil {
		c.fail(err)
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
	c.respond("AcceptInvitation", map[string]any{"token": token, "password": b.Password, "name": b.Name},
		http.StatusOK, shapeAuthToken("acceptInvitation"))
}

func shapeSessions(_ *call, data json.RawMessage) (any, error) {
	v, err := viewerOf[struct {
		Sessions []struct {
			ID, UserAgent, IPAddress, CreatedAt, LastUsedAt, ExpiresAt string
			Current                                                    bool
		}
	}](data)
	if err != nil {
		return nil, err
	}
	out := []SessionResponse{}
	for _, s := range v.Sessions {
		out = append(out, SessionResponse{ID: s.ID, UserAgent: s.UserAgent, IPAddress: s.IPAddress,
			CreatedAt: stamp(s.CreatedAt), LastUsedAt: stamp(s.LastUsedAt), ExpiresAt: stamp(s.ExpiresAt), Current: s.Current})
	}
	return out, nil
}

func usersVars(c *call) (map[string]any, error) {
	skip, limit, err := c.page(100)
	return map[string]any{"offset": skip, "limit": limit, "search": c.query("search"), "role": c.query("role")}, err
}

func shapeUsers(_ *call, data json.RawMessage) (any, error) {
	v, err := viewerOf[struct {
		Organization struct {
			MemberList []struct {
				Role         struct{ Name string }
				LastActiveAt *string
				Organization struct{ ID string }
				User         struct {
					ID, Email, Name, CreatedAt string
					TwoFactorEnabled           bool
				}
			}
		}
	}](data)
	if err != nil {
		return nil, err
	}
	out := []UserResponse{}
	for _, r := range v.Organization.MemberList {
		out = append(out, UserResponse{ID: r.User.ID, Email: r.User.Email, Name: r.User.Name, Role: r.Role.Name,
			OrgID: r.Organization.ID, CreatedAt: stamp(r.User.CreatedAt), LastActiveAt: stampPtr(r.LastActiveAt),
			TotpEnabled: r.User.TwoFactorEnabled})
	}
	return out, nil
}

func inviteVars(c *call) (map[string]any, error) {
	b, err := body[inviteBody](c)
	if err == nil {
		err = required(map[string]string{"email": b.Email})
	}
	return map[string]any{"email": b.Email, "role": b.Role}, err
}

func shapeInvitations(_ *call, data json.RawMessage) (any, error) {
	v, err := viewerOf[struct {
		Organization struct {
			Invitations struct{ Edges []struct{ Node gqlInvite } }
		}
	}](data)
	if err != nil {
		return nil, err
	}
	out := InvitationsResponse{Invitations: []InviteResponse{}}
	for _, e := range v.Organization.Invitations.Edges {
		out.Invitations = append(out.Invitations, inviteResponse(e.Node))
	}
	return out, nil
}

func updateOrgVars(c *call) (map[string]any, error) {
	b, err := body[updateOrgBody](c)
	if err != nil {
		return nil, err
	}
	in := map[string]any{}
	if b.Name != nil {
		in["name"] = *b.Name
	}
	settings := map[string]any{}
	if b.LogPayloads != nil {
		settings["logPayloads"] = *b.LogPayloads
	}
	if s := b.Settings; s != nil {
		if s.DefaultRole != nil {
			settings["defaultRole"] = *s.DefaultRole
		}
		if s.LogPayloads != nil {
			settings["logPayloads"] = *s.LogPayloads
		}
	}
	if len(settings) > 0 {
		in["settings"] = settings
	}
	if bl := b.Billing; bl != nil {
		billing := map[string]any{}
		for k, v := range map[string]*string{"billingEmail": bl.BillingEmail, "companyName": bl.CompanyName,
			"address": bl.Address, "taxId": bl.TaxID, "plan": bl.Plan} {
			if v != nil {
				billing[k] = *v
			}
		}
		in["billing"] = billing
	}
	return map[string]any{"input": in}, nil
}

func shapeRoles(_ *call, data json.RawMessage) (any, error) {
	v, err := viewerOf[struct{ Organization struct{ Roles []gqlRole } }](data)
	if err != nil {
		return nil, err
	}
	out := []RoleResponse{}
	for _, r := range v.Organization.Roles {
		out = append(out, roleResponse(r))
	}
	return out, nil
}

func auditVars(c *call) (map[string]any, error) {
	skip, err := c.intQuery("skip", 0, 0, 1<<31-1)
	if err != nil {
		return nil, err
	}
	limit, err := c.intQuery("limit", 100, 1, 1000)
	if err != nil {
		return nil, err
	}
	where := map[string]any{"action": c.query("action"), "category": c.query("category"), "actorId": c.query("user_id")}
	for name, key := range map[string]string{"start_date": "since", "end_date": "until"} {
		if v := c.query(name); v != nil {
			t, err := parseDate(*v)
			if err != nil {
				return nil, unprocessable("%s must be an RFC 3339 time or a date (YYYY-MM-DD)", name)
			}
			where[key] = t.Format(time.RFC3339Nano)
		}
	}
	return map[string]any{"offset": skip, "limit": limit, "where": where}, nil
}

func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02", s)
}

func shapeAudit(_ *call, data json.RawMessage) (any, error) {
	v, err := viewerOf[struct {
		Organization struct {
			AuditLogList []struct {
				ID, CreatedAt                              string
				ActorID                                    *string
				ActorEmail                                 string
				Organization                               *struct{ ID string }
				Action, Category, ResourceType, ResourceID string
				Details                                    map[string]any
				IPAddress, Status                          string
			}
		}
	}](data)
	if err != nil {
		return nil, err
	}
	out := []AuditLogResponse{}
	for _, a := range v.Organization.AuditLogList {
		r := AuditLogResponse{ID: a.ID, Timestamp: stamp(a.CreatedAt), UserID: a.ActorID, UserEmail: a.ActorEmail,
			Action: a.Action, Category: a.Category, ResourceType: a.ResourceType, ResourceID: a.ResourceID,
			Details: a.Details, IPAddress: a.IPAddress, Status: a.Status}
		if a.Organization != nil {
			r.OrgID = a.Organization.ID
		}
		if r.Details == nil {
			r.Details = map[string]any{}
		}
		out = append(out, r)
	}
	return out, nil
}
