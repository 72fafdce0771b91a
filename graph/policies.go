package graph

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/orgpolicy"
	"github.com/inferiallm/orgserver/graph/model"
	"github.com/inferiallm/orgserver/server/auth"
)

// categoryConfiguration is the audit category of policy changes, the one the dashboard's filter
// offers for them (InferiaLLM files config.update there).
const categoryConfiguration = "configuration"

// A policy type is the set of settings its configuration may hold. Every setting is optional;
// one not listed is refused, so that a typo ("request_limt") is an error rather than a limit
// that silently does not apply.
type policySetting struct {
	name string
	// max bounds a whole-number setting (from 0); zero makes the setting a boolean.
	max int64
}

// policyTypes are the known policy types, by name. The bounds are far above any real limit
// and below 2^53, so that every accepted number survives JSON readers that use doubles.
var policyTypes = map[string][]policySetting{
	// quota: how much an organization may use per day, as the dashboard's Organization page
	// edits it.
	"quota": {{name: "enabled"}, {name: "request_limit", max: 1e15}, {name: "token_limit", max: 1e15}},
	// rate_limit: how fast an organization may send requests and tokens.
	"rate_limit": {{name: "enabled"}, {name: "requests_per_minute", max: 1e12}, {name: "tokens_per_minute", max: 1e15}},
}

// policyTypeNames are the known policy types, sorted, for messages.
func policyTypeNames() []string {
	var out []string
	for t := range policyTypes {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// invalidInput is a refusal of a malformed value: BAD_USER_INPUT, and 422 on REST.
func invalidInput(format string, args ...any) *Error {
	e := Errorf(CodeBadUserInput, format, args...)
	e.Extensions = map[string]any{"reason": string(ReasonInvalidInput)}
	return e
}

// knownPolicyType returns the settings of policy type t, or refuses an unknown type.
func knownPolicyType(t string) ([]policySetting, error) {
	settings, ok := policyTypes[t]
	if !ok {
		return nil, invalidInput("Unknown policy type '%s': expected one of %s", t, strings.Join(policyTypeNames(), ", "))
	}
	return settings, nil
}

// checkPolicy validates the configuration of a policy of type t and returns it normalized:
// booleans and whole numbers (int64), nothing else.
func checkPolicy(t string, config map[string]any) (map[string]any, error) {
	settings, err := knownPolicyType(t)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(config))
	for key, value := range config {
		i := slices.IndexFunc(settings, func(s policySetting) bool { return s.name == key })
		if i < 0 {
			names := make([]string, len(settings))
			for j, s := range settings {
				names[j] = s.name
			}
			return nil, invalidInput("Unknown setting '%s' of a %s policy: expected %s", key, t, strings.Join(names, ", "))
		}
		s := settings[i]
		if s.max == 0 {
			b, ok := value.(bool)
			if !ok {
				return nil, invalidInput("%s must be true or false", key)
			}
			out[key] = b
			continue
		}
		n, ok := wholeNumber(value)
		if !ok || n < 0 || n > s.max {
			return nil, invalidInput("%s must be a whole number from 0 to %d", key, s.max)
		}
		out[key] = n
	}
	return out, nil
}

// wholeNumber reads an integer from a decoded JSON or GraphQL value: json.Number from
// variables, int64 from literals, float64 from plain json.Unmarshal.
func wholeNumber(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := strconv.ParseInt(n.String(), 10, 64)
		return i, err == nil
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return 0, false
		}
		return int64(n), true
	}
	return 0, false
}

// defaultPolicy is what a policy never saved reads as: off.
func (s *Service) defaultPolicy(t string) *ent.OrgPolicy {
	return &ent.OrgPolicy{PolicyType: t, Config: map[string]any{"enabled": false}, UpdatedAt: s.now()}
}

// organizationPolicy is the policy of type t of the organization (the active one: the
// directive checked), or the default when it was never saved.
func (s *Service) organizationPolicy(ctx context.Context, obj *ent.Organization, t string) (*ent.OrgPolicy, error) {
	if _, err := knownPolicyType(t); err != nil {
		return nil, err
	}
	p, err := s.db(ctx).OrgPolicy.Query().
		Where(orgpolicy.OrganizationID(obj.ID), orgpolicy.PolicyType(t)).Only(ctx)
	if ent.IsNotFound(err) {
		return s.defaultPolicy(t), nil
	}
	return p, err
}

// organizationPolicies are the saved policies of the organization, by type.
func (s *Service) organizationPolicies(ctx context.Context, obj *ent.Organization) ([]*ent.OrgPolicy, error) {
	return s.db(ctx).OrgPolicy.Query().
		Where(orgpolicy.OrganizationID(obj.ID)).Order(ent.Asc(orgpolicy.FieldPolicyType)).All(ctx)
}

// setOrganizationPolicy saves a policy of the active organization.
//  1. Validate the type and the configuration; normalize it.
//  2. Read the policy it replaces, for the audit entry.
//  3. Upsert on (organization, type): two saves at once both succeed, the later one wins.
//  4. Audit config.update with the old and new configuration (policies hold no secrets).
func (s *Service) setOrganizationPolicy(ctx context.Context, in model.SetOrganizationPolicyInput) (*ent.OrgPolicy, error) {
	v := auth.FromContext(ctx)
	config, err := checkPolicy(in.PolicyType, in.Config)
	if err != nil {
		return nil, err
	}
	db := s.db(ctx)
	old, err := db.OrgPolicy.Query().
		Where(orgpolicy.OrganizationID(v.OrgID), orgpolicy.PolicyType(in.PolicyType)).Only(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return nil, err
	}
	now := s.now()
	err = db.OrgPolicy.Create().
		SetOrganizationID(v.OrgID).
		SetPolicyType(in.PolicyType).
		SetConfig(config).
		SetCreatedAt(now).
		SetUpdatedAt(now).
		OnConflictColumns(orgpolicy.FieldOrganizationID, orgpolicy.FieldPolicyType).
		UpdateConfig().
		UpdateUpdatedAt().
		Exec(ctx)
	if err != nil {
		return nil, err
	}
	p, err := db.OrgPolicy.Query().
		Where(orgpolicy.OrganizationID(v.OrgID), orgpolicy.PolicyType(in.PolicyType)).Only(ctx)
	if err != nil {
		return nil, err
	}
	details := map[string]any{"policy_type": in.PolicyType, "config": config}
	if old != nil {
		details["previous"] = old.Config
	}
	return p, s.audit(ctx, auditEntry{Action: "config.update", Category: categoryConfiguration,
		ResourceType: "policy", ResourceID: p.ID.String(), Details: details})
}
