package rest

import "net/http"

// Sign-in, tokens and the caller: the routes of operations/auth.graphql.
var authRoutes = []route{
	{Pattern: "POST /auth/login", Op: "Login", Vars: withBody(loginVars), Reply: at[AuthToken]("login"),
		Auth: "public", Summary: "Sign in with e-mail (username) and password"},
	{Pattern: "POST /auth/refresh", Op: "Refresh", Vars: withOptionalBody(refreshVars), Reply: at[AuthToken]("refreshToken"),
		Auth: "refresh token", Summary: "New tokens for a refresh token (Bearer, or refresh_token in the body); the refresh token rotates"},
	{Pattern: "POST /auth/logout", Op: "Logout", Reply: message("Successfully logged out"),
		Auth: "bearer", Summary: "Revoke the current session"},
	{Pattern: "GET /auth/me", Op: "Me", Reply: at("viewer", active),
		Auth: "bearer", Summary: "The caller"},
	{Pattern: "GET /auth/permissions", Op: "Permissions", Reply: at[PermissionsResponse]("viewer"),
		Auth: "bearer", Summary: "The caller's permissions"},
	{Pattern: "GET /auth/organizations", Op: "MyOrganizations", Reply: paged(100, at[[]OrganizationBasicInfo]("viewer.memberships")),
		Auth: "bearer", Summary: "The caller's organizations", Query: pageParams},
	{Pattern: "POST /auth/switch-org", Op: "SwitchOrganization", Vars: withBody(switchOrgVars), Reply: at[AuthToken]("switchOrganization"),
		Auth: "bearer", Summary: "Tokens scoped to another organization of the caller"},
}

type loginBody struct {
	Username     string  `json:"username"`
	Password     string  `json:"password"`
	TotpCode     *string `json:"totp_code,omitempty"`
	RecoveryCode *string `json:"recovery_code,omitempty"`
}

func loginVars(_ *call, b loginBody) (map[string]any, error) {
	return map[string]any{"email": b.Username, "password": b.Password, "totpCode": b.TotpCode, "recoveryCode": b.RecoveryCode}, nil
}

type refreshBody struct {
	RefreshToken *string `json:"refresh_token,omitempty"`
}

// refreshVars takes the refresh token from the body, else from the bearer token: the dashboard
// sends it as the Bearer, with no body. Every failure reads "Refresh failed" (rest.md).
func refreshVars(c *call, b refreshBody) (map[string]any, error) {
	token := c.bearer()
	if b.RefreshToken != nil && *b.RefreshToken != "" {
		token = *b.RefreshToken
	}
	if token == "" {
		return nil, &httpError{Status: http.StatusUnauthorized, Detail: "Refresh failed"}
	}
	return map[string]any{"token": token}, nil
}

type switchOrgBody struct {
	OrgID string `json:"org_id"`
}

func switchOrgVars(_ *call, b switchOrgBody) (map[string]any, error) {
	return map[string]any{"orgId": b.OrgID}, nil
}

// AuthToken is the result of every sign-in.
type AuthToken struct {
	AccessToken   string                  `json:"access_token" gql:"accessToken"`
	RefreshToken  string                  `json:"refresh_token" gql:"refreshToken"`
	TokenType     string                  `json:"token_type" gql:"tokenType"`
	ExpiresIn     int                     `json:"expires_in" gql:"expiresIn"`
	Organizations []OrganizationBasicInfo `json:"organizations" gql:"memberships"`
}

// OrganizationBasicInfo is one organization of the caller, with the caller's role in it: a
// membership.
type OrganizationBasicInfo struct {
	ID   string `json:"id" gql:"organization.id"`
	Name string `json:"name" gql:"organization.name"`
	Role string `json:"role" gql:"role.name"`
}

// MeResponse describes the caller.
type MeResponse struct {
	UserID       string   `json:"user_id" gql:"user.id"`
	Username     string   `json:"username" gql:"user.email"`
	Email        string   `json:"email" gql:"user.email"`
	Name         string   `json:"name" gql:"user.name"`
	Roles        []string `json:"roles" gql:"role.name,list"`
	Permissions  []string `json:"permissions" gql:"permissions,sorted"`
	OrgID        string   `json:"org_id" gql:"organization.id"`
	CreatedAt    string   `json:"created_at" gql:"user.createdAt,time"`
	IsActive     bool     `json:"is_active"`
	TotpEnabled  bool     `json:"totp_enabled" gql:"user.twoFactorEnabled"`
	IsSuperAdmin bool     `json:"is_super_admin" gql:"user.isSuperAdmin"`
}

// active marks the caller active: an account that is not cannot sign in.
func active(m *MeResponse) { m.IsActive = true }

// PermissionsResponse lists the caller's permissions.
type PermissionsResponse struct {
	Permissions []string `json:"permissions" gql:"permissions"`
	// AllowedModels is empty: models are not managed here.
	AllowedModels []string `json:"allowed_models"`
}
