package graph

import (
	"context"
	"math"
	"time"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/ratelimit"
	"github.com/inferiallm/orgserver/server/auth"
	"github.com/inferiallm/orgserver/server/telemetry"
)

// Limits configure the rate limiter. A key may fail Threshold times within Window; each
// further failure blocks it for twice as long as the one before, from BaseDelay up to MaxDelay.
// Blocks and counts expire on their own, so nobody is locked out for longer than MaxDelay after
// the failures stop. Successes never count.
type Limits struct {
	LoginPerAccount int
	LoginPerIP      int
	AcceptPerIP     int
	TwoFactorPerIP  int
	// ResetRequestPerAccount and ResetRequestPerIP count every password reset request (not only
	// failures); ResetPerIP counts uses of bad reset tokens.
	ResetRequestPerAccount int
	ResetRequestPerIP      int
	ResetPerIP             int
	// SSOStartPerIP counts every single sign-on started from one address: each start stores an
	// attempt until it expires.
	SSOStartPerIP int
	// SSOCallbackFailuresPerIP counts refused single sign-on callbacks from one address: anyone
	// can send one, and each costs reads and an audit entry.
	SSOCallbackFailuresPerIP int
	// APIKeyMissesPerIP counts well-formed but unknown API keys from one address in a minute, in
	// each replica's memory (see keyMisses); 0: no limit.
	APIKeyMissesPerIP int
	Window            time.Duration
	BaseDelay         time.Duration
	MaxDelay          time.Duration
}

// DefaultLimits are the limits of a default configuration.
var DefaultLimits = Limits{
	LoginPerAccount: 5, LoginPerIP: 30, AcceptPerIP: 20, TwoFactorPerIP: 10,
	ResetRequestPerAccount: 3, ResetRequestPerIP: 20, ResetPerIP: 20, SSOStartPerIP: 30, SSOCallbackFailuresPerIP: 30,
	APIKeyMissesPerIP: 60,
	Window:            15 * time.Minute, BaseDelay: 15 * time.Second, MaxDelay: 15 * time.Minute,
}

// limitKey names one counter.
type limitKey struct {
	name      string
	threshold int
	// limit is the kind of key, the label of the rate limiter's metrics (telemetry.Limit*).
	limit string
	// stored is whether the latest checkLimits of the key found its row: a success has
	// something to clear only then.
	stored bool
}

func (s *Service) loginKeys(ctx context.Context, email string) []limitKey {
	ip := auth.ClientFromContext(ctx).IP
	return []limitKey{
		{name: "login:account:" + auth.NormalizeEmail(email), threshold: s.Limits.LoginPerAccount, limit: telemetry.LimitLoginAccount},
		{name: "login:ip:" + ip, threshold: s.Limits.LoginPerIP, limit: telemetry.LimitLoginIP},
	}
}

// ipKey is the key of the client address for kind ("accept" or "2fa"), whose metrics label is
// kind_ip.
func (s *Service) ipKey(ctx context.Context, kind string, threshold int) []limitKey {
	return []limitKey{{name: kind + ":ip:" + auth.ClientFromContext(ctx).IP, threshold: threshold, limit: kind + "_ip"}}
}

// checkLimits refuses with RATE_LIMITED while any of the keys is blocked. It notes in each key
// whether its row exists.
func (s *Service) checkLimits(ctx context.Context, keys []limitKey) error {
	names := make([]string, 0, len(keys))
	for i, k := range keys {
		keys[i].stored = false
		if k.threshold > 0 {
			names = append(names, k.name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	// The limiter's state is the server's, read whoever asks.
	rows, err := s.db(ctx).RateLimit.Query().Where(ratelimit.IDIn(names...)).All(privacy.DecisionContext(ctx, privacy.Allow))
	if err != nil {
		return err
	}
	now := s.now()
	var wait time.Duration
	for _, r := range rows {
		blocked := r.BlockedUntil != nil && r.BlockedUntil.After(now)
		for i := range keys {
			if keys[i].name == r.ID {
				keys[i].stored = true
				if blocked {
					s.Metrics.RateLimitRefusal(keys[i].limit)
				}
			}
		}
		if blocked {
			wait = max(wait, r.BlockedUntil.Sub(now))
		}
	}
	if wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		return &Error{Code: CodeRateLimited, Message: "Too many failed attempts. Try again later.",
			Extensions: map[string]any{"retryAfter": secs}}
	}
	return nil
}

// recordFailures counts a failure against each key, after the transaction so that the count
// survives the refusal.
func (s *Service) recordFailures(ctx context.Context, keys []limitKey) {
	now := s.now()
	s.afterTx(ctx, func(ctx context.Context, c *ent.Client) error {
		// The limiter's state is the server's.
		sys := privacy.DecisionContext(ctx, privacy.Allow)
		for _, k := range keys {
			if k.threshold <= 0 {
				continue
			}
			if err := s.recordFailure(sys, c, k, now); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Service) recordFailure(ctx context.Context, c *ent.Client, k limitKey, now time.Time) error {
	// One statement counts the failure, whether the key exists yet or not, and whichever replica
	// counts at the same moment.
	if err := c.RateLimit.Create().SetID(k.name).SetFailures(1).SetWindowStart(now).
		OnConflictColumns(ratelimit.FieldID).AddFailures(1).Exec(ctx); err != nil {
		return err
	}
	r, err := c.RateLimit.Get(ctx, k.name)
	if ent.IsNotFound(err) {
		return nil // a success cleared the key meanwhile
	}
	if err != nil {
		return err
	}
	if r.Failures > 1 && now.Sub(r.WindowStart) > s.Limits.Window && (r.BlockedUntil == nil || !r.BlockedUntil.After(now)) {
		// The earlier failures had aged out: this one starts a new window.
		return c.RateLimit.UpdateOne(r).SetFailures(1).SetWindowStart(now).ClearBlockedUntil().Exec(ctx)
	}
	return s.block(ctx, c, k, r.Failures, now, nil)
}

// block sets the key's block once it has failed threshold times: BaseDelay, doubling with each
// further failure, at most MaxDelay.
func (s *Service) block(ctx context.Context, c *ent.Client, k limitKey, failures int, now time.Time, err error) error {
	if err != nil || failures < k.threshold {
		return err
	}
	delay := s.Limits.BaseDelay << min(failures-k.threshold, 20)
	if delay <= 0 || delay > s.Limits.MaxDelay {
		delay = s.Limits.MaxDelay
	}
	if err := c.RateLimit.UpdateOneID(k.name).SetBlockedUntil(now.Add(delay)).SetWindowStart(now).Exec(ctx); err != nil {
		return err
	}
	s.Metrics.RateLimitBlock(k.limit)
	return nil
}

// clearLimits forgets the failures of keys after a success (the account's, not the address's:
// an attacker's own success must not wipe what they did to others). Only keys whose row the
// latest checkLimits found are deleted: most sign-ins follow no failure and write nothing here,
// and with the limiter off none does. A failure counted between that check and this success
// stays, to age out like any other.
func (s *Service) clearLimits(ctx context.Context, keys ...limitKey) error {
	names := make([]string, 0, len(keys))
	for _, k := range keys {
		if k.stored {
			names = append(names, k.name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	_, err := s.db(ctx).RateLimit.Delete().Where(ratelimit.IDIn(names...)).Exec(privacy.DecisionContext(ctx, privacy.Allow))
	return err
}
