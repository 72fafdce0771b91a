package rest

import (
	"time"

	"github.com/inferiallm/orgserver/server/auth"
)

// The audit log: the route of operations/audit.graphql.
var auditRoutes = []route{
	{Pattern: "GET /audit/logs", Op: "AuditLogs", Vars: fromRequest(auditVars), Reply: at[[]AuditLogResponse]("viewer.organization.auditLogList"),
		Auth: auth.AuditLogList, Summary: "The active organization's audit log, newest first", Query: []param{
			{"user_id", "string", "actor: a user or an API key"}, {"action", "string", "e.g. auth.login"}, {"category", "string", "e.g. user_management"},
			{"start_date", "string", "RFC 3339; entries at or after"}, {"end_date", "string", "RFC 3339; entries before"},
			{"skip", "integer", ">= 0"}, {"limit", "integer", "1..1000, default 100"},
		}},
}

func auditVars(c *call) (map[string]any, error) {
	skip, err := c.intQuery("skip", 0, 0, 1<<31-1)
	if err != nil {
		return nil, err
	}
	limit, err := c.intQuery("limit", 100, 1, 1000)
	if err != nil {
		return nil, err
	}
	where := map[string]any{"action": c.query("action"), "category": c.query("category"), "actorId": c.query("user_id")}
	for name, key := range map[string]string{"start_date": "since", "end_date": "until"} {
		if v := c.query(name); v != nil {
			t, err := parseDate(*v)
			if err != nil {
				return nil, unprocessable("%s must be an RFC 3339 time or a date (YYYY-MM-DD)", name)
			}
			where[key] = t.Format(time.RFC3339Nano)
		}
	}
	return map[string]any{"offset": skip, "limit": limit, "where": where}, nil
}

func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02", s)
}

// AuditLogResponse is one audit entry.
type AuditLogResponse struct {
	ID        string  `json:"id" gql:"id"`
	Timestamp string  `json:"timestamp" gql:"createdAt,time"`
	UserID    *string `json:"user_id" gql:"actorID"`
	// APIKeyID is the API key that acted (user_id is then null), beyond InferiaLLM's shape.
	APIKeyID     *string        `json:"api_key_id" gql:"actorAPIKeyID"`
	UserEmail    string         `json:"user_email" gql:"actorEmail"`
	OrgID        string         `json:"org_id" gql:"organization.id"`
	Action       string         `json:"action" gql:"action"`
	Category     string         `json:"category" gql:"category"`
	ResourceType string         `json:"resource_type" gql:"resourceType"`
	ResourceID   string         `json:"resource_id" gql:"resourceID"`
	Details      map[string]any `json:"details" gql:"details"`
	IPAddress    string         `json:"ip_address" gql:"ipAddress"`
	Status       string         `json:"status" gql:"status"`
}
