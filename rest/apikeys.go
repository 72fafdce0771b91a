package rest

import (
	"net/http"

	"github.com/inferiallm/orgserver/server/auth"
)

// API keys: the routes of operations/apikeys.graphql, the dashboard's API Keys page.
var apiKeyRoutes = []route{
	{Pattern: "GET /management/api-keys", Op: "APIKeys", Vars: fromRequest(apiKeysVars),
		Reply: at[[]APIKeyResponse]("viewer.organization.apiKeyList"),
		Auth:  auth.APIKeyList, Summary: "API keys of the active organization, newest first", Query: pageParams},
	{Pattern: "POST /management/api-keys", Op: "CreateAPIKey", Vars: withBody(createAPIKeyVars), Status: http.StatusCreated,
		Reply: via("createApiKey", newAPIKey), Auth: auth.APIKeyCreate,
		Summary: "Create an API key; the answer carries its secret_key, shown only here"},
	{Pattern: "DELETE /management/api-keys/{key_id}", Op: "RevokeAPIKey", Vars: fromPath("id", "key_id"), Status: http.StatusNoContent,
		Auth: auth.APIKeyRevoke, Summary: "Revoke an API key; it stops working at once"},
}

func apiKeysVars(c *call) (map[string]any, error) {
	skip, limit, err := c.page(100)
	return map[string]any{"offset": skip, "limit": limit}, err
}

type createAPIKeyBody struct {
	Name      string  `json:"name"`
	DaysValid *int    `json:"days_valid,omitempty"`
	Role      *string `json:"role,omitempty"`
	// DeploymentID is accepted for InferiaLLM's clients; keys here are not tied to a deployment.
	DeploymentID *string `json:"deployment_id,omitempty"`
}

func createAPIKeyVars(_ *call, b createAPIKeyBody) (map[string]any, error) {
	return map[string]any{"name": b.Name, "daysValid": b.DaysValid, "role": b.Role}, nil
}

// APIKeyResponse is an API key of APIKeyRow.
type APIKeyResponse struct {
	ID         string  `json:"id" gql:"id"`
	Name       string  `json:"name" gql:"name"`
	Prefix     string  `json:"prefix" gql:"prefix"`
	IsActive   bool    `json:"is_active" gql:"active"`
	CreatedAt  string  `json:"created_at" gql:"createdAt,time"`
	LastUsedAt *string `json:"last_used_at" gql:"lastUsedAt,time"`
}

// NewAPIKeyResponse is a new key: the list shape and its secret.
type NewAPIKeyResponse struct {
	APIKeyResponse
	SecretKey string `json:"secret_key"`
}

// apiKeyPayload is a new key (createApiKey).
type apiKeyPayload struct {
	Secret string         `gql:"secret"`
	APIKey APIKeyResponse `gql:"apiKey"`
}

func newAPIKey(_ *call, p apiKeyPayload) (NewAPIKeyResponse, error) {
	return NewAPIKeyResponse{APIKeyResponse: p.APIKey, SecretKey: p.Secret}, nil
}
