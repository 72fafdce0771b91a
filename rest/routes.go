package rest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// route is one REST endpoint: a row of the table below.
type route struct {
	Method  string
	Path    string
	Summary string
	// Auth is "public", "bearer", or the permission the operation checks.
	Auth string
	// Op is the GraphQL operation (operations/*.graphql) the route runs.
	Op string
	// Body and Query describe the request for /openapi.json; Result the response.
	Body   any
	Query  []param
	Result any
	// Vars builds the operation's variables from the path, query and body.
	Vars func(c *call) (map[string]any, error)
	// Status is the success status (200 when zero; 204 sends no body).
	Status int
	// Shape reshapes the operation's data into Result.
	Shape func(c *call, data json.RawMessage) (any, error)
	// Serve replaces the generic flow for routes that choose between operations or speak HTML.
	Serve func(c *call)
}

// param is a query parameter, for /openapi.json.
type param struct {
	Name, Type, Description string
}

var pageParams = []param{
	{"skip", "integer", "items to skip (>= 0, default 0)"},
	{"limit", "integer", "items to return (1..100, default 50)"},
}

// Request bodies.

type loginBody struct {
	Username     string  `json:"username"`
	Password     string  `json:"password"`
	TotpCode     *string `json:"totp_code,omitempty"`
	RecoveryCode *string `json:"recovery_code,omitempty"`
}

type refreshBody struct {
	RefreshToken *string `json:"refresh_token,omitempty"`
}

type switchOrgBody struct {
	OrgID string `json:"org_id"`
}

type inviteBody struct {
	Email string  `json:"email"`
	Role  *string `json:"role,omitempty"`
}

type registerInviteBody struct {
	Email    *string `json:"email,omitempty"`
	Role     *string `json:"role,omitempty"`
	Token    *string `json:"token,omitempty"`
	Password *string `json:"password,omitempty"`
	Name     *string `json:"name,omitempty"`
}

type acceptInviteBody struct {
	Token    *string `json:"token,omitempty"`
	Password *string `json:"password,omitempty"`
	Name     *string `json:"name,omitempty"`
}

type roleChangeBody struct {
	Role string `json:"role"`
}

type totpCodeBody struct {
	TotpCode string `json:"totp_code"`
}

type totpDisableBody struct {
	TotpCode *string `json:"totp_code,omitempty"`
	Password *string `json:"password,omitempty"`
}

type changePasswordBody struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

type createOrgBody struct {
	Name        string `json:"name"`
	LogPayloads *bool  `json:"log_payloads,omitempty"`
}

type updateOrgBody struct {
	Name        *string `json:"name,omitempty"`
	LogPayloads *bool   `json:"log_payloads,omitempty"`
	Settings    *struct {
		DefaultRole *string `json:"default_role,omitempty"`
		LogPayloads *bool   `json:"log_payloads,omitempty"`
	} `json:"settings,omitempty"`
	Billing *struct {
		BillingEmail *string `json:"billing_email,omitempty"`
		CompanyName  *string `json:"company_name,omitempty"`
		Address      *string `json:"address,omitempty"`
		TaxID        *string `json:"tax_id,omitempty"`
		Plan         *string `json:"plan,omitempty"`
	} `json:"billing,omitempty"`
}

type createRoleBody struct {
	Name        string   `json:"name"`
	Description *string  `json:"description,omitempty"`
	Permissions []string `json:"permissions"`
}

type updateRoleBody struct {
	Description *string   `json:"description,omitempty"`
	Permissions *[]string `json:"permissions,omitempty"`
}

// body decodes the request body into a new T.
func body[T any](c *call) (T, error) {
	var v T
	return v, c.decode(&v)
}

// required refuses missing body fields, as a 422 naming them.
func required(fields map[string]string) error {
	var missing []string
	for name, v := range fields {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return unprocessable("Field required: %s", strings.Join(missing, ", "))
	}
	return nil
}

// page reads skip and limit.
func (c *call) page(maxLimit int) (skip, limit int, err error) {
	if skip, err = c.intQuery("skip", 0, 0, 1<<31-1); err != nil {
		return
	}
	limit, err = c.intQuery("limit", 50, 1, maxLimit)
	return
}

func none(*call) (map[string]any, error) { return map[string]any{}, nil }

func message(text string) func(*call, json.RawMessage) (any, error) {
	return func(*call, json.RawMessage) (any, error) { return Message{Message: text}, nil }
}

func shapeAuthToken(field string) func(*call, json.RawMessage) (any, error) {
	return func(_ *call, data json.RawMessage) (any, error) {
		m, err := decode[map[string]gqlAuthPayload](data)
		return authToken(m[field]), err
	}
}

func shapeInvitePayload(field string) func(*call, json.RawMessage) (any, error) {
	return func(_ *call, data json.RawMessage) (any, error) {
		m, err := decode[map[string]gqlInvitePayload](data)
		return invitePayload(m[field]), err
	}
}

func shapeRole(field string) func(*call, json.RawMessage) (any, error) {
	return func(_ *call, data json.RawMessage) (any, error) {
		m, err := decode[map[string]gqlRole](data)
		return roleResponse(m[field]), err
	}
}

func shapeOrg(field string) func(*call, json.RawMessage) (any, error) {
	return func(_ *call, data json.RawMessage) (any, error) {
		m, err := decode[map[string]gqlOrg](data)
		return orgResponse(m[field]), err
	}
}

// table is the REST API: every documented and dashboard route.
func table() []route {
	return []route{
		{Method: "POST", Path: "/auth/login", Summary: "Sign in with e-mail (username) and password", Auth: "public",
			Op: "Login", Body: loginBody{}, Result: AuthToken{}, Shape: shapeAuthToken("login"),
			Vars: func(c *call) (map[string]any, error) {
				b, err := body[loginBody](c)
				if err == nil {
					err = required(map[string]string{"username": b.Username, "password": b.Password})
				}
				return map[string]any{"email": b.Username, "password": b.Password, "totpCode": b.TotpCode, "recoveryCode": b.RecoveryCode}, err
			}},
		{Method: "POST", Path: "/auth/refresh", Summary: "New tokens for a refresh token (Bearer, or refresh_token in the body); the refresh token rotates",
			Auth: "refresh token", Op: "Refresh", Body: refreshBody{}, Result: AuthToken{}, Shape: shapeAuthToken("refreshToken"),
			Vars: func(c *call) (map[string]any, error) {
				b, _ := body[refreshBody](c)
				token := c.bearer()
				if b.RefreshToken != nil && *b.RefreshToken != "" {
					token = *b.RefreshToken
				}
				if token == "" {
					return nil, &httpError{Status: http.StatusUnauthorized, Detail: "Refresh failed"}
				}
				return map[string]any{"token": token}, nil
			}},
		{Method: "POST", Path: "/auth/logout", Summary: "Revoke the current session", Auth: "bearer",
			Op: "Logout", Vars: none, Result: Message{}, Shape: message("Successfully logged out")},
		{Method: "GET", Path: "/auth/me", Summary: "The caller", Auth: "bearer", Op: "Me", Vars: none, Result: MeResponse{},
			Shape: shapeMe},
		{Method: "GET", Path: "/auth/permissions", Summary: "The caller's permissions", Auth: "bearer", Op: "Permissions",
			Vars: none, Result: PermissionsResponse{}, Shape: shapePermissions},
		{Method: "GET", Path: "/auth/organizations", Summary: "The caller's organizations", Auth: "bearer",
			Op: "MyOrganizations", Query: pageParams, Vars: none, Result: []OrganizationBasicInfo{}, Shape: shapeMyOrganizations},
		{Method: "POST", Path: "/auth/switch-org", Summary: "Tokens scoped to another organization of the caller", Auth: "bearer",
			Op: "SwitchOrganization", Body: switchOrgBody{}, Result: AuthToken{}, Shape: shapeAuthToken("switchOrganization"),
			Vars: func(c *call) (map[string]any, error) {
				b, err := body[switchOrgBody](c)
				if err == nil {
					err = required(map[string]string{"org_id": b.OrgID})
				}
				return map[string]any{"orgId": b.OrgID}, err
			}},
		{Method: "POST", Path: "/auth/register-invite", Summary: "With a Bearer token and {email, role}: invite someone (201). " +
			"Public with {token, password, name}: create the invited account and sign in.", Auth: "member:invite, or public with a token",
			Body: registerInviteBody{}, Result: AuthToken{}, Serve: serveRegisterInvite},
		{Method: "GET", Path: "/auth/invitations/{token}", Summary: "A pending invitation", Auth: "public",
			Op: "InvitationPreview", Result: InviteResponse{}, Shape: shapePreview,
			Vars: func(c *call) (map[string]any, error) { return map[string]any{"token": c.path("token")}, nil }},
		{Method: "GET", Path: "/auth/accept-invite", Summary: "The invitation page (HTML)", Auth: "public", Serve: serveAcceptPage},
		{Method: "POST", Path: "/auth/accept-invite", Summary: "Accept an invitation: public {token, password, name} creates the account; " +
			"with the invitee's Bearer token (token in the body or ?token=) joins with that account", Auth: "public or bearer",
			Body: acceptInviteBody{}, Result: AuthToken{}, Serve: serveAccept},
		{Method: "POST", Path: "/auth/totp/setup", Summary: "Start 2FA setup", Auth: "bearer", Op: "BeginTwoFactorSetup",
			Vars: none, Result: TOTPSetup{}, Shape: func(_ *call, data json.RawMessage) (any, error) {
				m, err := decode[map[string]struct{ Secret, OtpauthURI, QRCode string }](data)
				s := m["beginTwoFactorSetup"]
				return TOTPSetup{Secret: s.Secret, QRCode: s.QRCode, OtpauthURL: s.OtpauthURI}, err
			}},
		{Method: "POST", Path: "/auth/totp/verify", Summary: "Turn 2FA on with a current code", Auth: "bearer",
			Op: "ConfirmTwoFactorSetup", Body: totpCodeBody{}, Result: TOTPEnabled{},
			Vars: func(c *call) (map[string]any, error) {
				b, err := body[totpCodeBody](c)
				if err == nil {
					err = required(map[string]string{"totp_code": b.TotpCode})
				}
				return map[string]any{"code": b.TotpCode}, err
			},
			Shape: func(_ *call, data json.RawMessage) (any, error) {
				m, err := decode[map[string]struct{ RecoveryCodes []string }](data)
				return TOTPEnabled{Status: "enabled", RecoveryCodes: m["confirmTwoFactorSetup"].RecoveryCodes}, err
			}},
		{Method: "POST", Path: "/auth/totp/disable", Summary: "Turn 2FA off with a current code or the password", Auth: "bearer",
			Op: "DisableTwoFactor", Body: totpDisableBody{}, Result: TOTPStatus{},
			Vars: func(c *call) (map[string]any, error) {
				b, err := body[totpDisableBody](c)
				return map[string]any{"code": b.TotpCode, "password": b.Password}, err
			},
			Shape: func(*call, json.RawMessage) (any, error) { return TOTPStatus{Status: "disabled"}, nil }},
		{Method: "POST", Path: "/auth/change-password", Summary: "Change the caller's password; ends their other sessions", Auth: "bearer",
			Op: "ChangePassword", Body: changePasswordBody{}, Result: Message{}, Shape: message("Password changed"),
			Vars: func(c *call) (map[string]any, error) {
				b, err := body[changePasswordBody](c)
				if err == nil {
					err = required(map[string]string{"current_password": b.CurrentPassword, "new_password": b.NewPassword})
				}
				return map[string]any{"current": b.CurrentPassword, "new": b.NewPassword}, err
			}},
		{Method: "GET", Path: "/auth/sessions", Summary: "The caller's active sessions", Auth: "bearer", Op: "MySessions",
			Vars: none, Result: []SessionResponse{}, Shape: shapeSessions},
		{Method: "DELETE", Path: "/auth/sessions/{id}", Summary: "Revoke one of the caller's sessions", Auth: "bearer",
			Op: "RevokeSession", Status: http.StatusNoContent,
			Vars: func(c *call) (map[string]any, error) { return map[string]any{"id": c.path("id")}, nil }},
		{Method: "DELETE", Path: "/auth/sessions", Summary: "Revoke every session of the caller but the current one", Auth: "bearer",
			Op: "RevokeOtherSessions", Vars: none, Result: RevokedResponse{},
			Shape: func(_ *call, data json.RawMessage) (any, error) {
				m, err := decode[map[string]int](data)
				return RevokedResponse{Revoked: m["revokeOtherSessions"]}, err
			}},
		{Method: "GET", Path: "/admin/users", Summary: "Members of the active organization", Auth: "member:list",
			Op: "Users", Query: append(append([]param{}, pageParams...), param{"search", "string", "e-mail or name contains"}, param{"role", "string", "role name"}),
			Vars: usersVars, Result: []UserResponse{}, Shape: shapeUsers},
		{Method: "GET", Path: "/management/users", Summary: "Members of the active organization (the dashboard's path)", Auth: "member:list",
			Op: "Users", Query: append(append([]param{}, pageParams...), param{"search", "string", "e-mail or name contains"}, param{"role", "string", "role name"}),
			Vars: usersVars, Result: []UserResponse{}, Shape: shapeUsers},
		{Method: "PUT", Path: "/admin/users/{user_id}/role", Summary: "Change a member's role", Auth: "role:update",
			Op: "UpdateUserRole", Body: roleChangeBody{}, Result: Message{}, Shape: message("User role updated"),
			Vars: func(c *call) (map[string]any, error) {
				b, err := body[roleChangeBody](c)
				if err == nil {
					err = required(map[string]string{"role": b.Role})
				}
				return map[string]any{"userId": c.path("user_id"), "role": b.Role}, err
			}},
		{Method: "DELETE", Path: "/admin/users/{user_id}", Summary: "Remove a member from the active organization", Auth: "member:delete",
			Op: "RemoveUser", Status: http.StatusNoContent,
			Vars: func(c *call) (map[string]any, error) { return map[string]any{"userId": c.path("user_id")}, nil }},
		{Method: "POST", Path: "/management/invitations", Summary: "Invite someone", Auth: "member:invite", Op: "InviteMember",
			Body: inviteBody{}, Vars: inviteVars, Status: http.StatusCreated, Result: InviteResponse{}, Shape: shapeInvitePayload("inviteMember")},
		{Method: "GET", Path: "/management/invitations", Summary: "Pending invitations, newest first", Auth: "member:list",
			Op: "Invitations", Vars: none, Result: InvitationsResponse{}, Shape: shapeInvitations},
		{Method: "POST", Path: "/management/invitations/{id}/resend", Summary: "New token and expiry for a pending invitation",
			Auth: "member:invite", Op: "ResendInvitation", Result: InviteResponse{}, Shape: shapeInvitePayload("resendInvitation"),
			Vars: func(c *call) (map[string]any, error) { return map[string]any{"id": c.path("id")}, nil }},
		{Method: "DELETE", Path: "/management/invitations/{id}", Summary: "Revoke a pending invitation", Auth: "member:delete",
			Op: "RevokeInvitation", Status: http.StatusNoContent,
			Vars: func(c *call) (map[string]any, error) { return map[string]any{"id": c.path("id")}, nil }},
		{Method: "POST", Path: "/management/organizations", Summary: "Create an organization; the caller becomes its admin", Auth: "super admin",
			Op: "CreateOrganization", Body: createOrgBody{}, Status: http.StatusCreated, Result: OrganizationResponse{},
			Shape: shapeOrg("createOrganization"),
			Vars: func(c *call) (map[string]any, error) {
				b, err := body[createOrgBody](c)
				if err == nil {
					err = required(map[string]string{"name": b.Name})
				}
				return map[string]any{"name": b.Name, "logPayloads": b.LogPayloads}, err
			}},
		{Method: "GET", Path: "/management/organizations/me", Summary: "The active organization", Auth: "organization:view",
			Op: "MyOrganization", Vars: none, Result: OrganizationResponse{}, Shape: shapeOrg("organization")},
		{Method: "PATCH", Path: "/management/organizations/me", Summary: "Change the active organization", Auth: "organization:update",
			Op: "UpdateMyOrganization", Body: updateOrgBody{}, Vars: updateOrgVars, Result: OrganizationResponse{},
			Shape: shapeOrg("updateOrganization")},
		{Method: "GET", Path: "/admin/roles", Summary: "Built-in roles and the organization's custom roles", Auth: "role:list",
			Op: "Roles", Vars: none, Result: []RoleResponse{}, Shape: shapeRoles},
		{Method: "POST", Path: "/admin/roles", Summary: "Create a custom role", Auth: "role:create", Op: "CreateRole",
			Body: createRoleBody{}, Result: RoleResponse{}, Shape: shapeRole("createRole"),
			Vars: func(c *call) (map[string]any, error) {
				b, err := body[createRoleBody](c)
				if err == nil {
					err = required(map[string]string{"name": b.Name})
				}
				if b.Permissions == nil {
					b.Permissions = []string{}
				}
				return map[string]any{"name": b.Name, "description": b.Description, "permissions": b.Permissions}, err
			}},
		{Method: "PUT", Path: "/admin/roles/{name}", Summary: "Change a custom role", Auth: "role:update", Op: "UpdateRole",
			Body: updateRoleBody{}, Result: RoleResponse{}, Shape: shapeRole("updateRole"),
			Vars: func(c *call) (map[string]any, error) {
				b, err := body[updateRoleBody](c)
				vars := map[string]any{"name": c.path("name"), "description": b.Description}
				if b.Permissions != nil {
					vars["permissions"] = *b.Permissions
				}
				return vars, err
			}},
		{Method: "DELETE", Path: "/admin/roles/{name}", Summary: "Delete a custom role", Auth: "role:delete", Op: "DeleteRole",
			Result: Message{}, Shape: message("Role deleted"),
			Vars: func(c *call) (map[string]any, error) { return map[string]any{"name": c.path("name")}, nil }},
		{Method: "GET", Path: "/admin/roles/permissions/list", Summary: "Every permission, in catalog order", Auth: "role:list",
			Op: "PermissionList", Vars: none, Result: []string{},
			Shape: func(_ *call, data json.RawMessage) (any, error) {
				m, err := decode[struct{ PermissionCatalog []struct{ Name string } }](data)
				out := make([]string, len(m.PermissionCatalog))
				for i, p := range m.PermissionCatalog {
					out[i] = p.Name
				}
				return out, err
			}},
		{Method: "GET", Path: "/audit/logs", Summary: "The active organization's audit log, newest first", Auth: "audit_log:list",
			Op: "AuditLogs", Query: []param{
				{"user_id", "string", "actor"}, {"action", "string", "e.g. auth.login"}, {"category", "string", "e.g. member"},
				{"start_date", "string", "RFC 3339; entries at or after"}, {"end_date", "string", "RFC 3339; entries before"},
				{"skip", "integer", ">= 0"}, {"limit", "integer", "1..1000, default 100"},
			}, Vars: auditVars, Result: []AuditLogResponse{}, Shape: shapeAudit},
	}
}
