package graph_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

// Managing single sign-on: who may, what a connection needs from its provider, how domains are
// claimed, and that the server's own fetches cannot be pointed into its network.

const (
	createConnMutation = `mutation($in: CreateSSOConnectionInput!) { createSsoConnection(input: $in) { id status issuer redirectUri signingAlgs defaultRole } }`
	addDomainMutation  = `mutation($d: String!, $c: ID) { addSsoDomain(input: {domain: $d, connectionId: $c}) { id domain txtRecordName txtRecordValue verifiedAt } }`
	verifyDomain       = `mutation($id: ID!) { verifySsoDomain(id: $id) { id verifiedAt } }`
)

func connInput(idp *apptest.IdP, issuer string) map[string]any {
	return map[string]any{"name": "Corp", "issuerUrl": issuer, "clientId": idp.ClientID, "clientSecret": idp.ClientSecret}
}

func TestAConnectionIsADraftUntilATestSignInThroughTheProvider(t *testing.T) {
	dns := &apptest.FakeDNS{}
	s := apptest.Start(t, apptest.WithSSO(dns))
	idp := apptest.StartIdP(t)
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)

	r := s.Do(t, root.Access, createConnMutation, map[string]any{"in": connInput(idp, idp.URL+"/")})
	require.Empty(t, r.Errors)
	id := r.Str("createSsoConnection.id")
	assert.Equal(t, "draft", r.Str("createSsoConnection.status"))
	assert.Equal(t, idp.URL, r.Str("createSsoConnection.issuer"), "the issuer discovery names, exactly")
	assert.Equal(t, []any{"RS256"}, r.Get("createSsoConnection.signingAlgs"), "HS256 of the discovery document is dropped")
	idp.Register(r.Str("createSsoConnection.redirectUri"))

	r = s.Do(t, root.Access, `mutation($id: ID!) { activateSsoConnection(id: $id) { status } }`, map[string]any{"id": id})
	assertError(t, r, "BAD_USER_INPUT", "Test the connection with a sign-in first (beginSsoTest)")
	// A draft signs nobody in.
	b := apptest.NewBrowser(t)
	assert.Equal(t, http.StatusNotFound, b.Get(t, s.Config.SSOBaseURL+"/auth/sso/"+id+"/start").Status)

	r = s.Do(t, root.Access, `mutation($id: ID!) { beginSsoTest(id: $id) { url } }`, map[string]any{"id": id})
	require.Empty(t, r.Errors)
	url := r.Str("beginSsoTest.url")
	idp.SignIn(apptest.Person{Subject: "t", Email: "t@whatever.test", EmailVerified: "true", Name: "T"}, nil)
	f := b.Run(t, url)
	require.Equal(t, http.StatusOK, f.Status, f.Body)
	assert.Contains(t, f.Body, `&#34;email_verified&#34;: false`, "a string is not true")
	assert.Equal(t, http.StatusBadRequest, apptest.NewBrowser(t).Get(t, url).Status, "a test link works once")
	n, err := s.App.Client().Session.Query().Count(apptest.SystemContext())
	require.NoError(t, err)
	assert.Equal(t, 1, n, "root's session only: a test starts none")

	r = s.Do(t, root.Access, `{ viewer { organization { ssoConnections { status testedAt lastTestClaims } } } }`, nil)
	require.Empty(t, r.Errors)
	assert.Equal(t, "tested", r.Dig("viewer.organization.ssoConnections.0.status"))
	assert.Equal(t, "t@whatever.test", r.Dig("viewer.organization.ssoConnections.0.lastTestClaims.email"))
	r = s.Do(t, root.Access, `mutation($id: ID!) { activateSsoConnection(id: $id) { status } }`, map[string]any{"id": id})
	require.Empty(t, r.Errors)

	// A new client secret makes it a draft again.
	r = s.Do(t, root.Access, `mutation($id: ID!) { updateSsoConnection(id: $id, input: {clientSecret: "rotated"}) { status } }`, map[string]any{"id": id})
	require.Empty(t, r.Errors)
	assert.Equal(t, "draft", r.Str("updateSsoConnection.status"))

	// The default role is never admin.
	r = s.Do(t, root.Access, `mutation($id: ID!) { updateSsoConnection(id: $id, input: {defaultRole: "admin"}) { status } }`, map[string]any{"id": id})
	assertError(t, r, "BAD_USER_INPUT", "The default role of a connection cannot be admin or hold sso:manage")
	in := connInput(idp, idp.URL)
	in["defaultRole"] = "admin"
	discoveries := idp.DiscoveryRequests()
	r = s.Do(t, root.Access, createConnMutation, map[string]any{"in": in})
	assertError(t, r, "BAD_USER_INPUT", "The default role of a connection cannot be admin or hold sso:manage")
	assert.Equal(t, discoveries, idp.DiscoveryRequests(), "a refused role is refused before the provider is asked")
	require.Greater(t, discoveries, 0, "creating the connection above asked it")
}

func TestOnlySSOManagersOfTheOrganizationSeeAndChangeItsConnections(t *testing.T) {
	dns := &apptest.FakeDNS{}
	s := apptest.Start(t, apptest.WithSSO(dns))
	idp := apptest.StartIdP(t)
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	conn := s.SetUpSSO(t, root.Access, idp, dns, "acme.test", nil)
	globex := s.CreateOrg(t, "Globex")
	s.AddUser(t, "g@globex.test", globex, "admin")
	g := s.Login(t, "g@globex.test", apptest.Password("g@globex.test"))
	s.AddUser(t, "dev@acme.test", s.Org(t, apptest.RootOrg), "developer")
	dev := s.Login(t, "dev@acme.test", apptest.Password("dev@acme.test"))

	for _, q := range []string{
		`mutation($id: ID!) { disableSsoConnection(id: $id) { status } }`,
		`mutation($id: ID!) { activateSsoConnection(id: $id) { status } }`,
		`mutation($id: ID!) { beginSsoTest(id: $id) { url } }`,
		`mutation($id: ID!) { updateSsoConnection(id: $id, input: {name: "mine"}) { status } }`,
	} {
		r := s.Do(t, g.Access, q, map[string]any{"id": conn})
		assertError(t, r, "NOT_FOUND", "SSO connection not found")
		r = s.Do(t, dev.Access, q, map[string]any{"id": conn})
		assertError(t, r, "FORBIDDEN", "Permission denied: sso:manage required")
	}
	r := s.Do(t, g.Access, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": conn})
	assertError(t, r, "NOT_FOUND", "")
	r = s.Do(t, g.Access, `{ viewer { organization { ssoConnections { id } ssoDomains { id } } } }`, nil)
	require.Empty(t, r.Errors)
	assert.Empty(t, r.Dig("viewer.organization.ssoConnections"))
	assert.Empty(t, r.Dig("viewer.organization.ssoDomains"))
	r = s.Do(t, dev.Access, `{ viewer { organization { ssoConnections { id } } } }`, nil)
	assertError(t, r, "FORBIDDEN", "Permission denied: sso:manage required")
	r = s.Do(t, g.Access, `mutation($c: ID) { addSsoDomain(input: {domain: "globex.test", connectionId: $c}) { id } }`, map[string]any{"c": conn})
	assertError(t, r, "NOT_FOUND", "SSO connection not found")
}

func TestADomainIsVerifiedByItsTXTRecordAndBelongsToOneOrganization(t *testing.T) {
	dns := &apptest.FakeDNS{}
	s := apptest.Start(t, apptest.WithSSO(dns))
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)

	for domain, message := range map[string]string{
		"gmail.com":          "Public and disposable e-mail domains cannot be claimed",
		"Mail.Proton.me":     "Public and disposable e-mail domains cannot be claimed",
		"mailinator.com":     "Public and disposable e-mail domains cannot be claimed",
		"co.uk":              "A public suffix cannot be claimed",
		"localhost":          "Not a domain name",
		"pat@acme.test":      "Not a domain name",
		"ſecure.test":        "Not a domain name",
		"https://acme.test/": "Not a domain name",
	} {
		r := s.Do(t, root.Access, addDomainMutation, map[string]any{"d": domain})
		assertError(t, r, "BAD_USER_INPUT", message)
	}

	r := s.Do(t, root.Access, addDomainMutation, map[string]any{"d": "Bücher.Example."})
	require.Empty(t, r.Errors)
	id := r.Str("addSsoDomain.id")
	assert.Equal(t, "xn--bcher-kva.example", r.Str("addSsoDomain.domain"))
	assert.Equal(t, "_orgserver-challenge.xn--bcher-kva.example", r.Str("addSsoDomain.txtRecordName"))
	r = s.Do(t, root.Access, addDomainMutation, map[string]any{"d": "xn--bcher-kva.example"})
	assertError(t, r, "CONFLICT", "The organization already claims xn--bcher-kva.example")

	r = s.Do(t, root.Access, verifyDomain, map[string]any{"id": id})
	assertError(t, r, "BAD_USER_INPUT", "")
	r = s.Do(t, root.Access, `{ viewer { organization { ssoDomains { txtRecordName txtRecordValue } } } }`, nil)
	dns.Set(r.Dig("viewer.organization.ssoDomains.0.txtRecordName").(string), "wrong value")
	r = s.Do(t, root.Access, verifyDomain, map[string]any{"id": id})
	assertError(t, r, "BAD_USER_INPUT", "")
	s.VerifyDomain(t, root.Access, dns, "acme.test", nil)

	// Globex may claim acme.test but never verify it while acme holds it, whatever it publishes.
	globex := s.CreateOrg(t, "Globex")
	s.AddUser(t, "g@globex.test", globex, "admin")
	g := s.Login(t, "g@globex.test", apptest.Password("g@globex.test"))
	r = s.Do(t, g.Access, addDomainMutation, map[string]any{"d": "acme.test"})
	require.Empty(t, r.Errors)
	dns.Set(r.Str("addSsoDomain.txtRecordName"), r.Str("addSsoDomain.txtRecordValue"))
	r = s.Do(t, g.Access, verifyDomain, map[string]any{"id": r.Str("addSsoDomain.id")})
	assertError(t, r, "CONFLICT", "Another organization has verified acme.test")
}

func TestTheSecurityPolicysAllowedDomainsNeverRouteASignIn(t *testing.T) {
	e := startSSO(t, map[string]any{"jitEnabled": true})
	r := e.s.Do(t, e.root.Access, `mutation { updateSecurityPolicy(input: {allowedEmailDomains: ["policy.test"]}) { allowedEmailDomains } }`, nil)
	require.Empty(t, r.Errors)
	for email, sso := range map[string]bool{"a@policy.test": false, "a@acme.test": true, "A@ACME.TEST": true, "a@sub.acme.test": false, "nobody": false} {
		r = e.s.Do(t, "", discoverQuery, map[string]any{"e": email})
		require.Empty(t, r.Errors)
		assert.Equal(t, sso, r.Get("ssoDiscover.sso"), email)
		assert.Equal(t, sso, r.Get("ssoDiscover.startUrl") != nil, email)
	}
	// Nor admit anyone: a verified address of the policy's domain is refused.
	e.refusedWith(t, e.signIn(t, person("p", "a@policy.test"), nil), "email outside the domains verified for this connection")
	// A disabled connection routes nothing.
	r = e.s.Do(t, e.root.Access, `mutation($id: ID!) { disableSsoConnection(id: $id) { status } }`, map[string]any{"id": e.conn})
	require.Empty(t, r.Errors)
	r = e.s.Do(t, "", discoverQuery, map[string]any{"e": "a@acme.test"})
	assert.Equal(t, false, r.Get("ssoDiscover.sso"))
}

func TestTheServerFetchesNothingInsideItsOwnNetwork(t *testing.T) {
	dns := &apptest.FakeDNS{}
	s := apptest.Start(t, apptest.WithSSO(dns))
	idp := apptest.StartIdP(t)
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	create := func(issuer string) *apptest.Response {
		return s.Do(t, root.Access, createConnMutation, map[string]any{"in": connInput(idp, issuer)})
	}
	for _, issuer := range []string{"http://idp.example.com", "https://169.254.169.254/latest", "https://10.0.0.8/realms/x",
		"https://[fd00::1]/", "https://[::ffff:192.168.0.1]/", "file:///etc/passwd", "https://user:pw@idp.example.com/"} {
		r := create(issuer)
		assertError(t, r, "BAD_USER_INPUT", "")
		assert.Contains(t, r.Errors[0].Message, "refused", issuer)
	}

	// A discovery document that redirects, names another issuer, points its keys inside, or
	// offers only symmetric signing.
	redirector := httptest.NewServer(http.RedirectHandler("http://169.254.169.254/latest/meta-data/", http.StatusFound))
	t.Cleanup(redirector.Close)
	r := create(redirector.URL)
	assertError(t, r, "BAD_USER_INPUT", "Discovery failed: the destination is not allowed (redirects are not followed)")
	for change, message := range map[string]string{
		"issuer":   `Discovery failed: the document names another issuer ("https://evil.example")`,
		"jwks_uri": "Discovery failed: jwks_uri refused: the destination is not allowed (10.9.8.7 is not a public address)",
		"token":    "Discovery failed: token_endpoint refused: the destination is not allowed (169.254.169.254 is not a public address)",
		"algs":     "Discovery failed: the provider offers no asymmetric ID token signing algorithm",
	} {
		idp.ChangeDiscovery(func(d map[string]any) {
			switch change {
			case "issuer":
				d["issuer"] = "https://evil.example"
			case "jwks_uri":
				d["jwks_uri"] = "https://10.9.8.7/keys"
			case "token":
				d["token_endpoint"] = "https://169.254.169.254/token"
			case "algs":
				d["id_token_signing_alg_values_supported"] = []string{"HS256", "none"}
			}
		})
		assertError(t, create(idp.URL), "BAD_USER_INPUT", message)
	}

	// Without the tests' allowance, loopback is refused too, before anything is sent: the
	// provider hears nothing from that server, where the same request from the tests' server
	// (loopback allowed) reaches its discovery document.
	idp.ChangeDiscovery(nil)
	discoveries := idp.DiscoveryRequests()
	require.Empty(t, create(idp.URL).Errors)
	require.Equal(t, discoveries+1, idp.DiscoveryRequests(), "the counter counts the tests' server's discovery")
	cfg := apptest.Config(apptest.DatabaseURL(t))
	cfg.SSOBaseURL = "https://orgserver.example"
	prod := apptest.StartWith(t, cfg, app.Options{})
	tok := prod.Login(t, apptest.RootEmail, apptest.RootPassword)
	r = prod.Do(t, tok.Access, createConnMutation, map[string]any{"in": connInput(idp, idp.URL)})
	assertError(t, r, "BAD_USER_INPUT", "Issuer URL refused: the destination is not allowed (only https URLs are fetched)")
	assert.Equal(t, discoveries+1, idp.DiscoveryRequests(), "nothing reached the provider")
}
