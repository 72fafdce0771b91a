package graph_test

import (
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent/auditlog"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
	"github.com/inferiallm/orgserver/server/auth"
)

const (
	requestResetMutation  = `mutation($e: String!) { requestPasswordReset(email: $e) }`
	resetPasswordMutation = `mutation($t: String!, $p: String!) { resetPassword(input: {token: $t, password: $p}) }`
	sendResetMutation     = `mutation($u: ID!) { sendPasswordReset(userId: $u) }`
	resetPreviewQuery     = `query($t: String!) { passwordResetPreview(token: $t) { email expiresAt passwordMinLength } }`
)

var resetLinkPattern = regexp.MustCompile(`https://dash\.example/auth/reset-password\?token=([A-Za-z0-9_%\-]+)`)

// startWithMailbox starts a server that mails through box, with links to https://dash.example.
func startWithMailbox(t *testing.T, box *mailbox, opts ...apptest.Option) *apptest.Server {
	t.Helper()
	return apptest.Start(t, append([]apptest.Option{func(c *app.Config, _ *app.Options) {
		c.PublicURL = "https://dash.example"
		c.SMTPURL = "smtp://user:secret@" + box.addr + "?from=noreply@acme.test"
	}}, opts...)...)
}

// resetTokenMailedTo waits for the n-th message to addr and returns the reset token it links to.
func resetTokenMailedTo(t *testing.T, box *mailbox, addr string, n int) string {
	t.Helper()
	require.Eventually(t, func() bool { return len(box.to(addr)) >= n }, 5*time.Second, 20*time.Millisecond)
	m := resetLinkPattern.FindStringSubmatch(box.to(addr)[n-1].Data)
	require.NotNil(t, m, "a reset link in %q", box.to(addr)[n-1].Data)
	token, err := url.QueryUnescape(m[1])
	require.NoError(t, err)
	return token
}

func requestReset(t *testing.T, s *apptest.Server, email string) *apptest.Response {
	t.Helper()
	return s.Do(t, "", requestResetMutation, map[string]any{"e": email})
}

func resetWith(t *testing.T, s *apptest.Server, token, password string) *apptest.Response {
	t.Helper()
	return s.Do(t, "", resetPasswordMutation, map[string]any{"t": token, "p": password})
}

func TestAForgottenPasswordIsResetThroughTheEmailedLink(t *testing.T) {
	box := startMailbox(t)
	s := startWithMailbox(t, box)
	acme := s.Org(t, apptest.RootOrg)
	const email = "dana@acme.test"
	dana := s.AddUser(t, email, acme, "developer")
	session := s.Login(t, email, apptest.Password(email))

	// Known and unknown addresses get the same answer; only the account is mailed.
	known, unknown := requestReset(t, s, "Dana@Acme.test"), requestReset(t, s, "nobody@acme.test")
	require.Empty(t, known.Errors)
	assert.Equal(t, known.Dig(""), unknown.Dig(""))
	assert.Equal(t, true, known.Get("requestPasswordReset"))
	first := resetTokenMailedTo(t, box, email, 1)
	assert.Contains(t, box.to(email)[0].Data, "Subject: Reset your InferiaLLM password")

	// A new request replaces the link: the first one stops working.
	require.Empty(t, requestReset(t, s, email).Errors)
	token := resetTokenMailedTo(t, box, email, 2)
	require.NotEqual(t, first, token)
	assertError(t, resetWith(t, s, first, "a brand new password"), "NOT_FOUND", "")
	assert.Nil(t, s.Do(t, "", resetPreviewQuery, map[string]any{"t": first}).Get("passwordResetPreview"))

	// The token is stored only as its hash.
	stored, err := s.App.Client().User.Get(apptest.SystemContext(), dana.ID)
	require.NoError(t, err)
	require.NotNil(t, stored.PasswordResetHash)
	assert.Equal(t, auth.HashToken(token), *stored.PasswordResetHash)

	p := s.Do(t, "", resetPreviewQuery, map[string]any{"t": token})
	require.Empty(t, p.Errors)
	assert.Equal(t, email, p.Str("passwordResetPreview.email"))
	assert.EqualValues(t, 8, p.Get("passwordResetPreview.passwordMinLength"))

	// Too short for the policy: refused, and the link still works.
	assertError(t, resetWith(t, s, token, "short"), "BAD_USER_INPUT", "Password must be at least 8 characters")
	r := resetWith(t, s, token, "a brand new password")
	require.Empty(t, r.Errors)
	assert.Equal(t, true, r.Get("resetPassword"))

	// Once only; every session ended; the old password is gone, the new one signs in.
	assertError(t, resetWith(t, s, token, "another new password"), "NOT_FOUND", "")
	assert.Equal(t, "UNAUTHENTICATED", s.Do(t, "", refreshMutation, map[string]any{"t": session.Refresh}).Code())
	assert.Equal(t, "UNAUTHENTICATED", plainLogin(t, s, email, apptest.Password(email)).Code())
	s.Login(t, email, "a brand new password")

	// The holder is told by e-mail; nothing ever went to the unknown address.
	require.Eventually(t, func() bool { return len(box.to(email)) == 3 }, 5*time.Second, 20*time.Millisecond)
	assert.Contains(t, box.to(email)[2].Data, "Subject: Your InferiaLLM password was changed")
	assert.NotContains(t, box.to(email)[2].Data, token)
	assert.Empty(t, box.to("nobody@acme.test"))

	// Audited in the account's organization, without the token.
	logs, err := s.App.Client().AuditLog.Query().Where(auditlog.OrganizationID(acme.ID), auditlog.ResourceID(dana.ID.String()),
		auditlog.ActionHasPrefix("security.password_reset")).All(apptest.SystemContext())
	require.NoError(t, err)
	var actions []string
	for _, l := range logs {
		actions = append(actions, l.Action+"/"+l.Status)
		assert.Equal(t, "security", l.Category)
		assert.NotContains(t, string(mustJSON(t, l.Details)), token)
		assert.NotContains(t, string(mustJSON(t, l.Details)), first)
	}
	sort.Strings(actions)
	// Refusals of unknown or used-up tokens name no account, so they are in no organization's log.
	assert.Equal(t, []string{"security.password_reset/success",
		"security.password_reset_request/success", "security.password_reset_request/success"}, actions)
}

func TestAResetLinkExpiresAndAnotherPasswordChangeRetiresIt(t *testing.T) {
	box := startMailbox(t)
	clock := apptest.NewClock()
	s := startWithMailbox(t, box, apptest.WithClock(clock), func(c *app.Config, _ *app.Options) {
		c.PasswordResetTTL = 10 * time.Minute
	})
	acme := s.Org(t, apptest.RootOrg)
	const email = "erin@acme.test"
	s.AddUser(t, email, acme, "viewer")

	require.Empty(t, requestReset(t, s, email).Errors)
	token := resetTokenMailedTo(t, box, email, 1)
	clock.Advance(10*time.Minute + time.Second)
	assert.Nil(t, s.Do(t, "", resetPreviewQuery, map[string]any{"t": token}).Get("passwordResetPreview"))
	assertError(t, resetWith(t, s, token, "a brand new password"), "BAD_USER_INPUT", "This password reset link has expired; request a new one")

	// A fresh link, then the password changes another way: the link is refused.
	require.Empty(t, requestReset(t, s, email).Errors)
	token = resetTokenMailedTo(t, box, email, 2)
	tokens := s.Login(t, email, apptest.Password(email))
	r := s.Do(t, tokens.Access, `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }`,
		map[string]any{"c": apptest.Password(email), "n": "changed the usual way"})
	require.Empty(t, r.Errors)
	assertError(t, resetWith(t, s, token, "a brand new password"), "NOT_FOUND", "")
	s.Login(t, email, "changed the usual way")
}

func TestOneResetLinkUsedTwentyTimesAtOnceWorksOnce(t *testing.T) {
	box := startMailbox(t)
	s := startWithMailbox(t, box)
	acme := s.Org(t, apptest.RootOrg)
	const email = "frank@acme.test"
	s.AddUser(t, email, acme, "viewer")
	require.Empty(t, requestReset(t, s, email).Errors)
	token := resetTokenMailedTo(t, box, email, 1)

	const n = 20
	var wg sync.WaitGroup
	results := make([]*apptest.Response, n)
	for i := range n {
		wg.Go(func() {
			r, err := s.TryDo("", resetPasswordMutation, map[string]any{"t": token, "p": "parallel password " + string(rune('a'+i))})
			if err == nil {
				results[i] = r
			}
		})
	}
	wg.Wait()
	won := -1
	for i, r := range results {
		require.NotNil(t, r, "request %d", i)
		if len(r.Errors) == 0 {
			require.Equal(t, -1, won, "a second reset succeeded")
			won = i
			continue
		}
		assert.Contains(t, []string{"NOT_FOUND", "UNAVAILABLE"}, r.Code(), "request %d: %v", i, r.Errors)
	}
	require.NotEqual(t, -1, won, "one reset succeeds")
	s.Login(t, email, "parallel password "+string(rune('a'+won)))
	for i := range n {
		if i != won {
			assert.Equal(t, "UNAUTHENTICATED", plainLogin(t, s, email, "parallel password "+string(rune('a'+i))).Code())
			break
		}
	}
}

func TestAResetKeepsTwoFactorAndTheStrictestPolicy(t *testing.T) {
	box := startMailbox(t)
	clock := apptest.NewWholeSecondClock()
	s := startWithMailbox(t, box, apptest.WithClock(clock))
	acme := s.Org(t, apptest.RootOrg)
	globex := s.CreateOrg(t, "Globex")
	const email = "gail@acme.test"
	s.AddUser(t, email, acme, "developer")
	s.AddUser(t, email, globex, "viewer")
	// Globex asks for 16 characters; Acme keeps the default 8.
	p := globex.SecurityPolicy
	p.PasswordMinLength = 16
	require.NoError(t, s.App.Client().Organization.UpdateOneID(globex.ID).SetSecurityPolicy(p).Exec(apptest.SystemContext()))

	tokens := s.Login(t, email, apptest.Password(email))
	tf := enableTwoFactor(t, s, clock, tokens.Access)

	// changePassword in Acme also applies Globex's minimum.
	r := s.Do(t, tokens.Access, `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }`,
		map[string]any{"c": apptest.Password(email), "n": "twelve chars"})
	assertError(t, r, "BAD_USER_INPUT", "Password must be at least 16 characters")

	require.Empty(t, requestReset(t, s, email).Errors)
	token := resetTokenMailedTo(t, box, email, 1)
	pv := s.Do(t, "", resetPreviewQuery, map[string]any{"t": token})
	assert.EqualValues(t, 16, pv.Get("passwordResetPreview.passwordMinLength"))
	assertError(t, resetWith(t, s, token, "twelve chars"), "BAD_USER_INPUT", "Password must be at least 16 characters")
	require.Empty(t, resetWith(t, s, token, "sixteen characters!").Errors)

	// 2FA is still on and still asked for.
	u, err := s.App.Client().User.Query().Where(user.Email(email)).Only(apptest.SystemContext())
	require.NoError(t, err)
	assert.True(t, u.TwoFactorEnabled)
	assert.Equal(t, "TWO_FACTOR_CODE_REQUIRED", plainLogin(t, s, email, "sixteen characters!").Code())
	r = secondFactorLoginAs(t, s, email, "sixteen characters!", totpCode(t, tf.Secret, clock.Now()), "")
	assert.Empty(t, r.Errors)
}

func TestResetRequestsAndBadTokensAreRateLimitedAlike(t *testing.T) {
	limits := graph.DefaultLimits
	limits.ResetRequestPerAccount, limits.ResetRequestPerIP, limits.ResetPerIP = 2, 5, 2
	s := apptest.Start(t, apptest.WithLimits(limits))
	acme := s.Org(t, apptest.RootOrg)
	s.AddUser(t, "hana@acme.test", acme, "viewer")

	// Per address asked for: the known and the unknown one are refused alike.
	var refusals []*apptest.Response
	for _, email := range []string{"hana@acme.test", "ghost@acme.test"} {
		for range 2 {
			require.Empty(t, requestReset(t, s, email).Errors)
		}
		refusals = append(refusals, requestReset(t, s, email))
	}
	for _, r := range refusals {
		assertError(t, r, "RATE_LIMITED", "Too many failed attempts. Try again later.")
	}
	assert.Equal(t, refusals[0].Errors[0].Message, refusals[1].Errors[0].Message)

	// Per client address: the fifth request from it (of any address) is the last.
	require.Empty(t, requestReset(t, s, "third@acme.test").Errors)
	assertError(t, requestReset(t, s, "fourth@acme.test"), "RATE_LIMITED", "Too many failed attempts. Try again later.")

	// Bad tokens, per client address.
	for range 2 {
		assertError(t, resetWith(t, s, "not-a-token", "a brand new password"), "NOT_FOUND", "")
	}
	assertError(t, resetWith(t, s, "not-a-token", "a brand new password"), "RATE_LIMITED", "")
}

func TestAnAdminSendsAResetLinkOnlyToMembersTheyMayManage(t *testing.T) {
	box := startMailbox(t)
	s := startWithMailbox(t, box)
	acme := s.Org(t, apptest.RootOrg)
	globex := s.CreateOrg(t, "Globex")
	ivy := s.AddUser(t, "ivy@acme.test", acme, "developer")
	jack := s.AddUser(t, "jack@acme.test", acme, "admin")
	gus := s.AddUser(t, "gus@globex.test", globex, "admin")
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	dev := s.Login(t, "ivy@acme.test", apptest.Password("ivy@acme.test"))
	before, err := s.App.Client().User.Get(apptest.SystemContext(), ivy.ID)
	require.NoError(t, err)

	r := s.Do(t, admin.Access, sendResetMutation, map[string]any{"u": ivy.ID})
	require.Empty(t, r.Errors)
	token := resetTokenMailedTo(t, box, "ivy@acme.test", 1)
	assert.Contains(t, box.to("ivy@acme.test")[0].Data, apptest.RootEmail+" sent you a link")
	after, err := s.App.Client().User.Get(apptest.SystemContext(), ivy.ID)
	require.NoError(t, err)
	assert.Equal(t, before.PasswordHash, after.PasswordHash, "sending a link never sets the password")

	cases := []struct {
		name, bearer string
		target       any
		code         string
	}{
		{"a developer cannot send links", dev.Access, jack.ID, "FORBIDDEN"},
		{"an admin of acme cannot reach a member of globex", admin.Access, gus.ID, "NOT_FOUND"},
		{"nobody signed in cannot send links", "", ivy.ID, "UNAUTHENTICATED"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.code, s.Do(t, c.bearer, sendResetMutation, map[string]any{"u": c.target}).Code())
		})
	}

	// An API key whose role may manage the member may send one; the e-mail names the organization.
	key := s.Do(t, admin.Access, `mutation { createApiKey(input: {name: "helpdesk", role: "admin"}) { secret } }`, nil)
	require.Empty(t, key.Errors)
	require.Empty(t, s.Do(t, key.Str("createApiKey.secret"), sendResetMutation, map[string]any{"u": jack.ID}).Errors)
	resetTokenMailedTo(t, box, "jack@acme.test", 1)
	assert.Contains(t, box.to("jack@acme.test")[0].Data, apptest.RootOrg+" sent you a link")

	require.Empty(t, resetWith(t, s, token, "ivy's new password").Errors)
	n, err := s.App.Client().AuditLog.Query().Where(auditlog.OrganizationID(acme.ID),
		auditlog.Action("security.password_reset_send")).Count(apptest.SystemContext())
	require.NoError(t, err)
	assert.Equal(t, 2, n)
}

// TestKnownAndUnknownAddressesTakeTheSameTime compares the medians of many requests. A slack
// for a loaded, noisy machine, but a reset that did slow work (a password hash, an SMTP round
// trip) for known addresses only, past the answer's floor, would fail it.
func TestKnownAndUnknownAddressesTakeTheSameTime(t *testing.T) {
	limits := graph.DefaultLimits
	limits.ResetRequestPerAccount, limits.ResetRequestPerIP = 1000, 1000
	box := startMailbox(t)
	s := startWithMailbox(t, box, apptest.WithLimits(limits))
	acme := s.Org(t, apptest.RootOrg)
	s.AddUser(t, "kim@acme.test", acme, "viewer")

	const rounds = 25
	var known, unknown []time.Duration
	for i := range rounds * 2 {
		email := "kim@acme.test"
		if i%2 == 1 {
			email = "nobody-" + string(rune('a'+i%26)) + "@acme.test"
		}
		start := time.Now()
		r := requestReset(t, s, email)
		d := time.Since(start)
		require.Empty(t, r.Errors)
		assert.Equal(t, map[string]any{"requestPasswordReset": true}, r.Dig(""))
		if i%2 == 0 {
			known = append(known, d)
		} else {
			unknown = append(unknown, d)
		}
	}
	mk, mu := median(known), median(unknown)
	t.Logf("median known %v, unknown %v", mk, mu)
	// Every answer waits for the same floor (150 ms), far above the work, which differs between
	// the two by about a millisecond (the audit inserts).
	for _, d := range append(append([]time.Duration{}, known...), unknown...) {
		assert.GreaterOrEqual(t, d, 150*time.Millisecond, "every answer waits for the floor")
	}
	slack := 20 * time.Millisecond
	assert.Less(t, mk, mu+slack, "known addresses must not take longer")
	assert.Less(t, mu, mk+slack, "unknown addresses must not take longer")
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
