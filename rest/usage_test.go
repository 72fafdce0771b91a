package rest_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

// POST /internal/usage, where the inference gateway reports usage with the internal API key,
// and GET /management/config/quota/usage, where the Organization page reads today's.

const internalKey = "an-internal-key-of-the-tests-0123456789"

func withInternalKey(cfg *app.Config, _ *app.Options) { cfg.InternalAPIKey = internalKey }

// report sends usage reports as the gateway, with key in X-Internal-API-Key ("" for none).
func (w *world) report(t testing.TB, key string, body any) *resp {
	t.Helper()
	rq := request{Method: "POST", Path: "/internal/usage", Body: body}
	if key != "" {
		rq.Header = map[string]string{"X-Internal-API-Key": key}
	}
	return w.s.REST(t, rq)
}

// usageRow is a report of the body of POST /internal/usage.
func usageRow(org, apiKey uuid.UUID, name, day, model string, requests, tokens int) map[string]any {
	return map[string]any{"organization_id": org, "api_key_id": apiKey, "key_prefix": "sk-" + name[:3],
		"key_name": name, "day": day, "model": model, "requests": requests, "tokens": tokens}
}

func records(rows ...map[string]any) map[string]any {
	return map[string]any{"records": append([]map[string]any{}, rows...)}
}

func TestRESTUsage(t *testing.T) {
	w := newWorld(t, withInternalKey)
	admin := w.tok["admin"]
	today := w.clock.Now().UTC().Format(time.DateOnly)
	yesterday := w.clock.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	alpha, beta, gamma := uuid.New(), uuid.New(), uuid.New()
	usage := func(t *testing.T, tok string) []any {
		t.Helper()
		r := w.rest(t, "GET", "/management/config/quota/usage", tok, nil)
		require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
		l, ok := r.Body.([]any)
		require.True(t, ok, "a list, never null: %s", r.Raw)
		for _, u := range l {
			keys(t, u, "key_name", "key_prefix", "requests", "tokens")
		}
		return l
	}
	row := func(name string, requests, tokens int) map[string]any {
		return map[string]any{"key_name": name, "key_prefix": "sk-" + name[:3], "requests": float64(requests), "tokens": float64(tokens)}
	}

	t.Run("without reports the list is empty", func(t *testing.T) {
		assert.Empty(t, usage(t, admin))
		g := w.gql(t, "GET", "/management/config/quota/usage", admin, nil)
		require.Empty(t, g.Errors)
		assert.Equal(t, []any{}, g.Get("organization.usageToday"))
	})

	t.Run("the gateway must send the internal key", func(t *testing.T) {
		body := records(usageRow(w.acme.ID, alpha, "alpha", today, "m1", 1, 1))
		r := w.report(t, "", body)
		assert.Equal(t, http.StatusUnauthorized, r.Status)
		assert.Equal(t, "Missing X-Internal-API-Key header", r.Detail())
		r = w.report(t, internalKey+"x", body)
		assert.Equal(t, http.StatusForbidden, r.Status)
		assert.Equal(t, "Invalid internal API key", r.Detail())
		r = w.report(t, internalKey[:len(internalKey)-1], body)
		assert.Equal(t, http.StatusForbidden, r.Status)
		// A member's access token is not the gateway's key.
		r = w.s.REST(t, request{Method: "POST", Path: "/internal/usage", Bearer: admin, Body: body})
		assert.Equal(t, http.StatusUnauthorized, r.Status)
		assert.Empty(t, usage(t, admin), "nothing refused was stored")
	})

	t.Run("today's usage per key of the organization, summed over models", func(t *testing.T) {
		r := w.report(t, internalKey, records(
			usageRow(w.acme.ID, alpha, "alpha", today, "m1", 10, 100),
			usageRow(w.acme.ID, alpha, "alpha", today, "m2", 5, 50),
			usageRow(w.acme.ID, beta, "beta", today, "m1", 1, 1),
			usageRow(w.acme.ID, alpha, "alpha", yesterday, "m1", 1000, 1000),
			usageRow(w.globex.ID, gamma, "gamma", today, "m1", 100, 1000),
		))
		require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
		assert.Equal(t, map[string]any{"status": "success", "recorded": float64(5)}, r.Body)
		assert.Equal(t, []any{row("alpha", 15, 150), row("beta", 1, 1)}, usage(t, admin))
		assert.Equal(t, []any{row("alpha", 15, 150), row("beta", 1, 1)}, usage(t, w.tok["viewer"]), "organization:view suffices")
		assert.Equal(t, []any{row("gamma", 100, 1000)}, usage(t, w.tok["globex admin"]), "globex sees only its own")
		g := w.gql(t, "GET", "/management/config/quota/usage", admin, nil)
		require.Empty(t, g.Errors)
		assert.Len(t, g.Get("organization.usageToday"), 2)
		assert.Equal(t, http.StatusOK, w.rest(t, "GET", "/api/management/config/quota/usage", admin, nil).Status)
	})

	t.Run("a report sent again replaces its row rather than adding to it", func(t *testing.T) {
		again := records(usageRow(w.acme.ID, alpha, "alpha", today, "m1", 10, 100))
		for range 2 {
			require.Equal(t, http.StatusOK, w.report(t, internalKey, again).Status)
		}
		assert.Equal(t, []any{row("alpha", 15, 150), row("beta", 1, 1)}, usage(t, admin), "a retry counts once")
		w.clock.Advance(time.Minute)
		later := usageRow(w.acme.ID, alpha, "alpha renamed", today, "m1", 12, 130)
		later["key_prefix"] = "sk-alp"
		r := w.report(t, internalKey, records(later))
		require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
		assert.Equal(t, []any{
			map[string]any{"key_name": "alpha renamed", "key_prefix": "sk-alp", "requests": float64(17), "tokens": float64(180)},
			row("beta", 1, 1),
		}, usage(t, admin), "the day's totals so far: 12 + 5 requests, 130 + 50 tokens")
		// Twice in one batch: the later one counts.
		r = w.report(t, internalKey, records(
			usageRow(w.acme.ID, beta, "beta", today, "m1", 2, 2),
			usageRow(w.acme.ID, beta, "beta", today, "m1", 3, 3),
		))
		require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
		assert.Equal(t, row("beta", 3, 3), usage(t, admin)[1])
	})

	t.Run("a malformed report is 422 and the batch stores nothing", func(t *testing.T) {
		before := usage(t, admin)
		good := usageRow(w.acme.ID, beta, "beta", today, "m9", 7, 7)
		with := func(k string, v any) map[string]any {
			r := usageRow(w.acme.ID, alpha, "alpha", today, "m1", 99, 99)
			if v == nil {
				delete(r, k)
			} else {
				r[k] = v
			}
			return r
		}
		tomorrow := w.clock.Now().UTC().AddDate(0, 0, 2).Format(time.DateOnly)
		for _, c := range []struct {
			name   string
			body   any
			detail string
		}{
			{"malformed JSON", `{"records": [`, "Invalid usage body: malformed JSON"},
			{"not an object", `[1]`, "The request body must be a JSON object"},
			{"no records", `{}`, "Field required: records"},
			{"an empty body", ``, "Field required: records"},
			{"no report", records(), "No usage reports"},
			{"an unknown field", `{"records": [], "extra": 1}`, `Invalid usage body: unknown field "extra"`},
			{"data after the object", `{"records": []} {}`, "Invalid usage body: data after the JSON object"},
			{"negative requests", records(good, with("requests", -1)), "Report 1: requests must be a whole number from 0 to 1000000000000000"},
			{"negative tokens", records(good, with("tokens", -5)), "Report 1: tokens must be a whole number from 0 to 1000000000000000"},
			{"past the bound", records(good, with("tokens", 1e16)), "Report 1: tokens must be a whole number from 0 to 1000000000000000"},
			{"a fraction", records(good, with("tokens", 1.5)), "Invalid value for records.tokens"},
			{"a number in a string", records(good, with("requests", "5")), "Invalid value for records.requests"},
			{"no tokens", records(good, with("tokens", nil)), "Report 1: requests and tokens are required"},
			{"no model", records(good, with("model", nil)), "Report 1: model is required"},
			{"no key prefix", records(good, with("key_prefix", " ")), "Report 1: key_prefix is required"},
			{"no API key", records(good, with("api_key_id", nil)), "Report 1: api_key_id is required"},
			{"an API key that is not a UUID", records(good, with("api_key_id", "sk-123")), "Invalid usage body: a value is not of its type (IDs are UUIDs)"},
			{"no day", records(good, with("day", nil)), "Report 1: day must be a date, YYYY-MM-DD"},
			{"not a date", records(good, with("day", "2026-13-01")), "Report 1: day must be a date, YYYY-MM-DD"},
			{"a time, not a date", records(good, with("day", today+"T00:00:00Z")), "Report 1: day must be a date, YYYY-MM-DD"},
			{"a day to come", records(good, with("day", tomorrow)), "Report 1: day " + tomorrow + " is in the future"},
			{"an organization that does not exist", records(good, with("organization_id", uuid.New())), ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := w.report(t, internalKey, c.body)
				assert.Equal(t, http.StatusUnprocessableEntity, r.Status, "body %s", r.Raw)
				if c.detail != "" {
					assert.Equal(t, c.detail, r.Detail())
				} else {
					assert.True(t, strings.HasPrefix(r.Detail(), "Unknown organization "), r.Detail())
				}
			})
		}
		assert.Equal(t, before, usage(t, admin), "nothing of a refused batch was stored")
	})

	t.Run("a body over the limit is 413", func(t *testing.T) {
		r := w.report(t, internalKey, `{"records": [], "x": "`+strings.Repeat("a", 2<<20)+`"}`)
		assert.Equal(t, http.StatusRequestEntityTooLarge, r.Status)
	})

	t.Run("who reads usage", func(t *testing.T) {
		w.same(t, "GET", "/management/config/quota/usage", "", nil, http.StatusUnauthorized, "Not authenticated")
	})

	t.Run("the list is today's: the next day starts empty", func(t *testing.T) {
		w.clock.Advance(24 * time.Hour)
		assert.Empty(t, usage(t, w.login(t, w.user["admin"].Email).Access))
		assert.Empty(t, usage(t, w.login(t, w.user["globex admin"].Email).Access))
	})
}

// Without INTERNAL_API_KEY the internal routes are off, as InferiaLLM's are: 503, whatever the
// request sends.
func TestRESTUsageWithoutAnInternalKey(t *testing.T) {
	s := apptest.Start(t)
	for _, key := range []string{"", internalKey} {
		rq := request{Method: "POST", Path: "/internal/usage", Body: `{"records": []}`}
		if key != "" {
			rq.Header = map[string]string{"X-Internal-API-Key": key}
		}
		r := s.REST(t, rq)
		assert.Equal(t, http.StatusServiceUnavailable, r.Status)
		assert.Equal(t, "Internal API key not configured", r.Detail())
	}
}

// Reports of one key, day and model arriving at once (a retry racing the original) all
// succeed and leave one row; saves of one policy at once all succeed and one of them wins.
func TestRESTConcurrentReportsAndSaves(t *testing.T) {
	w := newWorld(t, withInternalKey)
	admin := w.tok["admin"]
	today := w.clock.Now().UTC().Format(time.DateOnly)
	key := uuid.New()
	const n = 8
	statuses := make(chan int, 2*n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			statuses <- w.report(t, internalKey, records(usageRow(w.acme.ID, key, "racer", today, "m1", 3, 30))).Status
		}()
		go func() {
			defer wg.Done()
			statuses <- w.rest(t, "POST", "/management/config", admin,
				map[string]any{"policy_type": "quota", "config_json": map[string]any{"request_limit": i}}).Status
		}()
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		assert.Equal(t, http.StatusOK, s)
	}
	r := w.rest(t, "GET", "/management/config/quota/usage", admin, nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, []any{map[string]any{"key_name": "racer", "key_prefix": "sk-rac", "requests": float64(3), "tokens": float64(30)}}, r.Body)
	n2, err := w.s.App.Client().UsageRecord.Query().Count(apptest.SystemContext())
	require.NoError(t, err)
	assert.Equal(t, 1, n2, "one row")
	p := w.rest(t, "GET", "/management/config/quota", admin, nil)
	limit, ok := p.Get("config_json.request_limit").(float64)
	require.True(t, ok, "a saved request_limit: %s", p.Raw)
	assert.True(t, limit >= 0 && limit < n, "one of the saves: %s", p.Raw)
	count, err := w.s.App.Client().OrgPolicy.Query().Count(apptest.SystemContext())
	require.NoError(t, err)
	assert.Equal(t, 1, count, "one policy row")
}

// Usage of one of the organization's API keys is shown under the key's own name and prefix, not
// what the report said; a report of a key under another organization is refused.
func TestRESTUsageOfAnAPIKeyNamesTheKey(t *testing.T) {
	w := newWorld(t, withInternalKey)
	admin := w.tok["admin"]
	today := w.clock.Now().UTC().Format(time.DateOnly)
	created := w.rest(t, "POST", "/management/api-keys", admin, map[string]any{"name": "gateway key"})
	require.Equal(t, http.StatusCreated, created.Status, "body %s", created.Raw)
	key := created.Body.(map[string]any)
	id := uuid.MustParse(key["id"].(string))

	r := w.report(t, internalKey, records(usageRow(w.acme.ID, id, "what the gateway calls it", today, "m1", 4, 40)))
	require.Equal(t, http.StatusOK, r.Status, "body %s", r.Raw)
	got := w.rest(t, "GET", "/management/config/quota/usage", w.tok["viewer"], nil)
	require.Equal(t, http.StatusOK, got.Status, "body %s", got.Raw)
	assert.Equal(t, []any{map[string]any{"key_name": "gateway key", "key_prefix": key["prefix"],
		"requests": float64(4), "tokens": float64(40)}}, got.Body)

	r = w.report(t, internalKey, records(usageRow(w.globex.ID, id, "elsewhere", today, "m1", 1, 1)))
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status, "body %s", r.Raw)
	assert.Contains(t, r.Detail(), "is not one of organization")
	assert.Empty(t, w.rest(t, "GET", "/management/config/quota/usage", w.tok["globex admin"], nil).Body,
		"nothing of the refused report is stored")
}
