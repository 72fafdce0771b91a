package apptest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// IdP is a small OpenID Connect provider for tests, running in-process on loopback. It is
// strict where the flow's safety depends on the provider: the redirect URI must be registered
// exactly, PKCE S256 is required and checked, a code works once and only with its client's
// secret. It signs people in without a page: the next authorization request signs in Person.
// Tamper changes an ID token's claims before signing, to make the tokens a hostile or broken
// provider would send. It counts the requests of each endpoint, so that tests can tell what the
// server fetched, and it can rotate its signing key.
type IdP struct {
	URL          string
	ClientID     string
	ClientSecret string
	// Issuer is the iss of ID tokens and of the discovery document (default URL).
	Issuer string

	mu           sync.Mutex
	redirectURIs []string
	person       Person
	tamper       func(claims map[string]any)
	codes        map[string]*idpCode
	// key signs ID tokens and is published under kid; tokenKID, when set, is the kid ID
	// tokens name instead.
	key           *rsa.PrivateKey
	kid, tokenKID string
	// Discovery changes the discovery document before it is served.
	discovery func(map[string]any)
	// requests counts each endpoint's requests, by path.
	requests map[string]int
	server   *httptest.Server
}

// Person is who the provider signs in.
type Person struct {
	Subject string
	Email   string
	// EmailVerified is sent as is: true, false, "true", or nil for no claim.
	EmailVerified any
	Name          string
	AMR           []string
	ACR           string
	// AuthTime is the auth_time claim; zero: now.
	AuthTime time.Time
}

type idpCode struct {
	clientID, redirectURI, challenge, nonce string
	person                                  Person
	used                                    bool
}

// StartIdP starts a provider with a client; it stops when the test ends.
func StartIdP(t testing.TB) *IdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &IdP{ClientID: "orgserver-client", ClientSecret: "s3cret-" + randomHex(8), codes: map[string]*idpCode{},
		key: key, kid: "k1", requests: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.serveDiscovery)
	mux.HandleFunc("GET /jwks", p.serveKeys)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	p.server = httptest.NewServer(p.counted(mux))
	t.Cleanup(p.server.Close)
	p.URL = p.server.URL
	p.Issuer = p.URL
	return p
}

// UseHost makes the provider known by another name of loopback (localhost), so that a
// browser sees it as another site than the server.
func (p *IdP) UseHost(host string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.URL = strings.Replace(p.URL, "127.0.0.1", host, 1)
	p.Issuer = p.URL
}

// Register allows a redirect URI, exactly.
func (p *IdP) Register(redirectURI string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.redirectURIs = append(p.redirectURIs, redirectURI)
}

// SignIn makes the next authorizations sign in who, with tamper (nil: none) applied to the ID
// token's claims.
func (p *IdP) SignIn(who Person, tamper func(claims map[string]any)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.person, p.tamper = who, tamper
}

// ChangeDiscovery changes the discovery document the provider serves.
func (p *IdP) ChangeDiscovery(f func(map[string]any)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.discovery = f
}

// TokenRequests is how many requests the token endpoint has had.
func (p *IdP) TokenRequests() int { return p.Requests("/token") }

// KeyRequests is how many requests the key set (jwks_uri) has had.
func (p *IdP) KeyRequests() int { return p.Requests("/jwks") }

// DiscoveryRequests is how many requests the discovery document has had.
func (p *IdP) DiscoveryRequests() int { return p.Requests("/.well-known/openid-configuration") }

// Requests is how many requests the provider has had for path, whatever it answered.
func (p *IdP) Requests(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests[path]
}

func (p *IdP) counted(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests[r.URL.Path]++
		p.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// RotateKey replaces the signing key by a new one under a new kid; the key set publishes only
// the new key from now on.
func (p *IdP) RotateKey(t testing.TB) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.key, p.kid = key, "k"+randomHex(4)
}

// NameUnknownKey makes the next ID tokens name kid in their header, a key the key set does not
// publish (they are still signed with the provider's key); "" goes back to the real kid.
func (p *IdP) NameUnknownKey(kid string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tokenKID = kid
}

func (p *IdP) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	doc := map[string]any{
		"issuer":                                p.Issuer,
		"authorization_endpoint":                p.URL + "/authorize",
		"token_endpoint":                        p.URL + "/token",
		"jwks_uri":                              p.URL + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256", "HS256"},
		"code_challenge_methods_supported":      []string{"S256"},
	}
	if p.discovery != nil {
		p.discovery(doc)
	}
	writeJSON(w, http.StatusOK, doc)
}

func (p *IdP) serveKeys(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: p.kid, Algorithm: "RS256", Use: "sig"}}})
}

// authorize checks the request and sends the browser straight back with a code.
func (p *IdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.mu.Lock()
	defer p.mu.Unlock()
	redirect := q.Get("redirect_uri")
	if !slices.Contains(p.redirectURIs, redirect) {
		http.Error(w, "redirect_uri not registered", http.StatusBadRequest)
		return
	}
	back, _ := url.Parse(redirect)
	fail := func(code string) {
		v := url.Values{"error": {code}, "state": {q.Get("state")}}
		back.RawQuery = v.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	}
	switch {
	case q.Get("client_id") != p.ClientID:
		http.Error(w, "unknown client", http.StatusBadRequest)
		return
	case q.Get("response_type") != "code":
		fail("unsupported_response_type")
		return
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		fail("invalid_request")
		return
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		fail("invalid_scope")
		return
	}
	code := randomHex(16)
	p.codes[code] = &idpCode{clientID: p.ClientID, redirectURI: redirect, challenge: q.Get("code_challenge"),
		nonce: q.Get("nonce"), person: p.person}
	v := url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {p.Issuer}}
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// token redeems a code: client authentication, the same redirect URI, and the PKCE verifier.
func (p *IdP) token(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != p.ClientID || secret != p.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	c := p.codes[r.PostForm.Get("code")]
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case r.PostForm.Get("grant_type") != "authorization_code", c == nil, c.used, c.clientID != id,
		c.redirectURI != r.PostForm.Get("redirect_uri"):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	case base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "PKCE verification failed"})
		return
	}
	c.used = true
	now := time.Now()
	authTime := c.person.AuthTime
	if authTime.IsZero() {
		authTime = now
	}
	claims := map[string]any{
		"iss": p.Issuer, "sub": c.person.Subject, "aud": p.ClientID, "exp": now.Add(5 * time.Minute).Unix(),
		"iat": now.Unix(), "nonce": c.nonce, "email": c.person.Email, "name": c.person.Name,
		"auth_time": authTime.Unix(),
	}
	if c.person.EmailVerified != nil {
		claims["email_verified"] = c.person.EmailVerified
	}
	if c.person.AMR != nil {
		claims["amr"] = c.person.AMR
	}
	if c.person.ACR != "" {
		claims["acr"] = c.person.ACR
	}
	if p.tamper != nil {
		p.tamper(claims)
	}
	kid := p.kid
	if p.tokenKID != "" {
		kid = p.tokenKID
	}
	idToken, err := sign(claims, jose.RS256, p.key, kid)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": randomHex(16), "token_type": "Bearer",
		"expires_in": 300, "id_token": idToken})
}

// Sign signs claims as a JWT with key (the provider's own key, or another for forgeries), under
// the kid the provider publishes.
func (p *IdP) Sign(claims map[string]any, alg jose.SignatureAlgorithm, key any) (string, error) {
	p.mu.Lock()
	kid := p.kid
	p.mu.Unlock()
	return sign(claims, alg, key, kid)
}

func sign(claims map[string]any, alg jose.SignatureAlgorithm, key any, kid string) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(base64.RawURLEncoding.EncodeToString(b))
}
