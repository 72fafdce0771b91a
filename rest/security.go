package rest

import "net/http"

// Two-factor authentication, passwords and sessions: the routes of operations/security.graphql.
var securityRoutes = []route{
	{Pattern: "POST /auth/totp/setup", Op: "BeginTwoFactorSetup", Reply: at[TOTPSetup]("beginTwoFactorSetup"),
		Auth: "bearer", Summary: "Start 2FA setup"},
	{Pattern: "POST /auth/totp/verify", Op: "ConfirmTwoFactorSetup", Vars: withBody(totpVerifyVars), Reply: at("confirmTwoFactorSetup", enabled),
		Auth: "bearer", Summary: "Turn 2FA on with a current code"},
	{Pattern: "POST /auth/totp/disable", Op: "DisableTwoFactor", Vars: withBody(totpDisableVars), Reply: constant(TOTPStatus{Status: "disabled"}),
		Auth: "bearer", Summary: "Turn 2FA off with a current code or the password"},
	{Pattern: "POST /auth/change-password", Op: "ChangePassword", Vars: withBody(changePasswordVars), Reply: message("Password changed"),
		Auth: "bearer", Summary: "Change the caller's password; ends their other sessions"},
	{Pattern: "GET /auth/sessions", Op: "MySessions", Reply: at[[]SessionResponse]("viewer.sessions"),
		Auth: "bearer", Summary: "The caller's active sessions"},
	{Pattern: "DELETE /auth/sessions/{id}", Op: "RevokeSession", Vars: fromPath("id", "id"), Status: http.StatusNoContent,
		Auth: "bearer", Summary: "Revoke one of the caller's sessions"},
	{Pattern: "DELETE /auth/sessions", Op: "RevokeOtherSessions", Reply: at[RevokedResponse](""),
		Auth: "bearer", Summary: "Revoke every session of the caller but the current one"},
}

type totpCodeBody struct {
	TotpCode string `json:"totp_code"`
}

func totpVerifyVars(_ *call, b totpCodeBody) (map[string]any, error) {
	return map[string]any{"code": b.TotpCode}, nil
}

type totpDisableBody struct {
	TotpCode *string `json:"totp_code,omitempty"`
	Password *string `json:"password,omitempty"`
}

func totpDisableVars(_ *call, b totpDisableBody) (map[string]any, error) {
	return map[string]any{"code": b.TotpCode, "password": b.Password}, nil
}

type changePasswordBody struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func changePasswordVars(_ *call, b changePasswordBody) (map[string]any, error) {
	return map[string]any{"current": b.CurrentPassword, "new": b.NewPassword}, nil
}

// TOTPSetup is a pending authenticator secret.
type TOTPSetup struct {
	Secret     string `json:"secret" gql:"secret"`
	QRCode     string `json:"qr_code" gql:"qrCode"`
	OtpauthURL string `json:"otpauth_url" gql:"otpauthUri"`
}

// TOTPEnabled confirms 2FA with the recovery codes, shown once.
type TOTPEnabled struct {
	Status        string   `json:"status"`
	RecoveryCodes []string `json:"recovery_codes" gql:"recoveryCodes"`
}

func enabled(t *TOTPEnabled) { t.Status = "enabled" }

// TOTPStatus confirms a 2FA change.
type TOTPStatus struct {
	Status string `json:"status"`
}

// SessionResponse is one of the caller's sessions.
type SessionResponse struct {
	ID         string `json:"id" gql:"id"`
	UserAgent  string `json:"user_agent" gql:"userAgent"`
	IPAddress  string `json:"ip_address" gql:"ipAddress"`
	CreatedAt  string `json:"created_at" gql:"createdAt,time"`
	LastUsedAt string `json:"last_used_at" gql:"lastUsedAt,time"`
	ExpiresAt  string `json:"expires_at" gql:"expiresAt,time"`
	Current    bool   `json:"current" gql:"current"`
}

// RevokedResponse says how many sessions were revoked.
type RevokedResponse struct {
	Revoked int `json:"revoked" gql:"revokeOtherSessions"`
}
