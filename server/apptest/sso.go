package apptest

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/app"
)

// Single sign-on in tests: a server that may reach an in-process provider on loopback, with
// DNS answered by FakeDNS, a browser that walks the redirects step by step, and a helper that
// sets a connection up the way an admin does.

// DashboardURL is PUBLIC_URL of SSO test servers: where sign-ins land.
const DashboardURL = "https://dashboard.test"

// FakeDNS answers TXT lookups from a map.
type FakeDNS struct {
	mu      sync.Mutex
	records map[string][]string
}

// Set publishes TXT values under name.
func (d *FakeDNS) Set(name string, values ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.records == nil {
		d.records = map[string][]string{}
	}
	d.records[name] = values
}

// LookupTXT implements graph.TXTResolver.
func (d *FakeDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v, ok := d.records[name]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// WithSSO makes a server ready for SSO tests: a fixed port, so that its redirect URIs are
// known before it starts; loopback fetches allowed; DNS from dns.
func WithSSO(dns *FakeDNS) Option {
	return func(c *app.Config, o *app.Options) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		c.Addr = "127.0.0.1:" + strconv.Itoa(port)
		c.SSOBaseURL = "http://" + c.Addr
		c.PublicURL = DashboardURL
		c.SSOAllowLoopback = true
		o.TXTResolver = dns
	}
}

const createConnection = `mutation($in: CreateSSOConnectionInput!) { createSsoConnection(input: $in) { id redirectUri status } }`

// SetUpSSO does what an admin does, as bearer: creates a connection to idp (extra adds to its
// input), registers its redirect URI at the provider, runs the test sign-in as tester, activates
// it, and claims and verifies domain for it. It returns the connection's ID.
func (s *Server) SetUpSSO(t testing.TB, bearer string, idp *IdP, dns *FakeDNS, domain string, extra map[string]any) string {
	t.Helper()
	in := map[string]any{"name": "Corp IdP", "issuerUrl": idp.URL, "clientId": idp.ClientID, "clientSecret": idp.ClientSecret}
	for k, v := range extra {
		in[k] = v
	}
	r := s.Do(t, bearer, createConnection, map[string]any{"in": in})
	require.Empty(t, r.Errors)
	id := r.Str("createSsoConnection.id")
	idp.Register(r.Str("createSsoConnection.redirectUri"))
	r = s.Do(t, bearer, `mutation($id: ID!) { beginSsoTest(id: $id) { url } }`, map[string]any{"id": id})
	require.Empty(t, r.Errors)
	idp.SignIn(Person{Subject: "tester", Email: "tester@" + domain, EmailVerified: true, Name: "Tester"}, nil)
	res := NewBrowser(t).Run(t, r.Str("beginSsoTest.url"))
	require.Equal(t, http.StatusOK, res.Status, res.Body)
	r = s.Do(t, bearer, `mutation($id: ID!) { activateSsoConnection(id: $id) { status } }`, map[string]any{"id": id})
	require.Empty(t, r.Errors)
	if domain != "" {
		s.VerifyDomain(t, bearer, dns, domain, &id)
	}
	return id
}

// VerifyDomain claims domain for the bearer's organization (for connection, if not nil),
// publishes its record in dns and verifies it; it returns the domain's ID.
func (s *Server) VerifyDomain(t testing.TB, bearer string, dns *FakeDNS, domain string, connection *string) string {
	t.Helper()
	r := s.Do(t, bearer, `mutation($d: String!, $c: ID) { addSsoDomain(input: {domain: $d, connectionId: $c}) { id txtRecordName txtRecordValue } }`,
		map[string]any{"d": domain, "c": connection})
	require.Empty(t, r.Errors)
	dns.Set(r.Str("addSsoDomain.txtRecordName"), "v=spf1 -all", r.Str("addSsoDomain.txtRecordValue"))
	id := r.Str("addSsoDomain.id")
	r = s.Do(t, bearer, `mutation($id: ID!) { verifySsoDomain(id: $id) { verifiedAt } }`, map[string]any{"id": id})
	require.Empty(t, r.Errors)
	return id
}

// Browser is a browser for the SSO redirects: it keeps cookies and follows no redirect by
// itself, so that tests can watch and tamper with each step.
type Browser struct {
	Client *http.Client
	Jar    http.CookieJar
}

// NewBrowser returns a browser with an empty cookie jar.
func NewBrowser(t testing.TB) *Browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &Browser{Jar: jar, Client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// Step is one request of the browser and its answer.
type Step struct {
	Status   int
	Location string
	Body     string
	Header   http.Header
}

// Get requests u.
func (b *Browser) Get(t testing.TB, u string) Step {
	t.Helper()
	resp, err := b.Client.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return Step{Status: resp.StatusCode, Location: resp.Header.Get("Location"), Body: string(body), Header: resp.Header}
}

// Flow is a walk from a start URL: the provider's URL, the callback URL and the last answer.
type Flow struct {
	Authorize, Callback string
	Step
}

// Run walks from start through the provider to the callback and returns the callback's answer.
func (b *Browser) Run(t testing.TB, start string) Flow {
	t.Helper()
	var f Flow
	s := b.Get(t, start)
	if s.Status != http.StatusFound {
		f.Step = s
		return f
	}
	f.Authorize = s.Location
	s = b.Get(t, f.Authorize)
	if s.Status != http.StatusFound {
		f.Step = s
		return f
	}
	f.Callback = s.Location
	f.Step = b.Get(t, f.Callback)
	return f
}

// Fragment returns the value of key in the fragment of the flow's redirect to the dashboard.
func (f Flow) Fragment(key string) string {
	u, err := url.Parse(f.Location)
	if err != nil || !strings.HasPrefix(f.Location, DashboardURL) {
		return ""
	}
	v, _ := url.ParseQuery(u.Fragment)
	return v.Get(key)
}
