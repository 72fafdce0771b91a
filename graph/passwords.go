package graph

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/server/auth"
)

// Password hashing is the slowest thing the server does and runs in a bounded queue
// (auth.HashLimits). These helpers are the only way workflows reach it: they refuse to run
// inside a transaction, and turn a full queue into UNAVAILABLE with a retry time.

// verifyPassword reports whether password matches the stored hash. A malformed stored hash
// matches nothing. Once the turn in the hashing queue has come, the rate limits of keys are
// checked again: a burst of guesses queued behind each other must not all pass a check made
// before the earlier ones had failed. The error is only for a limit, a full queue, a gone client
// or a misplaced call.
func (s *Service) verifyPassword(ctx context.Context, password, hash string, keys []limitKey) (bool, error) {
	turn, err := s.hashingTurn(ctx, keys)
	if err != nil {
		return false, err
	}
	defer turn.Done()
	ok, err := turn.Verify(password, hash)
	return ok && err == nil, nil
}

// verifyPasswordForSignIn is verifyPassword for a sign-in: when the password matches a hash
// made with other parameters than the current ones, it also returns a hash of it with the
// current ones, made in the same turn (so before any transaction), for the sign-in to store.
//
// alongside (may be nil) runs on another goroutine while the hash is computed: database work
// the sign-in needs if the password is right, so that its round trips hide behind the hash
// instead of following it. The hash uses no connection, so the request still holds one at most.
// When the earlier check found nothing stored for any key (the common case: no recent failures),
// the turn's re-check of the limits runs there too, before alongside; a refusal then still
// discards the password's verdict, at the price of a hash computed for nothing. With failures on
// record it runs first, so that a burst of guesses at an account under attack costs no hashes.
func (s *Service) verifyPasswordForSignIn(ctx context.Context, password, hash string, keys []limitKey, alongside func()) (ok bool, rehash string, err error) {
	early := slices.ContainsFunc(keys, func(k limitKey) bool { return k.stored })
	var first []limitKey // the keys the turn checks before the hash
	if early {
		first = keys
	}
	turn, err := s.hashingTurn(ctx, first)
	if err != nil {
		return false, "", err
	}
	defer turn.Done()
	side := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				side <- fmt.Errorf("graph: sign-in work beside the hash panicked: %v", p)
			}
		}()
		if !early {
			if err := s.checkLimits(ctx, keys); err != nil {
				side <- err
				return
			}
		}
		if alongside != nil {
			alongside()
		}
		side <- nil
	}()
	if hash == "" {
		// An account made through single sign-on has no password: refuse it in a check's time,
		// so that the answer does not tell such an account from others.
		turn.VerifyDummy(password)
	} else {
		ok, rehash, err = turn.VerifyAndRehash(password, hash)
	}
	if err := <-side; err != nil {
		return false, "", err
	}
	if hash == "" || !ok || err != nil {
		return false, "", nil
	}
	return true, rehash, nil
}

// spendVerification costs what verifyPassword costs, in the same queue and under the same
// limits, for a sign-in whose account does not exist: neither the time nor a refusal tells that
// it does not.
func (s *Service) spendVerification(ctx context.Context, password string, keys []limitKey) error {
	turn, err := s.hashingTurn(ctx, keys)
	if err != nil {
		return err
	}
	defer turn.Done()
	turn.VerifyDummy(password)
	return nil
}

// hashPassword hashes a new password.
func (s *Service) hashPassword(ctx context.Context, password string) (string, error) {
	turn, err := s.hashingTurn(ctx, nil)
	if err != nil {
		return "", err
	}
	defer turn.Done()
	return turn.Hash(password)
}

// hashingTurn waits for a turn in the hashing queue, outside any transaction, and checks the
// limits of keys once it has come.
func (s *Service) hashingTurn(ctx context.Context, keys []limitKey) (*auth.Turn, error) {
	if err := outsideTransaction(ctx); err != nil {
		return nil, err
	}
	turn, err := s.Hasher.Turn(ctx)
	var busy *auth.BusyError
	if errors.As(err, &busy) {
		s.reportBusyHashing(ctx)
		// Spread the retries: told the same time, a refused burst would come back as one.
		secs := busy.RetryAfterSeconds()
		return nil, &Error{Code: CodeUnavailable, Message: "Too many sign-ins at once; try again in a moment",
			Extensions: map[string]any{"retryAfter": secs + rand.IntN(secs+1)}}
	}
	if err != nil {
		return nil, err
	}
	if err := s.checkLimits(ctx, keys); err != nil {
		turn.Done()
		return nil, err
	}
	return turn, nil
}

// reportBusyHashing logs, at most once every busyReportInterval, that the hashing queue turns
// sign-ins away: a sign-in storm is worth an operator's attention, 200 lines of it are not.
func (s *Service) reportBusyHashing(ctx context.Context) {
	s.busyRefusals.Add(1)
	now := time.Now().UnixNano()
	last := s.busyReported.Load()
	if now-last < int64(busyReportInterval) || !s.busyReported.CompareAndSwap(last, now) {
		return
	}
	s.Logger.WarnContext(ctx, "password hashing at capacity: turning sign-ins away with 503",
		"refused_since_last_report", s.busyRefusals.Swap(0), "concurrency", s.Hasher.Concurrency())
}

// busyReportInterval is how often a full hashing queue is logged.
const busyReportInterval = 10 * time.Second

// storeRehash stores rehash, the password hashed again with the current parameters
// (VerifyAndRehash), in place of verified, the hash just verified, and only in its place; u
// then holds it. No rehash: nothing to do. false: the password changed meanwhile. Not a password
// change: the password is the same, so sessions stay and nothing is audited.
func (s *Service) storeRehash(ctx context.Context, u *ent.User, verified, rehash string) (bool, error) {
	if rehash == "" {
		return true, nil
	}
	n, err := s.db(ctx).User.Update().Where(user.ID(u.ID), user.PasswordHash(verified)).
		SetPasswordHash(rehash).Save(privacy.DecisionContext(ctx, privacy.Allow))
	if err != nil || n == 0 {
		return false, err
	}
	u.PasswordHash = rehash
	return true, nil
}
