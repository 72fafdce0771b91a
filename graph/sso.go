package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/net/publicsuffix"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/schema/schematype"
	"github.com/inferiallm/orgserver/ent/session"
	"github.com/inferiallm/orgserver/ent/ssoconnection"
	"github.com/inferiallm/orgserver/ent/ssodomain"
	"github.com/inferiallm/orgserver/graph/model"
	"github.com/inferiallm/orgserver/server/auth"
	"github.com/inferiallm/orgserver/server/outbound"
)

// Single sign-on, managed: connections to OpenID Connect providers, the e-mail domains an
// organization proves it holds, and enforcement. The sign-in itself is in ssoflow.go.

// TXTResolver looks up DNS TXT records; net.DefaultResolver is one, tests inject their own.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// asymmetricAlgs are the ID token signing algorithms a connection may use: with a symmetric
// one (HS256) the client secret would sign tokens, and "none" signs nothing.
var asymmetricAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// ssoRecordPrefix is the label under which a domain's verification record is published.
const ssoRecordPrefix = "_orgserver-challenge."

func ssoRecordName(domain string) string { return ssoRecordPrefix + domain }
func ssoRecordValue(token string) string { return "orgserver-domain-verification=" + token }
func ssoEnforcementOf(o *ent.Organization) *model.SSOEnforcement {
	ids := make([]uuid.UUID, 0, len(o.SSOPolicy.BreakGlassUserIDs))
	for _, s := range o.SSOPolicy.BreakGlassUserIDs {
		if id, err := uuid.Parse(s); err == nil {
			ids = append(ids, id)
		}
	}
	return &model.SSOEnforcement{Required: o.SSOPolicy.Required, BreakGlassUserIds: ids}
}

// The browser's endpoints of a connection, as server/app routes them under SSO_BASE_URL.
const (
	ssoStartStep    = "start"
	ssoCallbackStep = "callback"
)

// ssoURL is the URL of a connection's browser endpoint (ssoStartStep or ssoCallbackStep):
// the one place that spells <SSO_BASE_URL>/auth/sso/<id>/<step>. It is "" without a base URL,
// which the server then cannot know.
func (s *Service) ssoURL(id uuid.UUID, step string) string {
	if s.SSOBaseURL == "" {
		return ""
	}
	return strings.TrimSuffix(s.SSOBaseURL, "/") + "/auth/sso/" + id.String() + "/" + step
}

// ssoRedirectURI is a connection's callback URL, to register at the provider; nil without a
// base URL.
func (s *Service) ssoRedirectURI(id uuid.UUID) *string {
	if u := s.ssoURL(id, ssoCallbackStep); u != "" {
		return &u
	}
	return nil
}

// discovery is the part of an OpenID provider's discovery document the server uses.
type discovery struct {
	Issuer        string   `json:"issuer"`
	Authorization string   `json:"authorization_endpoint"`
	Token         string   `json:"token_endpoint"`
	UserInfo      string   `json:"userinfo_endpoint"`
	JWKS          string   `json:"jwks_uri"`
	Algs          []string `json:"id_token_signing_alg_values_supported"`
	PKCE          []string `json:"code_challenge_methods_supported"`
}

// discover fetches and checks the discovery document of issuerURL with the guarded client: the
// issuer it names must be issuerURL (a trailing slash aside), every endpoint must be one the
// client fetches, and it must offer an asymmetric signing algorithm.
func (s *Service) discover(ctx context.Context, issuerURL string) (*discovery, error) {
	issuerURL = strings.TrimSpace(issuerURL)
	if err := s.SSOClient.CheckURL(issuerURL); err != nil {
		return nil, Errorf(CodeBadUserInput, "Issuer URL refused: %s", fetchFailure(err))
	}
	u, _ := url.Parse(issuerURL)
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, Errorf(CodeBadUserInput, "Issuer URL refused: it may not have a query or fragment")
	}
	wellKnown := strings.TrimSuffix(issuerURL, "/") + "/.well-known/openid-configuration"
	var d discovery
	if failure := fetchJSON(ctx, s.SSOClient, wellKnown, &d); failure != "" {
		return nil, Errorf(CodeBadUserInput, "Discovery failed: %s", failure)
	}
	if strings.TrimSuffix(d.Issuer, "/") != strings.TrimSuffix(issuerURL, "/") {
		return nil, Errorf(CodeBadUserInput, "Discovery failed: the document names another issuer (%q)", truncate(d.Issuer, 200))
	}
	for name, e := range map[string]string{"authorization_endpoint": d.Authorization, "token_endpoint": d.Token, "jwks_uri": d.JWKS} {
		if e == "" {
			return nil, Errorf(CodeBadUserInput, "Discovery failed: no %s", name)
		}
		if err := s.SSOClient.CheckURL(e); err != nil {
			return nil, Errorf(CodeBadUserInput, "Discovery failed: %s refused: %s", name, fetchFailure(err))
		}
	}
	if d.UserInfo != "" {
		if err := s.SSOClient.CheckURL(d.UserInfo); err != nil {
			return nil, Errorf(CodeBadUserInput, "Discovery failed: userinfo_endpoint refused: %s", fetchFailure(err))
		}
	}
	if len(d.Algs) == 0 {
		d.Algs = []string{"RS256"} // the default the specification names
	}
	d.Algs = slices.DeleteFunc(slices.Clone(d.Algs), func(a string) bool { return !slices.Contains(asymmetricAlgs, a) })
	if len(d.Algs) == 0 {
		return nil, Errorf(CodeBadUserInput, "Discovery failed: the provider offers no asymmetric ID token signing algorithm")
	}
	return &d, nil
}

// fetchJSON GETs url with the guarded client and reads its JSON answer into v; it returns why
// it could not, in words safe to show (see fetchFailure), or "".
func fetchJSON(ctx context.Context, c *outbound.Client, url string, v any) (failure string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "the URL is not one"
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return fetchFailure(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("the provider answered %d", resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body) // bounded by the guarded client
	if err != nil {
		return fetchFailure(err)
	}
	if json.Unmarshal(body, v) != nil {
		return "the answer is not the JSON expected"
	}
	return ""
}

// fetchFailure is the safe text of a fetch's failure: why a destination was refused, else a generic
// reason (a network error's text may name internal hosts).
func fetchFailure(err error) string {
	switch {
	case errors.Is(err, outbound.ErrRefused):
		var msg string
		if _, after, ok := strings.Cut(err.Error(), "destination refused: "); ok {
			msg = after
		}
		return "the destination is not allowed (" + msg + ")"
	case errors.Is(err, outbound.ErrTooLarge):
		return "the answer is too large"
	case errors.Is(err, context.DeadlineExceeded):
		return "the provider did not answer in time"
	}
	return "the provider could not be reached"
}

// createSSOConnection creates a draft connection of the active organization.
//  1. Check the input; the default role must exist here, may not be admin, and the caller must
//     hold its permissions (read before the transaction, and before discovery).
//  2. Before any statement opens the transaction: run discovery (a network call).
//  3. Seal the secret, create the connection, audit.
func (s *Service) createSSOConnection(ctx context.Context, in model.CreateSSOConnectionInput) (*ent.SSOConnection, error) {
	v := auth.FromContext(ctx)
	name, clientID := strings.TrimSpace(in.Name), strings.TrimSpace(in.ClientID)
	if name == "" || clientID == "" || in.ClientSecret == "" {
		return nil, Errorf(CodeBadUserInput, "name, clientId and clientSecret are required")
	}
	scopes, err := ssoScopes(in.Scopes)
	if err != nil {
		return nil, err
	}
	if err := checkSessionHours(in.MaxSessionHours); err != nil {
		return nil, err
	}
	// Read before the transaction (it is deferred until discovery is done), so that a refused
	// role costs no call to the provider. The connection stores the role's name, which sign-ins
	// look up again.
	roleName := auth.RoleMember
	if in.DefaultRole != nil {
		roleName = *in.DefaultRole
	}
	r, err := s.ssoDefaultRole(ctx, v, roleName)
	if err != nil {
		return nil, err
	}
	d, err := s.discover(ctx, in.IssuerURL)
	if err != nil {
		return nil, err
	}
	var conn *ent.SSOConnection
	err = s.inTx(ctx, func(ctx context.Context) error {
		id := uuid.New()
		secret, err := s.Sealer.Seal(in.ClientSecret, ssoSecretContext(id))
		if err != nil {
			return err
		}
		c := s.db(ctx).SSOConnection.Create().SetID(id).SetOrganizationID(v.OrgID).
			SetName(name).SetIssuerURL(strings.TrimSpace(in.IssuerURL)).SetIssuer(d.Issuer).
			SetClientID(clientID).SetClientSecret(secret).SetScopes(scopes).
			SetAuthorizationEndpoint(d.Authorization).SetTokenEndpoint(d.Token).
			SetUserinfoEndpoint(d.UserInfo).SetJwksURI(d.JWKS).SetSigningAlgs(d.Algs).
			SetDefaultRole(r.Name)
		if in.TokenAuthMethod != nil {
			c.SetTokenAuthMethod(*in.TokenAuthMethod)
		}
		if in.EmailClaim != nil {
			c.SetEmailClaim(strings.TrimSpace(*in.EmailClaim))
		}
		if in.NameClaim != nil {
			c.SetNameClaim(strings.TrimSpace(*in.NameClaim))
		}
		if in.EmailVerifiedClaim != nil {
			c.SetEmailVerifiedClaim(strings.TrimSpace(*in.EmailVerifiedClaim))
		}
		c.SetNillableJitEnabled(in.JitEnabled).SetNillableTrustIdpMfa(in.TrustIdpMfa).SetNillableMaxSessionHours(in.MaxSessionHours)
		if conn, err = c.Save(ctx); err != nil {
			return err
		}
		return s.audit(ctx, auditEntry{Action: "sso.connection_create", Category: categorySecurity,
			ResourceType: "sso_connection", ResourceID: id.String(),
			Details: map[string]any{"name": name, "issuer": d.Issuer, "client_id": clientID}})
	})
	return conn, err
}

func ssoSecretContext(id uuid.UUID) string { return "sso-client-secret:" + id.String() }

// ssoScopes is the scope list of a connection: openid first, no blanks or duplicates.
func ssoScopes(in []string) ([]string, error) {
	if in == nil {
		return []string{"openid", "email", "profile"}, nil
	}
	out := []string{"openid"}
	for _, sc := range in {
		sc = strings.TrimSpace(sc)
		if sc == "" || strings.ContainsAny(sc, " \t\r\n\"\\") || len(sc) > 100 {
			return nil, Errorf(CodeBadUserInput, "Invalid scope %q", truncate(sc, 100))
		}
		if !slices.Contains(out, sc) {
			// Refused as soon as the list is too long: the check costs at most 20 comparisons
			// per scope, whatever the length of the input.
			if len(out) == maxScopes {
				return nil, Errorf(CodeBadUserInput, "At most %d scopes", maxScopes)
			}
			out = append(out, sc)
		}
	}
	return out, nil
}

// maxScopes bounds the scopes a connection asks for, openid included.
const maxScopes = 20

func checkSessionHours(h *int) error {
	if h != nil && (*h < 0 || *h > 8760) {
		return Errorf(CodeBadUserInput, "maxSessionHours must be 0 to 8760")
	}
	return nil
}

// ssoDefaultRole is the role new members of a connection get: one of this organization's
// roles, never admin and never one with sso:manage, and one the caller could grant.
func (s *Service) ssoDefaultRole(ctx context.Context, v *auth.Viewer, name string) (*ent.Role, error) {
	r, err := s.findRole(ctx, v, name)
	if err != nil {
		return nil, err
	}
	if r.Name == auth.RoleAdmin || slices.Contains(r.Permissions, auth.SSOManage) {
		return nil, Errorf(CodeBadUserInput, "The default role of a connection cannot be admin or hold sso:manage")
	}
	return r, checkCanGrant(v, r.Permissions)
}

// ssoConnection loads a connection of the active organization (another's is NOT_FOUND).
func (s *Service) ssoConnection(ctx context.Context, id uuid.UUID) (*ent.SSOConnection, error) {
	c, err := s.db(ctx).SSOConnection.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, Errorf(CodeNotFound, "SSO connection not found")
	}
	return c, err
}

// updateSSOConnection changes a connection; a change of what the sign-in depends on (client,
// secret, scopes, claims, auth method) makes it a draft again, to be tested before use.
func (s *Service) updateSSOConnection(ctx context.Context, id uuid.UUID, in model.UpdateSSOConnectionInput) (*ent.SSOConnection, error) {
	v := auth.FromContext(ctx)
	c, err := s.ssoConnection(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := checkSessionHours(in.MaxSessionHours); err != nil {
		return nil, err
	}
	u := s.db(ctx).SSOConnection.UpdateOne(c)
	changed := []string{}
	retest := false
	if in.Name != nil {
		if strings.TrimSpace(*in.Name) == "" {
			return nil, Errorf(CodeBadUserInput, "name cannot be empty")
		}
		u.SetName(strings.TrimSpace(*in.Name))
		changed = append(changed, "name")
	}
	if in.ClientID != nil {
		if strings.TrimSpace(*in.ClientID) == "" {
			return nil, Errorf(CodeBadUserInput, "clientId cannot be empty")
		}
		u.SetClientID(strings.TrimSpace(*in.ClientID))
		changed, retest = append(changed, "client_id"), true
	}
	if in.ClientSecret != nil {
		if *in.ClientSecret == "" {
			return nil, Errorf(CodeBadUserInput, "clientSecret cannot be empty")
		}
		sealed, err := s.Sealer.Seal(*in.ClientSecret, ssoSecretContext(c.ID))
		if err != nil {
			return nil, err
		}
		u.SetClientSecret(sealed)
		changed, retest = append(changed, "client_secret"), true
	}
	if in.Scopes != nil {
		scopes, err := ssoScopes(in.Scopes)
		if err != nil {
			return nil, err
		}
		u.SetScopes(scopes)
		changed, retest = append(changed, "scopes"), true
	}
	if in.TokenAuthMethod != nil {
		u.SetTokenAuthMethod(*in.TokenAuthMethod)
		changed, retest = append(changed, "token_auth_method"), true
	}
	if in.EmailClaim != nil {
		u.SetEmailClaim(strings.TrimSpace(*in.EmailClaim))
		changed, retest = append(changed, "email_claim"), true
	}
	if in.NameClaim != nil {
		u.SetNameClaim(strings.TrimSpace(*in.NameClaim))
		changed, retest = append(changed, "name_claim"), true
	}
	if in.EmailVerifiedClaim != nil {
		u.SetEmailVerifiedClaim(strings.TrimSpace(*in.EmailVerifiedClaim))
		changed, retest = append(changed, "email_verified_claim"), true
	}
	if in.JitEnabled != nil {
		u.SetJitEnabled(*in.JitEnabled)
		changed = append(changed, "jit_enabled")
	}
	if in.DefaultRole != nil {
		r, err := s.ssoDefaultRole(ctx, v, *in.DefaultRole)
		if err != nil {
			return nil, err
		}
		u.SetDefaultRole(r.Name)
		changed = append(changed, "default_role")
	}
	if in.TrustIdpMfa != nil {
		u.SetTrustIdpMfa(*in.TrustIdpMfa)
		changed = append(changed, "trust_idp_mfa")
	}
	if in.MaxSessionHours != nil {
		u.SetMaxSessionHours(*in.MaxSessionHours)
		changed = append(changed, "max_session_hours")
	}
	if retest && c.Status != ssoconnection.StatusDisabled {
		u.SetStatus(ssoconnection.StatusDraft)
	}
	c, err = u.Save(ctx)
	if err != nil {
		return nil, err
	}
	return c, s.audit(ctx, auditEntry{Action: "sso.connection_update", Category: categorySecurity,
		ResourceType: "sso_connection", ResourceID: c.ID.String(), Details: map[string]any{"changed": changed}})
}

// setSSOConnectionStatus activates a tested connection, or disables one. Disabling a connection
// an enforcing organization depends on is refused while it is the last active one.
func (s *Service) setSSOConnectionStatus(ctx context.Context, id uuid.UUID, to ssoconnection.Status) (*ent.SSOConnection, error) {
	v := auth.FromContext(ctx)
	c, err := s.ssoConnection(ctx, id)
	if err != nil {
		return nil, err
	}
	switch {
	case to == ssoconnection.StatusActive && c.Status == ssoconnection.StatusActive:
		return c, nil
	case to == ssoconnection.StatusActive && c.Status != ssoconnection.StatusTested:
		return nil, Errorf(CodeBadUserInput, "Test the connection with a sign-in first (beginSsoTest)")
	case to == ssoconnection.StatusDisabled:
		org, err := s.db(ctx).Organization.Get(ctx, v.OrgID)
		if err != nil {
			return nil, err
		}
		if org.SSOPolicy.Required && c.Status == ssoconnection.StatusActive {
			n, err := s.db(ctx).SSOConnection.Query().Where(ssoconnection.StatusEQ(ssoconnection.StatusActive), ssoconnection.IDNEQ(c.ID)).Count(ctx)
			if err != nil {
				return nil, err
			}
			if n == 0 {
				return nil, Errorf(CodeConflict, "The organization requires SSO: turn enforcement off before disabling its last active connection")
			}
		}
	}
	from := c.Status
	if c, err = s.db(ctx).SSOConnection.UpdateOne(c).SetStatus(to).Save(ctx); err != nil {
		return nil, err
	}
	action := "sso.connection_activate"
	if to == ssoconnection.StatusDisabled {
		action = "sso.connection_disable"
	}
	return c, s.audit(ctx, auditEntry{Action: action, Category: categorySecurity,
		ResourceType: "sso_connection", ResourceID: c.ID.String(), Details: map[string]any{"from": from.String()}})
}

// ssoConnections lists the active organization's connections, oldest first.
func (s *Service) ssoConnections(ctx context.Context, obj *ent.Organization) ([]*ent.SSOConnection, error) {
	return s.db(ctx).SSOConnection.Query().Where(ssoconnection.OrganizationID(obj.ID)).
		Order(ent.Asc(ssoconnection.FieldCreatedAt), ent.Asc(ssoconnection.FieldID)).All(ctx)
}

// ssoDomains lists the active organization's domains, oldest first.
func (s *Service) ssoDomains(ctx context.Context, obj *ent.Organization) ([]*ent.SSODomain, error) {
	return s.db(ctx).SSODomain.Query().Where(ssodomain.OrganizationID(obj.ID)).
		Order(ent.Asc(ssodomain.FieldCreatedAt), ent.Asc(ssodomain.FieldID)).All(ctx)
}

// publicMailDomains are mail providers whose addresses anyone can get: no organization may
// claim them, or it would sign in (and with JIT, admit) strangers. Disposable-address services
// are refused for the same reason.
var publicMailDomains = []string{
	"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "yahoo.com",
	"ymail.com", "icloud.com", "me.com", "mac.com", "aol.com", "proton.me", "protonmail.com", "pm.me",
	"gmx.com", "gmx.net", "gmx.de", "web.de", "mail.com", "mail.ru", "yandex.ru", "yandex.com", "qq.com",
	"163.com", "126.com", "zoho.com", "fastmail.com", "tutanota.com", "tuta.io", "hey.com", "duck.com",
	"mailinator.com", "guerrillamail.com", "10minutemail.com", "temp-mail.org", "yopmail.com",
	"sharklasers.com", "trashmail.com", "dispostable.com", "getnada.com", "maildrop.cc",
}

// normalizeSSODomain is the A-label form of a claimable domain: a registrable name (not a
// public suffix), not a public or disposable mail provider.
func normalizeSSODomain(raw string) (string, error) {
	d, ok := schematype.DomainKey(strings.TrimSpace(raw))
	if !ok || !strings.Contains(d, ".") || strings.ContainsAny(d, "@/:") {
		return "", Errorf(CodeBadUserInput, "Not a domain name")
	}
	etld1, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return "", Errorf(CodeBadUserInput, "A public suffix cannot be claimed")
	}
	if slices.Contains(publicMailDomains, d) || slices.Contains(publicMailDomains, etld1) {
		return "", Errorf(CodeBadUserInput, "Public and disposable e-mail domains cannot be claimed")
	}
	return d, nil
}

// addSSODomain claims a domain for the active organization, to be verified by its TXT record.
func (s *Service) addSSODomain(ctx context.Context, in model.AddSSODomainInput) (*ent.SSODomain, error) {
	v := auth.FromContext(ctx)
	d, err := normalizeSSODomain(in.Domain)
	if err != nil {
		return nil, err
	}
	if in.ConnectionID != nil {
		if _, err := s.ssoConnection(ctx, *in.ConnectionID); err != nil {
			return nil, err
		}
	}
	token, err := auth.RandomToken(24)
	if err != nil {
		return nil, err
	}
	db := s.db(ctx)
	exists, err := db.SSODomain.Query().Where(ssodomain.OrganizationID(v.OrgID), ssodomain.Domain(d)).Exist(ctx)
	if err != nil {
		return nil, err
	}
	if exists {
		return nil, Errorf(CodeConflict, "The organization already claims %s", d)
	}
	dom, err := db.SSODomain.Create().SetOrganizationID(v.OrgID).SetDomain(d).
		SetNillableConnectionID(in.ConnectionID).SetVerificationToken(token).Save(ctx)
	if err != nil {
		return nil, err
	}
	return dom, s.audit(ctx, auditEntry{Action: "sso.domain_add", Category: categorySecurity,
		ResourceType: "sso_domain", ResourceID: dom.ID.String(), Details: map[string]any{"domain": d}})
}

// verifySSODomain looks the domain's TXT record up and marks it verified.
//  1. Read the domain (outside a transaction: the mutation's is deferred).
//  2. Look the record up (a network call, before the transaction).
//  3. In one transaction: claim it (the unique verified_domain refuses a domain another
//     organization holds), audit.
func (s *Service) verifySSODomain(ctx context.Context, id uuid.UUID) (*ent.SSODomain, error) {
	dom, err := s.db(ctx).SSODomain.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, Errorf(CodeNotFound, "Domain not found")
	}
	if err != nil {
		return nil, err
	}
	if dom.VerifiedAt != nil {
		return dom, nil
	}
	lookup, cancel := context.WithTimeout(ctx, 5*time.Second)
	records, err := s.TXTResolver.LookupTXT(lookup, ssoRecordName(dom.Domain))
	cancel()
	found := err == nil && slices.Contains(records, ssoRecordValue(dom.VerificationToken))
	if !found {
		s.auditFailure(ctx, auditEntry{Action: "sso.domain_verify", Category: categorySecurity,
			ResourceType: "sso_domain", ResourceID: dom.ID.String(), Details: map[string]any{"domain": dom.Domain, "reason": "record not found"}})
		return nil, Errorf(CodeBadUserInput, "No TXT record %s with the value %s was found; DNS changes can take a while to show",
			ssoRecordName(dom.Domain), ssoRecordValue(dom.VerificationToken))
	}
	err = s.inTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		// Another organization's claim is not readable here, so ask as the system; its name
		// is not told.
		taken, err := db.SSODomain.Query().Where(ssodomain.VerifiedDomain(dom.Domain), ssodomain.IDNEQ(dom.ID)).
			Exist(privacy.DecisionContext(ctx, privacy.Allow))
		if err != nil {
			return err
		}
		if taken {
			return Errorf(CodeConflict, "Another organization has verified %s", dom.Domain)
		}
		if dom, err = db.SSODomain.UpdateOneID(dom.ID).SetVerifiedAt(s.now()).SetVerifiedDomain(dom.Domain).Save(ctx); err != nil {
			if ent.IsConstraintError(err) {
				return Errorf(CodeConflict, "Another organization has verified %s", dom.Domain)
			}
			return err
		}
		return s.audit(ctx, auditEntry{Action: "sso.domain_verify", Category: categorySecurity,
			ResourceType: "sso_domain", ResourceID: dom.ID.String(), Details: map[string]any{"domain": dom.Domain}})
	})
	return dom, err
}

// removeSSODomain gives a domain up.
func (s *Service) removeSSODomain(ctx context.Context, id uuid.UUID) (bool, error) {
	dom, err := s.db(ctx).SSODomain.Get(ctx, id)
	if ent.IsNotFound(err) {
		return false, Errorf(CodeNotFound, "Domain not found")
	}
	if err != nil {
		return false, err
	}
	if err := s.db(ctx).SSODomain.DeleteOne(dom).Exec(ctx); err != nil {
		return false, err
	}
	return true, s.audit(ctx, auditEntry{Action: "sso.domain_remove", Category: categorySecurity,
		ResourceType: "sso_domain", ResourceID: dom.ID.String(), Details: map[string]any{"domain": dom.Domain}})
}

// maxBreakGlass bounds the break-glass list: it is for an outage, not a second way in.
const maxBreakGlass = 5

// updateSSOEnforcement requires SSO of the active organization's members, or stops requiring it.
//  1. Requiring it needs an active connection and one to five break-glass members, at least one
//     of them an admin, so that an outage of the provider cannot lock the organization out.
//  2. The caller must not lock themselves out: they are on the list, or their session signed in
//     through one of this organization's connections.
//  3. Save, end the password sessions of members not on the list (their next request is
//     refused), audit.
func (s *Service) updateSSOEnforcement(ctx context.Context, in model.UpdateSSOEnforcementInput) (*model.SSOEnforcement, error) {
	v := auth.FromContext(ctx)
	db := s.db(ctx)
	org, err := db.Organization.Get(ctx, v.OrgID)
	if err != nil {
		return nil, err
	}
	if len(in.BreakGlassUserIds) > 2*maxBreakGlass { // before sorting a hostile list
		return nil, Errorf(CodeBadUserInput, "At most %d break-glass accounts", maxBreakGlass)
	}
	ids := slices.Compact(slices.SortedFunc(slices.Values(in.BreakGlassUserIds), func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }))
	if len(ids) > maxBreakGlass {
		return nil, Errorf(CodeBadUserInput, "At most %d break-glass accounts", maxBreakGlass)
	}
	list := make([]string, len(ids))
	for i, id := range ids {
		list[i] = id.String()
	}
	if len(ids) > 0 {
		ms, err := db.Membership.Query().Where(membership.OrganizationID(v.OrgID), membership.UserIDIn(ids...)).WithRole().All(ctx)
		if err != nil {
			return nil, err
		}
		if len(ms) != len(ids) {
			return nil, Errorf(CodeBadUserInput, "Break-glass accounts must be members of the organization")
		}
		if in.Required && !slices.ContainsFunc(ms, func(m *ent.Membership) bool { return m.Edges.Role != nil && m.Edges.Role.Name == auth.RoleAdmin }) {
			return nil, Errorf(CodeBadUserInput, "At least one break-glass account must be an admin")
		}
	}
	if in.Required {
		if len(ids) == 0 {
			return nil, Errorf(CodeBadUserInput, "Requiring SSO needs at least one break-glass admin, for when the identity provider is down")
		}
		conns, err := db.SSOConnection.Query().Where(ssoconnection.StatusEQ(ssoconnection.StatusActive)).IDs(ctx)
		if err != nil {
			return nil, err
		}
		if len(conns) == 0 {
			return nil, Errorf(CodeBadUserInput, "Requiring SSO needs an active connection")
		}
		viaSSO := v.SSOConnectionID != nil && slices.Contains(conns, *v.SSOConnectionID)
		if !viaSSO && !slices.Contains(ids, v.UserID) {
			return nil, Errorf(CodeBadUserInput, "This would lock you out: sign in through SSO first, or put yourself on the break-glass list")
		}
	}
	p := schematype.SSOPolicy{Required: in.Required, BreakGlassUserIDs: list}
	if err := db.Organization.UpdateOne(org).SetSSOPolicy(p).Exec(ctx); err != nil {
		return nil, err
	}
	ended := 0
	if in.Required && !org.SSOPolicy.Required {
		// Ending sessions of members is the organization's decision, made by its SSO admin.
		sys := privacy.DecisionContext(ctx, privacy.Allow)
		ended, err = db.Session.Update().Where(session.OrganizationID(v.OrgID), session.RevokedAtIsNil(),
			session.SignInMethodEQ(session.SignInMethodPassword), session.UserIDNotIn(ids...)).
			SetRevokedAt(s.now()).SetRevokeReason("sso required").Save(sys)
		if err != nil {
			return nil, err
		}
	}
	return ssoEnforcementOf(&ent.Organization{SSOPolicy: p}), s.audit(ctx, auditEntry{Action: "sso.enforcement_update",
		Category: categorySecurity, ResourceType: "organization", ResourceID: org.ID.String(),
		Details: map[string]any{"old": org.SSOPolicy, "new": p, "sessions_ended": ended}})
}

// ssoRequired reports whether the viewer's active organization requires SSO.
func (s *Service) ssoRequired(ctx context.Context, v *auth.Viewer) (bool, error) {
	org, err := s.viewerOrganization(ctx, v)
	if err != nil {
		return false, err
	}
	return org.SSOPolicy.Required, nil
}

// mayUsePassword reports whether a member of org may start a session there without SSO.
func mayUsePassword(org *ent.Organization, userID uuid.UUID) bool {
	return !org.SSOPolicy.Required || slices.Contains(org.SSOPolicy.BreakGlassUserIDs, userID.String())
}

func signInMethodOf(v *auth.Viewer) *model.SignInMethod {
	var m model.SignInMethod
	switch v.SignInMethod {
	case "password":
		m = model.SignInMethodPassword
	case "sso":
		m = model.SignInMethodSso
	default:
		return nil
	}
	return &m
}

// checkSwitchSSO refuses switching into an organization that requires SSO unless the session
// signed in through one of its connections, or the viewer is a break-glass account.
func (s *Service) checkSwitchSSO(ctx context.Context, v *auth.Viewer, org *ent.Organization) error {
	if mayUsePassword(org, v.UserID) {
		return nil
	}
	if v.SSOConnectionID != nil {
		// Whose connection the session came through is the system's business.
		ok, err := s.db(ctx).SSOConnection.Query().Where(ssoconnection.ID(*v.SSOConnectionID),
			ssoconnection.OrganizationID(org.ID)).Exist(privacy.DecisionContext(ctx, privacy.Allow))
		if err != nil || ok {
			return err
		}
	}
	return errSSORequired
}

// errSSORequired refuses a password sign-in into an organization that requires SSO.
var errSSORequired = &Error{Code: CodeForbidden, Message: "This organization requires single sign-on"}

// errSSORequiredToJoin refuses accepting an invitation into an organization that requires SSO:
// its people join by signing in through its identity provider (just-in-time membership).
var errSSORequiredToJoin = &Error{Code: CodeForbidden,
	Message: "This organization requires single sign-on: join it by signing in through its identity provider"}
