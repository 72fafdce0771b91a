package graph

import (
	"context"
	"errors"

	"github.com/inferiallm/orgserver/server/auth"
)

// Password hashing is the slowest thing the server does and runs in a bounded queue
// (auth.HashLimits). These helpers are the only way workflows reach it: they refuse to run
// inside a transaction, and turn a full queue into UNAVAILABLE with a retry time.

// verifyPassword reports whether password matches the stored hash. A malformed stored hash
// matches nothing. The error is only for a full queue, a gone client, or a misplaced call.
func (s *Service) verifyPassword(ctx context.Context, password, hash string) (bool, error) {
	if err := outsideTransaction(ctx); err != nil {
		return false, err
	}
	ok, err := s.Hasher.Verify(ctx, password, hash)
	if err != nil && !errors.Is(err, auth.ErrBadHash) {
		return false, hashingError(err)
	}
	return ok && err == nil, nil
}

// spendVerification costs what verifyPassword costs, in the same queue, for a sign-in whose
// account does not exist: neither the time nor a busy answer tells that it does not.
func (s *Service) spendVerification(ctx context.Context, password string) error {
	if err := outsideTransaction(ctx); err != nil {
		return err
	}
	return hashingError(s.Hasher.VerifyDummy(ctx, password))
}

// hashPassword hashes a new password.
func (s *Service) hashPassword(ctx context.Context, password string) (string, error) {
	if err := outsideTransaction(ctx); err != nil {
		return "", err
	}
	hash, err := s.Hasher.Hash(ctx, password)
	return hash, hashingError(err)
}

func hashingError(err error) error {
	var busy *auth.BusyError
	if errors.As(err, &busy) {
		return unavailable(busy.RetryAfterSeconds())
	}
	return err
}
