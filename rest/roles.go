package rest

import "github.com/inferiallm/orgserver/server/auth"

// Roles: the routes of operations/roles.graphql.
var roleRoutes = []route{
	{Pattern: "GET /admin/roles", Op: "Roles", Reply: at[[]RoleResponse]("viewer.organization.roles"),
		Auth: auth.RoleList, Summary: "Built-in roles and the organization's custom roles"},
	{Pattern: "POST /admin/roles", Op: "CreateRole", Vars: withBody(createRoleVars), Reply: at[RoleResponse]("createRole"),
		Auth: auth.RoleCreate, Summary: "Create a custom role"},
	{Pattern: "PUT /admin/roles/{name}", Op: "UpdateRole", Vars: withBody(updateRoleVars), Reply: at[RoleResponse]("updateRole"),
		Auth: auth.RoleUpdate, Summary: "Change a custom role"},
	{Pattern: "DELETE /admin/roles/{name}", Op: "DeleteRole", Vars: fromPath("name", "name"), Reply: message("Role deleted"),
		Auth: auth.RoleDelete, Summary: "Delete a custom role"},
	{Pattern: "GET /admin/roles/permissions/list", Op: "PermissionList", Reply: at[[]string]("permissionCatalog.name"),
		Auth: auth.RoleList, Summary: "Every permission, in catalog order"},
}

type createRoleBody struct {
	Name        string   `json:"name"`
	Description *string  `json:"description,omitempty"`
	Permissions []string `json:"permissions"`
}

func createRoleVars(_ *call, b createRoleBody) (map[string]any, error) {
	if b.Permissions == nil {
		b.Permissions = []string{}
	}
	return map[string]any{"name": b.Name, "description": b.Description, "permissions": b.Permissions}, nil
}

type updateRoleBody struct {
	Description *string   `json:"description,omitempty"`
	Permissions *[]string `json:"permissions,omitempty"`
}

// updateRoleVars leaves out the permissions the body leaves out, so they stay.
func updateRoleVars(c *call, b updateRoleBody) (map[string]any, error) {
	vars := map[string]any{"name": c.path("name"), "description": b.Description}
	if b.Permissions != nil {
		vars["permissions"] = *b.Permissions
	}
	return vars, nil
}

// RoleResponse is a role of RoleFields.
type RoleResponse struct {
	Name        string   `json:"name" gql:"name"`
	Description string   `json:"description" gql:"description"`
	Permissions []string `json:"permissions" gql:"permissions"`
	BuiltIn     bool     `json:"built_in" gql:"builtIn"`
	CreatedAt   string   `json:"created_at" gql:"createdAt,time"`
	UpdatedAt   string   `json:"updated_at" gql:"updatedAt,time"`
}
