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

// Catalog lists every permission in the order the dashboard shows them: the 21 strings the
// InferiaLLM dashboard gates on, then the ones this server adds.
var Catalog = []PermissionInfo{
	{"api_key:create", "Create API keys", "api_key"},
	{"api_key:list", "List API keys", "api_key"},
	{"api_key:revoke", "Revoke API keys", "api_key"},
	{"deployment:create", "Create deployments", "deployment"},
	{"deployment:list", "List deployments", "deployment"},
	{"deployment:update", "Update deployments", "deployment"},
	{"deployment:delete", "Delete deployments", "deployment"},
	{"model:access", "Call models", "model"},
	{"model:list", "List models", "model"},
	{"model:add", "Add models", "model"},
	{"model:delete", "Delete models", "model"},
	{"member:invite", "Invite members", "member"},
	{"member:delete", "Remove members and revoke invitations", "member"},
	{"member:list", "List members and invitations", "member"},
	{"role:create", "Create custom roles", "role"},
	{"role:list", "List roles", "role"},
	{"role:update", "Change roles and members' roles", "role"},
	{"role:delete", "Delete custom roles", "role"},
	{"audit_log:list", "Read the audit log", "audit_log"},
	{"organization:view", "View organization settings", "organization"},
	{"organization:update", "Change organization settings", "organization"},
	{"security:view", "View the security policy and members' sessions", "security"},
	{"security:update", "Change the security policy and revoke members' sessions", "security"},
	{"billing:view", "View billing information", "billing"},
	{"billing:update", "Change billing information", "billing"},
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
		"api_key:create", "api_key:list", "api_key:revoke",
		"deployment:create", "deployment:delete", "deployment:list", "deployment:update",
		"model:access", "model:add", "model:delete", "model:list",
		"organization:view",
	}

	// aliases maps deprecated permission names to their current equivalents.
	aliases = map[string][]string{
		"user:list":   {"member:list"},
		"user:view":   {"member:list"},
		"user:update": {"role:update"},
		"user:delete": {"member:delete"},
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
	developer := append(slices.Clone(memberPermissions), "member:list")
	return []BuiltInRole{
		{RoleAdmin, "Full access to the organization", all},
		{RoleDeveloper, "Builds with models and deployments and sees the members", SortPermissions(developer)},
		{RoleMember, "Uses models, deployments and API keys", SortPermissions(slices.Clone(memberPermissions))},
		{RoleViewer, "Read-only access", SortPermissions([]string{"api_key:list", "deployment:list", "model:access", "model:list", "organization:view"})},
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
