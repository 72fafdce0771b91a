// Package schematype holds the Go types of the JSON columns of the ent schema. gqlgen binds the
// GraphQL types of the same names to them.
package schematype

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/inferiallm/orgserver/server/auth"
)

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

// SSOPolicy is an organization's single sign-on enforcement: when Required, members sign in
// only through the organization's SSO connections, except the break-glass accounts (user IDs),
// which keep their password for when the identity provider is down.
type SSOPolicy struct {
	Required          bool     `json:"required"`
	BreakGlassUserIDs []string `json:"break_glass_user_ids"`
}

// UpdateSecurityPolicyInput is a change to a security policy: the settings it names, the others
// left as they are. (gqlgen binds the GraphQL input of the same name to it.)
type UpdateSecurityPolicyInput struct {
	RequireTwoFactor          *bool    `json:"requireTwoFactor,omitempty"`
	SessionIdleTimeoutMinutes *int     `json:"sessionIdleTimeoutMinutes,omitempty"`
	SessionMaxLifetimeHours   *int     `json:"sessionMaxLifetimeHours,omitempty"`
	InvitationTTLHours        *int     `json:"invitationTtlHours,omitempty"`
	PasswordMinLength         *int     `json:"passwordMinLength,omitempty"`
	AllowedEmailDomains       []string `json:"allowedEmailDomains,omitempty"`
}

// MaxAllowedEmailDomains bounds a policy's allowedEmailDomains: the policy is read with every
// invitation, and kept in the organization's row.
const MaxAllowedEmailDomains = 100

// Apply returns p changed by in, refusing settings outside their ranges and domains that are not
// domains. Allowed domains are kept in the form they are compared in (DomainKey).
func (in UpdateSecurityPolicyInput) Apply(p SecurityPolicy) (SecurityPolicy, error) {
	set := func(dst *int, val *int) {
		if val != nil {
			*dst = *val
		}
	}
	set(&p.SessionIdleTimeoutMinutes, in.SessionIdleTimeoutMinutes)
	set(&p.SessionMaxLifetimeHours, in.SessionMaxLifetimeHours)
	set(&p.InvitationTTLHours, in.InvitationTTLHours)
	set(&p.PasswordMinLength, in.PasswordMinLength)
	if err := p.Validate(); err != nil {
		return p, err
	}
	if in.RequireTwoFactor != nil {
		p.RequireTwoFactor = *in.RequireTwoFactor
	}
	if in.AllowedEmailDomains != nil {
		if len(in.AllowedEmailDomains) > MaxAllowedEmailDomains {
			return p, invalid("allowedEmailDomains holds at most %d domains", MaxAllowedEmailDomains)
		}
		domains := []string{}
		for _, d := range in.AllowedEmailDomains {
			d = strings.TrimPrefix(strings.TrimSpace(d), "@")
			key, ok := DomainKey(d)
			if _, err := auth.ParseEmail("x@" + key); err != nil || !ok {
				return p, invalid("Invalid e-mail domain %q", d)
			}
			if !slices.Contains(domains, key) {
				domains = append(domains, key)
			}
		}
		p.AllowedEmailDomains = domains
	}
	return p, nil
}

// DomainKey is the form in which e-mail domains are kept and compared: the ASCII (A-label) form
// IDNA 2008 registers, after lower-casing ASCII letters only. No Unicode case folding or
// compatibility mapping happens, so a look-alike such as "ſecure.test" (long s) is not
// "secure.test": IDNA refuses it, and a domain it refuses matches nothing.
func DomainKey(domain string) (string, bool) {
	lower := strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, strings.TrimSuffix(domain, "."))
	key, err := idna.Registration.ToASCII(lower)
	return key, err == nil && key != ""
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

// InvalidError is a value that breaks a rule of its type. The API shows Message as bad input,
// whichever path reached the rule (a workflow checking early, or the schema on save).
type InvalidError struct{ Message string }

func (e *InvalidError) Error() string { return e.Message }

func invalid(format string, args ...any) error {
	return &InvalidError{Message: fmt.Sprintf(format, args...)}
}

// PasswordFloor is the shortest password any policy accepts; MaxPasswordLength the longest
// (it bounds the work one password costs to hash).
const (
	PasswordFloor     = 8
	MaxPasswordLength = 256
)

// policyBounds are the ranges of the policy's numeric settings, named as the API names them.
var policyBounds = []struct {
	name   string
	lo, hi int
	value  func(*SecurityPolicy) *int
}{
	{"sessionIdleTimeoutMinutes", 5, 43200, func(p *SecurityPolicy) *int { return &p.SessionIdleTimeoutMinutes }},
	{"sessionMaxLifetimeHours", 1, 8760, func(p *SecurityPolicy) *int { return &p.SessionMaxLifetimeHours }},
	{"invitationTtlHours", 1, 8760, func(p *SecurityPolicy) *int { return &p.InvitationTTLHours }},
	{"passwordMinLength", PasswordFloor, 128, func(p *SecurityPolicy) *int { return &p.PasswordMinLength }},
}

// Validate refuses a policy with a setting outside its range.
func (p SecurityPolicy) Validate() error {
	for _, b := range policyBounds {
		if v := *b.value(&p); v < b.lo || v > b.hi {
			return invalid("%s must be between %d and %d", b.name, b.lo, b.hi)
		}
	}
	return nil
}

// MinPasswordLength is the shortest password the policy accepts, never below PasswordFloor.
func (p SecurityPolicy) MinPasswordLength() int { return max(p.PasswordMinLength, PasswordFloor) }

// CheckPassword refuses a password the policy does not accept.
func (p SecurityPolicy) CheckPassword(password string) error {
	n := utf8.RuneCountInString(password)
	if min := p.MinPasswordLength(); n < min {
		return invalid("Password must be at least %d characters", min)
	}
	if n > MaxPasswordLength {
		return invalid("Password must be at most %d characters", MaxPasswordLength)
	}
	return nil
}

// The rules of names, checked by the schema on every save and by workflows that want to answer
// early.

// OrganizationName refuses an organization name that is empty or longer than 100 characters.
func OrganizationName(name string) error {
	if n := utf8.RuneCountInString(name); strings.TrimSpace(name) == "" || n > 100 {
		return invalid("Organization name must be 1 to 100 characters")
	}
	return nil
}

// UserName refuses a user's name longer than 200 characters.
func UserName(name string) error {
	if utf8.RuneCountInString(name) > 200 {
		return invalid("Name must be at most 200 characters")
	}
	return nil
}

// RoleName refuses a role name that is not 1 to 64 lower-case letters, digits, '-' or '_'.
func RoleName(name string) error {
	ok := name != "" && len(name) <= 64
	for _, c := range name {
		ok = ok && (c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_')
	}
	if !ok {
		return invalid("Role names are 1 to 64 lower-case letters, digits, '-' or '_'")
	}
	return nil
}
