package rest

import (
	"net/http"

	"github.com/inferiallm/orgserver/server/auth"
)

// Organizations: the routes of operations/organizations.graphql.
var organizationRoutes = []route{
	{Pattern: "POST /management/organizations", Op: "CreateOrganization", Vars: withBody(createOrgVars), Status: http.StatusCreated,
		Reply: at[OrganizationResponse]("createOrganization"),
		Auth:  "super admin", Summary: "Create an organization; the caller becomes its admin"},
	{Pattern: "GET /management/organizations/me", Op: "MyOrganization", Reply: at[OrganizationResponse]("organization"),
		Auth: auth.OrganizationView, Summary: "The active organization"},
	{Pattern: "PATCH /management/organizations/me", Op: "UpdateMyOrganization", Vars: withBody(updateOrgVars),
		Reply: at[OrganizationResponse]("updateOrganization"),
		Auth:  "organization:update", Summary: "Change the active organization"},
}

type createOrgBody struct {
	Name        string `json:"name"`
	LogPayloads *bool  `json:"log_payloads,omitempty"`
}

func createOrgVars(_ *call, b createOrgBody) (map[string]any, error) {
	return map[string]any{"name": b.Name, "logPayloads": b.LogPayloads}, nil
}

type updateOrgBody struct {
	Name        *string `json:"name,omitempty"`
	LogPayloads *bool   `json:"log_payloads,omitempty"`
	Settings    *struct {
		DefaultRole *string `json:"default_role,omitempty"`
		LogPayloads *bool   `json:"log_payloads,omitempty"`
	} `json:"settings,omitempty"`
	Billing *struct {
		BillingEmail *string `json:"billing_email,omitempty"`
		CompanyName  *string `json:"company_name,omitempty"`
		Address      *string `json:"address,omitempty"`
		TaxID        *string `json:"tax_id,omitempty"`
		Plan         *string `json:"plan,omitempty"`
	} `json:"billing,omitempty"`
}

// updateOrgVars sends only what the body says: an omitted field stays as it is. log_payloads
// is accepted at the top, as InferiaLLM has it, and in settings.
func updateOrgVars(_ *call, b updateOrgBody) (map[string]any, error) {
	in := map[string]any{}
	if b.Name != nil {
		in["name"] = *b.Name
	}
	settings := map[string]any{}
	if b.LogPayloads != nil {
		settings["logPayloads"] = *b.LogPayloads
	}
	if s := b.Settings; s != nil {
		if s.DefaultRole != nil {
			settings["defaultRole"] = *s.DefaultRole
		}
		if s.LogPayloads != nil {
			settings["logPayloads"] = *s.LogPayloads
		}
	}
	if len(settings) > 0 {
		in["settings"] = settings
	}
	if bl := b.Billing; bl != nil {
		billing := map[string]any{}
		for k, v := range map[string]*string{"billingEmail": bl.BillingEmail, "companyName": bl.CompanyName,
			"address": bl.Address, "taxId": bl.TaxID, "plan": bl.Plan} {
			if v != nil {
				billing[k] = *v
			}
		}
		in["billing"] = billing
	}
	return map[string]any{"input": in}, nil
}

// OrganizationResponse is an organization of Org; billing is null without billing:view.
type OrganizationResponse struct {
	ID          string               `json:"id" gql:"id"`
	Name        string               `json:"name" gql:"name"`
	LogPayloads bool                 `json:"log_payloads" gql:"settings.logPayloads"`
	CreatedAt   string               `json:"created_at" gql:"createdAt,time"`
	Settings    OrganizationSettings `json:"settings" gql:"settings"`
	Billing     *Billing             `json:"billing" gql:"billing"`
}

// OrganizationSettings are an organization's settings.
type OrganizationSettings struct {
	DefaultRole string `json:"default_role" gql:"defaultRole"`
	LogPayloads bool   `json:"log_payloads" gql:"logPayloads"`
}

// Billing is an organization's billing information.
type Billing struct {
	BillingEmail string `json:"billing_email" gql:"billingEmail"`
	CompanyName  string `json:"company_name" gql:"companyName"`
	Address      string `json:"address" gql:"address"`
	TaxID        string `json:"tax_id" gql:"taxId"`
	Plan         string `json:"plan" gql:"plan"`
}
