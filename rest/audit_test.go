package rest_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/apptest"
)

// The route of operations/audit.graphql: the audit log, its filters and paging.

func TestRESTAuditLogs(t *testing.T) {
	w := newWorld(t)
	admin := w.tok["admin"]
	before := time.Now().UTC()
	time.Sleep(5 * time.Millisecond)
	target := w.fresh(t, "viewer")
	require.Equal(t, http.StatusOK, w.rest(t, "PUT", "/admin/users/"+target.ID.String()+"/role", admin, map[string]any{"role": "member"}).Status)
	time.Sleep(5 * time.Millisecond)
	middle := time.Now().UTC()
	time.Sleep(5 * time.Millisecond)
	require.Equal(t, http.StatusCreated, w.rest(t, "POST", "/management/invitations", admin, map[string]any{"email": "audited@acme.test", "role": "viewer"}).Status)
	require.Equal(t, http.StatusOK, w.rest(t, "POST", "/admin/roles", w.tok["globex admin"], map[string]any{"name": "elsewhere", "permissions": []string{"model:list"}}).Status)

	list := func(t *testing.T, query string) *resp {
		r := w.rest(t, "GET", "/audit/logs"+query, admin, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s: %s", query, r.Raw)
		return r
	}
	all := list(t, "")
	entries := all.List("")
	require.NotEmpty(t, entries)
	var last time.Time
	for i, e := range entries {
		keys(t, e, auditKeys...)
		m := e.(map[string]any)
		assert.Equal(t, w.acme.ID.String(), m["org_id"], "the active org only")
		at := stamp(t, m["timestamp"])
		if i > 0 {
			assert.False(t, at.After(last), "newest first")
		}
		last = at
		assert.NotNil(t, m["details"])
	}
	actions := column(entries, "action")
	assert.Contains(t, actions, "member.role_change")
	assert.Contains(t, actions, "invitation.create")
	assert.NotContains(t, actions, "role.create", "globex's role stays in globex")
	assert.Equal(t, "invitation.create", actions[slices.IndexFunc(actions, func(a string) bool { return a != "auth.login" })],
		"the newest change comes first")

	g := w.gql(t, "GET", "/audit/logs", admin, nil)
	require.Empty(t, g.Errors)
	var data struct {
		Viewer struct {
			Organization struct{ AuditLogList []struct{ ID string } }
		}
	}
	g.Decode(t, &data)
	var ids []string
	for _, e := range data.Viewer.Organization.AuditLogList {
		ids = append(ids, e.ID)
	}
	assert.Equal(t, ids, column(entries, "id"), "the same entries on both paths")

	t.Run("filters", func(t *testing.T) {
		changes := list(t, "?action=member.role_change").List("")
		require.Len(t, changes, 1)
		m := changes[0].(map[string]any)
		assert.Equal(t, w.user["admin"].ID.String(), m["user_id"])
		assert.Equal(t, "admin@acme.test", m["user_email"])
		assert.Equal(t, "user_management", m["category"])
		assert.Equal(t, target.ID.String(), m["resource_id"])
		assert.Equal(t, "member", m["details"].(map[string]any)["new_role"])
		assert.Equal(t, "success", m["status"])

		for _, e := range list(t, "?category=organization").List("") {
			assert.Equal(t, "organization", e.(map[string]any)["category"])
		}
		assert.Contains(t, column(list(t, "?category=organization").Body, "action"), "invitation.create")
		assert.Equal(t, []string{"invitation.create"}, column(list(t, "?category=invitation").Body, "action"),
			"a former category's name selects its actions")
		assert.Equal(t, []string{"member.role_change"}, column(list(t, "?category=user_management").Body, "action"))
		mine := list(t, "?user_id="+w.user["admin"].ID.String()).List("")
		require.NotEmpty(t, mine)
		for _, e := range mine {
			assert.Equal(t, w.user["admin"].ID.String(), e.(map[string]any)["user_id"])
		}

		since := column(list(t, "?start_date="+url.QueryEscape(middle.Format(time.RFC3339Nano))).Body, "action")
		assert.Contains(t, since, "invitation.create")
		assert.NotContains(t, since, "member.role_change")
		until := column(list(t, "?end_date="+url.QueryEscape(middle.Format(time.RFC3339Nano))).Body, "action")
		assert.Contains(t, until, "member.role_change")
		assert.NotContains(t, until, "invitation.create")
		between := column(list(t, "?start_date="+url.QueryEscape(before.Format(time.RFC3339Nano))+"&end_date="+url.QueryEscape(middle.Format(time.RFC3339Nano))).Body, "action")
		assert.Equal(t, []string{"member.role_change"}, between)
		assert.Empty(t, list(t, "?end_date=2000-01-01").List(""), "a plain date")

		g := w.gql(t, "GET", "/audit/logs?action=member.role_change", admin, nil)
		require.Empty(t, g.Errors)
		assert.Equal(t, m["id"], g.Dig("viewer.organization.auditLogList.0.id"))
	})
	t.Run("paging", func(t *testing.T) {
		ids := column(entries, "id")
		require.GreaterOrEqual(t, len(ids), 3)
		assert.Equal(t, ids[:1], column(list(t, "?limit=1").Body, "id"))
		assert.Equal(t, ids[1:2], column(list(t, "?skip=1&limit=1").Body, "id"))
		assert.Equal(t, ids[2:], column(list(t, "?skip=2").Body, "id"))
		assert.Equal(t, ids, column(list(t, "?limit=1000").Body, "id"))
		for _, q := range []string{"?limit=1001", "?limit=0", "?skip=-1", "?start_date=yesterday", "?end_date=2024-13-45"} {
			assert.Equal(t, http.StatusUnprocessableEntity, w.rest(t, "GET", "/audit/logs"+q, admin, nil).Status, q)
		}
	})
	t.Run("globex's admin sees globex's log", func(t *testing.T) {
		r := w.rest(t, "GET", "/audit/logs", w.tok["globex admin"], nil)
		require.Equal(t, http.StatusOK, r.Status)
		assert.Contains(t, column(r.Body, "action"), "role.create")
		for _, e := range r.List("") {
			assert.Equal(t, w.globex.ID.String(), e.(map[string]any)["org_id"])
		}
	})
}

// Entries written before the audit log used the dashboard's categories keep theirs (entries are
// immutable) but are shown and found under the dashboard's, on both paths.
func TestAuditEntriesOfFormerCategoriesReadAsTheDashboards(t *testing.T) {
	w := newWorld(t)
	admin := w.tok["admin"]
	ctx := apptest.SystemContext()
	shown := map[string]string{ // action: the category it is shown under
		"member.remove":     "user_management",
		"role.update":       "user_management",
		"invitation.revoke": "organization",
		"invitation.accept": "auth",
	}
	for action := range shown {
		former, _, _ := strings.Cut(action, ".")
		require.NoError(t, w.s.App.Client().AuditLog.Create().SetOrganizationID(w.acme.ID).
			SetAction(action).SetCategory(former).Exec(ctx))
	}
	for action, category := range shown {
		got := w.rest(t, "GET", "/audit/logs?action="+action, admin, nil).List("")
		require.Len(t, got, 1, action)
		assert.Equal(t, category, got[0].(map[string]any)["category"], action)
		assert.Contains(t, column(w.rest(t, "GET", "/audit/logs?category="+category, admin, nil).Body, "action"), action)
		var data struct {
			Viewer struct {
				Organization struct {
					AuditLogs struct {
						Edges []struct {
							Node struct{ Action, Category string }
						}
					}
				}
			}
		}
		w.s.Do(t, admin, `query($c: String) { viewer { organization { auditLogs(first: 100, where: {category: $c}) {
		  edges { node { action category } } } } } }`, map[string]any{"c": category}).Decode(t, &data)
		var actions []string
		for _, e := range data.Viewer.Organization.AuditLogs.Edges {
			assert.Equal(t, category, e.Node.Category, e.Node.Action)
			actions = append(actions, e.Node.Action)
		}
		assert.Contains(t, actions, action, "GraphQL finds %s under %s", action, category)
	}
	assert.Empty(t, column(w.rest(t, "GET", "/audit/logs?category=member&action=role.update", admin, nil).Body, "action"),
		"a former category's name selects its own actions only")
}
