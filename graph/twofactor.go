package graph

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"image/png"
	"slices"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/organization"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/graph/model"
	"github.com/inferiallm/orgserver/server/auth"
)

// TOTP parameters (RFC 6238 defaults, which every authenticator app supports).
var totpOpts = totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

const recoveryCodeCount = 10

// ErrTwoFactorRequired is the refusal for members without 2FA in an organization requiring it.
var ErrTwoFactorRequired = &Error{Code: CodeTwoFactorRequired, Message: "Two-factor authentication is required by this organization"}

// errInvalidCode is the refusal of a wrong or replayed authenticator or recovery code.
var errInvalidCode = &Error{Code: CodeUnauthenticated, Message: "Invalid 2FA Code"}

func sealContext(u *ent.User) string { return "totp:" + u.ID.String() }

// beginTwoFactorSetup creates a pending secret for the viewer and returns it with its otpauth
// URI and QR code. Nothing changes until confirmTwoFactorSetup. The secret and its picture are
// made before the transaction begins.
func (s *Service) beginTwoFactorSetup(ctx context.Context) (*model.TwoFactorSetup, error) {
	v := auth.FromContext(ctx)
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "InferiaLLM", AccountName: v.Email, Period: 30, SecretSize: 20, Rand: rand.Reader})
	if err != nil {
		return nil, err
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	db := s.db(ctx)
	u, err := db.User.Get(ctx, v.UserID)
	if err != nil {
		return nil, err
	}
	if u.TwoFactorEnabled {
		return nil, Errorf(CodeBadUserInput, "Two-factor authentication is already enabled")
	}
	sealed, err := s.Sealer.Seal(key.Secret(), sealContext(u))
	if err != nil {
		return nil, err
	}
	if err := db.User.UpdateOne(u).SetTotpPendingSecret(sealed).Exec(ctx); err != nil {
		return nil, err
	}
	return &model.TwoFactorSetup{
		Secret:     key.Secret(),
		OtpauthURI: key.URL(),
		QRCode:     "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()),
	}, nil
}

// confirmTwoFactorSetup turns 2FA on with a current code of the pending secret and returns
// fresh recovery codes, stored only as hashes.
func (s *Service) confirmTwoFactorSetup(ctx context.Context, code string) (*model.RecoveryCodes, error) {
	v := auth.FromContext(ctx)
	if err := s.checkLimits(ctx, s.ipKey(ctx, "2fa", s.Limits.TwoFactorPerIP)); err != nil {
		return nil, err
	}
	db := s.db(ctx)
	u, err := db.User.Get(ctx, v.UserID)
	if err != nil {
		return nil, err
	}
	if u.TwoFactorEnabled {
		return nil, Errorf(CodeBadUserInput, "Two-factor authentication is already enabled")
	}
	if u.TotpPendingSecret == "" {
		return nil, Errorf(CodeBadUserInput, "TOTP setup not requested")
	}
	secret, err := s.Sealer.Open(u.TotpPendingSecret, sealContext(u))
	if err != nil {
		return nil, err
	}
	step, ok := matchTOTP(secret, code, s.now(), 0)
	if !ok {
		s.recordFailures(ctx, s.ipKey(ctx, "2fa", s.Limits.TwoFactorPerIP))
		return nil, Errorf(CodeBadUserInput, "Invalid Code")
	}
	codes, hashes, err := newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	n, err := db.User.Update().
		Where(user.ID(u.ID), user.SecurityVersion(u.SecurityVersion)).
		SetTwoFactorEnabled(true).
		SetTotpSecret(u.TotpPendingSecret).
		SetTotpPendingSecret("").
		SetTotpLastStep(step).
		SetRecoveryCodeHashes(hashes).
		AddSecurityVersion(1).
		Save(ctx)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, Errorf(CodeConflict, "Two-factor settings changed meanwhile; try again")
	}
	return &model.RecoveryCodes{RecoveryCodes: codes}, s.audit(ctx, auditEntry{Action: "security.2fa_enable",
		Category: categorySecurity, ResourceType: "user", ResourceID: u.ID.String()})
}

// disableTwoFactor turns 2FA off, with proof: a current code, a recovery code or the password.
// Refused while an organization the user belongs to requires 2FA. A password is checked before
// the transaction, which then changes the account only if it still has that password.
func (s *Service) disableTwoFactor(ctx context.Context, code, password *string) (bool, error) {
	v := auth.FromContext(ctx)
	u, err := s.db(ctx).User.Get(ctx, v.UserID)
	if err != nil {
		return false, err
	}
	if !u.TwoFactorEnabled {
		return false, Errorf(CodeBadUserInput, "Two-factor authentication is not enabled")
	}
	// Which organizations require it is a fact about the user's memberships, read by the system.
	required, err := s.db(ctx).Organization.Query().
		Where(organization.HasMembershipsWith(membership.UserID(u.ID))).
		All(privacy.DecisionContext(ctx, privacy.Allow))
	if err != nil {
		return false, err
	}
	if slices.ContainsFunc(required, func(o *ent.Organization) bool { return o.SecurityPolicy.RequireTwoFactor }) {
		return false, Errorf(CodeForbidden, "Two-factor authentication is required by an organization you belong to")
	}
	byCode := ptr(code) != ""
	switch {
	case byCode:
	case ptr(password) != "":
		keys := s.ipKey(ctx, "2fa", s.Limits.TwoFactorPerIP)
		if err := s.checkLimits(ctx, keys); err != nil {
			return false, err
		}
		ok, err := s.verifyPassword(ctx, *password, u.PasswordHash, keys)
		if err != nil {
			return false, err
		}
		if !ok {
			s.recordFailures(ctx, keys)
			return false, ErrBadCredentials
		}
	default:
		return false, Errorf(CodeBadUserInput, "A current code or the password is required")
	}
	err = s.inTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		q := db.User.Update().Where(user.ID(u.ID), user.TwoFactorEnabled(true))
		if byCode {
			cur, err := db.User.Get(ctx, u.ID)
			if err != nil {
				return err
			}
			if err := s.verifySecondFactor(ctx, cur, ptr(code)); err != nil {
				return err
			}
		} else {
			// The password checked above must still be the account's.
			q.Where(user.PasswordHash(u.PasswordHash))
		}
		n, err := q.SetTwoFactorEnabled(false).SetTotpSecret("").SetTotpPendingSecret("").
			SetRecoveryCodeHashes([]string{}).AddSecurityVersion(1).Save(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return Errorf(CodeConflict, "Two-factor settings changed meanwhile; try again")
		}
		return s.audit(ctx, auditEntry{Action: "security.2fa_disable", Category: categorySecurity,
			ResourceType: "user", ResourceID: u.ID.String()})
	})
	return err == nil, err
}

// verifySecondFactor accepts a current TOTP code (each at most once) or an unused recovery code
// (which it uses up). Both changes are conditional updates, so two simultaneous uses of one code
// let exactly one through.
func (s *Service) verifySecondFactor(ctx context.Context, u *ent.User, code string) error {
	keys := s.ipKey(ctx, "2fa", s.Limits.TwoFactorPerIP)
	if err := s.checkLimits(ctx, keys); err != nil {
		return err
	}
	// Checking a second factor is the system's business; the user may not be signed in yet.
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	db := s.db(ctx)
	code = strings.TrimSpace(code)
	if len(code) == 6 {
		secret, err := s.Sealer.Open(u.TotpSecret, sealContext(u))
		if err != nil {
			return err
		}
		if step, ok := matchTOTP(secret, code, s.now(), u.TotpLastStep); ok {
			n, err := db.User.Update().Where(user.ID(u.ID), user.TotpLastStepLT(step)).SetTotpLastStep(step).Save(sys)
			if err != nil {
				return err
			}
			if n == 1 {
				return nil
			}
		}
	} else if hash := recoveryHash(code); slices.Contains(u.RecoveryCodeHashes, hash) {
		rest := slices.DeleteFunc(slices.Clone(u.RecoveryCodeHashes), func(h string) bool { return h == hash })
		n, err := db.User.Update().Where(user.ID(u.ID), user.SecurityVersion(u.SecurityVersion)).
			SetRecoveryCodeHashes(rest).AddSecurityVersion(1).Save(sys)
		if err != nil {
			return err
		}
		if n == 1 {
			return s.audit(ctx, auditEntry{Action: "security.recovery_code_used", Category: categorySecurity,
				ActorID: &u.ID, ActorEmail: u.Email, ResourceType: "user", ResourceID: u.ID.String(),
				Details: map[string]any{"remaining": len(rest)}})
		}
	}
	s.recordFailures(ctx, keys)
	return errInvalidCode
}

// matchTOTP returns the time step whose code equals code, among the steps around now (one
// period of clock skew either way) that are later than after.
func matchTOTP(secret, code string, now time.Time, after int64) (int64, bool) {
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return 0, false
	}
	current := now.Unix() / int64(totpOpts.Period)
	for step := current - 1; step <= current+1; step++ {
		if step <= after {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*int64(totpOpts.Period), 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

// newRecoveryCodes returns recoveryCodeCount codes like "k7m2q-x9p4d" (50 random bits each,
// base32) and their hashes.
func newRecoveryCodes() ([]string, []string, error) {
	codes := make([]string, recoveryCodeCount)
	hashes := make([]string, recoveryCodeCount)
	for i := range codes {
		t := strings.ToLower(rand.Text())
		codes[i] = t[:5] + "-" + t[5:10]
		hashes[i] = recoveryHash(codes[i])
	}
	return codes, hashes, nil
}

// recoveryHash normalizes a recovery code as typed (case, dashes, spaces) and hashes it.
func recoveryHash(code string) string {
	code = strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(code))
	return auth.HashToken("recovery:" + code)
}
