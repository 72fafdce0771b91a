// Package auth holds the request's identity and the primitives that establish it: the viewer in
// the context, access and refresh tokens, password hashing and the permission catalog. It is a
// leaf package: it imports nothing from this module, so ent privacy rules and the HTTP layer can
// both depend on it.
package auth

import (
	"context"
	"slices"

	"github.com/google/uuid"
)

// Viewer is the authenticated caller of one request, scoped to one active organization: a
// person signed in (a session), or an organization API key.
type Viewer struct {
	// UserID, SessionID and MembershipID are zero for an API key: it is not a person.
	UserID           uuid.UUID
	Email            string
	OrgID            uuid.UUID
	SessionID        uuid.UUID
	MembershipID     uuid.UUID
	Role             string
	Permissions      []string
	SuperAdmin       bool
	TwoFactorEnabled bool
	RequireTwoFactor bool
	// SignInMethod is how the session signed in: "password" or "sso" (empty for an API key);
	// SSOConnectionID the SSO connection it signed in through, and IdPMFA whether that
	// connection's provider showed trusted MFA, which then stands in for 2FA.
	SignInMethod    string
	SSOConnectionID *uuid.UUID
	IdPMFA          bool
	// APIKeyID is the organization API key the request authenticated with; zero for a person.
	// Email is then the key's label for audit entries, Role its role.
	APIKeyID uuid.UUID
}

// IsAPIKey reports whether the viewer is an organization API key rather than a person.
func (v *Viewer) IsAPIKey() bool { return v != nil && v.APIKeyID != uuid.Nil }

// Can reports whether the viewer holds permission p in the active organization.
func (v *Viewer) Can(p string) bool {
	return v != nil && slices.Contains(v.Permissions, p)
}

type viewerKey struct{}

// NewContext returns a copy of ctx whose viewer is v (nil: an anonymous request). A viewer is
// never changed in place: code that acts as another viewer (the fields of a sign-in's payload)
// derives a context of its own.
func NewContext(ctx context.Context, v *Viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

// FromContext returns the viewer of ctx, or nil when the request is anonymous.
func FromContext(ctx context.Context) *Viewer {
	v, _ := ctx.Value(viewerKey{}).(*Viewer)
	return v
}

// Client describes where a request comes from, for sessions, audit entries and rate limits.
type Client struct {
	IP        string
	UserAgent string
	RequestID string
	// BearerToken is the raw token of the Authorization header, if any.
	BearerToken string
	// AuthError is why the bearer token was refused, if it was.
	AuthError error
	// ActedAs is the viewer the request acted as: its token's, or the one its sign-in started.
	// It is a record for the access log; code reads the viewer from the context.
	ActedAs *Viewer
}

type clientKey struct{}

// WithClient returns a copy of ctx carrying c.
func WithClient(ctx context.Context, c *Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFromContext returns the request's client description (never nil).
func ClientFromContext(ctx context.Context) *Client {
	if c, ok := ctx.Value(clientKey{}).(*Client); ok {
		return c
	}
	return &Client{}
}
