package graph

import (
	"context"
	"unicode/utf8"

	"entgo.io/contrib/entgql"
	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/auditlog"
	"github.com/inferiallm/orgserver/ent/predicate"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/graph/model"
	"github.com/inferiallm/orgserver/server/auth"
)

// Audit categories: those the dashboard's audit log filter offers (auth, security, organization,
// user_management, api_key, credential, configuration, deployment). As InferiaLLM files them:
// sign-in, sign-up by invitation and switching under auth; 2FA and sessions under security;
// organization changes and invitations under organization; members and roles under
// user_management.
const (
	categoryAuth           = "auth"
	categoryOrganization   = "organization"
	categoryUserManagement = "user_management"
	categorySecurity       = "security"
)

// Categories entries were filed under before they followed the dashboard's. Entries are
// immutable, so theirs stays as written; they are shown (auditCategory) and found
// (categoryFilter) under the dashboard's category of their action.
const (
	legacyCategoryMember     = "member"
	legacyCategoryRole       = "role"
	legacyCategoryInvitation = "invitation"
	actionInvitationAccept   = "invitation.accept"
)

// auditCategory is the category an entry is shown under.
func auditCategory(e *ent.AuditLog) string {
	switch e.Category {
	case legacyCategoryMember, legacyCategoryRole:
		return categoryUserManagement
	case legacyCategoryInvitation:
		if e.Action == actionInvitationAccept {
			return categoryAuth
		}
		return categoryOrganization
	}
	return e.Category
}

// categoryFilter selects the entries auditCategory shows under category c. A former category's
// name still selects its actions (member: member.*), wherever they are filed now.
func categoryFilter(c string) predicate.AuditLog {
	switch c {
	case categoryUserManagement:
		return auditlog.Or(auditlog.Category(c), auditlog.CategoryIn(legacyCategoryMember, legacyCategoryRole))
	case categoryAuth:
		return auditlog.Or(auditlog.Category(c),
			auditlog.And(auditlog.Category(legacyCategoryInvitation), auditlog.Action(actionInvitationAccept)))
	case categoryOrganization:
		return auditlog.Or(auditlog.Category(c),
			auditlog.And(auditlog.Category(legacyCategoryInvitation), auditlog.ActionNEQ(actionInvitationAccept)))
	case legacyCategoryMember, legacyCategoryRole, legacyCategoryInvitation:
		return auditlog.ActionHasPrefix(c + ".")
	}
	return auditlog.Category(c)
}

// auditEntry is one event to record.
type auditEntry struct {
	Action       string
	Category     string
	OrgID        *uuid.UUID
	ActorID      *uuid.UUID
	ActorAPIKey  *uuid.UUID
	ActorEmail   string
	ResourceType string
	ResourceID   string
	Details      map[string]any
	Failed       bool
}

// fromViewer fills the actor and organization of e from the request's viewer, where unset.
func (e auditEntry) fromViewer(ctx context.Context) auditEntry {
	if v := auth.FromContext(ctx); v != nil {
		if e.ActorID == nil && e.ActorAPIKey == nil {
			if v.IsAPIKey() {
				e.ActorAPIKey = &v.APIKeyID
			} else {
				e.ActorID = &v.UserID
			}
			e.ActorEmail = v.Email
		}
		if e.OrgID == nil {
			e.OrgID = &v.OrgID
		}
	}
	return e
}

// create builds the insert of e with the request's client address and user agent.
func (e auditEntry) create(ctx context.Context, c *ent.Client) *ent.AuditLogCreate {
	cl := auth.ClientFromContext(ctx)
	status := "success"
	if e.Failed {
		status = "failure"
	}
	return c.AuditLog.Create().
		SetNillableOrganizationID(e.OrgID).
		SetNillableActorID(e.ActorID).
		SetNillableActorAPIKeyID(e.ActorAPIKey).
		SetActorEmail(e.ActorEmail).
		SetAction(e.Action).
		SetCategory(e.Category).
		SetResourceType(e.ResourceType).
		SetResourceID(e.ResourceID).
		SetDetails(e.Details).
		SetIPAddress(cl.IP).
		SetUserAgent(truncate(cl.UserAgent, 512)).
		SetStatus(status)
}

// audit records e in the current transaction, so it is written if and only if the change it
// describes is.
func (s *Service) audit(ctx context.Context, e auditEntry) error {
	e = e.fromViewer(ctx)
	// The audit trail is written by the system on behalf of the actor, whoever that is.
	return e.create(ctx, s.db(ctx)).Exec(privacy.DecisionContext(ctx, privacy.Allow))
}

// auditFailure records e after the transaction ends, so it survives the rollback of the failed
// operation it describes.
func (s *Service) auditFailure(ctx context.Context, e auditEntry) {
	e.Failed = true
	e = e.fromViewer(ctx)
	s.afterTx(ctx, func(ctx context.Context, c *ent.Client) error {
		// The audit trail is written by the system on behalf of the actor, whoever that is.
		return e.create(ctx, c).Exec(privacy.DecisionContext(ctx, privacy.Allow))
	})
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// auditLogs lists the active organization's audit entries, newest first, filtered.
func (s *Service) auditLogs(ctx context.Context, obj *ent.Organization, after *entgql.Cursor[uuid.UUID], first *int, where *model.AuditLogFilterInput) (*ent.AuditLogConnection, error) {
	first, err := s.defaultPage(first, nil)
	if err != nil {
		return nil, err
	}
	if err := checkCursors("time", after); err != nil {
		return nil, err
	}
	return s.auditQuery(ctx, obj, where).Paginate(ctx, after, first, nil, nil, ent.WithAuditLogOrder(&ent.AuditLogOrder{
		Field: ent.AuditLogOrderFieldCreatedAt, Direction: entgql.OrderDirectionDesc}))
}

// auditQuery selects the organization's audit entries matching the filters.
func (s *Service) auditQuery(ctx context.Context, obj *ent.Organization, where *model.AuditLogFilterInput) *ent.AuditLogQuery {
	q := s.db(ctx).AuditLog.Query().Where(auditlog.OrganizationID(obj.ID))
	if w := where; w != nil {
		if w.Action != nil {
			q.Where(auditlog.Action(*w.Action))
		}
		if w.Category != nil {
			q.Where(categoryFilter(*w.Category))
		}
		if w.ActorID != nil {
			// A user's or an API key's actions.
			q.Where(auditlog.Or(auditlog.ActorID(*w.ActorID), auditlog.ActorAPIKeyID(*w.ActorID)))
		}
		if w.Since != nil {
			q.Where(auditlog.CreatedAtGTE(*w.Since))
		}
		if w.Until != nil {
			q.Where(auditlog.CreatedAtLT(*w.Until))
		}
	}
	return q
}

// auditLogList lists the active organization's audit entries by offset, newest first.
func (s *Service) auditLogList(ctx context.Context, obj *ent.Organization, offset, limit *int, where *model.AuditLogFilterInput) ([]*ent.AuditLog, error) {
	o, l, err := checkOffset(offset, limit, 1000)
	if err != nil {
		return nil, err
	}
	q := s.auditQuery(ctx, obj, where).
		Order(ent.Desc(auditlog.FieldCreatedAt), ent.Desc(auditlog.FieldID)).Offset(o).Limit(l)
	q, err = q.CollectFields(ctx)
	if err != nil {
		return nil, err
	}
	return q.All(ctx)
}
