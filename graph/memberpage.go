package graph

import (
	"context"
	stdsql "database/sql"
	"strconv"
	"strings"
	"sync"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/membership"
)

// memberPage reads one page of an organization's members, each with its user, in one
// statement: the Users page as the dashboard asks for it (no search or role filter), the
// hottest read of the product. entgql's Paginate reads the same page in two statements (the
// memberships, then their users by an IN list of 50 parameters) and pays ent's generic row
// scanning for each; this reads both through a join into typed variables.
//
// It answers exactly what Paginate would (order, cursors, page info), and reports ok=false,
// leaving the page to Paginate, for anything it does not cover: a transaction in progress, a
// cursor without a value, and selections below the node that would need more than the
// membership, its user and its role.
func (s *Service) memberPage(ctx context.Context, org *ent.Organization, after *entgql.Cursor[uuid.UUID], first *int, before *entgql.Cursor[uuid.UUID], last *int, order *ent.MembershipOrder) (*ent.MembershipConnection, bool, error) {
	if (first == nil) == (last == nil) || ptr(first) <= 0 && ptr(last) <= 0 ||
		after != nil && after.Value == nil || before != nil && before.Value == nil {
		return nil, false, nil
	}
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return nil, false, nil
	}
	opCtx := graphql.GetOperationContext(ctx)
	var nodes []*graphql.CollectedField
	for _, edges := range graphql.CollectFields(opCtx, fc.Field.Selections, nil) {
		if edges.Name == "edges" {
			for _, node := range graphql.CollectFields(opCtx, edges.Selections, nil) {
				if node.Name == "node" {
					nodes = append(nodes, &node)
				}
			}
		}
	}
	desc := order.Direction == entgql.OrderDirectionDesc
	n := ptr(first)
	if last != nil {
		desc, n = !desc, *last
	}
	args := make([]any, 0, 6)
	args = append(args, org.ID)
	for _, c := range []*entgql.Cursor[uuid.UUID]{after, before} {
		if c != nil {
			args = append(args, c.Value, c.ID)
		}
	}
	args = append(args, n+1)
	rows, ok, err := s.memberRows(ctx, org, memberPageShape{desc: desc, after: after != nil, before: before != nil}, order, opCtx, nodes, args, n+1)
	if !ok || err != nil {
		return nil, ok, err
	}
	return buildMemberConnection(rows, order.Field, after, first, before, last), true, nil
}

// memberListRows is memberPage for the first page of memberList, the offset list REST's member
// routes use. A deeper page stays with memberList's two steps (the page's ids from the
// ordering's index alone, then their rows), whose plans do not depend on how many rows the
// planner guesses an OFFSET leaves: joined in one statement, PostgreSQL's generic plan hashes
// the whole organization's memberships and users for them.
func (s *Service) memberListRows(ctx context.Context, org *ent.Organization, limit int, order *ent.MembershipOrder) ([]*ent.Membership, bool, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return nil, false, nil
	}
	shape := memberPageShape{desc: order.Direction == entgql.OrderDirectionDesc}
	return s.memberRows(ctx, org, shape, order, graphql.GetOperationContext(ctx), []*graphql.CollectedField{&fc.Field}, []any{org.ID, limit}, limit)
}

// memberRows runs the statement of shape (its column and width filled in here) with args and
// scans its rows: the members, each with its user and organization loaded. It reports
// ok=false when the request cannot be answered this way: inside a transaction (whose
// connection ent holds), or when a member selection in fields needs more than a row holds.
//
// Tenant isolation: the statement reads only rows of org, the organization the request is
// authorized for (the viewer's active organization, checked by the member:list directive); the
// users it joins are members of org, whom the viewer's privacy rules let it read.
func (s *Service) memberRows(ctx context.Context, org *ent.Organization, shape memberPageShape, order *ent.MembershipOrder, opCtx *graphql.OperationContext, fields []*graphql.CollectedField, args []any, n int) ([]*ent.Membership, bool, error) {
	if scopeOf(ctx) != nil {
		return nil, false, nil
	}
	column, ok := memberOrderColumns[order.Field.String()]
	if !ok {
		return nil, false, nil
	}
	shape.column = column
	for _, f := range fields {
		plain, wide := plainMember(opCtx, f.Selections)
		if !plain {
			return nil, false, nil
		}
		shape.wide = shape.wide || wide
	}
	var rows sql.Rows
	if err := s.Driver.Query(ctx, s.memberPageSQL(shape), args, &rows); err != nil {
		return nil, true, err
	}
	defer rows.Close()
	// Rows are scanned into one set of variables and copied into structs allocated together:
	// three allocations per page rather than three (and a scan list) per row.
	var (
		m     ent.Membership
		u     ent.User
		seen  stdsql.NullTime
		dest  = []any{&m.ID, &m.UserID, &m.RoleID, &m.Email, &m.JoinedAt, &m.LastActiveAt, &u.Email, &u.Name, &u.TwoFactorEnabled}
		ms    = make([]ent.Membership, 0, n)
		us    = make([]ent.User, 0, n)
		nodes = make([]*ent.Membership, 0, n)
	)
	if shape.wide {
		dest = append(dest, &u.IsSuperAdmin, &u.CreatedAt, &u.UpdatedAt, &seen)
	}
	for rows.Next() {
		seen.Valid = false
		if err := rows.Scan(dest...); err != nil {
			return nil, true, err
		}
		u.ID = m.UserID
		us = append(us, u)
		mu := &us[len(us)-1]
		if seen.Valid {
			t := seen.Time
			mu.LastActiveAt = &t
		}
		m.OrganizationID = org.ID
		ms = append(ms, m)
		mm := &ms[len(ms)-1]
		mm.Edges.User = mu
		mm.Edges.Organization = org
		nodes = append(nodes, mm)
	}
	if err := rows.Err(); err != nil {
		return nil, true, err
	}
	return nodes, true, nil
}

// memberOrderColumns are the membership columns a page may be ordered by, by GraphQL name.
var memberOrderColumns = map[string]string{
	"EMAIL":          membership.FieldEmail,
	"JOINED_AT":      membership.FieldJoinedAt,
	"LAST_ACTIVE_AT": membership.FieldLastActiveAt,
}

// memberPageShape is what varies the text of memberPage's statement.
type memberPageShape struct {
	column        string
	desc          bool
	after, before bool
	// wide reads the user's timestamps and super-admin flag too, for a page that shows them.
	wide bool
}

// memberPageSQL returns the statement of a shape, written once per shape: the same text each
// time, so the prepared statement cache plans it once per connection.
func (s *Service) memberPageSQL(shape memberPageShape) string {
	if q, ok := memberPageQueries.Load(memberPageKey{s.Dialect, shape}); ok {
		return q.(string)
	}
	var b strings.Builder
	n := 0
	param := func() string {
		n++
		if s.Dialect == dialect.Postgres {
			return "$" + strconv.Itoa(n)
		}
		return "?"
	}
	b.WriteString(`SELECT m.id, m.user_id, m.role_id, m.email, m.joined_at, m.last_active_at, u.email, u.name, u.two_factor_enabled`)
	if shape.wide {
		b.WriteString(`, u.is_super_admin, u.created_at, u.updated_at, u.last_active_at`)
	}
	b.WriteString(` FROM memberships AS m JOIN users AS u ON u.id = m.user_id WHERE m.organization_id = `)
	b.WriteString(param())
	dir, cmp := " ASC", " > "
	if shape.desc {
		dir, cmp = " DESC", " < "
	}
	order := " ORDER BY m." + shape.column + dir + ", m.id" + dir
	for _, on := range []bool{shape.after, shape.before} {
		if on {
			// A before cursor bounds the page from the other side. The order is already reversed
			// for last, so after and before compare the same way, as in entgql's CursorsPredicate.
			b.WriteString(" AND (m." + shape.column + ", m.id)" + cmp + "(" + param() + ", " + param() + ")")
		}
	}
	b.WriteString(order + " LIMIT " + param())
	q := b.String()
	memberPageQueries.Store(memberPageKey{s.Dialect, shape}, q)
	return q
}

type memberPageKey struct {
	dialect string
	shape   memberPageShape
}

// memberPageQueries caches memberPageSQL's statements: at most 3 columns × 2 directions × 4
// cursor combinations × 2 widths × 2 dialects.
var memberPageQueries sync.Map

// buildMemberConnection makes the connection of a page read with one row more than it shows, as
// entgql's generated build does: the extra row says there is a next (or, for last, a previous)
// page, and a page read backwards is turned around.
func buildMemberConnection(nodes []*ent.Membership, field *ent.MembershipOrderField, after *entgql.Cursor[uuid.UUID], first *int, before *entgql.Cursor[uuid.UUID], last *int) *ent.MembershipConnection {
	c := &ent.MembershipConnection{}
	c.PageInfo.HasNextPage = before != nil
	c.PageInfo.HasPreviousPage = after != nil
	if first != nil && *first+1 == len(nodes) {
		c.PageInfo.HasNextPage = true
		nodes = nodes[:len(nodes)-1]
	} else if last != nil && *last+1 == len(nodes) {
		c.PageInfo.HasPreviousPage = true
		nodes = nodes[:len(nodes)-1]
	}
	edges := make([]ent.MembershipEdge, len(nodes))
	c.Edges = make([]*ent.MembershipEdge, len(nodes))
	for i := range nodes {
		node := nodes[i]
		if last != nil {
			node = nodes[len(nodes)-1-i]
		}
		v, _ := field.Value(node)
		edges[i] = ent.MembershipEdge{Node: node, Cursor: entgql.Cursor[uuid.UUID]{ID: node.ID, Value: v}}
		c.Edges[i] = &edges[i]
	}
	if l := len(c.Edges); l > 0 {
		c.PageInfo.StartCursor = &c.Edges[0].Cursor
		c.PageInfo.EndCursor = &c.Edges[l-1].Cursor
	}
	c.TotalCount = len(nodes)
	return c
}

// plainMember reports whether what a selection of a member needs is no more than memberRows
// reads: the membership's own fields, its organization (the one being listed), its role
// (resolved from the organization's roles, not per row) and its user's fields; and whether it
// selects user fields beyond those the Users page shows (wide).
func plainMember(opCtx *graphql.OperationContext, sel ast.SelectionSet) (plain, wide bool) {
	for _, f := range graphql.CollectFields(opCtx, sel, []string{"Membership", "Node"}) {
		switch f.Name {
		case "__typename", "id", "joinedAt", "lastActiveAt", "role":
		case "user":
			for _, uf := range graphql.CollectFields(opCtx, f.Selections, []string{"User", "Node"}) {
				switch userColumns[uf.Name] {
				case userNarrow:
				case userWide:
					wide = true
				default:
					return false, false
				}
			}
		case "organization":
			for _, of := range graphql.CollectFields(opCtx, f.Selections, []string{"Organization", "Node"}) {
				if !organizationScalars[of.Name] {
					return false, false
				}
			}
		default:
			return false, false
		}
	}
	return true, wide
}

const (
	userNarrow = 1 // read by every memberPage
	userWide   = 2 // read by a wide memberPage
)

// userColumns are the User fields memberPage reads; never the secret ones.
var userColumns = map[string]int{
	"__typename": userNarrow, "id": userNarrow, "email": userNarrow, "name": userNarrow, "twoFactorEnabled": userNarrow,
	"createdAt": userWide, "updatedAt": userWide, "isSuperAdmin": userWide, "lastActiveAt": userWide,
}

// organizationScalars are the fields of the listed organization that its loaded row answers.
var organizationScalars = map[string]bool{"__typename": true, "id": true, "name": true}
