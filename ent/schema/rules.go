package schema

import (
	"context"

	"entgo.io/ent"
	"entgo.io/ent/entql"
	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/server/auth"
)

// The privacy rules of the schema. Each entity's policy is a list of these sentences. Code that
// must act outside a viewer's reach (sign-in, bootstrap, accepting an invitation) does so
// visibly, with privacy.DecisionContext(ctx, privacy.Allow) and a comment saying why.

// denyIfNoViewer refuses every query and mutation made without a signed-in viewer.
func denyIfNoViewer() privacy.QueryMutationRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if auth.FromContext(ctx) == nil {
			return privacy.Denyf("no viewer")
		}
		return privacy.Skip
	})
}

// allowIfSuperAdmin lets super admins read every organization.
func allowIfSuperAdmin() privacy.QueryRule {
	return privacy.QueryRuleFunc(func(ctx context.Context, _ ent.Query) error {
		if v := auth.FromContext(ctx); v != nil && v.SuperAdmin {
			return privacy.Allow
		}
		return privacy.Skip
	})
}

// filter narrows a query or mutation with a predicate built from the viewer.
func filter(p func(v *auth.Viewer) entql.P) privacy.FilterFunc {
	return func(ctx context.Context, f privacy.Filter) error {
		v := auth.FromContext(ctx)
		if v == nil {
			return privacy.Denyf("no viewer")
		}
		f.Where(p(v))
		return privacy.Skip
	}
}

// inActiveOrg keeps rows of the viewer's active organization.
func inActiveOrg(v *auth.Viewer) entql.P {
	return entql.FieldEQ("organization_id", v.OrgID)
}

// filterByActiveOrg narrows to rows of the viewer's active organization.
func filterByActiveOrg() privacy.FilterFunc { return filter(inActiveOrg) }

// filterOrganizationsByMembership keeps the active organization and the ones the viewer belongs to.
func filterOrganizationsByMembership() privacy.FilterFunc {
	return filter(func(v *auth.Viewer) entql.P {
		return entql.Or(
			entql.FieldEQ("id", v.OrgID),
			entql.HasEdgeWith("memberships", entql.FieldEQ("user_id", v.UserID)),
		)
	})
}

// filterActiveOrganization narrows changes to the viewer's active organization.
func filterActiveOrganization() privacy.FilterFunc {
	return filter(func(v *auth.Viewer) entql.P { return entql.FieldEQ("id", v.OrgID) })
}

// filterUsersByMembership keeps the viewer and the members of the active organization.
func filterUsersByMembership() privacy.FilterFunc {
	return filter(func(v *auth.Viewer) entql.P {
		// One EXISTS with the OR inside (the viewer is a member somewhere: their session's
		// organization), not "id = viewer OR EXISTS": an OR around a subquery keeps PostgreSQL
		// from making it a semi-join, and it then reads every membership of the organization to
		// hash them, once per query, even to check the 50 users of one page.
		return entql.HasEdgeWith("memberships", entql.Or(inActiveOrg(v), entql.FieldEQ("user_id", v.UserID)))
	})
}

// filterSelf narrows changes to the viewer's own account.
func filterSelf() privacy.FilterFunc {
	return filter(func(v *auth.Viewer) entql.P { return entql.FieldEQ("id", v.UserID) })
}

// filterMembershipsByOrgOrSelf keeps the active organization's memberships and the viewer's own
// memberships elsewhere (for the organization switcher).
func filterMembershipsByOrgOrSelf() privacy.FilterFunc {
	return filter(func(v *auth.Viewer) entql.P {
		return entql.Or(inActiveOrg(v), entql.FieldEQ("user_id", v.UserID))
	})
}

// filterRolesByMembership keeps the built-in roles and the custom roles of the organizations the
// viewer belongs to.
func filterRolesByMembership() privacy.FilterFunc {
	return filter(func(v *auth.Viewer) entql.P {
		return entql.Or(
			entql.FieldNil("organization_id"),
			inActiveOrg(v),
			entql.HasEdgeWith("organization", entql.HasEdgeWith("memberships", entql.FieldEQ("user_id", v.UserID))),
		)
	})
}

// filterSessions keeps the viewer's own sessions, and the active organization's sessions for
// viewers holding perm.
func filterSessions(perm string) privacy.FilterFunc {
	return filter(func(v *auth.Viewer) entql.P {
		own := entql.FieldEQ("user_id", v.UserID)
		if v.Can(perm) {
			return entql.Or(own, inActiveOrg(v))
		}
		return own
	})
}

// filterAuditLogs keeps the active organization's entries, for viewers holding audit_log:list.
func filterAuditLogs() privacy.FilterFunc {
	return filter(func(v *auth.Viewer) entql.P {
		if !v.Can(auth.AuditLogList) {
			return entql.FieldEQ("id", uuid.Nil)
		}
		return inActiveOrg(v)
	})
}

// denyCreateOutsideActiveOrg stops new rows from pointing at an organization other than the
// viewer's active one.
func denyCreateOutsideActiveOrg() privacy.MutationRule {
	return privacy.OnMutationOperation(privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		v := auth.FromContext(ctx)
		if v == nil {
			return privacy.Denyf("no viewer")
		}
		id, ok := m.Field("organization_id")
		if !ok || id != v.OrgID {
			return privacy.Denyf("row outside the active organization")
		}
		return privacy.Skip
	}), ent.OpCreate)
}

// allowIfSuperAdminCreates lets super admins create organizations.
func allowIfSuperAdminCreates() privacy.MutationRule {
	return privacy.OnMutationOperation(privacy.MutationRuleFunc(func(ctx context.Context, _ ent.Mutation) error {
		if v := auth.FromContext(ctx); v != nil && v.SuperAdmin {
			return privacy.Allow
		}
		return privacy.Denyf("only super admins create organizations")
	}), ent.OpCreate)
}

// denyOps refuses the given kinds of mutation outright.
func denyOps(op ent.Op) privacy.MutationRule { return privacy.DenyMutationOperationRule(op) }

// allow ends a policy whose filters have narrowed the query to what the viewer may see.
func allow() privacy.QueryMutationRule { return privacy.AlwaysAllowRule() }

// orgOwnedPolicy is the policy of rows owned by one organization: reads narrowed by
// readFilter, and changes only inside the viewer's active organization.
func orgOwnedPolicy(readFilter privacy.QueryRule) ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			denyIfNoViewer(),
			readFilter,
			allow(),
		},
		Mutation: privacy.MutationPolicy{
			denyIfNoViewer(),
			denyCreateOutsideActiveOrg(),
			filterByActiveOrg(),
			allow(),
		},
	}
}

// organizationFieldPermissions is the permission each organization field needs to be changed;
// the fields not listed need organization:update.
var organizationFieldPermissions = map[string]auth.Permission{
	"security_policy": auth.SecurityUpdate,
	"billing":         auth.BillingUpdate,
	"sso_policy":      auth.SSOManage,
}

// denyUpdateWithoutFieldPermissions refuses organization updates unless the viewer holds the
// permission of every field changed (organizationFieldPermissions).
func denyUpdateWithoutFieldPermissions() privacy.MutationRule {
	return privacy.OnMutationOperation(privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		v := auth.FromContext(ctx)
		for _, f := range m.Fields() {
			if f == "updated_at" {
				continue
			}
			perm, ok := organizationFieldPermissions[f]
			if !ok {
				perm = auth.OrganizationUpdate
			}
			if !v.Can(perm) {
				return &PermissionError{Permission: perm}
			}
		}
		return privacy.Skip
	}), ent.OpUpdate|ent.OpUpdateOne)
}

// CanReadBilling reports whether v may read the billing information of organization org: that
// of the active organization only, and with billing:view.
func CanReadBilling(v *auth.Viewer, org uuid.UUID) bool {
	return v != nil && org == v.OrgID && v.Can(auth.BillingView)
}

// PermissionError is a privacy denial for want of a permission; the API names the permission.
type PermissionError struct{ Permission auth.Permission }

func (e *PermissionError) Error() string { return "permission " + e.Permission + " required" }

// Is makes the error a privacy denial.
func (e *PermissionError) Is(target error) bool { return target == privacy.Deny }
