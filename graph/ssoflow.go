package graph

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/schema/schematype"
	"github.com/inferiallm/orgserver/ent/session"
	"github.com/inferiallm/orgserver/ent/ssoattempt"
	"github.com/inferiallm/orgserver/ent/ssoconnection"
	"github.com/inferiallm/orgserver/ent/ssodomain"
	"github.com/inferiallm/orgserver/ent/ssoidentity"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/graph/model"
	"github.com/inferiallm/orgserver/server/auth"
)

// Single sign-on, the flow: the browser goes to /auth/sso/{connection}/start (StartSSO), on to
// the provider, back to /auth/sso/{connection}/callback (FinishSSO), which checks everything the
// provider sent, finds or creates the account, and hands the dashboard a single-use code in the
// URL fragment; the dashboard exchanges it (completeSsoSignIn) for the same tokens a password
// sign-in gives. An e-mail address that already has an account is linked only with that
// account's proof (linkSsoIdentity).

const (
	// SSOAttemptTTL is how long the provider may take: from start to callback (and so how long
	// the browser keeps the state cookie).
	SSOAttemptTTL = 10 * time.Minute
	// ssoHandoffTTL is how long the dashboard may take to exchange the callback's code.
	ssoHandoffTTL = 2 * time.Minute
	// ssoMFAMaxAge is how recent the provider's authentication must be for its MFA to count.
	ssoMFAMaxAge = 10 * time.Minute
	// SSOCookie is the cookie that binds an attempt to the browser that started it.
	SSOCookie = "orgserver_sso"
)

// SSOFailure is a refused step of the flow: Status and Message are for the browser, Reason for
// the server's log and audit log (it may say more than the browser is told).
type SSOFailure struct {
	Status  int
	Message string
	Reason  string
	// RetryAfter is the seconds a rate-limited client should wait; 0 when not limited.
	RetryAfter int
}

func (f *SSOFailure) Error() string { return f.Message }

func ssoRefused(reason string) *SSOFailure {
	return &SSOFailure{Status: 400, Message: "Single sign-on failed. Start again from the sign-in page.", Reason: reason}
}

// ssoLimited is the browser's answer to a refusal of checkLimits: 429 with its Retry-After.
// Any other error (the limiter's read failed) goes back as it is.
func ssoLimited(err error) error {
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeRateLimited {
		return err
	}
	f := &SSOFailure{Status: 429, Message: "Too many sign-in attempts from this address. Try again later.", Reason: "rate limited"}
	f.RetryAfter, _ = e.RetryAfter()
	return f
}

// SSOStart is where the start endpoint sends the browser, and the secret of the cookie that
// binds the attempt to it.
type SSOStart struct {
	Redirect      string
	BrowserSecret string
}

// SSOFinish is where the callback sends the browser; for a test sign-in, instead, the mapped
// claims to show.
type SSOFinish struct {
	Redirect   string
	TestClaims map[string]any
}

// UnknownSSOConnection refuses a step for a connection that does not exist or may not be used
// (reason says which, to the log only): the browser is told the same either way.
func UnknownSSOConnection(reason string) *SSOFailure {
	return &SSOFailure{Status: http.StatusNotFound, Message: "Unknown single sign-on connection.", Reason: reason}
}

// safeReturnTo keeps a return path only if it is a plain path of this site: one leading slash
// (not "//host", not "/\host"), no scheme, no control characters. Anything else is "/".
func safeReturnTo(p string) string {
	if p == "" || len(p) > 512 || p[0] != '/' || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") ||
		strings.ContainsAny(p, "\\#") || strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return p
}

func (s *Service) oauthConfig(c *ent.SSOConnection, secret string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if c.TokenAuthMethod == ssoconnection.TokenAuthMethodClientSecretPost {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID: c.ClientID, ClientSecret: secret, Scopes: c.Scopes, RedirectURL: s.ssoURL(c.ID, ssoCallbackStep),
		Endpoint: oauth2.Endpoint{AuthURL: c.AuthorizationEndpoint, TokenURL: c.TokenEndpoint, AuthStyle: style},
	}
}

// beginSSOTest makes a one-time link that starts a test sign-in through a connection.
func (s *Service) beginSSOTest(ctx context.Context, id uuid.UUID) (*model.SSOTestStart, error) {
	v := auth.FromContext(ctx)
	c, err := s.ssoConnection(ctx, id)
	if err != nil {
		return nil, err
	}
	if s.SSOBaseURL == "" {
		return nil, Errorf(CodeBadUserInput, "Set PUBLIC_URL (or SSO_BASE_URL) so that the provider can send the browser back")
	}
	if c.Status == ssoconnection.StatusDisabled {
		return nil, Errorf(CodeBadUserInput, "The connection is disabled")
	}
	ticket, err := auth.RandomToken(32)
	if err != nil {
		return nil, err
	}
	// Attempts are the sign-in workflow's own records; no viewer reads them.
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	create := s.db(ctx).SSOAttempt.Create().SetOrganizationID(c.OrganizationID).SetConnectionID(c.ID).
		SetPurpose(ssoattempt.PurposeTest).SetTicketHash(auth.HashToken(ticket)).SetExpiresAt(s.now().Add(SSOAttemptTTL))
	if !v.IsAPIKey() {
		create.SetStartedByID(v.UserID)
	}
	if err := create.Exec(sys); err != nil {
		return nil, err
	}
	return &model.SSOTestStart{URL: s.ssoURL(c.ID, ssoStartStep) + "?test=" + url.QueryEscape(ticket)}, nil
}

// StartSSO starts an attempt through connection connID: a sign-in (the connection must be
// active), or, with the ticket of beginSsoTest, a test. It returns the provider's authorization
// URL, with a single-use state, a nonce and a PKCE S256 challenge, and the secret the browser
// must bring back in the state cookie.
func (s *Service) StartSSO(ctx context.Context, connID uuid.UUID, ticket, returnTo string) (*SSOStart, error) {
	if s.SSOBaseURL == "" {
		return nil, &SSOFailure{Status: 503, Message: "Single sign-on is not configured on this server.", Reason: "no base URL"}
	}
	// Every start stores an attempt, for anyone who asks: so they are counted per address.
	keys := s.ipKey(ctx, "sso_start", s.Limits.SSOStartPerIP)
	if err := s.checkLimits(ctx, keys); err != nil {
		return nil, ssoLimited(err)
	}
	s.recordFailures(ctx, keys)
	// Starting a sign-in: there is no viewer yet.
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	c, err := s.Client.SSOConnection.Get(sys, connID)
	if ent.IsNotFound(err) {
		return nil, UnknownSSOConnection("unknown connection")
	}
	if err != nil {
		return nil, err
	}
	state, err1 := auth.RandomToken(32)
	nonce, err2 := auth.RandomToken(32)
	browser, err3 := auth.RandomToken(32)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	stateHash := auth.HashToken(state)
	verifier := oauth2.GenerateVerifier()
	sealed, err := s.Sealer.Seal(verifier, "sso-pkce:"+stateHash)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if ticket != "" {
		n, err := s.Client.SSOAttempt.Update().Where(ssoattempt.TicketHash(auth.HashToken(ticket)),
			ssoattempt.ConnectionID(c.ID), ssoattempt.PurposeEQ(ssoattempt.PurposeTest),
			ssoattempt.StateHashIsNil(), ssoattempt.ExpiresAtGT(now)).
			SetStateHash(stateHash).SetBrowserHash(auth.HashToken(browser)).SetNonce(nonce).
			SetCodeVerifier(sealed).SetExpiresAt(now.Add(SSOAttemptTTL)).Save(sys)
		if err != nil {
			return nil, err
		}
		if n == 0 || c.Status == ssoconnection.StatusDisabled {
			return nil, &SSOFailure{Status: 400, Message: "This test link is invalid, used or expired.", Reason: "bad test ticket"}
		}
	} else {
		if c.Status != ssoconnection.StatusActive {
			return nil, UnknownSSOConnection("connection not active")
		}
		if err := s.Client.SSOAttempt.Create().SetOrganizationID(c.OrganizationID).SetConnectionID(c.ID).
			SetPurpose(ssoattempt.PurposeSignin).SetStateHash(stateHash).SetBrowserHash(auth.HashToken(browser)).
			SetNonce(nonce).SetCodeVerifier(sealed).SetReturnTo(safeReturnTo(returnTo)).
			SetExpiresAt(now.Add(SSOAttemptTTL)).Exec(sys); err != nil {
			return nil, err
		}
	}
	redirect := s.oauthConfig(c, "").AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))
	return &SSOStart{Redirect: redirect, BrowserSecret: browser}, nil
}

// PruneSSOAttempts deletes attempts that can no longer be used: their state and any handoff
// code have expired (an hour's margin keeps them for a look after a failed sign-in).
func (s *Service) PruneSSOAttempts(ctx context.Context) error {
	cutoff := s.now().Add(-time.Hour)
	// Housekeeping by the system.
	_, err := s.Client.SSOAttempt.Delete().Where(ssoattempt.ExpiresAtLT(cutoff),
		ssoattempt.Or(ssoattempt.HandoffExpiresAtIsNil(), ssoattempt.HandoffExpiresAtLT(cutoff))).
		Exec(privacy.DecisionContext(ctx, privacy.Allow))
	return err
}

// ssoClaims are what a verified ID token says about the person, mapped by the connection.
type ssoClaims struct {
	Issuer, Subject, Email, Name string
	EmailVerified                bool
	AMR                          []string
	ACR                          string
	AuthTime                     time.Time
}

// mapped is the test sign-in's display of the claims.
func (c ssoClaims) mapped() map[string]any {
	m := map[string]any{"iss": c.Issuer, "sub": c.Subject, "email": c.Email, "email_verified": c.EmailVerified,
		"name": c.Name, "amr": c.AMR, "acr": c.ACR}
	if !c.AuthTime.IsZero() {
		m["auth_time"] = c.AuthTime.UTC().Format(time.RFC3339)
	}
	return m
}

// mfaAMR are the amr values (RFC 8176) that show a second factor or a phishing-resistant key.
var mfaAMR = []string{"mfa", "otp", "hwk", "sc", "fpt", "face", "iris", "retina", "vbm", "swk", "pop"}

// mfaACR are acr values that providers use for multi-factor authentication.
var mfaACR = []string{"http://schemas.openid.net/pape/policies/2007/06/multi-factor", "phr", "phrh",
	"urn:okta:loa:2fa:any", "urn:okta:loa:2fa:any:ifpossible"}

// showsMFA reports whether the claims carry MFA evidence from an authentication recent enough.
func (c ssoClaims) showsMFA(now time.Time) bool {
	evidence := slices.ContainsFunc(c.AMR, func(a string) bool { return slices.Contains(mfaAMR, a) }) || slices.Contains(mfaACR, c.ACR)
	return evidence && !c.AuthTime.IsZero() && now.Sub(c.AuthTime) <= ssoMFAMaxAge && c.AuthTime.Before(now.Add(time.Minute))
}

// FinishSSO is the callback: it checks the state, the browser, the provider's answer and the ID
// token, then signs the person in (or, for a test, shows the claims). Every refusal is audited.
// Anyone can send a callback, and each refusal costs reads and an audit entry: refusals are
// counted per address, and past the limit the callback is refused before any other work.
func (s *Service) FinishSSO(ctx context.Context, connID uuid.UUID, q url.Values, browserSecret string) (*SSOFinish, error) {
	keys := s.ipKey(ctx, "sso_callback", s.Limits.SSOCallbackFailuresPerIP)
	if err := s.checkLimits(ctx, keys); err != nil {
		return nil, ssoLimited(err)
	}
	fin, err := s.finishSSO(ctx, connID, q, browserSecret)
	var refused *SSOFailure
	if errors.As(err, &refused) {
		s.recordFailures(ctx, keys)
	}
	return fin, err
}

// finishSSO is FinishSSO's work, under its limit.
func (s *Service) finishSSO(ctx context.Context, connID uuid.UUID, q url.Values, browserSecret string) (*SSOFinish, error) {
	// The callback is the sign-in itself: there is no viewer.
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	c, err := s.Client.SSOConnection.Get(sys, connID)
	if ent.IsNotFound(err) {
		return nil, UnknownSSOConnection("unknown connection")
	}
	if err != nil {
		return nil, err
	}
	var a *ent.SSOAttempt
	fail := func(reason string) error {
		action := "sso.signin"
		if a != nil && a.Purpose == ssoattempt.PurposeTest {
			action = "sso.connection_test"
		}
		s.auditFailure(ctx, auditEntry{Action: action, Category: categoryAuth, OrgID: &c.OrganizationID,
			ResourceType: "sso_connection", ResourceID: c.ID.String(), Details: map[string]any{"reason": reason}})
		return ssoRefused(reason)
	}
	state := q.Get("state")
	if state == "" {
		return nil, fail("missing state")
	}
	// The state works once, whatever happens next: consume it first.
	now := s.now()
	stateHash := auth.HashToken(state)
	n, err := s.Client.SSOAttempt.Update().Where(ssoattempt.StateHash(stateHash), ssoattempt.ConnectionID(c.ID),
		ssoattempt.StateUsedAtIsNil(), ssoattempt.ExpiresAtGT(now)).SetStateUsedAt(now).Save(sys)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fail("unknown, used or expired state")
	}
	if a, err = s.Client.SSOAttempt.Query().Where(ssoattempt.StateHash(stateHash)).Only(sys); err != nil {
		return nil, err
	}
	if browserSecret == "" {
		return nil, fail("missing state cookie")
	}
	if subtle.ConstantTimeCompare([]byte(auth.HashToken(browserSecret)), []byte(a.BrowserHash)) != 1 {
		return nil, fail("state cookie does not match")
	}
	if e := q.Get("error"); e != "" {
		return nil, fail("provider error: " + truncate(e, 100))
	}
	if c.Status == ssoconnection.StatusDisabled || (a.Purpose == ssoattempt.PurposeSignin && c.Status != ssoconnection.StatusActive) {
		return nil, fail("connection not active")
	}
	if iss, ok := q["iss"]; ok && (len(iss) != 1 || iss[0] != c.Issuer) {
		return nil, fail("iss response parameter does not match the issuer")
	}
	code := q.Get("code")
	if code == "" {
		return nil, fail("no authorization code")
	}
	claims, reason, err := s.redeem(ctx, c, a, code)
	if err != nil {
		return nil, err
	}
	if reason != "" {
		return nil, fail(reason)
	}
	if a.Purpose == ssoattempt.PurposeTest {
		return s.finishTest(ctx, c, a, claims)
	}
	return s.finishSignIn(ctx, c, a, claims, fail)
}

// redeem exchanges the code (with the PKCE verifier) and verifies the ID token: signature by a
// key of the provider with one of the connection's asymmetric algorithms, exact issuer, a single
// audience that is the client, azp (when present) the client, expiry, and the attempt's nonce.
// A refusal comes back as reason; err is for failures of the server itself.
func (s *Service) redeem(ctx context.Context, c *ent.SSOConnection, a *ent.SSOAttempt, code string) (ssoClaims, string, error) {
	var out ssoClaims
	secret, err := s.Sealer.Open(c.ClientSecret, ssoSecretContext(c.ID))
	if err != nil {
		return out, "", err
	}
	verifier, err := s.Sealer.Open(a.CodeVerifier, "sso-pkce:"+ptr(a.StateHash))
	if err != nil {
		return out, "", err
	}
	hctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, s.SSOClient.Client), 20*time.Second)
	defer cancel()
	tok, err := s.oauthConfig(c, secret).Exchange(hctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return out, "token exchange refused: " + truncate(re.ErrorCode, 100), nil
		}
		return out, "token exchange failed: " + fetchFailure(err), nil
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return out, "no ID token", nil
	}
	// The connection's key set, kept between sign-ins (ssokeys.go).
	idVerifier := oidc.NewVerifier(c.Issuer, s.ssoKeySet(c), &oidc.Config{ClientID: c.ClientID, SupportedSigningAlgs: c.SigningAlgs, Now: s.now})
	idt, err := idVerifier.Verify(hctx, raw)
	if err != nil {
		return out, "ID token refused: " + truncate(err.Error(), 200), nil
	}
	if len(idt.Audience) != 1 {
		return out, "ID token refused: more than one audience", nil
	}
	var all map[string]json.RawMessage
	if err := idt.Claims(&all); err != nil {
		return out, "ID token refused: unreadable claims", nil
	}
	if raw, ok := all["azp"]; ok {
		var azp string
		if json.Unmarshal(raw, &azp) != nil || azp != c.ClientID {
			return out, "ID token refused: azp is not the client", nil
		}
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(a.Nonce)) != 1 || a.Nonce == "" {
		return out, "ID token refused: nonce does not match", nil
	}
	str := func(name string) string {
		var v string
		_ = json.Unmarshal(all[name], &v)
		return strings.TrimSpace(v)
	}
	out = ssoClaims{Issuer: idt.Issuer, Subject: idt.Subject, Email: auth.NormalizeEmail(str(c.EmailClaim)),
		Name: str(c.NameClaim), ACR: str("acr"),
		// Literally true: "true" as a string, 1 or anything else reads as unverified.
		EmailVerified: strings.TrimSpace(string(all[c.EmailVerifiedClaim])) == "true"}
	_ = json.Unmarshal(all["amr"], &out.AMR)
	var authTime float64
	if json.Unmarshal(all["auth_time"], &authTime) == nil && authTime > 0 {
		out.AuthTime = time.Unix(int64(authTime), 0).UTC()
	}
	if out.Subject == "" {
		return out, "ID token refused: no subject", nil
	}
	return out, "", nil
}

// finishTest records a test sign-in's claims on the connection (a draft becomes tested) and
// starts no session.
func (s *Service) finishTest(ctx context.Context, c *ent.SSOConnection, a *ent.SSOAttempt, claims ssoClaims) (*SSOFinish, error) {
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	mapped := claims.mapped()
	err := s.inTx(ctx, func(ctx context.Context) error {
		u := s.db(ctx).SSOConnection.UpdateOneID(c.ID).SetTestedAt(s.now()).SetTestClaims(mapped)
		if c.Status == ssoconnection.StatusDraft {
			u.SetStatus(ssoconnection.StatusTested)
		}
		if err := u.Exec(sys); err != nil {
			return err
		}
		return auditEntry{Action: "sso.connection_test", Category: categorySecurity, OrgID: &c.OrganizationID,
			ActorID: a.StartedByID, ResourceType: "sso_connection", ResourceID: c.ID.String(),
			Details: map[string]any{"claims": mapped}}.create(ctx, s.db(ctx)).Exec(sys)
	})
	if err != nil {
		return nil, err
	}
	return &SSOFinish{TestClaims: mapped}, nil
}

// ssoRefusal is a reason finishSignIn refuses the sign-in for.
type ssoRefusal string

func (r ssoRefusal) Error() string { return string(r) }

// finishSignIn finds the person's account by (connection, issuer, subject), or at a first
// sign-in decides from the e-mail address, in one transaction:
//   - an identity is linked: its account signs in, if still a member of the organization;
//   - else the address must be verified (email_verified literally true) and on a domain this
//     organization verified for this connection;
//   - an account with the address exists: it is linked only with its own proof, later
//     (linkSsoIdentity); the dashboard gets a link code, not a session;
//   - no account: with JIT on, the account, its membership (the connection's default role) and
//     identity are created.
//
// Then it stores a single-use code for the dashboard, to exchange for tokens.
func (s *Service) finishSignIn(ctx context.Context, c *ent.SSOConnection, a *ent.SSOAttempt, claims ssoClaims, fail func(string) error) (*SSOFinish, error) {
	idpMFA := c.TrustIdpMfa && claims.showsMFA(s.now())
	handoff, err := auth.RandomToken(32)
	if err != nil {
		return nil, err
	}
	var kind ssoattempt.HandoffKind
	err = s.inTx(ctx, func(ctx context.Context) error {
		sys := privacy.DecisionContext(ctx, privacy.Allow)
		db := s.db(ctx)
		var userID uuid.UUID
		ident, err := db.SSOIdentity.Query().Where(ssoidentity.ConnectionID(c.ID), ssoidentity.Issuer(claims.Issuer),
			ssoidentity.Subject(claims.Subject)).Only(sys)
		switch {
		case err == nil:
			// A linked account that left comes back by invitation only, not just in time.
			if err := s.ssoJoin(ctx, c, ident.UserID, false); err != nil {
				return err
			}
			if err := db.SSOIdentity.UpdateOne(ident).SetEmail(claims.Email).SetLastSignInAt(s.now()).Exec(sys); err != nil {
				return err
			}
			userID, kind = ident.UserID, ssoattempt.HandoffKindSession
		case ent.IsNotFound(err):
			if !claims.EmailVerified {
				return ssoRefusal("email_verified is not true")
			}
			ok, err := s.domainVerifiedFor(ctx, c, claims.Email)
			if err != nil {
				return err
			}
			if !ok {
				return ssoRefusal("email outside the domains verified for this connection")
			}
			existing, err := db.User.Query().Where(user.Email(claims.Email)).Only(sys)
			switch {
			case err == nil:
				userID, kind = existing.ID, ssoattempt.HandoffKindLink
				if err := s.ssoAudit(ctx, c, &existing.ID, existing.Email, "sso.link_required", claims, false); err != nil {
					return err
				}
			case ent.IsNotFound(err):
				admission, err := s.ssoAdmit(ctx, c, claims.Email, true)
				if err != nil {
					return err
				}
				if userID, err = s.createSSOAccount(ctx, c, claims, admission); err != nil {
					return err
				}
				kind = ssoattempt.HandoffKindSession
			default:
				return err
			}
		default:
			return err
		}
		return db.SSOAttempt.UpdateOne(a).SetHandoffHash(auth.HashToken(handoff)).SetHandoffKind(kind).
			SetHandoffExpiresAt(s.now().Add(ssoHandoffTTL)).SetUserID(userID).SetIssuer(claims.Issuer).
			SetSubject(claims.Subject).SetEmail(claims.Email).SetName(claims.Name).SetIdpMfa(idpMFA).Exec(sys)
	})
	// A refusal rolls the transaction back: an account created for a join that then lost its
	// invitation is gone with it.
	var refusal ssoRefusal
	if errors.As(err, &refusal) || errors.Is(err, errSSONotAdmitted) {
		return nil, fail(err.Error())
	}
	if err != nil {
		return nil, err
	}
	param := "sso_code"
	if kind == ssoattempt.HandoffKindLink {
		param = "sso_link"
	}
	return &SSOFinish{Redirect: strings.TrimSuffix(s.DashboardURL, "/") + a.ReturnTo + "#" + param + "=" + url.QueryEscape(handoff)}, nil
}

// domainVerifiedFor reports whether email's domain is one c's organization verified for c.
func (s *Service) domainVerifiedFor(ctx context.Context, c *ent.SSOConnection, email string) (bool, error) {
	_, domain, ok := strings.Cut(email, "@")
	if !ok {
		return false, nil
	}
	key, ok := schematype.DomainKey(domain)
	if !ok {
		return false, nil
	}
	return s.db(ctx).SSODomain.Query().Where(ssodomain.VerifiedDomain(key), ssodomain.OrganizationID(c.OrganizationID),
		ssodomain.ConnectionID(c.ID)).Exist(privacy.DecisionContext(ctx, privacy.Allow))
}

// createSSOAccount creates the account of a first SSO sign-in, its membership (by invitation, or
// just in time with the connection's default role, never admin) and its identity, and audits
// it. The account has no password: it signs in through SSO, or sets one with a reset link.
func (s *Service) createSSOAccount(ctx context.Context, c *ent.SSOConnection, claims ssoClaims, admission *ssoAdmission) (uuid.UUID, error) {
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	db := s.db(ctx)
	name := truncate(claims.Name, 200)
	if schematype.UserName(name) != nil {
		name = ""
	}
	u, err := db.User.Create().SetEmail(claims.Email).SetName(name).SetPasswordHash("").
		SetDefaultOrgID(c.OrganizationID).Save(sys)
	if err != nil {
		return uuid.Nil, err
	}
	roleName, err := admission.join(ctx, s, c, u.ID, u.Email)
	if err != nil {
		return uuid.Nil, err
	}
	if err := db.SSOIdentity.Create().SetUserID(u.ID).SetOrganizationID(c.OrganizationID).SetConnectionID(c.ID).
		SetIssuer(claims.Issuer).SetSubject(claims.Subject).SetEmail(claims.Email).SetLastSignInAt(s.now()).Exec(sys); err != nil {
		return uuid.Nil, err
	}
	kv := []string{"role", roleName}
	if admission.inv != nil {
		kv = append(kv, "invitation_id", admission.inv.ID.String())
	}
	return u.ID, s.ssoAudit(ctx, c, &u.ID, u.Email, "sso.jit_create", claims, false, kv...)
}

// ssoAudit records an SSO event of the connection's organization.
func (s *Service) ssoAudit(ctx context.Context, c *ent.SSOConnection, actor *uuid.UUID, email, action string, claims ssoClaims, failed bool, kv ...string) error {
	d := map[string]any{"connection_id": c.ID.String(), "issuer": claims.Issuer, "subject": claims.Subject}
	for i := 0; i+1 < len(kv); i += 2 {
		d[kv[i]] = kv[i+1]
	}
	return auditEntry{Action: action, Category: categoryAuth, OrgID: &c.OrganizationID, ActorID: actor, ActorEmail: email,
		ResourceType: "user", ResourceID: ptr(actor).String(), Details: d, Failed: failed}.
		create(ctx, s.db(ctx)).Exec(privacy.DecisionContext(ctx, privacy.Allow))
}

// handoff finds the live attempt of a dashboard's code, of the given kind.
func (s *Service) handoff(ctx context.Context, code string, kind ssoattempt.HandoffKind) (*ent.SSOAttempt, error) {
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	a, err := s.db(ctx).SSOAttempt.Query().Where(ssoattempt.HandoffHash(auth.HashToken(strings.TrimSpace(code))),
		ssoattempt.HandoffKindEQ(kind), ssoattempt.HandoffUsedAtIsNil(), ssoattempt.HandoffExpiresAtGT(s.now())).
		WithConnection().Only(sys)
	if ent.IsNotFound(err) || (err == nil && a.UserID == nil) {
		return nil, Errorf(CodeUnauthenticated, "Invalid or expired sign-in code")
	}
	return a, err
}

// useHandoff marks the code used; a second use of one code finds nothing.
func (s *Service) useHandoff(ctx context.Context, a *ent.SSOAttempt) error {
	n, err := s.db(ctx).SSOAttempt.Update().Where(ssoattempt.ID(a.ID), ssoattempt.HandoffUsedAtIsNil()).
		SetHandoffUsedAt(s.now()).Save(privacy.DecisionContext(ctx, privacy.Allow))
	if err != nil {
		return err
	}
	if n == 0 {
		return Errorf(CodeUnauthenticated, "Invalid or expired sign-in code")
	}
	return nil
}

// ssoSignIn is how a session of attempt a signs in.
func ssoSignIn(a *ent.SSOAttempt) signIn {
	c := a.Edges.Connection
	return signIn{method: session.SignInMethodSSO, connection: &c.ID, idpMFA: a.IdpMfa,
		maxLife: time.Duration(c.MaxSessionHours) * time.Hour}
}

// completeSSOSignIn exchanges the callback's code for tokens: the session starts in the
// connection's organization. An account with 2FA gives its code too, unless the connection
// trusts the provider's MFA and the provider showed it.
func (s *Service) completeSSOSignIn(ctx context.Context, in model.CompleteSSOSignInInput) (*model.AuthPayload, error) {
	a, err := s.handoff(ctx, in.Code, ssoattempt.HandoffKindSession)
	if err != nil {
		return nil, err
	}
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	u, err := s.db(ctx).User.Get(sys, *a.UserID)
	if err != nil {
		return nil, err
	}
	if err := s.ssoSecondFactor(ctx, u, a, in.TotpCode, in.RecoveryCode, !a.IdpMfa); err != nil {
		return nil, err
	}
	return s.startSSOSession(ctx, u, a, nil, "auth.login")
}

// ssoSecondFactor asks an account with 2FA for its code, when required.
func (s *Service) ssoSecondFactor(ctx context.Context, u *ent.User, a *ent.SSOAttempt, totp, recovery *string, required bool) error {
	if !u.TwoFactorEnabled || !required {
		return nil
	}
	code := strings.TrimSpace(ptr(totp))
	if code == "" {
		code = strings.TrimSpace(ptr(recovery))
	}
	if code == "" {
		return &Error{Code: CodeTwoFactorCodeRequired, Message: "TOTP_REQUIRED"}
	}
	if err := s.verifySecondFactor(ctx, u, code); err != nil {
		if errors.Is(err, errInvalidCode) {
			s.auditFailure(ctx, auditEntry{Action: "auth.login", Category: categoryAuth, OrgID: &a.OrganizationID,
				ActorID: &u.ID, ActorEmail: u.Email, ResourceType: "user", ResourceID: u.ID.String(),
				Details: map[string]any{"reason": "invalid 2FA code", "method": "sso"}})
		}
		return err
	}
	return nil
}

// startSSOSession uses up the attempt's code and starts the session in the connection's
// organization, audited as action. l is the sign-in's load (loadSignIn) if the caller has read
// it in this transaction already; nil: read it here.
func (s *Service) startSSOSession(ctx context.Context, u *ent.User, a *ent.SSOAttempt, l *signInLoad, action string) (*model.AuthPayload, error) {
	if err := s.useHandoff(ctx, a); err != nil {
		return nil, err
	}
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	if l == nil {
		var err error
		if l, err = s.loadSignIn(sys, u, &a.OrganizationID); err != nil {
			return nil, err
		}
	}
	l.primeLoaders(sys)
	payload, err := s.openSession(ctx, nil, u, l.m, ssoSignIn(a))
	if err != nil {
		return nil, err
	}
	payload.Loaded = l.ms
	return payload, s.audit(auth.NewContext(ctx, payload.Viewer), auditEntry{Action: action, Category: categoryAuth,
		ResourceType: "user", ResourceID: u.ID.String(),
		Details: map[string]any{"method": "sso", "connection_id": a.ConnectionID.String(), "idp_mfa": a.IdpMfa}})
}

// linkSSOIdentity links the identity of a first SSO sign-in to the existing account of its
// e-mail address, once that account proves itself, and signs in.
//  1. Before any transaction: find the attempt by its link code; under the sign-in limits,
//     check the account's password (the slow part).
//  2. In one transaction: the password must still be the account's; its 2FA, if on, must be
//     given (the provider's MFA does not prove the account); a password hashed with other
//     parameters than the current ones is stored hashed with them; use the code up; link; the
//     account must be a member of the organization, or become one when the connection admits
//     members just in time; start the session; audit.
func (s *Service) linkSSOIdentity(ctx context.Context, in model.LinkSSOIdentityInput) (*model.AuthPayload, error) {
	a, err := s.handoff(ctx, in.Code, ssoattempt.HandoffKindLink)
	if err != nil {
		return nil, err
	}
	c := a.Edges.Connection
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	u, err := s.db(ctx).User.Get(sys, *a.UserID)
	if err != nil {
		return nil, err
	}
	claims := ssoClaims{Issuer: a.Issuer, Subject: a.Subject, Email: a.Email}
	if len(in.Password) > schematype.MaxPasswordLength {
		return nil, ErrBadCredentials
	}
	keys := s.loginKeys(ctx, u.Email)
	if err := s.checkLimits(ctx, keys); err != nil {
		return nil, err
	}
	ok, rehash, err := s.verifyPasswordForSignIn(ctx, in.Password, u.PasswordHash, keys, nil)
	if err != nil {
		return nil, err
	}
	if !ok {
		s.recordFailures(ctx, keys)
		s.auditFailure(ctx, auditEntry{Action: "sso.link", Category: categoryAuth, OrgID: &c.OrganizationID, ActorID: &u.ID,
			ActorEmail: u.Email, ResourceType: "user", ResourceID: u.ID.String(),
			Details: map[string]any{"reason": "wrong password", "connection_id": c.ID.String()}})
		return nil, ErrBadCredentials
	}
	var payload *model.AuthPayload
	err = s.inTx(ctx, func(ctx context.Context) error {
		sys := privacy.DecisionContext(ctx, privacy.Allow)
		db := s.db(ctx)
		checked := u
		u, err := db.User.Query().Where(user.ID(checked.ID), user.PasswordHash(checked.PasswordHash)).Only(sys)
		if ent.IsNotFound(err) {
			return ErrBadCredentials
		}
		if err != nil {
			return err
		}
		if err := s.ssoSecondFactor(ctx, u, a, in.TotpCode, in.RecoveryCode, true); err != nil {
			return err
		}
		// As at a password sign-in; kept only if the link is.
		if stored, err := s.storeRehash(ctx, u, checked.PasswordHash, rehash); err != nil {
			return err
		} else if !stored {
			return ErrBadCredentials
		}
		// The memberships the session starts from also say whether the account is a member.
		l, err := s.loadSignIn(sys, u, &a.OrganizationID)
		if errors.Is(err, errNotMember) {
			if err := s.ssoJoinNonMember(ctx, c, u.ID, u.Email, true); errors.Is(err, errSSONotAdmitted) {
				return errNotMember
			} else if err != nil {
				return err
			}
			// Read again, the new membership with them.
			l, err = s.loadSignIn(sys, u, &a.OrganizationID)
		}
		if err != nil {
			return err
		}
		err = db.SSOIdentity.Create().SetUserID(u.ID).SetOrganizationID(a.OrganizationID).SetConnectionID(c.ID).
			SetIssuer(a.Issuer).SetSubject(a.Subject).SetEmail(a.Email).SetLastSignInAt(s.now()).Exec(sys)
		if ent.IsConstraintError(err) {
			return Errorf(CodeConflict, "This identity is linked to an account already")
		}
		if err != nil {
			return err
		}
		if err := s.clearLimits(ctx, keys[0]); err != nil {
			return err
		}
		if err := s.ssoAudit(ctx, c, &u.ID, u.Email, "sso.link", claims, false, "proof", "password"); err != nil {
			return err
		}
		payload, err = s.startSSOSession(ctx, u, a, l, "auth.login")
		return err
	})
	if err != nil {
		return nil, err
	}
	return payload, nil
}

// unlinkSSOIdentity removes one of the viewer's identities (or, with sso:manage, one of the
// active organization's): it signs in no more.
func (s *Service) unlinkSSOIdentity(ctx context.Context, id uuid.UUID) (bool, error) {
	db := s.db(ctx)
	ident, err := db.SSOIdentity.Get(ctx, id)
	if ent.IsNotFound(err) {
		return false, Errorf(CodeNotFound, "Identity not found")
	}
	if err != nil {
		return false, err
	}
	if err := db.SSOIdentity.DeleteOne(ident).Exec(ctx); err != nil {
		return false, err
	}
	return true, s.audit(ctx, auditEntry{Action: "sso.unlink", Category: categorySecurity, OrgID: &ident.OrganizationID,
		ResourceType: "user", ResourceID: ident.UserID.String(),
		Details: map[string]any{"connection_id": ident.ConnectionID.String(), "issuer": ident.Issuer, "subject": ident.Subject}})
}

// viewerSSOIdentities lists the viewer's identities, oldest first.
func (s *Service) viewerSSOIdentities(ctx context.Context, v *auth.Viewer) ([]*ent.SSOIdentity, error) {
	return s.db(ctx).SSOIdentity.Query().Where(ssoidentity.UserID(v.UserID)).
		Order(ent.Asc(ssoidentity.FieldCreatedAt), ent.Asc(ssoidentity.FieldID)).All(ctx)
}

// ssoDiscover tells where an address signs in: through SSO when its domain is verified by an
// organization for an active connection. One statement, the same answer shape either way.
func (s *Service) ssoDiscover(ctx context.Context, email string) (*model.SSODiscovery, error) {
	out := &model.SSODiscovery{}
	_, domain, ok := strings.Cut(auth.NormalizeEmail(email), "@")
	key, valid := schematype.DomainKey(domain)
	if !ok || !valid {
		return out, nil
	}
	// Routing a sign-in: there is no viewer.
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	d, err := s.db(ctx).SSODomain.Query().Where(ssodomain.VerifiedDomain(key),
		ssodomain.HasConnectionWith(ssoconnection.StatusEQ(ssoconnection.StatusActive))).Only(sys)
	if ent.IsNotFound(err) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	out.Sso = true
	if u := s.ssoURL(*d.ConnectionID, ssoStartStep); u != "" {
		out.StartURL = &u
	}
	return out, nil
}
