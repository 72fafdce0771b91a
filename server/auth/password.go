package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters. Memory is in KiB.
type Argon2Params struct {
	Memory      uint32
	Iterations  uint32
	Parallelism uint8
	SaltLength  uint32
	KeyLength   uint32
}

// DefaultArgon2Params are the production parameters: 12 MiB, 3 passes, 1 lane, one of OWASP's
// equivalent argon2id settings (Password Storage Cheat Sheet). Measured on a 2-core machine
// (BenchmarkArgon2Params) it is the fastest of them alone and at 8 clients; the former default
// (64 MiB, 3 passes, 2 lanes) let 8 parallel sign-ins manage no more than a bcrypt peer. One lane
// keeps a hash on one core, so that the hashing queue runs one hash per CPU. Hashes made with
// other parameters keep verifying (the parameters travel in the hash) and are re-hashed with
// these on their next successful sign-in.
var DefaultArgon2Params = Argon2Params{Memory: 12 * 1024, Iterations: 3, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// owaspMinMemory is OWASP's least memory (KiB) for argon2id at a number of passes; from 5
// passes on, 7 MiB.
var owaspMinMemory = []uint32{1: 47104, 2: 19456, 3: 12288, 4: 9216, 5: 7168}

// Bounds of Argon2Params.CheckStrength beyond which a setting is a mistake rather than a choice:
// every hash allocates its memory, and sign-ins wait for its passes.
const (
	MaxArgon2Memory      = 4 * 1024 * 1024 // KiB: 4 GiB
	MaxArgon2Iterations  = 64
	MaxArgon2Parallelism = 64
)

// CheckStrength refuses parameters weaker than OWASP's argon2id minimums (for t passes at least
// 47104, 19456, 12288, 9216 KiB for t = 1 to 4, 7168 KiB from 5 on; at least 1 lane) or beyond
// sane bounds.
func (p Argon2Params) CheckStrength() error {
	var errs []error
	if p.Iterations < 1 || p.Iterations > MaxArgon2Iterations {
		errs = append(errs, fmt.Errorf("iterations must be 1 to %d, not %d", MaxArgon2Iterations, p.Iterations))
	} else if least := owaspMinMemory[min(p.Iterations, 5)]; p.Memory < least {
		errs = append(errs, fmt.Errorf("memory must be at least %d KiB with %d iterations (OWASP's minimum), not %d",
			least, p.Iterations, p.Memory))
	}
	if p.Memory > MaxArgon2Memory {
		errs = append(errs, fmt.Errorf("memory must be at most %d KiB, not %d", MaxArgon2Memory, p.Memory))
	}
	if p.Parallelism < 1 || p.Parallelism > MaxArgon2Parallelism {
		errs = append(errs, fmt.Errorf("parallelism must be 1 to %d, not %d", MaxArgon2Parallelism, p.Parallelism))
	}
	if p.SaltLength < 16 || p.KeyLength < 16 {
		errs = append(errs, errors.New("salt and key must be at least 16 bytes"))
	}
	return errors.Join(errs...)
}

// TestArgon2Params are cheap parameters for tests only.
var TestArgon2Params = Argon2Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// HashLimits bound the hashing a server does at once: every argon2id hash takes its memory
// (12 MiB by default) and saturates its lanes' cores for its whole run, so running more at once
// than the machine has cores only adds latency and memory.
type HashLimits struct {
	// Concurrency is how many hashes run at once. Zero: the number of CPUs.
	Concurrency int
	// MaxWait is the longest a caller waits for its turn. A caller that would wait longer, by
	// the queue ahead of it, is refused at once with a BusyError. Zero: 2 s.
	MaxWait time.Duration
}

// BusyError is the refusal of a hash that would have waited longer than HashLimits.MaxWait.
type BusyError struct {
	// RetryAfter is about how long the queue ahead takes to drain.
	RetryAfter time.Duration
}

func (e *BusyError) Error() string { return "password hashing is busy" }

// PasswordHasher hashes and verifies passwords with argon2id in the PHC string format, at most
// Concurrency at once.
type PasswordHasher struct {
	Params  Argon2Params
	dummy   string
	slots   chan struct{}
	maxWait time.Duration
	waiting atomic.Int64
	// took is a moving average of how long one hash takes, in nanoseconds.
	took atomic.Int64
	// onTurn, for tests, sees each turn start and end.
	onTurn func(started bool)
}

// NewPasswordHasher returns a hasher using p for new hashes, bounded by l.
func NewPasswordHasher(p Argon2Params, l HashLimits) *PasswordHasher {
	if l.Concurrency <= 0 {
		l.Concurrency = runtime.NumCPU()
	}
	if l.MaxWait <= 0 {
		l.MaxWait = 2 * time.Second
	}
	h := &PasswordHasher{Params: p, slots: make(chan struct{}, l.Concurrency), maxWait: l.MaxWait}
	t0 := time.Now()
	h.dummy, _ = h.hash("dummy password to equalize timing")
	h.took.Store(int64(time.Since(t0)))
	return h
}

// Concurrency is how many hashes run at once.
func (h *PasswordHasher) Concurrency() int { return cap(h.slots) }

// Turn is one hashing slot, held from PasswordHasher.Turn until Done.
type Turn struct {
	h     *PasswordHasher
	start time.Time
	once  sync.Once
}

// Turn waits for a hashing slot. It refuses at once, with a BusyError, when the queue ahead
// would take longer than MaxWait, and after MaxWait otherwise; and stops waiting when ctx ends.
// The caller must call Done.
func (h *PasswordHasher) Turn(ctx context.Context) (*Turn, error) {
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	select {
	case h.slots <- struct{}{}:
		return h.started(), nil
	default:
	}
	ahead := h.waiting.Add(1)
	defer h.waiting.Add(-1)
	slots := int64(cap(h.slots))
	expected := time.Duration(h.took.Load() * ((ahead + slots - 1) / slots))
	if expected > h.maxWait {
		return nil, &BusyError{RetryAfter: expected}
	}
	timer := time.NewTimer(h.maxWait)
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
		return h.started(), nil
	case <-timer.C:
		return nil, &BusyError{RetryAfter: max(expected, time.Second)}
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func (h *PasswordHasher) started() *Turn {
	if h.onTurn != nil {
		h.onTurn(true)
	}
	return &Turn{h: h, start: time.Now()}
}

// Done frees the slot; later calls do nothing.
func (t *Turn) Done() {
	t.once.Do(func() {
		h := t.h
		if h.onTurn != nil {
			h.onTurn(false)
		}
		// An exponential moving average: recent turns weigh most.
		took := int64(time.Since(t.start))
		old := h.took.Load()
		h.took.Store(old + (took-old)/8)
		<-h.slots
	})
}

// Hash returns the PHC-encoded argon2id hash of password.
func (t *Turn) Hash(password string) (string, error) { return t.h.hash(password) }

// Verify reports whether password matches encoded. The comparison is constant-time.
func (t *Turn) Verify(password, encoded string) (bool, error) { return t.h.verify(password, encoded) }

// VerifyDummy spends the time of a verification that matches nothing.
func (t *Turn) VerifyDummy(password string) { _, _ = t.h.verify(password, t.h.dummy) }

// RetryAfterSeconds rounds a BusyError's wait up to whole seconds, at least one.
func (e *BusyError) RetryAfterSeconds() int {
	return max(1, int(math.Ceil(e.RetryAfter.Seconds())))
}

// Hash returns the PHC-encoded argon2id hash of password, when its turn comes.
func (h *PasswordHasher) Hash(ctx context.Context, password string) (string, error) {
	t, err := h.Turn(ctx)
	if err != nil {
		return "", err
	}
	defer t.Done()
	return t.Hash(password)
}

func (h *PasswordHasher) hash(password string) (string, error) {
	p := h.Params
	salt := make([]byte, p.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// ErrBadHash is the error of verifying against a stored hash that is not an argon2id PHC string.
var ErrBadHash = errors.New("auth: malformed password hash")

// Verify reports whether password matches encoded, when its turn comes. The comparison is
// constant-time.
func (h *PasswordHasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	t, err := h.Turn(ctx)
	if err != nil {
		return false, err
	}
	defer t.Done()
	return t.Verify(password, encoded)
}

func (h *PasswordHasher) verify(password, encoded string) (bool, error) {
	p, salt, want, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// parseHash splits a PHC-encoded argon2id hash into its parameters, salt and key.
func parseHash(encoded string) (p Argon2Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, ErrBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, ErrBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Iterations, &p.Parallelism); err != nil {
		return p, nil, nil, ErrBadHash
	}
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(parts[4]); err != nil {
		return p, nil, nil, ErrBadHash
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) == 0 {
		return p, nil, nil, ErrBadHash
	}
	p.SaltLength, p.KeyLength = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// NeedsRehash reports whether encoded was made with other parameters than the hasher's (or
// cannot be read): a password that matches it should be hashed again.
func (h *PasswordHasher) NeedsRehash(encoded string) bool {
	p, _, _, err := parseHash(encoded)
	return err != nil || p != h.Params
}

// VerifyAndRehash reports whether password matches encoded, like Verify. When it matches and
// encoded was made with other parameters than the hasher's, it also returns a new hash of
// password with the current ones, made in the same turn; otherwise rehash is empty. Re-hashing
// is an improvement, not a condition: if it fails the match still stands, without a rehash.
func (t *Turn) VerifyAndRehash(password, encoded string) (ok bool, rehash string, err error) {
	if ok, err = t.h.verify(password, encoded); !ok || err != nil || !t.h.NeedsRehash(encoded) {
		return ok, "", err
	}
	if rehash, err = t.h.hash(password); err != nil {
		return true, "", nil
	}
	return true, rehash, nil
}

// VerifyDummy spends the same time as a real verification, in the same queue. Login calls it
// for unknown e-mails so that neither the response time nor a busy refusal tells whether an
// account exists.
func (h *PasswordHasher) VerifyDummy(ctx context.Context, password string) error {
	_, err := h.Verify(ctx, password, h.dummy)
	return err
}
