package rest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/apptest"
)

// Single sign-on over REST: an admin sets a connection and a domain up under
// /management/organizations/me, people sign in through the provider and exchange the
// redirect's code for the AuthToken the dashboard already handles, and the rules hold as on
// GraphQL.

func TestRESTSingleSignOnFromSetupToEnforcement(t *testing.T) {
	dns := &apptest.FakeDNS{}
	s := apptest.Start(t, apptest.WithSSO(dns))
	idp := apptest.StartIdP(t)
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	acme := s.Org(t, apptest.RootOrg)
	call := func(method, path, bearer string, body any) *apptest.RESTResponse {
		t.Helper()
		return s.REST(t, apptest.RESTRequest{Method: method, Path: path, Bearer: bearer, Body: body})
	}
	const conns = "/management/organizations/me/sso/connections"

	// A draft connection from the provider's discovery document; the secret never comes back.
	r := call("POST", conns, root.Access, map[string]any{"name": "Corp", "issuer_url": idp.URL, "client_id": idp.ClientID,
		"client_secret": idp.ClientSecret, "jit_enabled": true, "default_role": "viewer", "token_auth_method": "client_secret_post"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Raw)
	id := r.Str("id")
	assert.Equal(t, "draft", r.Str("status"))
	assert.Equal(t, idp.URL, r.Str("issuer"))
	assert.NotContains(t, string(r.Raw), idp.ClientSecret)
	assert.Equal(t, s.Config.SSOBaseURL+"/auth/sso/"+id+"/callback", r.Str("redirect_uri"))
	idp.Register(r.Str("redirect_uri"))

	r = call("POST", conns+"/"+id+"/activate", root.Access, nil)
	assert.Equal(t, http.StatusBadRequest, r.Status)
	assert.Equal(t, "Test the connection with a sign-in first (beginSsoTest)", r.Detail())

	// The test sign-in shows the mapped claims and starts no session.
	r = call("POST", conns+"/"+id+"/test", root.Access, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	idp.SignIn(apptest.Person{Subject: "t-1", Email: "tester@acme.test", EmailVerified: true, Name: "Tess"}, nil)
	f := apptest.NewBrowser(t).Run(t, r.Str("url"))
	require.Equal(t, http.StatusOK, f.Status, f.Body)
	assert.Contains(t, f.Body, "tester@acme.test")
	assert.Contains(t, f.Body, "no session was started")
	r = call("GET", conns, root.Access, nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "tested", r.Str("0.status"))
	assert.Equal(t, "tester@acme.test", r.Str("0.last_test_claims.email"))
	r = call("POST", conns+"/"+id+"/activate", root.Access, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	assert.Equal(t, "active", r.Str("status"))

	// The domain, verified by its TXT record.
	r = call("POST", "/management/organizations/me/domains", root.Access, map[string]any{"domain": "ACME.test", "connection_id": id})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Raw)
	domain := r.Str("id")
	assert.Equal(t, "acme.test", r.Str("domain"))
	recordName, recordValue := r.Str("txt_record_name"), r.Str("txt_record_value")
	assert.Equal(t, "_orgserver-challenge.acme.test", recordName)
	// The value is the one the server keeps for the domain, read from the database rather than
	// from the answers under test.
	stored, err := s.App.Client().SSODomain.Get(apptest.SystemContext(), uuid.MustParse(domain))
	require.NoError(t, err)
	require.NotEmpty(t, stored.VerificationToken)
	assert.Equal(t, "orgserver-domain-verification="+stored.VerificationToken, recordValue)
	discover := func(email string) *apptest.RESTResponse {
		r := call("POST", "/auth/sso/discover", "", map[string]any{"email": email})
		require.Equal(t, http.StatusOK, r.Status)
		return r
	}
	assert.Equal(t, map[string]any{"sso": false, "start_url": nil}, discover("pat@acme.test").Body, "not verified yet")
	// Unpublished, or published with another value: refused, and told what to publish.
	notFound := "No TXT record " + recordName + " with the value " + recordValue + " was found; DNS changes can take a while to show"
	r = call("POST", "/management/organizations/me/domains/"+domain+"/verify", root.Access, nil)
	assert.Equal(t, http.StatusBadRequest, r.Status)
	assert.Equal(t, notFound, r.Detail())
	dns.Set(recordName, "orgserver-domain-verification=someone-elses-token")
	r = call("POST", "/management/organizations/me/domains/"+domain+"/verify", root.Access, nil)
	assert.Equal(t, http.StatusBadRequest, r.Status)
	assert.Equal(t, notFound, r.Detail())
	r = call("GET", "/management/organizations/me/domains", root.Access, nil)
	assert.Equal(t, []string{recordName}, column(r.Body, "txt_record_name"), "the list names the record issued")
	assert.Equal(t, []string{recordValue}, column(r.Body, "txt_record_value"))
	dns.Set(recordName, recordValue)
	r = call("POST", "/management/organizations/me/domains/"+domain+"/verify", root.Access, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	assert.NotEmpty(t, r.Str("verified_at"))

	// Discovery: the same shape for every address.
	start := s.Config.SSOBaseURL + "/auth/sso/" + id + "/start"
	assert.Equal(t, map[string]any{"sso": true, "start_url": start}, discover("Pat@ACME.test").Body)
	assert.Equal(t, map[string]any{"sso": false, "start_url": nil}, discover("pat@elsewhere.test").Body)
	assert.Equal(t, map[string]any{"sso": false, "start_url": nil}, discover("not an address").Body)

	// A sign-in: JIT, then the dashboard's AuthToken.
	idp.SignIn(apptest.Person{Subject: "p-1", Email: "pat@acme.test", EmailVerified: true, Name: "Pat"}, nil)
	f = apptest.NewBrowser(t).Run(t, start+"?return_to=/dashboard")
	require.Equal(t, http.StatusSeeOther, f.Status, f.Body)
	assert.True(t, strings.HasPrefix(f.Location, apptest.DashboardURL+"/dashboard#sso_code="), f.Location)
	r = call("POST", "/auth/sso/exchange", "", map[string]any{"code": f.Fragment("sso_code")})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	assert.Equal(t, "bearer", r.Str("token_type"))
	assert.NotEmpty(t, r.Str("refresh_token"))
	assert.Equal(t, []any{map[string]any{"id": acme.ID.String(), "name": apptest.RootOrg, "role": "viewer"}}, r.Get("organizations"))
	pat := r.Str("access_token")
	r = call("GET", "/auth/me", pat, nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "pat@acme.test", r.Str("email"))
	r = call("POST", "/auth/sso/exchange", "", map[string]any{"code": f.Fragment("sso_code")})
	assert.Equal(t, http.StatusUnauthorized, r.Status, "a code works once")

	r = call("GET", "/auth/sso/identities", pat, nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Len(t, r.List(""), 1)
	assert.Equal(t, "p-1", r.Str("0.subject"))
	r = call("DELETE", "/auth/sso/identities/"+r.Str("0.id"), pat, nil)
	assert.Equal(t, http.StatusNoContent, r.Status)

	// An existing account is linked with its password.
	dana := s.AddUser(t, "dana@acme.test", acme, "member")
	idp.SignIn(apptest.Person{Subject: "d-1", Email: dana.Email, EmailVerified: true}, nil)
	f = apptest.NewBrowser(t).Run(t, start)
	link := f.Fragment("sso_link")
	require.NotEmpty(t, link, f.Location)
	r = call("POST", "/auth/sso/link", "", map[string]any{"code": link, "password": "wrong password"})
	assert.Equal(t, http.StatusUnauthorized, r.Status)
	r = call("POST", "/auth/sso/link", "", map[string]any{"code": link, "password": apptest.Password(dana.Email)})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	assert.NotEmpty(t, r.Str("access_token"))

	// Enforcement: the break-glass admin keeps the password, dana does not.
	r = call("PUT", "/management/organizations/me/sso/enforcement", root.Access, map[string]any{"required": true, "break_glass_user_ids": []string{}})
	assert.Equal(t, http.StatusBadRequest, r.Status)
	r = call("PUT", "/management/organizations/me/sso/enforcement", root.Access, map[string]any{"required": true, "break_glass_user_ids": []string{root.UserID}})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	assert.Equal(t, map[string]any{"required": true, "break_glass_user_ids": []any{root.UserID}}, r.Body)
	r = call("POST", "/auth/login", "", map[string]any{"username": dana.Email, "password": apptest.Password(dana.Email)})
	assert.Equal(t, http.StatusForbidden, r.Status)
	assert.Equal(t, "This organization requires single sign-on", r.Detail())
	r = call("POST", "/auth/login", "", map[string]any{"username": apptest.RootEmail, "password": apptest.RootPassword})
	assert.Equal(t, http.StatusOK, r.Status)

	// Another organization sees none of it; a developer may not manage it.
	globex := s.CreateOrg(t, "Globex")
	s.AddUser(t, "g@globex.test", globex, "admin")
	g := s.Login(t, "g@globex.test", apptest.Password("g@globex.test"))
	r = call("GET", conns, g.Access, nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Empty(t, r.List(""))
	for _, rq := range []struct{ method, path string }{
		{"POST", conns + "/" + id + "/disable"}, {"PATCH", conns + "/" + id}, {"POST", conns + "/" + id + "/test"},
		{"POST", "/management/organizations/me/domains/" + domain + "/verify"}, {"DELETE", "/management/organizations/me/domains/" + domain},
	} {
		r = call(rq.method, rq.path, g.Access, map[string]any{"name": "mine"})
		assert.Equal(t, http.StatusNotFound, r.Status, "%s %s: %s", rq.method, rq.path, r.Raw)
	}
	s.AddUser(t, "dev@globex.test", globex, "developer")
	dev := s.Login(t, "dev@globex.test", apptest.Password("dev@globex.test"))
	r = call("GET", conns, dev.Access, nil)
	assert.Equal(t, http.StatusForbidden, r.Status)
	assert.Equal(t, "Permission denied: sso:manage required", r.Detail())
}

// A PATCH that sends a connection's name, client_id or client_secret empty is refused, as
// updateSsoConnection refuses it: the same status and detail as its GraphQL twin and as the
// mutation written by hand, and the connection is left as it was.
func TestRESTRefusesAnEmptyNameClientIDOrSecretOfAConnectionAsGraphQLDoes(t *testing.T) {
	dns := &apptest.FakeDNS{}
	s := apptest.Start(t, apptest.WithSSO(dns))
	idp := apptest.StartIdP(t)
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	id := s.SetUpSSO(t, root.Access, idp, dns, "", nil)
	path := "/management/organizations/me/sso/connections/" + id
	const update = `mutation($id: ID!, $in: UpdateSSOConnectionInput!) { updateSsoConnection(id: $id, input: $in) { status } }`

	for _, c := range []struct{ field, input, detail string }{
		{"name", "name", "name cannot be empty"},
		{"client_id", "clientId", "clientId cannot be empty"},
		{"client_secret", "clientSecret", "clientSecret cannot be empty"},
	} {
		for _, empty := range []string{"", "  "} {
			if empty != "" && c.field == "client_secret" {
				continue // a secret is taken as sent: blanks are a secret
			}
			rq := apptest.RESTRequest{Method: "PATCH", Path: path, Bearer: root.Access, Body: map[string]any{c.field: empty}}
			r := s.REST(t, rq)
			apptest.SameAnswer(t, r, s.Twin(t, rq), http.StatusBadRequest, c.detail)
			byHand := s.Do(t, root.Access, update, map[string]any{"id": id, "in": map[string]any{c.input: empty}})
			apptest.SameAnswer(t, r, byHand, http.StatusBadRequest, c.detail)
		}
	}

	// Nothing changed: the connection is still active (a new client or secret would have made
	// it a draft) and keeps its name; a field left out or null changes nothing either.
	r := s.REST(t, apptest.RESTRequest{Method: "PATCH", Path: path, Bearer: root.Access, Body: map[string]any{"name": nil, "jit_enabled": true}})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	assert.Equal(t, "active", r.Str("status"))
	assert.Equal(t, "Corp IdP", r.Str("name"))
}
