package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// TokenTypeAccess is the "type" claim of access tokens.
const TokenTypeAccess = "access"

// ErrInvalidToken is returned for any token that is malformed, forged, expired or of the wrong
// kind. Callers do not learn which, and neither do clients.
var ErrInvalidToken = errors.New("invalid or expired token")

// Claims are the claims of an access token.
type Claims struct {
	OrgID     string `json:"org_id"`
	SessionID string `json:"sid"`
	Type      string `json:"type"`
	jwt.RegisteredClaims
}

// Tokens issues and verifies access tokens (JWT, HS256 only) and mints opaque refresh tokens.
type Tokens struct {
	Secret    []byte
	Issuer    string
	AccessTTL time.Duration
	Now       func() time.Time
}

func (t *Tokens) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// IssueAccess returns a signed access token for the session and its expiry.
func (t *Tokens) IssueAccess(userID, orgID, sessionID uuid.UUID) (string, time.Time, error) {
	now := t.now()
	exp := now.Add(t.AccessTTL)
	claims := Claims{
		OrgID:     orgID.String(),
		SessionID: sessionID.String(),
		Type:      TokenTypeAccess,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   userID.String(),
			Issuer:    t.Issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.Secret)
	return s, exp, err
}

// AccessIdentity is what a valid access token asserts.
type AccessIdentity struct {
	UserID, OrgID, SessionID uuid.UUID
}

// ParseAccess verifies an access token: HS256 only, this issuer, not expired, type "access".
func (t *Tokens) ParseAccess(token string) (*AccessIdentity, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.Secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(t.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil || c.Type != TokenTypeAccess {
		return nil, ErrInvalidToken
	}
	var id AccessIdentity
	var e1, e2, e3 error
	id.UserID, e1 = uuid.Parse(c.Subject)
	id.OrgID, e2 = uuid.Parse(c.OrgID)
	id.SessionID, e3 = uuid.Parse(c.SessionID)
	if e1 != nil || e2 != nil || e3 != nil {
		return nil, ErrInvalidToken
	}
	return &id, nil
}

const refreshPrefix = "rt_"

// NewRefreshToken returns a new opaque refresh token for the session: the session id and 256
// random bits, base64url-encoded. Only its hash is stored.
func NewRefreshToken(sessionID uuid.UUID) (string, error) {
	buf := make([]byte, 16+32)
	copy(buf, sessionID[:])
	if _, err := rand.Read(buf[16:]); err != nil {
		return "", err
	}
	return refreshPrefix + base64.RawURLEncoding.EncodeToString(buf), nil
}

// RefreshSessionID returns the session a refresh token claims to belong to.
func RefreshSessionID(token string) (uuid.UUID, error) {
	raw, ok := strings.CutPrefix(token, refreshPrefix)
	if !ok {
		return uuid.Nil, ErrInvalidToken
	}
	buf, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(buf) != 48 {
		return uuid.Nil, ErrInvalidToken
	}
	return uuid.FromBytes(buf[:16])
}

// RandomToken returns n random bytes, base64url-encoded.
func RandomToken(n int) (string, error) {
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(buf), nil
}

// HashToken returns the hex SHA-256 of a high-entropy token. Tokens carry at least 128 random
// bits, so a fast hash is enough; passwords use argon2id instead.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
