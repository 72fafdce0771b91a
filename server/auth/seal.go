package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
)

// Sealer encrypts small secrets at rest (invitation tokens, TOTP secrets) with AES-256-GCM.
type Sealer struct{ aead cipher.AEAD }

// NewSealer derives an AES-256 key from key (any length; SHA-256 of it) and returns a Sealer.
func NewSealer(key []byte) (*Sealer, error) {
	sum := sha256.Sum256(key)
	block, err := aes.NewCipher(sum[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext, bound to context (e.g. the row it belongs to), and returns base64url.
func (s *Sealer) Seal(plaintext, context string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := s.aead.Seal(nonce, nonce, []byte(plaintext), []byte(context))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts what Seal returned for the same context.
func (s *Sealer) Open(sealed, context string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return "", errors.New("auth: malformed sealed value")
	}
	n := s.aead.NonceSize()
	out, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(context))
	if err != nil {
		return "", errors.New("auth: sealed value does not open with this key")
	}
	return string(out), nil
}
