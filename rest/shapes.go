package rest

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// The InferiaLLM JSON shapes (rest.md). They also describe the responses in /openapi.json.

// OrganizationBasicInfo is one organization of the caller, with the caller's role in it.
type OrganizationBasicInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// AuthToken is the result of every sign-in.
type AuthToken struct {
	AccessToken   string                  `json:"access_token"`
	RefreshToken  string                  `json:"refresh_token"`
	TokenType     string                  `json:"token_type"`
	ExpiresIn     int                     `json:"expires_in"`
	Organizations []OrganizationBasicInfo `json:"organizations"`
}

// UserResponse is a member of the active organization.
type UserResponse struct {
	ID           string  `json:"id"`
	Email        string  `json:"email"`
	Name         string  `json:"name"`
	Role         string  `json:"role"`
	OrgID        string  `json:"org_id"`
	CreatedAt    string  `json:"created_at"`
	LastActiveAt *string `json:"last_active_at"`
	TotpEnabled  bool    `json:"totp_enabled"`
}

// InviteResponse is an invitation.
type InviteResponse struct {
	ID               string  `json:"id"`
	Email            string  `json:"email"`
	Role             string  `json:"role"`
	Token            *string `json:"token"`
	InviteLink       *string `json:"invite_link"`
	Status           string  `json:"status"`
	ExpiresAt        string  `json:"expires_at"`
	CreatedAt        string  `json:"created_at"`
	OrganizationName string  `json:"organization_name"`
}

// InvitationsResponse lists pending invitations.
type InvitationsResponse struct {
	Invitations []InviteResponse `json:"invitations"`
}

// RoleResponse is a role.
type RoleResponse struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Permissions []string `json:"permissions"`
	BuiltIn     bool     `json:"built_in"`
	CreatedAt   string   `json:"created_at"`
	UpdatedAt   string   `json:"updated_at"`
}

// OrganizationSettings are an organization's settings.
type OrganizationSettings struct {
	DefaultRole string `json:"default_role"`
	LogPayloads bool   `json:"log_payloads"`
}

// Billing is an organization's billing information.
type Billing struct {
	BillingEmail string `json:"billing_email"`
	CompanyName  string `json:"company_name"`
	Address      string `json:"address"`
	TaxID        string `json:"tax_id"`
	Plan         string `json:"plan"`
}

// OrganizationResponse is an organization; billing is null without billing:view.
type OrganizationResponse struct {
	ID          string               `json:"id"`
	Name        string               `json:"name"`
	LogPayloads bool                 `json:"log_payloads"`
	CreatedAt   string               `json:"created_at"`
	Settings    OrganizationSettings `json:"settings"`
	Billing     *Billing             `json:"billing"`
}

// MeResponse describes the caller.
type MeResponse struct {
	UserID       string   `json:"user_id"`
	Username     string   `json:"username"`
	Email        string   `json:"email"`
	Name         string   `json:"name"`
	Roles        []string `json:"roles"`
	Permissions  []string `json:"permissions"`
	OrgID        string   `json:"org_id"`
	CreatedAt    string   `json:"created_at"`
	IsActive     bool     `json:"is_active"`
	TotpEnabled  bool     `json:"totp_enabled"`
	IsSuperAdmin bool     `json:"is_super_admin"`
}

// PermissionsResponse lists the caller's permissions.
type PermissionsResponse struct {
	Permissions   []string `json:"permissions"`
	AllowedModels []string `json:"allowed_models"`
}

// Message is a plain confirmation.
type Message struct {
	Message string `json:"message"`
}

// TOTPSetup is a pending authenticator secret.
type TOTPSetup struct {
	Secret     string `json:"secret"`
	QRCode     string `json:"qr_code"`
	OtpauthURL string `json:"otpauth_url"`
}

// TOTPEnabled confirms 2FA with the recovery codes, shown once.
type TOTPEnabled struct {
	Status        string   `json:"status"`
	RecoveryCodes []string `json:"recovery_codes"`
}

// TOTPStatus confirms a 2FA change.
type TOTPStatus struct {
	Status string `json:"status"`
}

// SessionResponse is one of the caller's sessions.
type SessionResponse struct {
	ID         string `json:"id"`
	UserAgent  string `json:"user_agent"`
	IPAddress  string `json:"ip_address"`
	CreatedAt  string `json:"created_at"`
	LastUsedAt string `json:"last_used_at"`
	ExpiresAt  string `json:"expires_at"`
	Current    bool   `json:"current"`
}

// RevokedResponse says how many sessions were revoked.
type RevokedResponse struct {
	Revoked int `json:"revoked"`
}

// AuditLogResponse is one audit entry.
type AuditLogResponse struct {
	ID           string         `json:"id"`
	Timestamp    string         `json:"timestamp"`
	UserID       *string        `json:"user_id"`
	UserEmail    string         `json:"user_email"`
	OrgID        string         `json:"org_id"`
	Action       string         `json:"action"`
	Category     string         `json:"category"`
	ResourceType string         `json:"resource_type"`
	ResourceID   string         `json:"resource_id"`
	Details      map[string]any `json:"details"`
	IPAddress    string         `json:"ip_address"`
	Status       string         `json:"status"`
}

// The GraphQL results the shapes are made from.

type gqlAuthPayload struct {
	AccessToken  string
	RefreshToken string
	TokenType    string
	ExpiresIn    int
	Memberships  []gqlMembership
}

type gqlMembership struct {
	Organization struct{ ID, Name string }
	Role         struct{ Name string }
}

type gqlInvite struct {
	ID           string
	Email        string
	Role         struct{ Name string }
	Token        *string
	InviteLink   *string
	Status       string
	ExpiresAt    string
	CreatedAt    string
	Organization struct{ Name string }
}

type gqlInvitePayload struct {
	Token      string
	InviteLink string
	Invitation gqlInvite
}

type gqlRole struct {
	Name, Description    string
	Permissions          []string
	BuiltIn              bool
	CreatedAt, UpdatedAt string
}

type gqlOrg struct {
	ID, Name, CreatedAt string
	Settings            struct {
		DefaultRole string
		LogPayloads bool
	}
	Billing *struct{ BillingEmail, CompanyName, Address, TaxID, Plan string }
}

// decode unmarshals the data of an operation into T.
func decode[T any](data json.RawMessage) (T, error) {
	var v T
	err := json.Unmarshal(data, &v)
	return v, err
}

// stamp writes a GraphQL time as RFC 3339 in UTC with a Z.
func stamp(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func stampPtr(s *string) *string {
	if s == nil {
		return nil
	}
	v := stamp(*s)
	return &v
}

func authToken(p gqlAuthPayload) AuthToken {
	t := AuthToken{AccessToken: p.AccessToken, RefreshToken: p.RefreshToken, TokenType: p.TokenType,
		ExpiresIn: p.ExpiresIn, Organizations: []OrganizationBasicInfo{}}
	for _, m := range p.Memberships {
		t.Organizations = append(t.Organizations, OrganizationBasicInfo{ID: m.Organization.ID, Name: m.Organization.Name, Role: m.Role.Name})
	}
	return t
}

func inviteResponse(i gqlInvite) InviteResponse {
	return InviteResponse{ID: i.ID, Email: i.Email, Role: i.Role.Name, Token: i.Token, InviteLink: i.InviteLink,
		Status: strings.ToLower(i.Status), ExpiresAt: stamp(i.ExpiresAt), CreatedAt: stamp(i.CreatedAt),
		OrganizationName: i.Organization.Name}
}

// invitePayload shapes a new or renewed invitation; its token is shown to its inviter.
func invitePayload(p gqlInvitePayload) InviteResponse {
	r := inviteResponse(p.Invitation)
	r.Token, r.InviteLink = &p.Token, &p.InviteLink
	return r
}

func roleResponse(r gqlRole) RoleResponse {
	return RoleResponse{Name: r.Name, Description: r.Description, Permissions: r.Permissions, BuiltIn: r.BuiltIn,
		CreatedAt: stamp(r.CreatedAt), UpdatedAt: stamp(r.UpdatedAt)}
}

func orgResponse(o gqlOrg) OrganizationResponse {
	r := OrganizationResponse{ID: o.ID, Name: o.Name, LogPayloads: o.Settings.LogPayloads, CreatedAt: stamp(o.CreatedAt),
		Settings: OrganizationSettings{DefaultRole: o.Settings.DefaultRole, LogPayloads: o.Settings.LogPayloads}}
	if b := o.Billing; b != nil {
		r.Billing = &Billing{BillingEmail: b.BillingEmail, CompanyName: b.CompanyName, Address: b.Address, TaxID: b.TaxID, Plan: b.Plan}
	}
	return r
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
