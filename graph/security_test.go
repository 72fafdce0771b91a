package graph_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image/png"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent/auditlog"
	"github.com/inferiallm/orgserver/ent/schema/schematype"
	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/server/apptest"
)

const (
	beginTwoFactorMutation   = `mutation { beginTwoFactorSetup { secret otpauthUri qrCode } }`
	confirmTwoFactorMutation = `mutation($c: String!) { confirmTwoFactorSetup(code: $c) { recoveryCodes } }`
	disableTwoFactorMutation = `mutation($c: String, $p: String) { disableTwoFactor(code: $c, password: $p) }`
	secondFactorLogin        = `mutation($e: String!, $p: String!, $totp: String, $rc: String, $org: ID) {
  login(input: {email: $e, password: $p, totpCode: $totp, recoveryCode: $rc, organizationId: $org}) {
    accessToken refreshToken user { id twoFactorEnabled } organization { id }
  }
}`
	securityPolicyFields         = `requireTwoFactor sessionIdleTimeoutMinutes sessionMaxLifetimeHours invitationTtlHours passwordMinLength allowedEmailDomains`
	updateSecurityPolicyMutation = `mutation($in: UpdateSecurityPolicyInput!) { updateSecurityPolicy(input: $in) { ` + securityPolicyFields + ` } }`
	securityPolicyQuery          = `{ viewer { organization { securityPolicy { ` + securityPolicyFields + ` } } } }`
	twoFactorEnabledQuery        = `{ viewer { user { twoFactorEnabled } } }`
	sessionIDQuery               = `{ viewer { session { id } } }`
	viewerSessionsQuery          = `{ viewer { session { id } sessions { id current userAgent ipAddress organization { name } } } }`
	orgSessionsQuery             = `query($n: Int) { viewer { organization { sessions(first: $n) {
  totalCount edges { node { id current user { email } } } } } } }`
	revokeSessionMutation       = `mutation($id: ID!) { revokeSession(id: $id) }`
	revokeOtherSessionsMutation = `mutation { revokeOtherSessions }`
	changePasswordMutation      = `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }`
	plainLoginMutation          = `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken refreshToken } }`
	securityRoleMutation        = `mutation($n: String!, $p: [String!]!) { createRole(input: {name: $n, permissions: $p}) { name } }`
)

// smallLimits make the rate limiter bite after three failures.
var smallLimits = graph.Limits{
	LoginPerAccount: 3, LoginPerIP: 100, AcceptPerIP: 3, TwoFactorPerIP: 3,
	Window: 15 * time.Minute, BaseDelay: 15 * time.Second, MaxDelay: 15 * time.Minute,
}

// totpCode is the authenticator code of secret at a time.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	require.NoError(t, err)
	return c
}

// wrongCode returns six digits that are none of the codes due around at.
func wrongCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	due := map[string]bool{}
	for step := -2; step <= 2; step++ {
		due[totpCode(t, secret, at.Add(time.Duration(step)*30*time.Second))] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333", "444444", "555555"} {
		if !due[c] {
			return c
		}
	}
	t.Fatal("every candidate is due")
	return ""
}

// twoFactor is what enabling 2FA hands the user.
type twoFactor struct {
	Secret        string
	RecoveryCodes []string
}

// enableTwoFactor sets up and confirms 2FA for the bearer's user at the clock's time, then moves
// the clock to the next time step, so that a code not used yet is due.
func enableTwoFactor(t *testing.T, s *apptest.Server, clock *apptest.Clock, bearer string) twoFactor {
	t.Helper()
	r := s.Do(t, bearer, beginTwoFactorMutation, nil)
	require.Empty(t, r.Errors, "beginTwoFactorSetup")
	secret := r.Str("beginTwoFactorSetup.secret")
	r = s.Do(t, bearer, confirmTwoFactorMutation, map[string]any{"c": totpCode(t, secret, clock.Now())})
	var data struct {
		ConfirmTwoFactorSetup struct{ RecoveryCodes []string }
	}
	r.Decode(t, &data)
	clock.Advance(30 * time.Second)
	return twoFactor{Secret: secret, RecoveryCodes: data.ConfirmTwoFactorSetup.RecoveryCodes}
}

// secondFactorLoginAs signs in with an optional authenticator or recovery code.
func secondFactorLoginAs(t *testing.T, s *apptest.Server, email, password, code, recovery string) *apptest.Response {
	t.Helper()
	vars := map[string]any{"e": email, "p": password}
	if code != "" {
		vars["totp"] = code
	}
	if recovery != "" {
		vars["rc"] = recovery
	}
	return s.Do(t, "", secondFactorLogin, vars)
}

func plainLogin(t *testing.T, s *apptest.Server, email, password string) *apptest.Response {
	t.Helper()
	return s.Do(t, "", plainLoginMutation, map[string]any{"e": email, "p": password})
}

func setSecurityPolicy(t *testing.T, s *apptest.Server, bearer string, in map[string]any) *apptest.Response {
	t.Helper()
	return s.Do(t, bearer, updateSecurityPolicyMutation, map[string]any{"in": in})
}

// mustSetSecurityPolicy changes the bearer's organization's policy and fails the test if that
// does not work.
func mustSetSecurityPolicy(t *testing.T, s *apptest.Server, bearer string, in map[string]any) {
	t.Helper()
	require.Empty(t, setSecurityPolicy(t, s, bearer, in).Errors, "updateSecurityPolicy %v", in)
}

func refreshWith(t *testing.T, s *apptest.Server, refresh string) *apptest.Response {
	t.Helper()
	return s.Do(t, "", refreshMutation, map[string]any{"t": refresh})
}

// mustRefresh exchanges a refresh token and fails the test if that does not work.
func mustRefresh(t *testing.T, s *apptest.Server, refresh string) apptest.Tokens {
	t.Helper()
	r := refreshWith(t, s, refresh)
	require.Empty(t, r.Errors, "refreshToken")
	return apptest.Tokens{Access: r.Str("refreshToken.accessToken"), Refresh: r.Str("refreshToken.refreshToken")}
}

// signedIn reports whether the access token still works.
func signedIn(t *testing.T, s *apptest.Server, access string) bool {
	t.Helper()
	r := s.Do(t, access, sessionIDQuery, nil)
	if len(r.Errors) > 0 {
		assert.Equal(t, "UNAUTHENTICATED", r.Code(), "a dead token is UNAUTHENTICATED")
		return false
	}
	return r.Str("viewer.session.id") != ""
}

func sessionIDOf(t *testing.T, s *apptest.Server, access string) string {
	t.Helper()
	r := s.Do(t, access, sessionIDQuery, nil)
	require.Empty(t, r.Errors)
	return r.Str("viewer.session.id")
}

func twoFactorEnabled(t *testing.T, s *apptest.Server, access string) bool {
	t.Helper()
	r := s.Do(t, access, twoFactorEnabledQuery, nil)
	require.Empty(t, r.Errors)
	return r.Get("viewer.user.twoFactorEnabled") == true
}

func auditEntries(t *testing.T, s *apptest.Server, action string) int {
	t.Helper()
	n, err := s.App.Client().AuditLog.Query().
		Where(auditlog.Action(action), auditlog.Status("success")).Count(apptest.SystemContext())
	require.NoError(t, err)
	return n
}

// assertRateLimited checks a RATE_LIMITED answer and returns its retryAfter in seconds.
func assertRateLimited(t *testing.T, r *apptest.Response) int {
	t.Helper()
	assertError(t, r, "RATE_LIMITED", "Too many failed attempts. Try again later.")
	if len(r.Errors) == 0 {
		return 0
	}
	secs, ok := r.Errors[0].Extensions["retryAfter"].(float64)
	assert.True(t, ok, "extensions.retryAfter is a number: %v", r.Errors[0].Extensions)
	assert.Positive(t, secs)
	return int(secs)
}

// atOnce runs f n times at the same moment and returns the error codes ("" for success).
func atOnce(n int, f func() string) []string {
	codes := make([]string, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			codes[i] = f()
		})
	}
	close(start)
	wg.Wait()
	return codes
}

func TestTOTPSetupShowsASecretAndConfirmsWithACurrentCode(t *testing.T) {
	clock := apptest.NewWholeSecondClock()
	s := apptest.Start(t, apptest.WithClock(clock), apptest.WithLimits(apptest.RoomyLimits))
	bob := s.AddUser(t, "bob@example.com", s.Org(t, apptest.RootOrg), "member")
	tok := s.Login(t, bob.Email, apptest.Password(bob.Email))

	assertError(t, s.Do(t, tok.Access, confirmTwoFactorMutation, map[string]any{"c": "123456"}),
		"BAD_USER_INPUT", "TOTP setup not requested")

	r := s.Do(t, tok.Access, beginTwoFactorMutation, nil)
	require.Empty(t, r.Errors)
	secret := r.Str("beginTwoFactorSetup.secret")
	require.NotEmpty(t, secret)
	uri := r.Str("beginTwoFactorSetup.otpauthUri")
	assert.True(t, strings.HasPrefix(uri, "otpauth://totp/"), uri)
	u, err := url.Parse(uri)
	require.NoError(t, err)
	assert.Equal(t, secret, u.Query().Get("secret"))
	assert.Equal(t, "InferiaLLM", u.Query().Get("issuer"))
	assert.Contains(t, u.Path, bob.Email)

	const dataURL = "data:image/png;base64,"
	qr := r.Str("beginTwoFactorSetup.qrCode")
	require.True(t, strings.HasPrefix(qr, dataURL), "qrCode is a PNG data URL")
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(qr, dataURL))
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(raw))
	require.NoError(t, err, "qrCode decodes as a PNG")
	assert.Positive(t, img.Bounds().Dx())

	stored, err := s.App.Client().User.Get(apptest.SystemContext(), bob.ID)
	require.NoError(t, err)
	assert.NotEmpty(t, stored.TotpPendingSecret)
	assert.NotContains(t, stored.TotpPendingSecret, secret, "the pending secret is stored sealed")
	assert.False(t, stored.TwoFactorEnabled, "nothing changes before the confirmation")
	assert.False(t, twoFactorEnabled(t, s, tok.Access))

	for _, bad := range []string{wrongCode(t, secret, clock.Now()), "12345", "not a code"} {
		assertError(t, s.Do(t, tok.Access, confirmTwoFactorMutation, map[string]any{"c": bad}), "BAD_USER_INPUT", "Invalid Code")
	}
	assert.False(t, twoFactorEnabled(t, s, tok.Access))

	r = s.Do(t, tok.Access, confirmTwoFactorMutation, map[string]any{"c": totpCode(t, secret, clock.Now())})
	var data struct {
		ConfirmTwoFactorSetup struct{ RecoveryCodes []string }
	}
	r.Decode(t, &data)
	codes := data.ConfirmTwoFactorSetup.RecoveryCodes
	require.Len(t, codes, 10)
	seen := map[string]bool{}
	for _, c := range codes {
		assert.Regexp(t, regexp.MustCompile(`^[a-z2-7]{5}-[a-z2-7]{5}$`), c)
		assert.False(t, seen[c], "recovery codes are distinct")
		seen[c] = true
	}
	assert.True(t, twoFactorEnabled(t, s, tok.Access), "the same access token sees 2FA on")

	stored, err = s.App.Client().User.Get(apptest.SystemContext(), bob.ID)
	require.NoError(t, err)
	assert.True(t, stored.TwoFactorEnabled)
	assert.Empty(t, stored.TotpPendingSecret)
	assert.NotContains(t, stored.TotpSecret, secret, "the secret is stored sealed")
	require.Len(t, stored.RecoveryCodeHashes, 10)
	for _, c := range codes {
		assert.NotContains(t, stored.RecoveryCodeHashes, c, "recovery codes are stored as hashes only")
	}
	assert.Equal(t, 1, auditEntries(t, s, "security.2fa_enable"))

	// While 2FA is on, a second setup is refused, and the password alone no longer signs in.
	assertError(t, s.Do(t, tok.Access, beginTwoFactorMutation, nil), "BAD_USER_INPUT", "Two-factor authentication is already enabled")
	assertError(t, s.Do(t, tok.Access, confirmTwoFactorMutation, map[string]any{"c": totpCode(t, secret, clock.Now())}),
		"BAD_USER_INPUT", "Two-factor authentication is already enabled")
	assertError(t, plainLogin(t, s, bob.Email, apptest.Password(bob.Email)), "TWO_FACTOR_CODE_REQUIRED", "TOTP_REQUIRED")
}

func TestTwoFactorLoginNeedsAFreshCodeOrAnUnusedRecoveryCode(t *testing.T) {
	clock := apptest.NewWholeSecondClock()
	s := apptest.Start(t, apptest.WithClock(clock), apptest.WithLimits(apptest.RoomyLimits))
	bob := s.AddUser(t, "bob@example.com", s.Org(t, apptest.RootOrg), "member")
	email, password := bob.Email, apptest.Password(bob.Email)
	first := s.Login(t, email, password)

	// The code that confirmed the setup was used then; it does not sign in afterwards.
	r := s.Do(t, first.Access, beginTwoFactorMutation, nil)
	require.Empty(t, r.Errors)
	secret := r.Str("beginTwoFactorSetup.secret")
	confirmation := totpCode(t, secret, clock.Now())
	r = s.Do(t, first.Access, confirmTwoFactorMutation, map[string]any{"c": confirmation})
	var setup struct {
		ConfirmTwoFactorSetup struct{ RecoveryCodes []string }
	}
	r.Decode(t, &setup)
	recovery := setup.ConfirmTwoFactorSetup.RecoveryCodes
	assertError(t, secondFactorLoginAs(t, s, email, password, confirmation, ""), "UNAUTHENTICATED", "Invalid 2FA Code")
	clock.Advance(30 * time.Second)

	r = secondFactorLoginAs(t, s, email, password, "", "")
	assertError(t, r, "TWO_FACTOR_CODE_REQUIRED", "TOTP_REQUIRED")
	assert.Nil(t, r.Get("login"))
	assertError(t, secondFactorLoginAs(t, s, email, "wrong-password", totpCode(t, secret, clock.Now()), ""),
		"UNAUTHENTICATED", "Incorrect username or password")
	r = secondFactorLoginAs(t, s, email, password, wrongCode(t, secret, clock.Now()), "")
	assertError(t, r, "UNAUTHENTICATED", "Invalid 2FA Code")
	assert.Nil(t, r.Get("login"))

	code := totpCode(t, secret, clock.Now())
	r = secondFactorLoginAs(t, s, email, password, code, "")
	require.Empty(t, r.Errors, "a current code signs in (the wrong password did not use it up)")
	assert.Equal(t, true, r.Get("login.user.twoFactorEnabled"))
	assert.True(t, signedIn(t, s, r.Str("login.accessToken")))

	// A code works once: the same code in the same time step is a replay, and so is an older one.
	assertError(t, secondFactorLoginAs(t, s, email, password, code, ""), "UNAUTHENTICATED", "Invalid 2FA Code")
	assertError(t, secondFactorLoginAs(t, s, email, password, totpCode(t, secret, clock.Now().Add(-30*time.Second)), ""),
		"UNAUTHENTICATED", "Invalid 2FA Code")
	clock.Advance(30 * time.Second)
	require.Empty(t, secondFactorLoginAs(t, s, email, password, totpCode(t, secret, clock.Now()), "").Errors,
		"the next time step's code works")

	// One step of clock skew either way is tolerated; two are not.
	clock.Advance(90 * time.Second)
	for _, d := range []time.Duration{-60 * time.Second, 60 * time.Second} {
		assertError(t, secondFactorLoginAs(t, s, email, password, totpCode(t, secret, clock.Now().Add(d)), ""),
			"UNAUTHENTICATED", "Invalid 2FA Code")
	}
	require.Empty(t, secondFactorLoginAs(t, s, email, password, totpCode(t, secret, clock.Now().Add(-30*time.Second)), "").Errors,
		"a code of the previous step is still accepted")

	// A recovery code works once, however it is typed.
	r = secondFactorLoginAs(t, s, email, password, "", recovery[0])
	require.Empty(t, r.Errors, "a recovery code signs in")
	assert.True(t, signedIn(t, s, r.Str("login.accessToken")))
	assertError(t, secondFactorLoginAs(t, s, email, password, "", recovery[0]), "UNAUTHENTICATED", "Invalid 2FA Code")
	typed := strings.ToUpper(strings.ReplaceAll(recovery[1], "-", " "))
	require.Empty(t, secondFactorLoginAs(t, s, email, password, "", typed).Errors, "case and separators do not matter")
	assertError(t, secondFactorLoginAs(t, s, email, password, "", recovery[1]), "UNAUTHENTICATED", "Invalid 2FA Code")
	assertError(t, secondFactorLoginAs(t, s, email, password, "", "aaaaa-bbbbb"), "UNAUTHENTICATED", "Invalid 2FA Code")

	stored, err := s.App.Client().User.Get(apptest.SystemContext(), bob.ID)
	require.NoError(t, err)
	assert.Len(t, stored.RecoveryCodeHashes, 8)
	assert.Equal(t, 2, auditEntries(t, s, "security.recovery_code_used"))
}

func TestOneRecoveryCodeOrTOTPCodeUsedByFourLoginsAtOnceSignsInOnce(t *testing.T) {
	clock := apptest.NewWholeSecondClock()
	s := apptest.Start(t, apptest.WithClock(clock), apptest.WithLimits(apptest.RoomyLimits))
	bob := s.AddUser(t, "bob@example.com", s.Org(t, apptest.RootOrg), "member")
	email, password := bob.Email, apptest.Password(bob.Email)
	tf := enableTwoFactor(t, s, clock, s.Login(t, email, password).Access)

	for _, c := range []struct{ name, code, recovery string }{
		{"recovery code", "", tf.RecoveryCodes[0]},
		{"TOTP code", totpCode(t, tf.Secret, clock.Now()), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			codes := atOnce(4, func() string {
				return secondFactorLoginAs(t, s, email, password, c.code, c.recovery).Code()
			})
			ok := 0
			for _, code := range codes {
				if code == "" {
					ok++
				} else {
					assert.Equal(t, "UNAUTHENTICATED", code)
				}
			}
			assert.Equal(t, 1, ok, "exactly one sign-in succeeds: %v", codes)
		})
	}
}

func TestDisablingTwoFactorNeedsProofAndIsRefusedWhileAnOrganizationRequiresIt(t *testing.T) {
	clock := apptest.NewWholeSecondClock()
	s := apptest.Start(t, apptest.WithClock(clock), apptest.WithLimits(apptest.RoomyLimits))
	acme := s.Org(t, apptest.RootOrg)
	globex := s.CreateOrg(t, "Globex")
	bob := s.AddUser(t, "bob@example.com", acme, "member")
	s.AddUser(t, bob.Email, globex, "member")
	carol := s.AddUser(t, "carol@example.com", globex, "admin")
	email, password := bob.Email, apptest.Password(bob.Email)
	tok := s.Login(t, email, password)
	disable := func(code, password any) *apptest.Response {
		return s.Do(t, tok.Access, disableTwoFactorMutation, map[string]any{"c": code, "p": password})
	}

	assertError(t, disable(nil, password), "BAD_USER_INPUT", "Two-factor authentication is not enabled")
	tf := enableTwoFactor(t, s, clock, tok.Access)

	assertError(t, disable(nil, nil), "BAD_USER_INPUT", "A current code or the password is required")
	assertError(t, disable("", ""), "BAD_USER_INPUT", "A current code or the password is required")
	assertError(t, disable(nil, "wrong-password"), "UNAUTHENTICATED", "Incorrect username or password")
	assertError(t, disable(wrongCode(t, tf.Secret, clock.Now()), nil), "UNAUTHENTICATED", "Invalid 2FA Code")
	assert.True(t, twoFactorEnabled(t, s, tok.Access))

	// Globex, another organization of bob's, requires 2FA: bob may not turn it off, even from Acme.
	carolTok := s.Login(t, carol.Email, apptest.Password(carol.Email))
	enableTwoFactor(t, s, clock, carolTok.Access)
	mustSetSecurityPolicy(t, s, carolTok.Access, map[string]any{"requireTwoFactor": true})
	assertError(t, disable(nil, password), "FORBIDDEN", "Two-factor authentication is required by an organization you belong to")
	assertError(t, disable(totpCode(t, tf.Secret, clock.Now()), nil), "FORBIDDEN", "Two-factor authentication is required by an organization you belong to")
	assert.True(t, twoFactorEnabled(t, s, tok.Access))
	assert.Zero(t, auditEntries(t, s, "security.2fa_disable"))

	mustSetSecurityPolicy(t, s, carolTok.Access, map[string]any{"requireTwoFactor": false})
	r := disable(nil, password)
	require.Empty(t, r.Errors)
	assert.Equal(t, true, r.Get("disableTwoFactor"))
	assert.False(t, twoFactorEnabled(t, s, tok.Access))
	assert.Equal(t, 1, auditEntries(t, s, "security.2fa_disable"))
	stored, err := s.App.Client().User.Get(apptest.SystemContext(), bob.ID)
	require.NoError(t, err)
	assert.Empty(t, stored.TotpSecret)
	assert.Empty(t, stored.RecoveryCodeHashes)
	require.Empty(t, plainLogin(t, s, email, password).Errors, "the password alone signs in again")

	// A current code is proof enough too, and so is a recovery code.
	tf = enableTwoFactor(t, s, clock, tok.Access)
	r = disable(totpCode(t, tf.Secret, clock.Now()), nil)
	require.Empty(t, r.Errors)
	assert.Equal(t, true, r.Get("disableTwoFactor"))
	tf = enableTwoFactor(t, s, clock, tok.Access)
	r = disable(tf.RecoveryCodes[3], nil)
	require.Empty(t, r.Errors)
	assert.False(t, twoFactorEnabled(t, s, tok.Access))
	assert.Equal(t, 3, auditEntries(t, s, "security.2fa_disable"))
}

func TestSecurityPolicyIsChangedByAdminsWithinRangeAndAudited(t *testing.T) {
	clock := apptest.NewWholeSecondClock()
	s := apptest.Start(t, apptest.WithClock(clock))
	acme := s.Org(t, apptest.RootOrg)
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	dev := s.AddUser(t, "dev@example.com", acme, "developer")
	mem := s.AddUser(t, "mem@example.com", acme, "member")

	r := s.Do(t, root.Access, securityPolicyQuery, nil)
	require.Empty(t, r.Errors)
	assert.Equal(t, map[string]any{
		"requireTwoFactor": false, "sessionIdleTimeoutMinutes": 1440.0, "sessionMaxLifetimeHours": 168.0,
		"invitationTtlHours": 168.0, "passwordMinLength": 8.0, "allowedEmailDomains": []any{},
	}, r.Get("viewer.organization.securityPolicy"), "the default policy")

	want := map[string]any{
		"requireTwoFactor": false, "sessionIdleTimeoutMinutes": 60.0, "sessionMaxLifetimeHours": 12.0,
		"invitationTtlHours": 48.0, "passwordMinLength": 12.0, "allowedEmailDomains": []any{"example.com", "corp.example"},
	}
	r = setSecurityPolicy(t, s, root.Access, map[string]any{
		"requireTwoFactor": false, "sessionIdleTimeoutMinutes": 60, "sessionMaxLifetimeHours": 12,
		"invitationTtlHours": 48, "passwordMinLength": 12, "allowedEmailDomains": []string{" Example.COM", "@corp.example"},
	})
	require.Empty(t, r.Errors)
	assert.Equal(t, want, r.Get("updateSecurityPolicy"), "domains are normalized")
	assert.Equal(t, want, s.Do(t, root.Access, securityPolicyQuery, nil).Get("viewer.organization.securityPolicy"))
	assert.Equal(t, 1, auditEntries(t, s, "security.policy_update"))
	entry, err := s.App.Client().AuditLog.Query().Where(auditlog.Action("security.policy_update")).Only(apptest.SystemContext())
	require.NoError(t, err)
	assert.Equal(t, apptest.RootEmail, entry.ActorEmail)
	assert.Equal(t, acme.ID.String(), entry.ResourceID)
	assert.Contains(t, entry.Details, "old")
	assert.Contains(t, entry.Details, "new")

	// Out of range, nothing changes, not even the fields that were in range.
	for _, c := range []struct {
		in      map[string]any
		message string
	}{
		{map[string]any{"sessionIdleTimeoutMinutes": 4}, "sessionIdleTimeoutMinutes must be between 5 and 43200"},
		{map[string]any{"sessionIdleTimeoutMinutes": 43201}, "sessionIdleTimeoutMinutes must be between 5 and 43200"},
		{map[string]any{"sessionMaxLifetimeHours": 0}, "sessionMaxLifetimeHours must be between 1 and 8760"},
		{map[string]any{"sessionMaxLifetimeHours": 8761}, "sessionMaxLifetimeHours must be between 1 and 8760"},
		{map[string]any{"invitationTtlHours": 0}, "invitationTtlHours must be between 1 and 8760"},
		{map[string]any{"invitationTtlHours": -5}, "invitationTtlHours must be between 1 and 8760"},
		{map[string]any{"passwordMinLength": 7}, "passwordMinLength must be between 8 and 128"},
		{map[string]any{"passwordMinLength": 129}, "passwordMinLength must be between 8 and 128"},
		{map[string]any{"passwordMinLength": 20, "sessionMaxLifetimeHours": 9000}, "sessionMaxLifetimeHours must be between 1 and 8760"},
		{map[string]any{"allowedEmailDomains": []string{"not a domain"}}, ""},
		{map[string]any{"allowedEmailDomains": []string{""}}, ""},
		{map[string]any{"allowedEmailDomains": manyDomains(schematype.MaxAllowedEmailDomains + 1)}, "allowedEmailDomains holds at most 100 domains"},
	} {
		assertError(t, setSecurityPolicy(t, s, root.Access, c.in), "BAD_USER_INPUT", c.message)
	}
	assert.Equal(t, want, s.Do(t, root.Access, securityPolicyQuery, nil).Get("viewer.organization.securityPolicy"))
	assert.Equal(t, 1, auditEntries(t, s, "security.policy_update"))

	// The bounds themselves are accepted; omitted fields stay as they are.
	r = setSecurityPolicy(t, s, root.Access, map[string]any{"sessionIdleTimeoutMinutes": 5, "sessionMaxLifetimeHours": 8760, "invitationTtlHours": 1, "passwordMinLength": 128})
	require.Empty(t, r.Errors)
	assert.EqualValues(t, 5, r.Get("updateSecurityPolicy.sessionIdleTimeoutMinutes"))
	assert.EqualValues(t, 128, r.Get("updateSecurityPolicy.passwordMinLength"))
	assert.Equal(t, []any{"example.com", "corp.example"}, r.Get("updateSecurityPolicy.allowedEmailDomains"))
	// As many domains as allowed, and the same domain written twice is kept once.
	r = setSecurityPolicy(t, s, root.Access, map[string]any{"allowedEmailDomains": manyDomains(schematype.MaxAllowedEmailDomains)})
	require.Empty(t, r.Errors)
	assert.Len(t, r.Get("updateSecurityPolicy.allowedEmailDomains"), schematype.MaxAllowedEmailDomains)
	r = setSecurityPolicy(t, s, root.Access, map[string]any{"allowedEmailDomains": []string{"example.com", "EXAMPLE.com", "@example.com", "corp.example"}})
	require.Empty(t, r.Errors)
	assert.Equal(t, []any{"example.com", "corp.example"}, r.Get("updateSecurityPolicy.allowedEmailDomains"))
	r = setSecurityPolicy(t, s, root.Access, map[string]any{"sessionIdleTimeoutMinutes": 43200, "sessionMaxLifetimeHours": 1, "invitationTtlHours": 8760, "passwordMinLength": 8})
	require.Empty(t, r.Errors)
	assert.EqualValues(t, 43200, r.Get("updateSecurityPolicy.sessionIdleTimeoutMinutes"))
	mustSetSecurityPolicy(t, s, root.Access, map[string]any{"sessionMaxLifetimeHours": 12, "invitationTtlHours": 48})

	// The policy applies: invitations go to the allowed domains only and last invitationTtlHours.
	assertError(t, s.Do(t, root.Access, inviteMemberMutation, inviteVars("someone@other.org", "member")), "BAD_USER_INPUT", "")
	inv := s.Do(t, root.Access, inviteMemberMutation, inviteVars("someone@corp.example", "member"))
	require.Empty(t, inv.Errors)
	expires, err := time.Parse(time.RFC3339Nano, inv.Str("inviteMember.invitation.expiresAt"))
	require.NoError(t, err)
	assert.WithinDuration(t, clock.Now().Add(48*time.Hour), expires, time.Second)

	// Developers and members neither change nor read the policy.
	devTok := s.Login(t, dev.Email, apptest.Password(dev.Email))
	assertError(t, setSecurityPolicy(t, s, devTok.Access, map[string]any{"passwordMinLength": 20}), "FORBIDDEN", "Permission denied: security:update required")
	assertError(t, s.Do(t, devTok.Access, securityPolicyQuery, nil), "FORBIDDEN", "Permission denied: security:view required")
	memTok := s.Login(t, mem.Email, apptest.Password(mem.Email))
	assertError(t, s.Do(t, memTok.Access, securityPolicyQuery, nil), "FORBIDDEN", "Permission denied: security:view required")
	assertError(t, setSecurityPolicy(t, s, memTok.Access, map[string]any{"requireTwoFactor": true}), "FORBIDDEN", "Permission denied: security:update required")

	// security:view alone reads the policy and the sessions, and changes nothing.
	require.Empty(t, s.Do(t, root.Access, securityRoleMutation, map[string]any{"n": "security-auditor", "p": []string{"security:view"}}).Errors)
	aud := s.AddUser(t, "auditor@example.com", acme, "security-auditor")
	audTok := s.Login(t, aud.Email, apptest.Password(aud.Email))
	r = s.Do(t, audTok.Access, securityPolicyQuery, nil)
	require.Empty(t, r.Errors)
	assert.EqualValues(t, 8, r.Get("viewer.organization.securityPolicy.passwordMinLength"))
	require.Empty(t, s.Do(t, audTok.Access, orgSessionsQuery, map[string]any{"n": 10}).Errors)
	assertError(t, setSecurityPolicy(t, s, audTok.Access, map[string]any{"passwordMinLength": 20}), "FORBIDDEN", "Permission denied: security:update required")
	assertError(t, s.Do(t, audTok.Access, revokeSessionMutation, map[string]any{"id": sessionIDOf(t, s, memTok.Access)}), "NOT_FOUND", "")
	assert.True(t, signedIn(t, s, memTok.Access))
	assert.Equal(t, 6, auditEntries(t, s, "security.policy_update")) // four changes of settings, two of domains
}

func TestTwoFactorRequirementLeavesMembersWithoutItOnlySetupSignOutAndSwitch(t *testing.T) {
	clock := apptest.NewWholeSecondClock()
	s := apptest.Start(t, apptest.WithClock(clock), apptest.WithLimits(apptest.RoomyLimits))
	acme := s.Org(t, apptest.RootOrg)
	globex := s.CreateOrg(t, "Globex")
	bob := s.AddUser(t, "bob@example.com", acme, "admin")
	s.AddUser(t, bob.Email, globex, "admin")
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	enableTwoFactor(t, s, clock, root.Access)

	bobTok := s.Login(t, bob.Email, apptest.Password(bob.Email))
	require.Equal(t, acme.ID.String(), bobTok.OrgID)
	mustSetSecurityPolicy(t, s, root.Access, map[string]any{"requireTwoFactor": true})

	type op struct {
		name, query string
		vars        map[string]any
		// again: harmless to repeat once bob has 2FA.
		again bool
	}
	gated := []op{
		{"members", `{ viewer { organization { members(first: 5) { totalCount } } } }`, nil, true},
		{"roles", `{ viewer { organization { roles { name } } } }`, nil, true},
		{"invitations", `{ viewer { organization { invitations { totalCount } } } }`, nil, true},
		{"organization sessions", orgSessionsQuery, map[string]any{"n": 5}, true},
		{"audit log", `{ viewer { organization { auditLogs(first: 5) { totalCount } } } }`, nil, true},
		{"security policy", securityPolicyQuery, nil, true},
		{"node", `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": acme.ID.String()}, true},
		{"nodes", `query($id: ID!) { nodes(ids: [$id]) { id } }`, map[string]any{"id": acme.ID.String()}, true},
		{"permission catalog", `{ permissionCatalog { name } }`, nil, true},
		{"inviteMember", inviteMemberMutation, inviteVars("new@example.com", "member"), true},
		{"updateOrganization", `mutation { updateOrganization(input: {settings: {logPayloads: true}}) { settings { logPayloads } } }`, nil, true},
		{"updateSecurityPolicy", updateSecurityPolicyMutation, map[string]any{"in": map[string]any{"passwordMinLength": 10}}, true},
		{"changePassword", changePasswordMutation, map[string]any{"c": apptest.Password(bob.Email), "n": "another-password"}, false},
		{"revokeOtherSessions", revokeOtherSessionsMutation, nil, false},
		{"leaveOrganization", `mutation { leaveOrganization }`, nil, false},
	}
	for _, o := range gated {
		assertError(t, s.Do(t, bobTok.Access, o.query, o.vars), "TWO_FACTOR_REQUIRED",
			"Two-factor authentication is required by this organization")
	}
	// Root, who has 2FA, is unaffected.
	for _, o := range gated[:9] {
		assert.Empty(t, s.Do(t, root.Access, o.query, o.vars).Errors, "root: %s", o.name)
	}

	// What bob can still do: see who and where he is, sign out, switch away, set 2FA up.
	r := s.Do(t, bobTok.Access, `{ viewer { user { email } memberships { organization { name } } } }`, nil)
	require.Empty(t, r.Errors)
	assert.Equal(t, bob.Email, r.Str("viewer.user.email"))
	assert.Len(t, r.Get("viewer.memberships"), 2)

	other := s.Login(t, bob.Email, apptest.Password(bob.Email))
	r = s.Do(t, other.Access, `mutation { logout }`, nil)
	require.Empty(t, r.Errors)
	assert.False(t, signedIn(t, s, other.Access))

	r = s.Do(t, bobTok.Access, `mutation($o: ID!) { switchOrganization(organizationId: $o) { accessToken organization { name } } }`,
		map[string]any{"o": globex.ID.String()})
	require.Empty(t, r.Errors)
	assert.Equal(t, "Globex", r.Str("switchOrganization.organization.name"))
	inGlobex := r.Str("switchOrganization.accessToken")
	assert.Empty(t, s.Do(t, inGlobex, gated[0].query, nil).Errors, "Globex does not require 2FA")

	r = s.Do(t, bobTok.Access, beginTwoFactorMutation, nil)
	require.Empty(t, r.Errors)
	secret := r.Str("beginTwoFactorSetup.secret")
	assertError(t, s.Do(t, bobTok.Access, confirmTwoFactorMutation, map[string]any{"c": wrongCode(t, secret, clock.Now())}),
		"BAD_USER_INPUT", "Invalid Code")
	assertError(t, s.Do(t, bobTok.Access, gated[0].query, nil), "TWO_FACTOR_REQUIRED", "")
	r = s.Do(t, bobTok.Access, confirmTwoFactorMutation, map[string]any{"c": totpCode(t, secret, clock.Now())})
	require.Empty(t, r.Errors)

	// The same access token works everywhere from the next request on.
	for _, o := range gated {
		if o.again {
			assert.Empty(t, s.Do(t, bobTok.Access, o.query, o.vars).Errors, "bob with 2FA: %s", o.name)
		}
	}
}

func TestSessionIdleTimeoutEndsUnusedSessions(t *testing.T) {
	clock := apptest.NewWholeSecondClock()
	s := apptest.Start(t, apptest.WithClock(clock))
	acme := s.Org(t, apptest.RootOrg)
	bob := s.AddUser(t, "bob@example.com", acme, "member")
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	mustSetSecurityPolicy(t, s, root.Access, map[string]any{"sessionIdleTimeoutMinutes": 30})

	tok := s.Login(t, bob.Email, apptest.Password(bob.Email))
	clock.Advance(29 * time.Minute)
	tok = mustRefresh(t, s, tok.Refresh)
	clock.Advance(31 * time.Minute)
	assertError(t, refreshWith(t, s, tok.Refresh), "UNAUTHENTICATED", "Refresh failed")
	assert.False(t, signedIn(t, s, tok.Access))

	// The idle timeout ends access tokens too, before they expire on their own.
	root = s.Login(t, apptest.RootEmail, apptest.RootPassword)
	mustSetSecurityPolicy(t, s, root.Access, map[string]any{"sessionIdleTimeoutMinutes": 10})
	used := s.Login(t, bob.Email, apptest.Password(bob.Email))
	unused := s.Login(t, bob.Email, apptest.Password(bob.Email))
	clock.Advance(9 * time.Minute)
	assert.True(t, signedIn(t, s, used.Access), "9 minutes idle")
	clock.Advance(2 * time.Minute)
	assert.False(t, signedIn(t, s, unused.Access), "11 minutes idle, within the token's 15 minutes")
	assertError(t, refreshWith(t, s, unused.Refresh), "UNAUTHENTICATED", "Refresh failed")
	assert.True(t, signedIn(t, s, used.Access), "used 2 minutes ago")
	assert.True(t, signedIn(t, s, s.Login(t, bob.Email, apptest.Password(bob.Email)).Access), "signing in again works")
}

func TestSessionUsedRegularlyOutlivesTheIdleTimeout(t *testing.T) {
	clock := apptest.NewWholeSecondClock()
	s := apptest.Start(t, apptest.WithClock(clock))
	acme := s.Org(t, apptest.RootOrg)
	bob := s.AddUser(t, "bob@example.com", acme, "member")
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	mustSetSecurityPolicy(t, s, root.Access, map[string]any{"sessionIdleTimeoutMinutes": 30})

	tok := s.Login(t, bob.Email, apptest.Password(bob.Email))
	for range 6 { // two hours, four times the idle timeout
		clock.Advance(20 * time.Minute)
		assert.False(t, signedIn(t, s, tok.Access), "access tokens expire after 15 minutes")
		tok = mustRefresh(t, s, tok.Refresh)
		require.True(t, signedIn(t, s, tok.Access))
	}
	// A request with the access token counts as use too.
	clock.Advance(10 * time.Minute)
	require.True(t, signedIn(t, s, tok.Access))
	clock.Advance(25 * time.Minute)
	tok = mustRefresh(t, s, tok.Refresh)
	clock.Advance(31 * time.Minute)
	assertError(t, refreshWith(t, s, tok.Refresh), "UNAUTHENTICATED", "Refresh failed")
}

func TestSessionMaxLifetimeEndsEvenActiveSessions(t *testing.T) {
	clock := apptest.NewWholeSecondClock()
	s := apptest.Start(t, apptest.WithClock(clock))
	acme := s.Org(t, apptest.RootOrg)
	bob := s.AddUser(t, "bob@example.com", acme, "member")
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	mustSetSecurityPolicy(t, s, root.Access, map[string]any{"sessionMaxLifetimeHours": 1})

	tok := s.Login(t, bob.Email, apptest.Password(bob.Email))
	for range 6 {
		clock.Advance(10 * time.Minute)
		tok = mustRefresh(t, s, tok.Refresh)
		require.True(t, signedIn(t, s, tok.Access))
	}
	clock.Advance(time.Minute)
	assert.False(t, signedIn(t, s, tok.Access), "61 minutes after sign-in, with a fresh access token")
	assertError(t, refreshWith(t, s, tok.Refresh), "UNAUTHENTICATED", "Refresh failed")
	assert.True(t, signedIn(t, s, s.Login(t, bob.Email, apptest.Password(bob.Email)).Access), "a new sign-in starts a new lifetime")
}

func TestSessionListsLeaveOutSessionsEndedByThePolicy(t *testing.T) {
	clock := apptest.NewWholeSecondClock()
	s := apptest.Start(t, apptest.WithClock(clock))
	acme := s.Org(t, apptest.RootOrg)
	bob := s.AddUser(t, "bob@example.com", acme, "member")
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	mustSetSecurityPolicy(t, s, root.Access, map[string]any{"sessionIdleTimeoutMinutes": 30})

	idle := s.Login(t, bob.Email, apptest.Password(bob.Email))
	active := s.Login(t, bob.Email, apptest.Password(bob.Email))
	for range 3 {
		clock.Advance(15 * time.Minute)
		active = mustRefresh(t, s, active.Refresh)
	}
	assertError(t, refreshWith(t, s, idle.Refresh), "UNAUTHENTICATED", "Refresh failed")

	r := s.Do(t, active.Access, viewerSessionsQuery, nil)
	require.Empty(t, r.Errors)
	assert.Len(t, r.Get("viewer.sessions"), 1, "the idle session is over and not listed as live")
	root = s.Login(t, apptest.RootEmail, apptest.RootPassword)
	r = s.Do(t, root.Access, orgSessionsQuery, map[string]any{"n": 10})
	require.Empty(t, r.Errors)
	assert.EqualValues(t, 2, r.Get("viewer.organization.sessions.totalCount"), "bob's active session and root's new one")
}

func TestSessionsAreListedAndRevokedByTheirOwnerOrASecurityAdmin(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	globex := s.CreateOrg(t, "Globex")
	dave := s.AddUser(t, "dave@example.com", acme, "admin")
	bob := s.AddUser(t, "bob@example.com", acme, "member")
	s.AddUser(t, bob.Email, globex, "member")
	carol := s.AddUser(t, "carol@example.com", acme, "member")
	a := s.Login(t, bob.Email, apptest.Password(bob.Email))
	b := s.Login(t, bob.Email, apptest.Password(bob.Email))
	aID, bID := sessionIDOf(t, s, a.Access), sessionIDOf(t, s, b.Access)

	var list struct {
		Viewer struct {
			Session  struct{ ID string }
			Sessions []struct {
				ID, UserAgent, IPAddress string
				Current                  bool
				Organization             struct{ Name string }
			}
		}
	}
	s.Do(t, a.Access, viewerSessionsQuery, nil).Decode(t, &list)
	require.Len(t, list.Viewer.Sessions, 2)
	ids := map[string]bool{}
	for _, sess := range list.Viewer.Sessions {
		ids[sess.ID] = sess.Current
		assert.Equal(t, "apptest", sess.UserAgent)
		assert.Equal(t, "127.0.0.1", sess.IPAddress)
		assert.Equal(t, apptest.RootOrg, sess.Organization.Name)
	}
	assert.Equal(t, map[string]bool{aID: true, bID: false}, ids, "only the session in use is current")
	assert.Equal(t, aID, list.Viewer.Session.ID)

	// Bob ends his other session: it stops at once.
	r := s.Do(t, a.Access, revokeSessionMutation, map[string]any{"id": bID})
	require.Empty(t, r.Errors)
	assert.Equal(t, true, r.Get("revokeSession"))
	assert.False(t, signedIn(t, s, b.Access))
	assertError(t, refreshWith(t, s, b.Refresh), "UNAUTHENTICATED", "Refresh failed")
	assert.True(t, signedIn(t, s, a.Access))
	s.Do(t, a.Access, viewerSessionsQuery, nil).Decode(t, &list)
	require.Len(t, list.Viewer.Sessions, 1)
	assert.Equal(t, aID, list.Viewer.Sessions[0].ID)

	// Carol, a member, cannot end bob's session, nor list the organization's.
	c := s.Login(t, carol.Email, apptest.Password(carol.Email))
	assertError(t, s.Do(t, c.Access, revokeSessionMutation, map[string]any{"id": aID}), "NOT_FOUND", "")
	assertError(t, s.Do(t, c.Access, revokeSessionMutation, map[string]any{"id": uuid.NewString()}), "NOT_FOUND", "")
	assertError(t, s.Do(t, c.Access, orgSessionsQuery, nil), "FORBIDDEN", "Permission denied: security:view required")
	assert.True(t, signedIn(t, s, a.Access))

	// Dave, an admin, lists the organization's live sessions and ends a member's.
	d := s.Login(t, dave.Email, apptest.Password(dave.Email))
	dID, cID := sessionIDOf(t, s, d.Access), sessionIDOf(t, s, c.Access)
	var page struct {
		Viewer struct {
			Organization struct {
				Sessions struct {
					TotalCount int
					Edges      []struct {
						Node struct {
							ID      string
							Current bool
							User    struct{ Email string }
						}
					}
				}
			}
		}
	}
	s.Do(t, d.Access, orgSessionsQuery, map[string]any{"n": 10}).Decode(t, &page)
	assert.Equal(t, 3, page.Viewer.Organization.Sessions.TotalCount)
	listed := map[string]string{}
	for _, e := range page.Viewer.Organization.Sessions.Edges {
		listed[e.Node.ID] = e.Node.User.Email
		assert.Equal(t, e.Node.ID == dID, e.Node.Current)
	}
	assert.Equal(t, map[string]string{aID: bob.Email, cID: carol.Email, dID: dave.Email}, listed, "revoked sessions are not listed")
	s.Do(t, d.Access, orgSessionsQuery, map[string]any{"n": 2}).Decode(t, &page)
	assert.Len(t, page.Viewer.Organization.Sessions.Edges, 2, "first: 2")
	assert.Equal(t, 3, page.Viewer.Organization.Sessions.TotalCount)

	// Bob's session in Globex is out of dave's reach.
	g := s.Do(t, "", secondFactorLogin, map[string]any{"e": bob.Email, "p": apptest.Password(bob.Email), "org": globex.ID.String()})
	require.Empty(t, g.Errors)
	gAccess := g.Str("login.accessToken")
	assertError(t, s.Do(t, d.Access, revokeSessionMutation, map[string]any{"id": sessionIDOf(t, s, gAccess)}), "NOT_FOUND", "")
	assert.True(t, signedIn(t, s, gAccess))

	r = s.Do(t, d.Access, revokeSessionMutation, map[string]any{"id": aID})
	require.Empty(t, r.Errors)
	assert.Equal(t, true, r.Get("revokeSession"))
	assert.False(t, signedIn(t, s, a.Access))
	assert.True(t, signedIn(t, s, gAccess))
	assert.Equal(t, 2, auditEntries(t, s, "session.revoke"))

	// Bob ends all his other sessions at once, the Globex one included.
	x := s.Login(t, bob.Email, apptest.Password(bob.Email))
	y := s.Login(t, bob.Email, apptest.Password(bob.Email))
	r = s.Do(t, x.Access, revokeOtherSessionsMutation, nil)
	require.Empty(t, r.Errors)
	assert.EqualValues(t, 2, r.Get("revokeOtherSessions"))
	assert.True(t, signedIn(t, s, x.Access))
	assert.False(t, signedIn(t, s, y.Access))
	assert.False(t, signedIn(t, s, gAccess))
	assert.EqualValues(t, 0, s.Do(t, x.Access, revokeOtherSessionsMutation, nil).Get("revokeOtherSessions"))
	assert.Equal(t, 2, auditEntries(t, s, "session.revoke_others"))
}

func TestPasswordChangeChecksBothPasswordsAndEndsOtherSessions(t *testing.T) {
	s := apptest.Start(t)
	acme := s.Org(t, apptest.RootOrg)
	bob := s.AddUser(t, "bob@example.com", acme, "member")
	old := apptest.Password(bob.Email)
	a := s.Login(t, bob.Email, old)
	b := s.Login(t, bob.Email, old)
	change := func(current, next string) *apptest.Response {
		return s.Do(t, a.Access, changePasswordMutation, map[string]any{"c": current, "n": next})
	}

	assertError(t, change("not-my-password", "a-new-long-password"), "BAD_USER_INPUT", "Current password is incorrect")
	assertError(t, change(old, "short"), "BAD_USER_INPUT", "Password must be at least 8 characters")
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	mustSetSecurityPolicy(t, s, root.Access, map[string]any{"passwordMinLength": 12})
	assertError(t, change(old, "elevenchars"), "BAD_USER_INPUT", "Password must be at least 12 characters")
	assert.True(t, signedIn(t, s, b.Access), "failed changes end nothing")
	require.Empty(t, plainLogin(t, s, bob.Email, old).Errors, "failed changes keep the password")
	b = s.Login(t, bob.Email, old)

	r := change(old, "a-new-long-password")
	require.Empty(t, r.Errors)
	assert.Equal(t, true, r.Get("changePassword"))
	assert.True(t, signedIn(t, s, a.Access), "the session in use lives on")
	assert.False(t, signedIn(t, s, b.Access), "other sessions end at once")
	assertError(t, refreshWith(t, s, b.Refresh), "UNAUTHENTICATED", "Refresh failed")
	assertError(t, plainLogin(t, s, bob.Email, old), "UNAUTHENTICATED", "Incorrect username or password")
	require.Empty(t, plainLogin(t, s, bob.Email, "a-new-long-password").Errors)
	assert.Equal(t, 1, auditEntries(t, s, "security.password_change"))
}

func TestRateLimitBlocksAnAccountAfterThreeWrongPasswords(t *testing.T) {
	clock := apptest.NewWholeSecondClock()
	s := apptest.Start(t, apptest.WithClock(clock), apptest.WithLimits(smallLimits))
	bob := s.AddUser(t, "bob@example.com", s.Org(t, apptest.RootOrg), "member")
	password := apptest.Password(bob.Email)

	// Successes never count.
	for range 10 {
		require.Empty(t, plainLogin(t, s, bob.Email, password).Errors)
	}
	for range 3 {
		assertError(t, plainLogin(t, s, bob.Email, "wrong-password"), "UNAUTHENTICATED", "Incorrect username or password")
	}
	assert.Equal(t, 15, assertRateLimited(t, plainLogin(t, s, bob.Email, password)), "even the right password")
	clock.Advance(14 * time.Second)
	assert.Equal(t, 1, assertRateLimited(t, plainLogin(t, s, bob.Email, password)))
	require.Empty(t, plainLogin(t, s, apptest.RootEmail, apptest.RootPassword).Errors, "other accounts from the same address sign in")

	clock.Advance(time.Second)
	require.Empty(t, plainLogin(t, s, bob.Email, password).Errors, "the block is over")
	// The success cleared the account's count: two more failures do not block it.
	for range 2 {
		assertError(t, plainLogin(t, s, bob.Email, "wrong-password"), "UNAUTHENTICATED", "Incorrect username or password")
	}
	require.Empty(t, plainLogin(t, s, bob.Email, password).Errors)
}

func TestRateLimitBlocksDoubleAndNeverExceedTheMaximum(t *testing.T) {
	clock := apptest.NewWholeSecondClock()
	s := apptest.Start(t, apptest.WithClock(clock), apptest.WithLimits(smallLimits))
	bob := s.AddUser(t, "bob@example.com", s.Org(t, apptest.RootOrg), "member")
	password := apptest.Password(bob.Email)

	for range 3 {
		assertError(t, plainLogin(t, s, bob.Email, "wrong-password"), "UNAUTHENTICATED", "")
	}
	var got []int
	for range 8 {
		wait := assertRateLimited(t, plainLogin(t, s, bob.Email, password))
		got = append(got, wait)
		require.Positive(t, wait)
		clock.Advance(time.Duration(wait) * time.Second)
		assertError(t, plainLogin(t, s, bob.Email, "wrong-password"), "UNAUTHENTICATED", "")
	}
	assert.Equal(t, []int{15, 30, 60, 120, 240, 480, 900, 900}, got)
	assert.Equal(t, 900, assertRateLimited(t, plainLogin(t, s, bob.Email, password)))
	clock.Advance(900 * time.Second)
	require.Empty(t, plainLogin(t, s, bob.Email, password).Errors, "nobody is locked out longer than the maximum after the failures stop")
}

func TestRateLimitAnswersUnknownAndKnownAccountsAlike(t *testing.T) {
	clock := apptest.NewWholeSecondClock()
	s := apptest.Start(t, apptest.WithClock(clock), apptest.WithLimits(smallLimits))
	bob := s.AddUser(t, "bob@example.com", s.Org(t, apptest.RootOrg), "member")

	same := func(known, unknown *apptest.Response) {
		t.Helper()
		require.NotEmpty(t, known.Errors)
		require.NotEmpty(t, unknown.Errors)
		assert.Equal(t, known.Errors[0].Message, unknown.Errors[0].Message)
		assert.Equal(t, known.Errors[0].Extensions, unknown.Errors[0].Extensions)
		assert.Equal(t, known.Data, unknown.Data)
	}
	for range 3 {
		known := plainLogin(t, s, bob.Email, "wrong-password")
		assertError(t, known, "UNAUTHENTICATED", "Incorrect username or password")
		same(known, plainLogin(t, s, "nobody@example.com", "wrong-password"))
	}
	known := plainLogin(t, s, bob.Email, apptest.Password(bob.Email))
	assert.Equal(t, 15, assertRateLimited(t, known))
	same(known, plainLogin(t, s, "nobody@example.com", "any-password"))
}

func TestRateLimitCountsWrongCurrentPasswordsOfPasswordChanges(t *testing.T) {
	clock := apptest.NewWholeSecondClock()
	s := apptest.Start(t, apptest.WithClock(clock), apptest.WithLimits(smallLimits))
	bob := s.AddUser(t, "bob@example.com", s.Org(t, apptest.RootOrg), "member")
	password := apptest.Password(bob.Email)
	tok := s.Login(t, bob.Email, password)

	for range 3 {
		assertError(t, s.Do(t, tok.Access, changePasswordMutation, map[string]any{"c": "guess", "n": "a-new-long-password"}),
			"BAD_USER_INPUT", "Current password is incorrect")
	}
	assertRateLimited(t, s.Do(t, tok.Access, changePasswordMutation, map[string]any{"c": password, "n": "a-new-long-password"}))
	assertRateLimited(t, plainLogin(t, s, bob.Email, password))
	clock.Advance(15 * time.Second)
	require.Empty(t, s.Do(t, tok.Access, changePasswordMutation, map[string]any{"c": password, "n": "a-new-long-password"}).Errors)
}

func TestRateLimitOnInvitationAcceptancePerAddress(t *testing.T) {
	clock := apptest.NewWholeSecondClock()
	s := apptest.Start(t, apptest.WithClock(clock), apptest.WithLimits(smallLimits))
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	inv := inviteAs(t, s, root.Access, "new@example.com", "member")

	for _, bad := range []string{"guess-1", "guess-2", "guess-3"} {
		assertError(t, s.Do(t, "", acceptInvitationMutation, acceptVars(bad, "a-good-password", "New")), "NOT_FOUND", "Invalid invitation token")
	}
	assert.Equal(t, 15, assertRateLimited(t, s.Do(t, "", acceptInvitationMutation, acceptVars(inv.Token, "a-good-password", "New"))),
		"even the right token")
	assert.Equal(t, "PENDING", previewStatus(t, s, inv.Token))
	clock.Advance(15 * time.Second)
	r := s.Do(t, "", acceptInvitationMutation, acceptVars(inv.Token, "a-good-password", "New"))
	require.Empty(t, r.Errors)
	assert.Equal(t, "new@example.com", r.Str("acceptInvitation.user.email"))
}

func TestRateLimitOnTwoFactorCodesPerAddress(t *testing.T) {
	clock := apptest.NewWholeSecondClock()
	s := apptest.Start(t, apptest.WithClock(clock), apptest.WithLimits(smallLimits))
	acme := s.Org(t, apptest.RootOrg)
	bob := s.AddUser(t, "bob@example.com", acme, "member")
	carol := s.AddUser(t, "carol@example.com", acme, "member")
	dave := s.AddUser(t, "dave@example.com", acme, "member")
	bobTF := enableTwoFactor(t, s, clock, s.Login(t, bob.Email, apptest.Password(bob.Email)).Access)
	carolTF := enableTwoFactor(t, s, clock, s.Login(t, carol.Email, apptest.Password(carol.Email)).Access)
	daveTok := s.Login(t, dave.Email, apptest.Password(dave.Email))
	r := s.Do(t, daveTok.Access, beginTwoFactorMutation, nil)
	require.Empty(t, r.Errors)
	daveSecret := r.Str("beginTwoFactorSetup.secret")

	for range 3 {
		assertError(t, secondFactorLoginAs(t, s, bob.Email, apptest.Password(bob.Email), wrongCode(t, bobTF.Secret, clock.Now()), ""),
			"UNAUTHENTICATED", "Invalid 2FA Code")
	}
	// The address is blocked, for every account and every way of giving a code.
	assert.Equal(t, 15, assertRateLimited(t,
		secondFactorLoginAs(t, s, carol.Email, apptest.Password(carol.Email), totpCode(t, carolTF.Secret, clock.Now()), "")))
	assertRateLimited(t, secondFactorLoginAs(t, s, carol.Email, apptest.Password(carol.Email), "", carolTF.RecoveryCodes[0]))
	assertRateLimited(t, s.Do(t, daveTok.Access, confirmTwoFactorMutation, map[string]any{"c": totpCode(t, daveSecret, clock.Now())}))
	assert.False(t, twoFactorEnabled(t, s, daveTok.Access))

	clock.Advance(15 * time.Second)
	require.Empty(t, secondFactorLoginAs(t, s, carol.Email, apptest.Password(carol.Email), totpCode(t, carolTF.Secret, clock.Now()), "").Errors)
	require.Empty(t, s.Do(t, daveTok.Access, confirmTwoFactorMutation, map[string]any{"c": totpCode(t, daveSecret, clock.Now())}).Errors)

	// Wrong setup codes count the same way.
	r = s.Do(t, daveTok.Access, disableTwoFactorMutation, map[string]any{"p": apptest.Password(dave.Email)})
	require.Empty(t, r.Errors)
	r = s.Do(t, daveTok.Access, beginTwoFactorMutation, nil)
	require.Empty(t, r.Errors)
	daveSecret = r.Str("beginTwoFactorSetup.secret")
	clock.Advance(15 * time.Minute)
	daveTok = s.Login(t, dave.Email, apptest.Password(dave.Email))
	for range 3 {
		assertError(t, s.Do(t, daveTok.Access, confirmTwoFactorMutation, map[string]any{"c": wrongCode(t, daveSecret, clock.Now())}),
			"BAD_USER_INPUT", "Invalid Code")
	}
	assertRateLimited(t, s.Do(t, daveTok.Access, confirmTwoFactorMutation, map[string]any{"c": totpCode(t, daveSecret, clock.Now())}))
}

func TestRateLimitStopsPasswordGuessingThroughDisableTwoFactor(t *testing.T) {
	clock := apptest.NewWholeSecondClock()
	s := apptest.Start(t, apptest.WithClock(clock), apptest.WithLimits(smallLimits))
	bob := s.AddUser(t, "bob@example.com", s.Org(t, apptest.RootOrg), "member")
	tok := s.Login(t, bob.Email, apptest.Password(bob.Email))
	enableTwoFactor(t, s, clock, tok.Access)

	for range 3 {
		assertError(t, s.Do(t, tok.Access, disableTwoFactorMutation, map[string]any{"p": "a-guess"}),
			"UNAUTHENTICATED", "Incorrect username or password")
	}
	assertRateLimited(t, s.Do(t, tok.Access, disableTwoFactorMutation, map[string]any{"p": apptest.Password(bob.Email)}))
	assert.True(t, twoFactorEnabled(t, s, tok.Access))
}

func TestSessionTokensCannotStandInForEachOther(t *testing.T) {
	s := apptest.Start(t)
	tok := s.Login(t, apptest.RootEmail, apptest.RootPassword)

	assertError(t, refreshWith(t, s, tok.Access), "UNAUTHENTICATED", "Refresh failed")
	assertError(t, s.Do(t, tok.Refresh, viewerQuery, nil), "UNAUTHENTICATED", "Invalid or expired token")
	assertError(t, s.Do(t, tok.Refresh, `mutation { logout }`, nil), "UNAUTHENTICATED", "")
	assertError(t, s.Do(t, tok.Refresh, revokeOtherSessionsMutation, nil), "UNAUTHENTICATED", "")
	// Neither attempt harmed the session: each token still does its own job.
	assert.True(t, signedIn(t, s, tok.Access))
	next := mustRefresh(t, s, tok.Refresh)
	assert.True(t, signedIn(t, s, next.Access))
}

// manyDomains returns n distinct e-mail domains.
func manyDomains(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("d%d.example", i)
	}
	return out
}
