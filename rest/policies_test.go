package rest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The routes of operations/policies.graphql: the Organization page's quota, read and saved, on
// REST and on GraphQL.

var policyKeys = []string{"policy_type", "config_json", "updated_at"}

func TestRESTPolicies(t *testing.T) {
	w := newWorld(t)
	admin := w.tok["admin"]
	// What the dashboard's Organization page sends on "Save Changes".
	dashboard := map[string]any{"policy_type": "quota", "config_json": map[string]any{"request_limit": 1000, "token_limit": 100000}}

	t.Run("a policy never saved reads as off, updated now", func(t *testing.T) {
		for _, typ := range []string{"quota", "rate_limit"} {
			r := w.rest(t, "GET", "/management/config/"+typ, admin, nil)
			require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
			keys(t, r.Body, policyKeys...)
			assert.Equal(t, typ, r.Str("policy_type"))
			assert.Equal(t, map[string]any{"enabled": false}, r.Get("config_json"))
			assert.Equal(t, w.clock.Now(), stamp(t, r.Get("updated_at")))
			g := w.gql(t, "GET", "/management/config/"+typ, admin, nil)
			require.Empty(t, g.Errors)
			assert.Equal(t, map[string]any{"enabled": false}, g.Get("organization.policy.config"))
		}
	})

	t.Run("the Organization page saves the quota and reads it back", func(t *testing.T) {
		w.clock.Advance(time.Minute)
		saved := w.clock.Now()
		r := w.rest(t, "POST", "/management/config", admin, dashboard)
		require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
		assert.Equal(t, map[string]any{"status": "success", "policy_type": "quota"}, r.Body)
		w.clock.Advance(time.Minute)
		got := w.rest(t, "GET", "/api/management/config/quota", admin, nil)
		require.Equal(t, http.StatusOK, got.Status)
		keys(t, got.Body, policyKeys...)
		assert.Equal(t, map[string]any{"request_limit": float64(1000), "token_limit": float64(100000)}, got.Get("config_json"))
		assert.Equal(t, saved, stamp(t, got.Get("updated_at")), "the time it was saved")

		// Saving again replaces the configuration: nothing of the old one stays.
		r = w.rest(t, "POST", "/management/config", admin, map[string]any{"policy_type": "quota", "config_json": map[string]any{"enabled": true, "token_limit": 0}})
		require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
		got = w.rest(t, "GET", "/management/config/quota", w.tok["viewer"], nil)
		require.Equal(t, http.StatusOK, got.Status, "a viewer reads it (organization:view)")
		assert.Equal(t, map[string]any{"enabled": true, "token_limit": float64(0)}, got.Get("config_json"))
		assert.Equal(t, w.clock.Now(), stamp(t, got.Get("updated_at")))

		// The GraphQL twin saves the same way.
		g := w.gql(t, "POST", "/management/config", admin, dashboard)
		require.Empty(t, g.Errors)
		assert.Equal(t, "quota", g.Str("setOrganizationPolicy.policyType"))
		assert.Equal(t, map[string]any{"request_limit": float64(1000), "token_limit": float64(100000)},
			w.rest(t, "GET", "/management/config/quota", admin, nil).Get("config_json"))
	})

	t.Run("configurations that are not the policy's are refused with 422", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			body   map[string]any
			detail string
		}{
			{"a negative limit", map[string]any{"policy_type": "quota", "config_json": map[string]any{"request_limit": -1}},
				"request_limit must be a whole number from 0 to 1000000000000000"},
			{"a fraction", map[string]any{"policy_type": "quota", "config_json": map[string]any{"token_limit": 1.5}},
				"token_limit must be a whole number from 0 to 1000000000000000"},
			{"a number in a string", map[string]any{"policy_type": "quota", "config_json": map[string]any{"token_limit": "100"}},
				"token_limit must be a whole number from 0 to 1000000000000000"},
			{"past the bound", map[string]any{"policy_type": "quota", "config_json": map[string]any{"token_limit": 1e16}},
				"token_limit must be a whole number from 0 to 1000000000000000"},
			{"enabled not a boolean", map[string]any{"policy_type": "quota", "config_json": map[string]any{"enabled": "yes"}},
				"enabled must be true or false"},
			{"a setting of another type", map[string]any{"policy_type": "quota", "config_json": map[string]any{"requests_per_minute": 5}},
				"Unknown setting 'requests_per_minute' of a quota policy: expected enabled, request_limit, token_limit"},
			{"a rate limit below zero", map[string]any{"policy_type": "rate_limit", "config_json": map[string]any{"requests_per_minute": -5}},
				"requests_per_minute must be a whole number from 0 to 1000000000000"},
			{"an unknown type", map[string]any{"policy_type": "guardrails", "config_json": map[string]any{"enabled": true}},
				"Unknown policy type 'guardrails': expected one of quota, rate_limit"},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := w.rest(t, "POST", "/management/config", admin, c.body)
				assert.Equal(t, http.StatusUnprocessableEntity, r.Status, "body %s", r.Raw)
				assert.Equal(t, c.detail, r.Detail())
				g := w.gql(t, "POST", "/management/config", admin, c.body)
				assert.Equal(t, "BAD_USER_INPUT", g.Code())
				if assert.NotEmpty(t, g.Errors) {
					assert.Equal(t, c.detail, g.Errors[0].Message, "the same message on both paths")
				}
			})
		}
		for _, c := range []struct {
			name   string
			body   any
			detail string
		}{
			{"no configuration", map[string]any{"policy_type": "quota"}, "Field required: config_json"},
			{"no type", map[string]any{"config_json": map[string]any{}}, "Field required: policy_type"},
			{"a configuration that is not an object", map[string]any{"policy_type": "quota", "config_json": []int{1}},
				"Invalid value for config_json: expected an object"},
			{"a deployment's policy", map[string]any{"policy_type": "quota", "config_json": map[string]any{}, "deployment_id": "d1"},
				"Policies apply to the whole organization: deployment_id is not supported"},
			{"malformed JSON", `{"policy_type": "quota",`, "Invalid JSON body"},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := w.rest(t, "POST", "/management/config", admin, c.body)
				assert.Equal(t, http.StatusUnprocessableEntity, r.Status, "body %s", r.Raw)
				assert.Equal(t, c.detail, r.Detail())
			})
		}
		r := w.rest(t, "GET", "/management/config/guardrails", admin, nil)
		assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
		assert.Equal(t, "Unknown policy type 'guardrails': expected one of quota, rate_limit", r.Detail())
		assert.Equal(t, map[string]any{"request_limit": float64(1000), "token_limit": float64(100000)},
			w.rest(t, "GET", "/management/config/quota", admin, nil).Get("config_json"), "nothing refused was saved")
	})

	t.Run("a body over the limit is 413", func(t *testing.T) {
		huge := `{"policy_type": "quota", "config_json": {"x": "` + strings.Repeat("a", 2<<20) + `"}}`
		r := w.rest(t, "POST", "/management/config", admin, huge)
		assert.Equal(t, http.StatusRequestEntityTooLarge, r.Status)
	})

	t.Run("who may read and save", func(t *testing.T) {
		w.same(t, "POST", "/management/config", w.tok["viewer"], dashboard, http.StatusForbidden, "Permission denied: organization:update required")
		w.same(t, "POST", "/management/config", w.tok["developer"], dashboard, http.StatusForbidden, "Permission denied: organization:update required")
		w.same(t, "POST", "/management/config", "", dashboard, http.StatusUnauthorized, "Not authenticated")
		w.same(t, "GET", "/management/config/quota", "", nil, http.StatusUnauthorized, "Not authenticated")
	})

	t.Run("another organization sees and changes only its own", func(t *testing.T) {
		globex := w.tok["globex admin"]
		r := w.rest(t, "GET", "/management/config/quota", globex, nil)
		require.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, map[string]any{"enabled": false}, r.Get("config_json"), "not acme's quota")
		require.Equal(t, http.StatusOK, w.rest(t, "POST", "/management/config", globex,
			map[string]any{"policy_type": "quota", "config_json": map[string]any{"request_limit": 7}}).Status)
		assert.Equal(t, map[string]any{"request_limit": float64(7)}, w.rest(t, "GET", "/management/config/quota", globex, nil).Get("config_json"))
		assert.Equal(t, map[string]any{"request_limit": float64(1000), "token_limit": float64(100000)},
			w.rest(t, "GET", "/management/config/quota", admin, nil).Get("config_json"), "acme's is unchanged")
	})

	t.Run("a change is audited under configuration", func(t *testing.T) {
		r := w.rest(t, "GET", "/audit/logs?category=configuration", admin, nil)
		require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
		entries := r.List("")
		require.NotEmpty(t, entries)
		for _, e := range entries {
			m := e.(map[string]any)
			assert.Equal(t, "config.update", m["action"])
			assert.Equal(t, "configuration", m["category"])
			assert.Equal(t, w.acme.ID.String(), m["org_id"], "globex's change is not in acme's log")
			assert.Equal(t, "policy", m["resource_type"])
			assert.NotEmpty(t, m["resource_id"])
		}
		newest := entries[0].(map[string]any)
		assert.Equal(t, w.user["admin"].Email, newest["user_email"])
		details := newest["details"].(map[string]any)
		assert.Equal(t, "quota", details["policy_type"])
		assert.Equal(t, map[string]any{"request_limit": float64(1000), "token_limit": float64(100000)}, details["config"])
		assert.Equal(t, map[string]any{"enabled": true, "token_limit": float64(0)}, details["previous"])
	})

	t.Run("GraphQL lists the saved policies", func(t *testing.T) {
		g := w.s.Do(t, admin, `mutation { setOrganizationPolicy(input: {policyType: "rate_limit", config: {requests_per_minute: 60, enabled: true}}) { policyType config } }`, nil)
		require.Empty(t, g.Errors)
		assert.Equal(t, map[string]any{"requests_per_minute": float64(60), "enabled": true}, g.Get("setOrganizationPolicy.config"))
		g = w.s.Do(t, admin, `{ organization { policies { policyType config } } }`, nil)
		require.Empty(t, g.Errors)
		var got struct {
			Organization struct {
				Policies []struct {
					PolicyType string         `json:"policyType"`
					Config     map[string]any `json:"config"`
				} `json:"policies"`
			} `json:"organization"`
		}
		g.Decode(t, &got)
		require.Len(t, got.Organization.Policies, 2, "acme's two, not globex's")
		assert.Equal(t, "quota", got.Organization.Policies[0].PolicyType)
		assert.Equal(t, "rate_limit", got.Organization.Policies[1].PolicyType)
		g = w.s.Do(t, w.tok["globex admin"], `{ organization { policies { policyType config } } }`, nil)
		require.Empty(t, g.Errors)
		assert.Len(t, g.Get("organization.policies"), 1)
		g = w.s.Do(t, w.tok["viewer"], `mutation { setOrganizationPolicy(input: {policyType: "quota", config: {}}) { policyType } }`, nil)
		assert.Equal(t, "FORBIDDEN", g.Code())
	})
}
