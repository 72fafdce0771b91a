package model

import "github.com/inferiallm/orgserver/ent"

// AuthPayload is the result of a sign-in: the tokens and what they are scoped to. Its
// memberships are resolved on demand, as the signed-in user.
type AuthPayload struct {
	AccessToken  string            `json:"accessToken"`
	RefreshToken string            `json:"refreshToken"`
	TokenType    string            `json:"tokenType"`
	ExpiresIn    int               `json:"expiresIn"`
	User         *ent.User         `json:"user"`
	Organization *ent.Organization `json:"organization"`
}
