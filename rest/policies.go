package rest

import (
	"github.com/inferiallm/orgserver/server/auth"
)

// Organization policies and today's usage: the routes of operations/policies.graphql, which
// the dashboard's Organization page calls. POST /internal/usage, where the inference gateway
// reports that usage, is in usage.go.
var policyRoutes = []route{
	{Pattern: "GET /management/config/quota/usage", Op: "UsageToday", Reply: at[[]KeyUsage]("organization.usageToday"),
		Auth: auth.OrganizationView, Summary: "Today's (UTC) usage per API key of the active organization"},
	{Pattern: "GET /management/config/{policy_type}", Op: "OrganizationPolicy", Vars: fromPath("type", "policy_type"),
		Reply: at[PolicyResponse]("organization.policy"),
		Auth:  auth.OrganizationView, Summary: `A policy of the active organization; never saved: {"enabled": false}`},
	{Pattern: "POST /management/config", Op: "SetOrganizationPolicy", Vars: withBody(setPolicyVars),
		Reply: at("setOrganizationPolicy", succeeded),
		Auth:  auth.OrganizationUpdate, Summary: "Save a policy of the active organization"},
}

type setPolicyBody struct {
	PolicyType   string         `json:"policy_type"`
	ConfigJSON   map[string]any `json:"config_json"`
	DeploymentID *string        `json:"deployment_id,omitempty"`
}

// setPolicyVars refuses a deployment_id: policies here are the organization's, and saving a
// deployment's policy over the organization's would be worse than saying so.
func setPolicyVars(_ *call, b setPolicyBody) (map[string]any, error) {
	if b.ConfigJSON == nil {
		return nil, unprocessable("Field required: config_json")
	}
	if b.DeploymentID != nil && *b.DeploymentID != "" {
		return nil, unprocessable("Policies apply to the whole organization: deployment_id is not supported")
	}
	return map[string]any{"input": map[string]any{"policyType": b.PolicyType, "config": b.ConfigJSON}}, nil
}

// PolicyResponse is a policy of the organization.
type PolicyResponse struct {
	PolicyType string         `json:"policy_type" gql:"policyType"`
	ConfigJSON map[string]any `json:"config_json" gql:"config"`
	UpdatedAt  string         `json:"updated_at" gql:"updatedAt,time"`
}

// PolicySaved confirms a saved policy.
type PolicySaved struct {
	Status     string `json:"status"`
	PolicyType string `json:"policy_type" gql:"policyType"`
}

func succeeded(p *PolicySaved) { p.Status = "success" }

// KeyUsage is today's usage of one API key.
type KeyUsage struct {
	KeyName   string `json:"key_name" gql:"keyName"`
	KeyPrefix string `json:"key_prefix" gql:"keyPrefix"`
	Requests  int    `json:"requests" gql:"requests"`
	Tokens    int    `json:"tokens" gql:"tokens"`
}
