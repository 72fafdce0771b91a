package auth

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Permission is one entry of the permission catalog, e.g. "member:invite".
type Permission = string

// PermissionInfo describes a catalog entry for clients that render permission pickers.
type PermissionInfo struct {
	Name        string
	Description string
	Category    string
}

// The permissions, one constant each: code names a permission only through these. The schema's
// @hasPermission arguments and the REST route table name their strings; graph checks those
// against the catalog when the server starts, and a test does on every run.
const (
	APIKeyCreate       Permission = "api_key:create"
	APIKeyList         Permission = "api_key:list"
	APIKeyRevoke       Permission = "api_key:revoke"
	DeploymentCreate   Permission = "deployment:create"
	DeploymentList     Permission = "deployment:list"
	DeploymentUpdate   Permission = "deployment:update"
	DeploymentDelete   Permission = "deployment:delete"
	ModelAccess        Permission = "model:access"
	ModelList          Permission = "model:list"
	ModelAdd           Permission = "model:add"
	ModelDelete        Permission = "model:delete"
	MemberInvite       Permission = "member:invite"
	MemberDelete       Permission = "member:delete"
	MemberList         Permission = "member:list"
	RoleCreate         Permission = "role:create"
	RoleList           Permission = "role:list"
	RoleUpdate         Permission = "role:update"
	RoleDelete         Permission = "role:delete"
	AuditLogList       Permission = "audit_log:list"
	OrganizationView   Permission = "organization:view"
	OrganizationUpdate Permission = "organization:update"
	SecurityView       Permission = "security:view"
	SecurityUpdate     Permission = "security:update"
	BillingView        Permission = "billing:view"
	BillingUpdate      Permission = "billing:update"
	SSOManage          Permission = "sso:manage"
)

// Catalog lists every permission in the order the dashboard shows them: the 21 strings the
// InferiaLLM dashboard gates on, then the ones this server adds.
var Catalog = []PermissionInfo{
	{APIKeyCreate, "Create API keys", "api_key"},
	{APIKeyList, "List API keys", "api_key"},
	{APIKeyRevoke, "Revoke API keys", "api_key"},
	{DeploymentCreate, "Create deployments", "deployment"},
	{DeploymentList, "List deployments", "deployment"},
	{DeploymentUpdate, "Update deployments", "deployment"},
	{DeploymentDelete, "Delete deployments", "deployment"},
	{ModelAccess, "Call models", "model"},
	{ModelList, "List models", "model"},
	{ModelAdd, "Add models", "model"},
	{ModelDelete, "Delete models", "model"},
	{MemberInvite, "Invite members", "member"},
	{MemberDelete, "Remove members and revoke invitations", "member"},
	{MemberList, "List members and invitations", "member"},
	{RoleCreate, "Create custom roles", "role"},
	{RoleList, "List roles", "role"},
	{RoleUpdate, "Change roles and members' roles", "role"},
	{RoleDelete, "Delete custom roles", "role"},
	{AuditLogList, "Read the audit log", "audit_log"},
	{OrganizationView, "View organization settings", "organization"},
	{OrganizationUpdate, "Change organization settings", "organization"},
	{SecurityView, "View the security policy and members' sessions", "security"},
	{SecurityUpdate, "Change the security policy and revoke members' sessions", "security"},
	{BillingView, "View billing information", "billing"},
	{BillingUpdate, "Change billing information", "billing"},
	{SSOManage, "Manage single sign-on: connections, domains and enforcement", "sso"},
}

// Built-in role names.
const (
	RoleAdmin     = "admin"
	RoleDeveloper = "developer"
	RoleMember    = "member"
	RoleViewer    = "viewer"
)

var (
	catalogIndex = func() map[string]int {
		m := make(map[string]int, len(Catalog))
		for i, p := range Catalog {
			m[p.Name] = i
		}
		return m
	}()

	memberPermissions = []string{
		APIKeyCreate, APIKeyList, APIKeyRevoke,
		DeploymentCreate, DeploymentDelete, DeploymentList, DeploymentUpdate,
		ModelAccess, ModelAdd, ModelDelete, ModelList,
		OrganizationView,
	}

	// aliases maps deprecated permission names to their current equivalents.
	aliases = map[string][]string{
		"user:list":   {MemberList},
		"user:view":   {MemberList},
		"user:update": {RoleUpdate},
		"user:delete": {MemberDelete},
	}
)

// BuiltInRole is a read-only role shared by every organization.
type BuiltInRole struct {
	Name        string
	Description string
	Permissions []string
}

// BuiltInRoles returns the built-in roles with their permissions in catalog order.
func BuiltInRoles() []BuiltInRole {
	all := AllPermissions()
	developer := append(slices.Clone(memberPermissions), MemberList)
	return []BuiltInRole{
		{RoleAdmin, "Full access to the organization", all},
		{RoleDeveloper, "Builds with models and deployments and sees the members", SortPermissions(developer)},
		{RoleMember, "Uses models, deployments and API keys", SortPermissions(slices.Clone(memberPermissions))},
		{RoleViewer, "Read-only access", SortPermissions([]string{APIKeyList, DeploymentList, ModelAccess, ModelList, OrganizationView})},
	}
}

// IsBuiltInRole reports whether name is one of the built-in role names (case-insensitive).
func IsBuiltInRole(name string) bool {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case RoleAdmin, RoleDeveloper, RoleMember, RoleViewer:
		return true
	}
	return false
}

// AllPermissions returns every catalog permission in catalog order.
func AllPermissions() []string {
	out := make([]string, len(Catalog))
	for i, p := range Catalog {
		out[i] = p.Name
	}
	return out
}

// IsPermission reports whether p is a catalog permission.
func IsPermission(p string) bool {
	_, ok := catalogIndex[p]
	return ok
}

// SortPermissions sorts ps in catalog order (unknown ones last, alphabetically) and drops duplicates.
func SortPermissions(ps []string) []string {
	sort.SliceStable(ps, func(i, j int) bool {
		a, aok := catalogIndex[ps[i]]
		b, bok := catalogIndex[ps[j]]
		switch {
		case aok && bok:
			return a < b
		case aok != bok:
			return aok
		default:
			return ps[i] < ps[j]
		}
	})
	return slices.Compact(ps)
}

// UnknownPermissionsError lists permissions that are not in the catalog.
type UnknownPermissionsError struct{ Names []string }

func (e *UnknownPermissionsError) Error() string {
	return fmt.Sprintf("Invalid permissions: %s", strings.Join(e.Names, ", "))
}

// NormalizePermissions trims and lower-cases ps, expands deprecated aliases, and returns them
// in catalog order without duplicates. Unknown names produce an *UnknownPermissionsError.
func NormalizePermissions(ps []string) ([]string, error) {
	out := make([]string, 0, len(ps))
	var unknown []string
	for _, p := range ps {
		p = strings.ToLower(strings.TrimSpace(p))
		switch {
		case p == "admin:all":
			out = append(out, AllPermissions()...)
		case aliases[p] != nil:
			out = append(out, aliases[p]...)
		case IsPermission(p):
			out = append(out, p)
		default:
			unknown = append(unknown, p)
		}
	}
	if len(unknown) > 0 {
		return nil, &UnknownPermissionsError{Names: unknown}
	}
	return SortPermissions(out), nil
}

// MissingPermissions returns the members of want that have does not contain.
func MissingPermissions(have, want []string) []string {
	var missing []string
	for _, p := range want {
		if !slices.Contains(have, p) {
			missing = append(missing, p)
		}
	}
	return missing
}
