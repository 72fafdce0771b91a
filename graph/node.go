package graph

import (
	"context"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/apikey"
	"github.com/inferiallm/orgserver/ent/auditlog"
	"github.com/inferiallm/orgserver/ent/invitation"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/organization"
	"github.com/inferiallm/orgserver/ent/role"
	"github.com/inferiallm/orgserver/ent/session"
	"github.com/inferiallm/orgserver/ent/user"
)

// nodeTables are the tables a Relay ID may point into.
var nodeTables = []string{
	organization.Table, user.Table, membership.Table, role.Table,
	invitation.Table, session.Table, auditlog.Table, apikey.Table,
}

// nodeType finds the table of a UUID with one statement. It only names the table; loading the
// row goes through ent and its privacy rules, so a row of another organization is NOT_FOUND.
func (s *Service) nodeType(ctx context.Context, id uuid.UUID) (string, error) {
	b := sql.Dialect(s.Dialect)
	var q *sql.Selector
	for _, t := range nodeTables {
		sel := b.Select().AppendSelectExprAs(sql.Expr("'"+t+"'"), "t").From(b.Table(t)).Where(sql.EQ("id", id))
		if q == nil {
			q = sel
		} else {
			q = q.UnionAll(sel)
		}
	}
	query, args := q.Query()
	var rows sql.Rows
	if err := s.Driver.Query(ctx, query, args, &rows); err != nil {
		return "", err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return "", err
		}
		return "", ErrNotFound
	}
	var t string
	return t, rows.Scan(&t)
}

// node loads one node, tenant-filtered.
func (s *Service) node(ctx context.Context, id uuid.UUID) (ent.Noder, error) {
	if _, err := requireMember(ctx); err != nil {
		return nil, err
	}
	return s.db(ctx).Noder(ctx, id, ent.WithNodeType(s.nodeType))
}

// nodes loads several nodes, tenant-filtered; missing ones are null with an error each.
func (s *Service) nodes(ctx context.Context, ids []uuid.UUID) ([]ent.Noder, error) {
	if _, err := requireMember(ctx); err != nil {
		return nil, err
	}
	if len(ids) > s.MaxPageSize {
		return nil, Errorf(CodeBadUserInput, "At most %d ids", s.MaxPageSize)
	}
	return s.db(ctx).Noders(ctx, ids, ent.WithNodeType(s.nodeType))
}
