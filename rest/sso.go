package rest

import (
	"net/http"

	"github.com/inferiallm/orgserver/server/auth"
)

// Single sign-on: the routes of operations/sso.graphql. The browser's redirects
// (/auth/sso/{connection}/start and /callback) are plain handlers of the server, not routes
// here: they answer redirects and pages, not JSON.
var ssoRoutes = []route{
	{Pattern: "POST /auth/sso/discover", Op: "SSODiscover", Vars: withBody(ssoDiscoverVars), Reply: at[SSODiscoveryResponse]("ssoDiscover"),
		Auth: "public", Summary: "Whether an e-mail address signs in through SSO, and where; the same shape for every address"},
	{Pattern: "POST /auth/sso/exchange", Op: "CompleteSSOSignIn", Vars: withBody(ssoExchangeVars), Reply: at[AuthToken]("completeSsoSignIn"),
		Auth: "public", Summary: "Exchange the sso_code of an SSO sign-in's redirect for tokens (with totp_code when 2FA applies)"},
	{Pattern: "POST /auth/sso/link", Op: "LinkSSOIdentity", Vars: withBody(ssoLinkVars), Reply: at[AuthToken]("linkSsoIdentity"),
		Auth: "public", Summary: "Link the SSO identity of an sso_link code to the existing account, with its password (and 2FA code), and sign in"},
	{Pattern: "GET /auth/sso/identities", Op: "MySSOIdentities", Reply: at[[]SSOIdentityResponse]("viewer.ssoIdentities"),
		Auth: "bearer", Summary: "The caller's linked SSO identities"},
	{Pattern: "DELETE /auth/sso/identities/{id}", Op: "UnlinkSSOIdentity", Vars: fromPath("id", "id"), Status: http.StatusNoContent,
		Auth: "bearer", Summary: "Unlink one of the caller's SSO identities"},

	{Pattern: "GET /management/organizations/me/sso/connections", Op: "SSOConnections",
		Reply: at[[]SSOConnectionResponse]("organization.ssoConnections"),
		Auth:  auth.SSOManage, Summary: "The active organization's SSO connections"},
	{Pattern: "POST /management/organizations/me/sso/connections", Op: "CreateSSOConnection", Vars: withBody(createSSOConnectionVars),
		Status: http.StatusCreated, Reply: at[SSOConnectionResponse]("createSsoConnection"),
		Auth: auth.SSOManage, Summary: "Create a draft OIDC connection from the issuer's discovery document"},
	{Pattern: "PATCH /management/organizations/me/sso/connections/{id}", Op: "UpdateSSOConnection", Vars: withBody(updateSSOConnectionVars),
		Reply: at[SSOConnectionResponse]("updateSsoConnection"),
		Auth:  auth.SSOManage, Summary: "Change a connection; a change of client or claims makes it a draft again"},
	{Pattern: "POST /management/organizations/me/sso/connections/{id}/test", Op: "BeginSSOTest", Vars: fromPath("id", "id"),
		Reply: at[SSOTestResponse]("beginSsoTest"),
		Auth:  auth.SSOManage, Summary: "A one-time URL that runs a test sign-in through the provider and shows the mapped claims"},
	{Pattern: "POST /management/organizations/me/sso/connections/{id}/activate", Op: "ActivateSSOConnection", Vars: fromPath("id", "id"),
		Reply: at[SSOConnectionStatusResponse]("activateSsoConnection"),
		Auth:  auth.SSOManage, Summary: "Let members sign in through a tested connection"},
	{Pattern: "POST /management/organizations/me/sso/connections/{id}/disable", Op: "DisableSSOConnection", Vars: fromPath("id", "id"),
		Reply: at[SSOConnectionStatusResponse]("disableSsoConnection"),
		Auth:  auth.SSOManage, Summary: "Stop sign-ins through a connection"},
	{Pattern: "GET /management/organizations/me/sso/enforcement", Op: "SSOEnforcement",
		Reply: at[SSOEnforcementResponse]("organization.ssoEnforcement"),
		Auth:  auth.SSOManage, Summary: "Whether the organization requires SSO, and its break-glass accounts"},
	{Pattern: "PUT /management/organizations/me/sso/enforcement", Op: "UpdateSSOEnforcement", Vars: withBody(ssoEnforcementVars),
		Reply: at[SSOEnforcementResponse]("updateSsoEnforcement"),
		Auth:  auth.SSOManage, Summary: "Require SSO (with one to five break-glass accounts, an admin among them), or stop requiring it"},

	{Pattern: "GET /management/organizations/me/domains", Op: "SSODomains", Reply: at[[]SSODomainResponse]("organization.ssoDomains"),
		Auth: auth.SSOManage, Summary: "The e-mail domains the active organization claims for SSO"},
	{Pattern: "POST /management/organizations/me/domains", Op: "AddSSODomain", Vars: withBody(addSSODomainVars), Status: http.StatusCreated,
		Reply: at[SSODomainResponse]("addSsoDomain"),
		Auth:  auth.SSOManage, Summary: "Claim an e-mail domain; the answer names the DNS TXT record to publish"},
	{Pattern: "POST /management/organizations/me/domains/{id}/verify", Op: "VerifySSODomain", Vars: fromPath("id", "id"),
		Reply: at[SSODomainResponse]("verifySsoDomain"),
		Auth:  auth.SSOManage, Summary: "Look the domain's TXT record up and mark it verified"},
	{Pattern: "DELETE /management/organizations/me/domains/{id}", Op: "RemoveSSODomain", Vars: fromPath("id", "id"), Status: http.StatusNoContent,
		Auth: auth.SSOManage, Summary: "Give a domain up"},
}

type ssoDiscoverBody struct {
	Email string `json:"email"`
}

func ssoDiscoverVars(_ *call, b ssoDiscoverBody) (map[string]any, error) {
	return map[string]any{"email": b.Email}, nil
}

type ssoExchangeBody struct {
	Code         string  `json:"code"`
	TotpCode     *string `json:"totp_code,omitempty"`
	RecoveryCode *string `json:"recovery_code,omitempty"`
}

func ssoExchangeVars(_ *call, b ssoExchangeBody) (map[string]any, error) {
	return map[string]any{"code": b.Code, "totpCode": b.TotpCode, "recoveryCode": b.RecoveryCode}, nil
}

type ssoLinkBody struct {
	Code         string  `json:"code"`
	Password     string  `json:"password"`
	TotpCode     *string `json:"totp_code,omitempty"`
	RecoveryCode *string `json:"recovery_code,omitempty"`
}

func ssoLinkVars(_ *call, b ssoLinkBody) (map[string]any, error) {
	return map[string]any{"code": b.Code, "password": b.Password, "totpCode": b.TotpCode, "recoveryCode": b.RecoveryCode}, nil
}

type ssoConnectionBody struct {
	Name            string    `json:"name"`
	IssuerURL       string    `json:"issuer_url"`
	ClientID        string    `json:"client_id"`
	ClientSecret    string    `json:"client_secret"`
	Scopes          *[]string `json:"scopes,omitempty"`
	TokenAuthMethod *string   `json:"token_auth_method,omitempty"`
	EmailClaim      *string   `json:"email_claim,omitempty"`
	NameClaim       *string   `json:"name_claim,omitempty"`
	EmailVerified   *string   `json:"email_verified_claim,omitempty"`
	JITEnabled      *bool     `json:"jit_enabled,omitempty"`
	DefaultRole     *string   `json:"default_role,omitempty"`
	TrustIdPMFA     *bool     `json:"trust_idp_mfa,omitempty"`
	MaxSessionHours *int      `json:"max_session_hours,omitempty"`
}

// options are the fields a connection's create and update share: those sent.
func (b ssoConnectionBody) options() map[string]any {
	in := map[string]any{}
	set := func(k string, v any, ok bool) {
		if ok {
			in[k] = v
		}
	}
	set("scopes", b.Scopes, b.Scopes != nil)
	set("tokenAuthMethod", b.TokenAuthMethod, b.TokenAuthMethod != nil)
	set("emailClaim", b.EmailClaim, b.EmailClaim != nil)
	set("nameClaim", b.NameClaim, b.NameClaim != nil)
	set("emailVerifiedClaim", b.EmailVerified, b.EmailVerified != nil)
	set("jitEnabled", b.JITEnabled, b.JITEnabled != nil)
	set("defaultRole", b.DefaultRole, b.DefaultRole != nil)
	set("trustIdpMfa", b.TrustIdPMFA, b.TrustIdPMFA != nil)
	set("maxSessionHours", b.MaxSessionHours, b.MaxSessionHours != nil)
	return in
}

func createSSOConnectionVars(_ *call, b ssoConnectionBody) (map[string]any, error) {
	in := b.options()
	in["name"], in["issuerUrl"], in["clientId"], in["clientSecret"] = b.Name, b.IssuerURL, b.ClientID, b.ClientSecret
	return map[string]any{"input": in}, nil
}

// ssoConnectionPatch is the body of a connection's PATCH: a field left out (or null) stays as
// it is; a field sent is passed on as sent, even empty, so that the mutation refuses an empty
// name, client_id or client_secret here as it does on GraphQL.
type ssoConnectionPatch struct {
	Name            *string   `json:"name,omitempty"`
	ClientID        *string   `json:"client_id,omitempty"`
	ClientSecret    *string   `json:"client_secret,omitempty"`
	Scopes          *[]string `json:"scopes,omitempty"`
	TokenAuthMethod *string   `json:"token_auth_method,omitempty"`
	EmailClaim      *string   `json:"email_claim,omitempty"`
	NameClaim       *string   `json:"name_claim,omitempty"`
	EmailVerified   *string   `json:"email_verified_claim,omitempty"`
	JITEnabled      *bool     `json:"jit_enabled,omitempty"`
	DefaultRole     *string   `json:"default_role,omitempty"`
	TrustIdPMFA     *bool     `json:"trust_idp_mfa,omitempty"`
	MaxSessionHours *int      `json:"max_session_hours,omitempty"`
}

func updateSSOConnectionVars(c *call, b ssoConnectionPatch) (map[string]any, error) {
	in := ssoConnectionBody{Scopes: b.Scopes, TokenAuthMethod: b.TokenAuthMethod, EmailClaim: b.EmailClaim,
		NameClaim: b.NameClaim, EmailVerified: b.EmailVerified, JITEnabled: b.JITEnabled, DefaultRole: b.DefaultRole,
		TrustIdPMFA: b.TrustIdPMFA, MaxSessionHours: b.MaxSessionHours}.options()
	for k, v := range map[string]*string{"name": b.Name, "clientId": b.ClientID, "clientSecret": b.ClientSecret} {
		if v != nil {
			in[k] = *v
		}
	}
	return map[string]any{"id": c.path("id"), "input": in}, nil
}

type ssoEnforcementBody struct {
	Required          bool     `json:"required"`
	BreakGlassUserIDs []string `json:"break_glass_user_ids"`
}

func ssoEnforcementVars(_ *call, b ssoEnforcementBody) (map[string]any, error) {
	ids := b.BreakGlassUserIDs
	if ids == nil {
		ids = []string{}
	}
	return map[string]any{"required": b.Required, "breakGlassUserIds": ids}, nil
}

type addSSODomainBody struct {
	Domain       string  `json:"domain"`
	ConnectionID *string `json:"connection_id,omitempty"`
}

func addSSODomainVars(_ *call, b addSSODomainBody) (map[string]any, error) {
	return map[string]any{"domain": b.Domain, "connectionId": b.ConnectionID}, nil
}

// SSODiscoveryResponse tells where an address signs in.
type SSODiscoveryResponse struct {
	SSO      bool    `json:"sso" gql:"sso"`
	StartURL *string `json:"start_url" gql:"startUrl"`
}

// SSOIdentityResponse is a linked identity.
type SSOIdentityResponse struct {
	ID           string  `json:"id" gql:"id"`
	Issuer       string  `json:"issuer" gql:"issuer"`
	Subject      string  `json:"subject" gql:"subject"`
	Email        string  `json:"email" gql:"email"`
	CreatedAt    string  `json:"created_at" gql:"createdAt,time"`
	LastSignInAt *string `json:"last_sign_in_at" gql:"lastSignInAt,time"`
}

// SSOConnectionResponse is a connection of SSOConnectionRow; never its secret.
type SSOConnectionResponse struct {
	ID              string         `json:"id" gql:"id"`
	Name            string         `json:"name" gql:"name"`
	IssuerURL       string         `json:"issuer_url" gql:"issuerURL"`
	Issuer          string         `json:"issuer" gql:"issuer"`
	ClientID        string         `json:"client_id" gql:"clientID"`
	Scopes          []string       `json:"scopes" gql:"scopes"`
	TokenAuthMethod string         `json:"token_auth_method" gql:"tokenAuthMethod"`
	EmailClaim      string         `json:"email_claim" gql:"emailClaim"`
	NameClaim       string         `json:"name_claim" gql:"nameClaim"`
	EmailVerified   string         `json:"email_verified_claim" gql:"emailVerifiedClaim"`
	Status          string         `json:"status" gql:"status"`
	JITEnabled      bool           `json:"jit_enabled" gql:"jitEnabled"`
	DefaultRole     string         `json:"default_role" gql:"defaultRole"`
	TrustIdPMFA     bool           `json:"trust_idp_mfa" gql:"trustIdpMfa"`
	MaxSessionHours int            `json:"max_session_hours" gql:"maxSessionHours"`
	RedirectURI     *string        `json:"redirect_uri" gql:"redirectUri"`
	TestedAt        *string        `json:"tested_at" gql:"testedAt,time"`
	LastTestClaims  map[string]any `json:"last_test_claims" gql:"lastTestClaims"`
	CreatedAt       string         `json:"created_at" gql:"createdAt,time"`
}

// SSOConnectionStatusResponse is a connection's new status.
type SSOConnectionStatusResponse struct {
	ID     string `json:"id" gql:"id"`
	Status string `json:"status" gql:"status"`
}

// SSOTestResponse is where to run a test sign-in.
type SSOTestResponse struct {
	URL string `json:"url" gql:"url"`
}

// SSOEnforcementResponse is an organization's SSO enforcement.
type SSOEnforcementResponse struct {
	Required          bool     `json:"required" gql:"required"`
	BreakGlassUserIDs []string `json:"break_glass_user_ids" gql:"breakGlassUserIds"`
}

// SSODomainResponse is a claimed domain with its verification record.
type SSODomainResponse struct {
	ID             string  `json:"id" gql:"id"`
	Domain         string  `json:"domain" gql:"domain"`
	ConnectionID   *string `json:"connection_id" gql:"connectionId"`
	VerifiedAt     *string `json:"verified_at" gql:"verifiedAt,time"`
	TXTRecordName  string  `json:"txt_record_name" gql:"txtRecordName"`
	TXTRecordValue string  `json:"txt_record_value" gql:"txtRecordValue"`
	CreatedAt      string  `json:"created_at" gql:"createdAt,time"`
}
