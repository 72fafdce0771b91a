// Package auth holds the request's identity and the primitives that establish it: the viewer in
// the context, access and refresh tokens, password hashing and the permission catalog. It is a
// leaf package: it imports nothing from this module, so ent privacy rules and the HTTP layer can
// both depend on it.
package auth

import (
	"context"
	"slices"
	"sync/atomic"

	"github.com/google/uuid"
)

// Viewer is the authenticated caller of one request, scoped to one active organization.
type Viewer struct {
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
}

// Can reports whether the viewer holds permission p in the active organization.
func (v *Viewer) Can(p string) bool {
	return v != nil && slices.Contains(v.Permissions, p)
}

type viewerKey struct{}

// viewerSlot holds the viewer of a request. It is a slot rather than a plain value so that a
// sign-in mutation can make the rest of its request act as the user who just signed in (the
// fields of its payload resolve with that viewer).
type viewerSlot struct{ v atomic.Pointer[Viewer] }

// NewContext returns a copy of ctx carrying v (which may be nil: an anonymous request).
func NewContext(ctx context.Context, v *Viewer) context.Context {
	s := &viewerSlot{}
	s.v.Store(v)
	return context.WithValue(ctx, viewerKey{}, s)
}

// SetViewer makes v the viewer of the request that ctx belongs to, for everything that reads
// it afterwards. It returns a context carrying v, which is ctx itself when ctx already has a slot.
func SetViewer(ctx context.Context, v *Viewer) context.Context {
	if s, ok := ctx.Value(viewerKey{}).(*viewerSlot); ok {
		s.v.Store(v)
		return ctx
	}
	return NewContext(ctx, v)
}

// FromContext returns the viewer of ctx, or nil when the request is anonymous.
func FromContext(ctx context.Context) *Viewer {
	if s, ok := ctx.Value(viewerKey{}).(*viewerSlot); ok {
		return s.v.Load()
	}
	return nil
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
