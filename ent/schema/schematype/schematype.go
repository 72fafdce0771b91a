// Package schematype holds the Go types of the JSON columns of the ent schema. gqlgen binds the
// GraphQL types of the same names to them.
package schematype

// OrganizationSettings are an organization's general settings.
type OrganizationSettings struct {
	// DefaultRole is the role preselected when inviting members.
	DefaultRole string `json:"default_role"`
	// LogPayloads tells the inference gateway whether to log request and response bodies.
	LogPayloads bool `json:"log_payloads"`
}

// BillingInfo is an organization's billing contact and plan.
type BillingInfo struct {
	BillingEmail string `json:"billing_email"`
	CompanyName  string `json:"company_name"`
	Address      string `json:"address"`
	TaxID        string `json:"tax_id"`
	Plan         string `json:"plan"`
}

// SecurityPolicy is an organization's security policy.
type SecurityPolicy struct {
	RequireTwoFactor          bool     `json:"require_two_factor"`
	SessionIdleTimeoutMinutes int      `json:"session_idle_timeout_minutes"`
	SessionMaxLifetimeHours   int      `json:"session_max_lifetime_hours"`
	InvitationTTLHours        int      `json:"invitation_ttl_hours"`
	PasswordMinLength         int      `json:"password_min_length"`
	AllowedEmailDomains       []string `json:"allowed_email_domains"`
}

// DefaultSecurityPolicy is the policy of a new organization: no 2FA requirement, sessions idle
// out after a day and live at most a week (the refresh-token lifetime), invitations last 7 days.
func DefaultSecurityPolicy() SecurityPolicy {
	return SecurityPolicy{
		SessionIdleTimeoutMinutes: 24 * 60,
		SessionMaxLifetimeHours:   7 * 24,
		InvitationTTLHours:        7 * 24,
		PasswordMinLength:         8,
		AllowedEmailDomains:       []string{},
	}
}

// DefaultOrganizationSettings are the settings of a new organization.
func DefaultOrganizationSettings() OrganizationSettings {
	return OrganizationSettings{DefaultRole: "member"}
}
