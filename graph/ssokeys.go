package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/hook"
	"github.com/inferiallm/orgserver/server/outbound"
)

// Single sign-on, the providers' signing keys. Each connection's key set (its jwks_uri) is
// kept in this process's memory, shared by every sign-in through the connection, and fetched
// again only when a token names a key it does not hold (the provider rotated), or when it is
// older than ssoKeysTTL; never more than once per ssoKeysFloor, so that tokens naming made-up
// keys cannot make the server hammer the provider. It is forgotten when the connection's
// issuer, jwks_uri or algorithms change, or the connection is deleted.
//
// go-oidc's RemoteKeySet caches too, but fetches again for every token whose kid it does not
// know, with no floor and no expiry, and fetches with the context it was made with: so the
// key set here is a small one of our own, fetched through the guarded client.

const (
	// ssoKeysTTL is how long a fetched key set is used before it is fetched again.
	ssoKeysTTL = time.Hour
	// ssoKeysFloor is the least time between two fetches of one connection's key set.
	ssoKeysFloor = 30 * time.Second
)

// ssoKeySets are the key sets of the connections used in this process, by connection.
type ssoKeySets struct {
	mu   sync.Mutex
	sets map[uuid.UUID]*ssoKeySet
}

// ssoKeySet is the key set of one connection; it verifies ID tokens' signatures (oidc.KeySet).
type ssoKeySet struct {
	// source is what the keys depend on: the issuer, the jwks_uri and the algorithms.
	source string
	uri    string
	algs   []jose.SignatureAlgorithm
	client *outbound.Client
	now    func() time.Time
	// fetching holds a token while a fetch runs: one fetch at a time, and those who waited
	// find it done.
	fetching chan struct{}

	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetched time.Time // of the keys
	tried   time.Time // the last fetch, whatever came of it
	failure error     // of the last fetch, when it failed
}

var _ oidc.KeySet = (*ssoKeySet)(nil)

// ssoKeySet returns the key set of c, the one kept for it while what it depends on is the same.
func (s *Service) ssoKeySet(c *ent.SSOConnection) *ssoKeySet {
	source := c.Issuer + "\n" + c.JwksURI + "\n" + strings.Join(c.SigningAlgs, " ")
	k := &s.ssoKeys
	k.mu.Lock()
	defer k.mu.Unlock()
	if ks, ok := k.sets[c.ID]; ok && ks.source == source {
		return ks
	}
	algs := make([]jose.SignatureAlgorithm, len(c.SigningAlgs))
	for i, a := range c.SigningAlgs {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	ks := &ssoKeySet{source: source, uri: c.JwksURI, algs: algs, client: s.SSOClient, now: s.now, fetching: make(chan struct{}, 1)}
	if k.sets == nil {
		k.sets = map[uuid.UUID]*ssoKeySet{}
	}
	k.sets[c.ID] = ks
	return ks
}

// forgetSSOKeys forgets the key sets of ids; none: all of them.
func (s *Service) forgetSSOKeys(ids ...uuid.UUID) {
	k := &s.ssoKeys
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(ids) == 0 {
		clear(k.sets)
	}
	for _, id := range ids {
		delete(k.sets, id)
	}
}

// forgetSSOKeysOnChange is a hook of SSOConnection: once a change of what a connection's keys
// depend on (issuer, jwks_uri, algorithms), or the connection's deletion, commits, the key set
// kept for it is forgotten. (A key set is also checked against the connection it verifies for,
// so a change made by another process is caught too; the hook frees it at once.)
func (s *Service) forgetSSOKeysOnChange(next ent.Mutator) ent.Mutator {
	return hook.SSOConnectionFunc(func(ctx context.Context, m *ent.SSOConnectionMutation) (ent.Value, error) {
		v, err := next.Mutate(ctx, m)
		if err != nil || !touchesKeys(m) {
			return v, err
		}
		var ids []uuid.UUID // none: all, for a change of many connections
		if id, ok := m.ID(); ok && m.Op().Is(ent.OpUpdateOne|ent.OpDeleteOne) {
			ids = append(ids, id)
		}
		if tx, terr := m.Tx(); terr == nil {
			tx.OnCommit(func(commit ent.Committer) ent.Committer {
				return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
					err := commit.Commit(ctx, tx)
					if err == nil {
						s.forgetSSOKeys(ids...)
					}
					return err
				})
			})
			return v, nil
		}
		s.forgetSSOKeys(ids...) // not in a transaction: written already
		return v, nil
	})
}

// touchesKeys reports whether m deletes connections or changes what their keys depend on.
func touchesKeys(m *ent.SSOConnectionMutation) bool {
	if m.Op().Is(ent.OpDelete | ent.OpDeleteOne) {
		return true
	}
	_, issuer := m.Issuer()
	_, uri := m.JwksURI()
	_, algs := m.SigningAlgs()
	_, appended := m.AppendedSigningAlgs()
	return issuer || uri || algs || appended
}

// VerifySignature returns the payload of jwt if a key of the provider signed it: the key its
// kid names (any key when it names none). The key set is fetched first if it is older than
// ssoKeysTTL, or holds no key of that kid; at most once per ssoKeysFloor either way. The
// verifier has checked the algorithm before.
func (ks *ssoKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	jws, err := jose.ParseSigned(jwt, ks.algs)
	if err != nil {
		return nil, fmt.Errorf("malformed token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("not one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	keys, fetched := ks.cached()
	if ks.now().Sub(fetched) >= ssoKeysTTL || !hasKey(keys, kid) {
		if keys, err = ks.refresh(ctx); err != nil && len(keys) == 0 {
			return nil, err
		}
	}
	for i := range keys {
		if kid == "" || keys[i].KeyID == kid {
			if payload, err := jws.Verify(&keys[i]); err == nil {
				return payload, nil
			}
		}
	}
	if kid != "" && !hasKey(keys, kid) {
		return nil, fmt.Errorf("the provider publishes no key %q", truncate(kid, 100))
	}
	return nil, errors.New("no key of the provider verifies the signature")
}

func hasKey(keys []jose.JSONWebKey, kid string) bool {
	for _, k := range keys {
		if kid == "" || k.KeyID == kid {
			return true
		}
	}
	return false
}

func (ks *ssoKeySet) cached() ([]jose.JSONWebKey, time.Time) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.keys, ks.fetched
}

// refresh fetches the key set, unless a fetch was made less than ssoKeysFloor ago (perhaps
// while this caller waited for it), and returns the keys held then. On a failed fetch the keys
// held before are kept, and returned with the error.
func (ks *ssoKeySet) refresh(ctx context.Context) ([]jose.JSONWebKey, error) {
	select {
	case ks.fetching <- struct{}{}:
	case <-ctx.Done():
		keys, _ := ks.cached()
		return keys, ctx.Err()
	}
	defer func() { <-ks.fetching }()
	now := ks.now()
	ks.mu.Lock()
	if !ks.tried.IsZero() && now.Sub(ks.tried) < ssoKeysFloor {
		defer ks.mu.Unlock()
		return ks.keys, ks.failure
	}
	ks.tried = now
	ks.mu.Unlock()

	// Without the caller's cancellation: a fetch under way serves everyone who waits for it;
	// the guarded client bounds its time.
	keys, err := ks.fetch(context.WithoutCancel(ctx))
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.failure = err
	if err != nil {
		return ks.keys, err
	}
	ks.keys, ks.fetched = keys, now
	return keys, nil
}

// fetch reads the key set from the provider with the guarded client. Keys of a type or an
// algorithm go-jose does not know are skipped, as RFC 7517 asks, and so are private keys and
// keys for another use than signing.
func (ks *ssoKeySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if failure := fetchJSON(ctx, ks.client, ks.uri, &set); failure != "" {
		return nil, errors.New("fetching the key set failed: " + failure)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if json.Unmarshal(raw, &k) != nil || !k.Valid() || !k.IsPublic() || (k.Use != "" && k.Use != "sig") {
			continue
		}
		keys = append(keys, k)
	}
	return keys, nil
}
