package model

import (
	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/server/auth"
)

// AuthPayload is the result of a sign-in: the tokens and what they are scoped to. Its fields
// resolve as the viewer the tokens make (Viewer), not as the request's caller; its memberships
// are resolved on demand.
type AuthPayload struct {
	AccessToken  string            `json:"accessToken"`
	RefreshToken string            `json:"refreshToken"`
	TokenType    string            `json:"tokenType"`
	ExpiresIn    int               `json:"expiresIn"`
	User         *ent.User         `json:"user"`
	Organization *ent.Organization `json:"organization"`
	Viewer       *auth.Viewer      `json:"-"`
	// Loaded are the viewer's memberships with their organizations and roles, oldest first, when
	// the sign-in loaded them already: memberships resolves from them instead of loading again.
	Loaded []*ent.Membership `json:"-"`
}
