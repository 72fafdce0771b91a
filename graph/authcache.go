package graph

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/authchange"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/schema"
	"github.com/inferiallm/orgserver/ent/schema/schematype"
	"github.com/inferiallm/orgserver/server/auth"
	"github.com/inferiallm/orgserver/server/database"
)

// The authentication cache keeps, per session, what authenticating a request reads (the session,
// the member's role and permissions, the organization's policy), and per organization the
// organization itself, so that a request's identity costs a map lookup instead of a five-table
// join. It never serves what a write has changed: every write that can change it records an
// AuthChange in its own transaction (ent/schema/hooks_auth.go), and the cache drops the entries
// concerned as soon as the change commits, on every replica:
//
//   - PostgreSQL: a trigger on auth_changes notifies a channel that each replica listens to
//     (database.Listen). While a replica's listener is down it trusts nothing cached, and when it
//     comes back it starts afresh.
//   - SQLite: before each use the cache asks the database whether any connection has committed
//     since it last looked (database.Watcher: PRAGMA data_version, no table read) and only then
//     reads the new auth_changes rows. Writes of this process and of other processes on the same
//     file (a second server, the command line) reach it alike.
//
// Entries also expire after ttl, a bound on what a lost change could cost. Inside a transaction
// (mutations) the cache is not used: what a mutation reads it reads from the transaction.
type authCache struct {
	ttl     time.Duration
	max     int
	now     func() time.Time
	watcher *database.Watcher // SQLite; nil on PostgreSQL

	mu       sync.Mutex
	trusted  bool
	gen      uint64 // moves on every drop, so a load racing a change is not kept
	sessions map[uuid.UUID]authEntry
	orgs     map[uuid.UUID]orgEntry
	keys     map[string]keyEntry // organization API keys, by the hash of the secret
	// lastChange is the newest auth_changes row the watcher has read.
	lastChange int
}

// authEntry is what authentication found for one session.
type authEntry struct {
	viewer               auth.Viewer
	roleID               uuid.UUID
	policy               schematype.SecurityPolicy
	createdAt, expiresAt time.Time
	seen                 activity
	user                 *ent.User // loaded when first asked for, without secret columns
	loaded               time.Time
}

// orgEntry is an organization as a viewer's active organization, and the roles it can assign.
type orgEntry struct {
	org    *ent.Organization
	roles  []*ent.Role // built-in and custom, in the order the Roles page lists them; nil until asked for
	loaded time.Time
}

func newAuthCache(ttl time.Duration, watcher *database.Watcher, now func() time.Time) *authCache {
	if ttl <= 0 {
		return nil
	}
	return &authCache{
		ttl: ttl, max: 100_000, now: now, watcher: watcher,
		// SQLite's watcher is trusted from the start; PostgreSQL waits for its listener.
		trusted:  watcher != nil,
		sessions: map[uuid.UUID]authEntry{},
		orgs:     map[uuid.UUID]orgEntry{},
		keys:     map[string]keyEntry{},
	}
}

// usable reports whether the cache may answer for ctx now, having caught up with the changes
// committed meanwhile; false outside trust, inside a transaction, or without a cache.
func (c *authCache) usable(ctx context.Context) bool {
	if c == nil || scopeOf(ctx) != nil || database.InTransaction(ctx) {
		return false
	}
	if c.watcher != nil {
		if err := c.catchUp(ctx); err != nil {
			return false // unsure what changed: the database answers
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.trusted
}

// catchUpQuery reads the auth_changes rows after an id, in order.
var catchUpQuery = "SELECT " + authchange.FieldID + ", " + authchange.FieldKind + ", " + authchange.FieldKey +
	" FROM " + authchange.Table + " WHERE " + authchange.FieldID + " > ? ORDER BY " + authchange.FieldID

// catchUp drops what the auth_changes rows committed since the last look changed, if anything
// was committed.
func (c *authCache) catchUp(ctx context.Context) error {
	return c.watcher.CatchUp(ctx, func(ctx context.Context, conn *sql.Conn) error {
		c.mu.Lock()
		last := c.lastChange
		c.mu.Unlock()
		rows, err := conn.QueryContext(ctx, catchUpQuery, last)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				id        int
				kind, key string
			)
			if err := rows.Scan(&id, &kind, &key); err != nil {
				return err
			}
			c.drop(kind, key)
			c.mu.Lock()
			c.lastChange = max(c.lastChange, id)
			c.mu.Unlock()
		}
		return rows.Err()
	})
}

// session returns the entry of a session, if the cache has a fresh one.
func (c *authCache) session(ctx context.Context, id uuid.UUID) (authEntry, bool) {
	if !c.usable(ctx) {
		return authEntry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.sessions[id]
	if !ok || c.now().Sub(e.loaded) > c.ttl {
		return authEntry{}, false
	}
	return e, true
}

// generation is the mark to hand back to a put after loading from the database. Inside a
// mutation it is one no put accepts: what a transaction reads may be its own uncommitted writes,
// which a rollback would leave in the cache without any change announced to drop them.
func (c *authCache) generation(ctx context.Context) uint64 {
	if scopeOf(ctx) != nil || database.InTransaction(ctx) {
		return readInTx
	}
	return c.current()
}

// readInTx is the generation of loads inside a transaction: never the cache's own.
const readInTx = ^uint64(0)

func (c *authCache) current() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// putSession keeps e, unless something was dropped since gen (the load may predate it).
func (c *authCache) putSession(gen uint64, e authEntry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || !c.trusted {
		return
	}
	if len(c.sessions) >= c.max {
		clear(c.sessions)
	}
	c.sessions[e.viewer.SessionID] = e
}

// update changes the entry of a session in the cache (its activity times), if it is there.
func (c *authCache) update(id uuid.UUID, f func(*authEntry)) {
	c.updateIf(c.current(), id, f)
}

// updateIf changes the entry of a session, if it is there and nothing was dropped since gen (a
// user loaded before a change must not be kept after it).
func (c *authCache) updateIf(gen uint64, id uuid.UUID, f func(*authEntry)) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.sessions[id]; ok && gen == c.gen {
		f(&e)
		c.sessions[id] = e
	}
}

// org returns a cached organization.
func (c *authCache) org(ctx context.Context, id uuid.UUID) (*ent.Organization, bool) {
	if !c.usable(ctx) {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.orgs[id]
	if !ok || e.org == nil || c.now().Sub(e.loaded) > c.ttl {
		return nil, false
	}
	return e.org, true
}

func (c *authCache) putOrg(gen uint64, o *ent.Organization) {
	c.putOrgPart(gen, o.ID, func(e *orgEntry) { e.org = o })
}

// roles returns the cached roles an organization can assign.
func (c *authCache) roles(ctx context.Context, org uuid.UUID) ([]*ent.Role, bool) {
	if !c.usable(ctx) {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.orgs[org]
	if !ok || e.roles == nil || c.now().Sub(e.loaded) > c.ttl {
		return nil, false
	}
	return e.roles, true
}

func (c *authCache) putRoles(gen uint64, org uuid.UUID, roles []*ent.Role) {
	c.putOrgPart(gen, org, func(e *orgEntry) { e.roles = roles })
}

// putOrgPart sets part of an organization's entry, unless something was dropped since gen.
func (c *authCache) putOrgPart(gen uint64, org uuid.UUID, set func(*orgEntry)) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || !c.trusted {
		return
	}
	e, ok := c.orgs[org]
	if !ok || c.now().Sub(e.loaded) > c.ttl {
		if len(c.orgs) >= c.max {
			clear(c.orgs)
		}
		e = orgEntry{loaded: c.now()}
	}
	set(&e)
	c.orgs[org] = e
}

// drop forgets what a change of kind to the row key can have changed.
func (c *authCache) drop(kind, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	id, err := uuid.Parse(key)
	var user, org uuid.UUID
	if kind == authchange.KindMembership.String() {
		u, o, _ := strings.Cut(key, ":")
		user, _ = uuid.Parse(u)
		org, _ = uuid.Parse(o)
	} else if err != nil {
		clear(c.sessions)
		clear(c.orgs)
		clear(c.keys)
		return
	}
	c.dropKeys(authchange.Kind(kind), id)
	switch authchange.Kind(kind) {
	case authchange.KindSession:
		delete(c.sessions, id)
		return
	case authchange.KindAPIKey:
		return
	case authchange.KindMembers:
		if e, ok := c.orgs[id]; ok {
			e.org = nil
			c.orgs[id] = e
		}
		return
	case authchange.KindOrganization:
		delete(c.orgs, id)
	case authchange.KindRole:
		// A role of one organization, or a built-in role of all: every list of roles goes.
		for o, e := range c.orgs {
			e.roles = nil
			c.orgs[o] = e
		}
	}
	for sid, e := range c.sessions {
		v := e.viewer
		var hit bool
		switch authchange.Kind(kind) {
		case authchange.KindUser:
			hit = v.UserID == id
		case authchange.KindMembership:
			hit = v.UserID == user && v.OrgID == org
		case authchange.KindRole:
			hit = e.roleID == id
		case authchange.KindOrganization:
			hit = v.OrgID == id
		default:
			hit = true
		}
		if hit {
			delete(c.sessions, sid)
		}
	}
}

// feed sets whether changes reach the cache; when they start to again, it starts afresh.
func (c *authCache) feed(up bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trusted = up
	c.gen++
	clear(c.sessions)
	clear(c.orgs)
	clear(c.keys)
}

// dropAuth drops from the cache what the changes (kind:key) can have changed.
func (s *Service) dropAuth(changes []string) {
	if s.authCache == nil {
		return
	}
	for _, ch := range changes {
		kind, key, _ := strings.Cut(ch, ":")
		s.authCache.drop(kind, key)
	}
}

// dropOnCommit is a hook of the whole client: this replica drops from its cache what a write
// announced as soon as the write commits (with its transaction, or at once outside one), before
// anyone reads the answer, instead of waiting for the notification that brings the change to
// the other replicas (on PostgreSQL it arrives a moment later, and a request in that moment
// would be answered from what the write had just changed). It holds for every write through the
// client: the graph's operations and after-transaction work, start-up work, tools and tests.
func (s *Service) dropOnCommit(next ent.Mutator) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		ctx, collected := schema.CollectAuthChanges(ctx)
		v, err := next.Mutate(ctx, m)
		changes := collected.Take()
		if err != nil || len(changes) == 0 {
			return v, err
		}
		if inTx, ok := m.(interface{ Tx() (*ent.Tx, error) }); ok {
			if tx, terr := inTx.Tx(); terr == nil {
				tx.OnCommit(func(commit ent.Committer) ent.Committer {
					return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
						err := commit.Commit(ctx, tx)
						if err == nil {
							s.dropAuth(changes)
						}
						return err
					})
				})
				return v, nil
			}
		}
		s.dropAuth(changes) // not in a transaction: written already
		return v, nil
	})
}

// AuthChanged applies a change notified by PostgreSQL (the payload is kind:key).
func (s *Service) AuthChanged(payload string) { s.dropAuth([]string{payload}) }

// AuthFeed tells whether notifications of changes reach this replica now.
func (s *Service) AuthFeed(up bool) { s.authCache.feed(up) }

// PruneAuthChanges deletes the auth_changes rows older than age.
func (s *Service) PruneAuthChanges(ctx context.Context, age time.Duration) error {
	// The change log is the server's own bookkeeping.
	_, err := s.Client.AuthChange.Delete().Where(authchange.CreatedAtLT(s.now().Add(-age))).
		Exec(privacy.DecisionContext(ctx, privacy.Allow))
	return err
}

// AuthCacheServing reports whether the authentication cache answers now (for tests and probes).
func (s *Service) AuthCacheServing() bool {
	c := s.authCache
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.trusted
}
