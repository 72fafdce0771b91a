package graph

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"entgo.io/contrib/entgql"
	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/apikey"
	"github.com/inferiallm/orgserver/ent/authchange"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/graph/model"
	"github.com/inferiallm/orgserver/server/auth"
	"github.com/inferiallm/orgserver/server/telemetry"
)

// Organization API keys: service credentials of an organization. A key acts, as
// Authorization: Bearer <secret>, with exactly the permissions of its role in its organization;
// it is not a person, so the fields about a person (@person) refuse it.
//
// When the member who created a key leaves or is removed, their unrevoked keys in that
// organization are revoked in the same transaction, each with an audit entry: a key must not
// outlive, unseen, the person answerable for it. So is a key whose role holds permissions its
// creator's new role lacks, when the creator's role changes, or when a custom role's permissions
// change (the creator's role losing them, or the key's role gaining them). Only a person creates keys
// (createApiKey is @person): a key that could mint keys would let a leaked one outlive its
// revocation. An admin who wants a longer-lived key creates it themself.

// categoryAPIKey is the audit category of API keys, the one the dashboard's filter offers.
const categoryAPIKey = "api_key"

// maxAPIKeyLifetime bounds the expiry a new key may be given.
const maxAPIKeyLifetime = 365 * 24 * time.Hour

// ErrAPIKeyNotFound is what an unknown key, or another organization's, reads as.
var ErrAPIKeyNotFound = Errorf(CodeNotFound, "API Key not found")

// isActive reports whether a key works at now: neither revoked nor expired.
func isActive(k *ent.APIKey, now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// createAPIKey creates an API key of the active organization and returns its secret, once.
//  1. The name is not blank; the expiry, if any (a time or a number of days), is ahead and at
//     most a year away.
//  2. The role: the one named, else the organization's default role; one the viewer could grant.
//  3. Mint the secret; store only its keyed hash and its display prefix.
//  4. Audit, with the key's id, name, prefix and role, never the secret.
func (s *Service) createAPIKey(ctx context.Context, in model.CreateAPIKeyInput) (*model.APIKeyPayload, error) {
	v := auth.FromContext(ctx)
	db := s.db(ctx)
	name := strings.TrimSpace(in.Name)
	if name == "" || len([]rune(name)) > 100 {
		return nil, Errorf(CodeBadUserInput, "Name must be 1 to 100 characters")
	}
	now := s.now()
	if d := in.DaysValid; d != nil {
		if in.ExpiresAt != nil || *d < 1 || *d > 365 {
			return nil, Errorf(CodeBadUserInput, "days_valid must be between 1 and 365, without an expiry besides")
		}
		e := now.Add(time.Duration(*d) * 24 * time.Hour)
		in.ExpiresAt = &e
	}
	if e := in.ExpiresAt; e != nil && (!e.After(now) || e.Sub(now) > maxAPIKeyLifetime) {
		return nil, Errorf(CodeBadUserInput, "Expiry must be in the future and at most 365 days ahead")
	}
	org, err := s.viewerOrganization(ctx, v)
	if err != nil {
		return nil, err
	}
	r, err := s.grantableRole(ctx, v, org, ptr(in.Role))
	if err != nil {
		return nil, err
	}
	secret, err := auth.NewAPIKeySecret()
	if err != nil {
		return nil, err
	}
	// The creator answers for the key, which is revoked when they leave: locked like the removal
	// that revokes their keys, and checked under the lock, so that a key created while its creator
	// is removed is not left behind.
	if err := s.lockOrganization(ctx, v.OrgID); err != nil {
		return nil, err
	}
	creator, err := s.memberOf(ctx, v, v.UserID)
	if err != nil {
		return nil, err
	}
	if creator.Edges.Role == nil || creator.Edges.Role.Name != v.Role {
		return nil, Errorf(CodeConflict, "Your role changed meanwhile; try again")
	}
	k, err := db.APIKey.Create().
		SetOrganizationID(v.OrgID).
		SetName(name).
		SetRoleID(r.ID).
		SetPrefix(auth.APIKeyDisplayPrefix(secret)).
		SetSecretHash(s.APIKeys.Hash(secret)).
		SetNillableExpiresAt(in.ExpiresAt).
		SetCreatedByID(v.UserID).
		Save(ctx)
	if err != nil {
		return nil, err
	}
	details := map[string]any{"name": k.Name, "prefix": k.Prefix, "role": r.Name}
	if k.ExpiresAt != nil {
		details["expires_at"] = k.ExpiresAt.UTC().Format(time.RFC3339)
	}
	if err := s.audit(ctx, auditEntry{Action: "api_key.create", Category: categoryAPIKey,
		ResourceType: "api_key", ResourceID: k.ID.String(), Details: details}); err != nil {
		return nil, err
	}
	return &model.APIKeyPayload{APIKey: k, Secret: secret}, nil
}

// revokeAPIKey revokes a key of the active organization. It stops working on the next request,
// on every replica: the revocation announces an authentication change (see AuthChange).
//  1. The key exists here (else NOT_FOUND) and the viewer holds every permission of its role:
//     nobody revokes a key more powerful than themself.
//  2. Revoking a revoked key changes nothing and audits nothing, also when two revocations
//     race: only the one whose conditional update changes the row audits.
//  3. Set revoked_at; audit.
func (s *Service) revokeAPIKey(ctx context.Context, id uuid.UUID) (*ent.APIKey, error) {
	v := auth.FromContext(ctx)
	db := s.db(ctx)
	k, err := db.APIKey.Query().Where(apikey.ID(id), apikey.OrganizationID(v.OrgID)).WithRole().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrAPIKeyNotFound
	}
	if err != nil {
		return nil, err
	}
	if len(auth.MissingPermissions(v.Permissions, k.Edges.Role.Permissions)) > 0 {
		return nil, Errorf(CodeForbidden, "Cannot revoke an API key whose role has permissions you do not have")
	}
	if k.RevokedAt != nil {
		return k, nil
	}
	now := s.now()
	n, err := db.APIKey.Update().Where(apikey.ID(k.ID), apikey.RevokedAtIsNil()).SetRevokedAt(now).Save(ctx)
	if err != nil || n == 0 {
		// n == 0: a concurrent revocation won, and audits.
		return k, err
	}
	k.RevokedAt = &now
	return k, s.audit(ctx, auditEntry{Action: "api_key.revoke", Category: categoryAPIKey,
		ResourceType: "api_key", ResourceID: k.ID.String(), Details: map[string]any{"name": k.Name, "prefix": k.Prefix}})
}

// revokeKeysOfCreator revokes the unrevoked keys member m created in the organization (those
// of them which, loaded with their role, match, when match is given), in the transaction that
// removes the membership or changes its role, with an audit entry each.
func (s *Service) revokeKeysOfCreator(ctx context.Context, m *ent.Membership, reason string, match func(*ent.APIKey) bool) error {
	db := s.db(ctx)
	// The keys go with their creator whatever the viewer may see of them: the removal (or role
	// change) they were allowed to make has this consequence.
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	q := db.APIKey.Query().
		Where(apikey.OrganizationID(m.OrganizationID), apikey.CreatedByID(m.UserID), apikey.RevokedAtIsNil())
	if match != nil {
		q.WithRole()
	}
	all, err := q.All(sys)
	if err != nil {
		return err
	}
	keys := all[:0]
	for _, k := range all {
		if match == nil || match(k) {
			keys = append(keys, k)
		}
	}
	return s.revokeKeys(ctx, keys, reason)
}

// revokeKeys revokes keys, read unrevoked in the current transaction, with an api_key.revoke
// audit entry each giving reason and the key's creator.
func (s *Service) revokeKeys(ctx context.Context, keys []*ent.APIKey, reason string) error {
	if len(keys) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	if err := s.db(ctx).APIKey.Update().Where(apikey.IDIn(ids...)).SetRevokedAt(s.now()).
		Exec(privacy.DecisionContext(ctx, privacy.Allow)); err != nil {
		return err
	}
	for _, k := range keys {
		details := map[string]any{"name": k.Name, "prefix": k.Prefix, "reason": reason}
		if k.CreatedByID != nil {
			details["creator_id"] = k.CreatedByID.String()
		}
		if err := s.audit(ctx, auditEntry{Action: "api_key.revoke", Category: categoryAPIKey,
			ResourceType: "api_key", ResourceID: k.ID.String(), Details: details}); err != nil {
			return err
		}
	}
	return nil
}

// revokeKeysBeyondCreators revokes, once role r's permissions have changed, the organization's
// unrevoked keys that now hold a permission their creator's role lacks: keys of role r made by
// members of another role (r gained what they lack), and keys made by members holding r (r lost
// what the key holds). Each gets an audit entry, in the transaction of the change. A key whose
// creator is no longer a member was revoked when they left, and is revoked here if not.
func (s *Service) revokeKeysBeyondCreators(ctx context.Context, r *ent.Role) error {
	if r.OrganizationID == nil {
		return nil // built-in roles do not change
	}
	org := *r.OrganizationID
	db := s.db(ctx)
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	keys, err := db.APIKey.Query().
		Where(apikey.OrganizationID(org), apikey.RevokedAtIsNil(), apikey.Or(
			apikey.RoleID(r.ID),
			apikey.HasCreatedByWith(user.HasMembershipsWith(membership.OrganizationID(org), membership.RoleID(r.ID))),
		)).
		WithRole().All(sys)
	if err != nil || len(keys) == 0 {
		return err
	}
	creators := make([]uuid.UUID, 0, len(keys))
	for _, k := range keys {
		if k.CreatedByID != nil {
			creators = append(creators, *k.CreatedByID)
		}
	}
	ms, err := db.Membership.Query().
		Where(membership.OrganizationID(org), membership.UserIDIn(creators...)).WithRole().All(sys)
	if err != nil {
		return err
	}
	held := make(map[uuid.UUID][]string, len(ms))
	for _, m := range ms {
		held[m.UserID] = m.Edges.Role.Permissions
	}
	beyond := keys[:0]
	for _, k := range keys {
		perms, member := []string(nil), false
		if k.CreatedByID != nil {
			perms, member = held[*k.CreatedByID]
		}
		if !member || len(auth.MissingPermissions(perms, k.Edges.Role.Permissions)) > 0 {
			beyond = append(beyond, k)
		}
	}
	return s.revokeKeys(ctx, beyond, "role "+r.Name+" changed: the key holds permissions its creator's role lacks")
}

// apiKeyOrder lists keys newest first.
var apiKeyOrder = &ent.APIKeyOrder{Field: ent.APIKeyOrderFieldCreatedAt, Direction: entgql.OrderDirectionDesc}

// apiKeys lists the organization's keys, newest first.
func (s *Service) apiKeys(ctx context.Context, obj *ent.Organization, after *entgql.Cursor[uuid.UUID], first *int) (*ent.APIKeyConnection, error) {
	first, err := s.defaultPage(first, nil)
	if err != nil {
		return nil, err
	}
	if err := checkCursors("time", after); err != nil {
		return nil, err
	}
	return s.db(ctx).APIKey.Query().Where(apikey.OrganizationID(obj.ID)).
		Paginate(ctx, after, first, nil, nil, ent.WithAPIKeyOrder(apiKeyOrder))
}

// apiKeyList lists the organization's keys by offset, newest first.
func (s *Service) apiKeyList(ctx context.Context, obj *ent.Organization, offset, limit *int) ([]*ent.APIKey, error) {
	o, l, err := checkOffset(offset, limit, s.MaxPageSize)
	if err != nil {
		return nil, err
	}
	q, err := s.db(ctx).APIKey.Query().Where(apikey.OrganizationID(obj.ID)).
		Order(ent.Desc(apikey.FieldCreatedAt), ent.Desc(apikey.FieldID)).Offset(o).Limit(l).
		CollectFields(ctx)
	if err != nil {
		return nil, err
	}
	return q.All(ctx)
}

// viewerAPIKey returns the key of the request, when the viewer is one.
func (s *Service) viewerAPIKey(ctx context.Context, v *auth.Viewer) (*ent.APIKey, error) {
	if !v.IsAPIKey() {
		return nil, nil
	}
	// A key reads itself whatever its role lets it list.
	return s.db(ctx).APIKey.Get(privacy.DecisionContext(ctx, privacy.Allow), v.APIKeyID)
}

// keysUsingRole counts the unrevoked keys of a role, which keep it from being deleted.
func (s *Service) keysUsingRole(ctx context.Context, roleID uuid.UUID) (int, error) {
	// Whether a key uses the role is the system's business, whatever the viewer may list.
	return s.db(ctx).APIKey.Query().Where(apikey.RoleID(roleID), apikey.RevokedAtIsNil()).
		Count(privacy.DecisionContext(ctx, privacy.Allow))
}

// deleteRevokedKeysOfRole deletes the revoked keys of a role being deleted: history, which the
// audit log keeps.
func (s *Service) deleteRevokedKeysOfRole(ctx context.Context, roleID uuid.UUID) error {
	_, err := s.db(ctx).APIKey.Delete().Where(apikey.RoleID(roleID), apikey.RevokedAtNotNil()).
		Exec(privacy.DecisionContext(ctx, privacy.Allow))
	return err
}

// Authentication by API key.

// keyEntry is what authentication found for one API key.
type keyEntry struct {
	viewer    auth.Viewer
	roleID    uuid.UUID
	expiresAt *time.Time
	lastUsed  time.Time
	loaded    time.Time
}

// authenticateKey resolves a bearer API key to the viewer of a request: a well-formed key (its
// checksum is checked before any lookup), found by its keyed hash, not revoked, not expired,
// with its role's current permissions. What it reads comes from the authentication cache when
// that has it; a revocation, or a change of the role, drops it there on every replica. An address
// that sent too many unknown keys is refused lookups for a while (keyMisses).
func (s *Service) authenticateKey(ctx context.Context, secret string) (*auth.Viewer, error) {
	if err := auth.CheckAPIKey(secret); err != nil {
		s.debugKeyAuth(ctx, "API key refused: malformed or wrong checksum", uuid.Nil, false)
		return nil, err
	}
	hash := s.APIKeys.Hash(secret)
	now := s.now()
	e, cached := s.authCache.key(ctx, hash)
	if !cached {
		addr := auth.ClientFromContext(ctx).IP
		if wait := s.keyMisses.wait(addr, now); wait > 0 {
			s.Metrics.RateLimitRefusal(telemetry.LimitAPIKeyIP)
			s.debugKeyAuth(ctx, "API key refused unread: too many unknown keys from the address", uuid.Nil, false)
			return nil, errKeyLookupsLimited(wait)
		}
		gen := s.authCache.generation(ctx)
		var err error
		if e, err = s.loadKeyAuth(ctx, hash); err != nil {
			if errors.Is(err, auth.ErrInvalidToken) {
				if s.keyMisses.miss(addr, now) {
					s.Metrics.RateLimitBlock(telemetry.LimitAPIKeyIP)
				}
				s.debugKeyAuth(ctx, "API key refused: unknown or revoked", uuid.Nil, false)
			}
			return nil, err
		}
		e.loaded = now
		s.authCache.putKey(gen, hash, e)
	}
	if e.expiresAt != nil && !now.Before(*e.expiresAt) {
		s.debugKeyAuth(ctx, "API key refused: expired", e.viewer.APIKeyID, cached)
		return nil, auth.ErrInvalidToken
	}
	s.debugKeyAuth(ctx, "authenticated with an API key", e.viewer.APIKeyID, cached)
	v := e.viewer // a copy: the request's own
	if used := s.trackKeyUse(ctx, v.APIKeyID, e.lastUsed); !used.Equal(e.lastUsed) {
		s.authCache.updateKey(hash, func(e *keyEntry) { e.lastUsed = used })
	}
	return &v, nil
}

// debugKeyAuth logs an API key's authentication decision at debug level: the key's id when it
// is known and whether the cache answered, never the secret.
func (s *Service) debugKeyAuth(ctx context.Context, decision string, keyID uuid.UUID, cached bool) {
	if !s.Logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{slog.String("request_id", auth.ClientFromContext(ctx).RequestID), slog.Bool("from_cache", cached)}
	if keyID != uuid.Nil {
		attrs = append(attrs, slog.String("api_key_id", keyID.String()))
	}
	s.Logger.LogAttrs(ctx, slog.LevelDebug, decision, attrs...)
}

// loadKeyAuth reads an unrevoked key by hash with its role.
func (s *Service) loadKeyAuth(ctx context.Context, hash string) (keyEntry, error) {
	// Authenticating: there is no viewer yet; the hash is the proof.
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	k, err := s.Client.APIKey.Query().
		Where(apikey.SecretHash(hash), apikey.RevokedAtIsNil()).
		WithRole().Only(sys)
	if ent.IsNotFound(err) {
		return keyEntry{}, auth.ErrInvalidToken
	}
	if err != nil {
		return keyEntry{}, err
	}
	e := keyEntry{
		viewer: auth.Viewer{
			APIKeyID:    k.ID,
			Email:       "api_key:" + k.Prefix,
			OrgID:       k.OrganizationID,
			Role:        k.Edges.Role.Name,
			Permissions: k.Edges.Role.Permissions,
		},
		roleID:    k.RoleID,
		expiresAt: k.ExpiresAt,
	}
	if k.LastUsedAt != nil {
		e.lastUsed = *k.LastUsedAt
	}
	return e, nil
}

// trackKeyUse records that a key made a request, at most once per activityInterval, like a
// member's activity; it returns the last use as it stands afterwards.
func (s *Service) trackKeyUse(ctx context.Context, id uuid.UUID, last time.Time) time.Time {
	now := s.now()
	cutoff := now.Add(-activityInterval)
	if !last.Before(cutoff) {
		return last
	}
	ctx, cancel := context.WithTimeout(ctx, activityWriteTimeout)
	defer cancel()
	// Recording use is bookkeeping by the system, not a change the key makes.
	err := s.Client.APIKey.Update().
		Where(apikey.ID(id), apikey.Or(apikey.LastUsedAtIsNil(), apikey.LastUsedAtLT(cutoff))).
		SetLastUsedAt(now).Exec(privacy.DecisionContext(ctx, privacy.Allow))
	if err != nil {
		s.Logger.WarnContext(ctx, "recording API key use", "err", err)
		return last
	}
	return now
}

// key returns the entry of an API key, by the hash of its secret, if the cache has a fresh one.
func (c *authCache) key(ctx context.Context, hash string) (keyEntry, bool) {
	if !c.usable(ctx) {
		return keyEntry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.keys[hash]
	if !ok || c.now().Sub(e.loaded) > c.ttl {
		return keyEntry{}, false
	}
	return e, true
}

// putKey keeps e, unless something was dropped since gen (the load may predate it).
func (c *authCache) putKey(gen uint64, hash string, e keyEntry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || !c.trusted {
		return
	}
	if len(c.keys) >= c.max {
		clear(c.keys)
	}
	c.keys[hash] = e
}

// updateKey changes the entry of a key in the cache (its last use), if it is there.
func (c *authCache) updateKey(hash string, f func(*keyEntry)) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.keys[hash]; ok {
		f(&e)
		c.keys[hash] = e
	}
}

// dropKeys forgets the keys a change of kind to the row id can have changed: the key itself,
// the keys of a role, the keys of an organization. Called with c.mu held.
func (c *authCache) dropKeys(kind authchange.Kind, id uuid.UUID) {
	switch kind {
	case authchange.KindSession, authchange.KindUser, authchange.KindMembership, authchange.KindMembers:
		return // nothing a key's entry holds
	}
	for h, e := range c.keys {
		var hit bool
		switch kind {
		case authchange.KindAPIKey:
			hit = e.viewer.APIKeyID == id
		case authchange.KindRole:
			hit = e.roleID == id
		case authchange.KindOrganization:
			hit = e.viewer.OrgID == id
		default:
			hit = true
		}
		if hit {
			delete(c.keys, h)
		}
	}
}
