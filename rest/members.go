package rest

import (
	"net/http"

	"github.com/inferiallm/orgserver/server/auth"
)

// Members: the routes of operations/members.graphql.
var memberRoutes = []route{
	{Pattern: "GET /admin/users", Op: "Users", Vars: fromRequest(usersVars), Reply: at[[]UserResponse]("viewer.organization.memberList"),
		Auth: auth.MemberList, Summary: "Members of the active organization", Query: usersParams},
	{Pattern: "GET /management/users", Op: "Users", Vars: fromRequest(usersVars), Reply: at[[]UserResponse]("viewer.organization.memberList"),
		Auth: auth.MemberList, Summary: "Members of the active organization (the dashboard's path)", Query: usersParams},
	{Pattern: "PUT /admin/users/{user_id}/role", Op: "UpdateUserRole", Vars: withBody(userRoleVars), Reply: message("User role updated"),
		Auth: auth.RoleUpdate, Summary: "Change a member's role"},
	{Pattern: "DELETE /admin/users/{user_id}", Op: "RemoveUser", Vars: fromPath("userId", "user_id"), Status: http.StatusNoContent,
		Auth: auth.MemberDelete, Summary: "Remove a member from the active organization"},
}

var usersParams = append(append([]param{}, pageParams...),
	param{"search", "string", "e-mail or name contains"}, param{"role", "string", "role name"})

func usersVars(c *call) (map[string]any, error) {
	skip, limit, err := c.page(100)
	return map[string]any{"offset": skip, "limit": limit, "search": c.query("search"), "role": c.query("role")}, err
}

type roleChangeBody struct {
	Role string `json:"role"`
}

func userRoleVars(c *call, b roleChangeBody) (map[string]any, error) {
	return map[string]any{"userId": c.path("user_id"), "role": b.Role}, nil
}

// UserResponse is a member of the active organization: a membership of UserRow.
type UserResponse struct {
	ID           string  `json:"id" gql:"user.id"`
	Email        string  `json:"email" gql:"user.email"`
	Name         string  `json:"name" gql:"user.name"`
	Role         string  `json:"role" gql:"role.name"`
	OrgID        string  `json:"org_id" gql:"organization.id"`
	CreatedAt    string  `json:"created_at" gql:"user.createdAt,time"`
	LastActiveAt *string `json:"last_active_at" gql:"lastActiveAt,time"`
	TotpEnabled  bool    `json:"totp_enabled" gql:"user.twoFactorEnabled"`
}
