package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"hash/crc32"
	"math/big"
	"strings"
)

// Organization API keys: secrets a script or service presents as Authorization: Bearer <secret>.
//
// A secret is APIKeyPrefix, then 320 random bits in base62 (54 characters), then a CRC32 of
// everything before it in base62 (6 characters), like GitHub's tokens: secret scanners
// recognise the prefix, and a mistyped or truncated key is refused by its checksum before any
// database lookup. It carries far more than 128 bits of entropy, so a fast keyed hash
// (HMAC-SHA256 under a server key) is enough to store it; a password hash would only make every
// request slow.
const (
	// APIKeyPrefix starts every organization API key.
	APIKeyPrefix = "iorg_"
	// apiKeyRandomBytes is the randomness of a key: 320 bits.
	apiKeyRandomBytes = 40
	apiKeyBodyLen     = 54 // base62 digits of 320 bits: 62^54 > 2^320
	apiKeyCheckLen    = 6  // base62 digits of a CRC32: 62^6 > 2^32
	// APIKeyLen is the length of every key.
	APIKeyLen = len(APIKeyPrefix) + apiKeyBodyLen + apiKeyCheckLen
	// apiKeyDisplayLen is how much of a key lists show: the prefix and 6 random characters, not
	// enough to guess the remaining 284 bits.
	apiKeyDisplayLen = len(APIKeyPrefix) + 6
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// encodeBase62 writes b as a big-endian number in exactly width base62 digits.
func encodeBase62(b []byte, width int) string {
	n := new(big.Int).SetBytes(b)
	out := make([]byte, width)
	base, mod := big.NewInt(62), new(big.Int)
	for i := width - 1; i >= 0; i-- {
		n.DivMod(n, base, mod)
		out[i] = base62[mod.Int64()]
	}
	return string(out)
}

// apiKeyChecksum is the checksum part of a key whose prefix and body are head.
func apiKeyChecksum(head string) string {
	var b [4]byte
	c := crc32.ChecksumIEEE([]byte(head))
	b[0], b[1], b[2], b[3] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
	return encodeBase62(b[:], apiKeyCheckLen)
}

// NewAPIKeySecret returns a new organization API key.
func NewAPIKeySecret() (string, error) {
	buf := make([]byte, apiKeyRandomBytes)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	head := APIKeyPrefix + encodeBase62(buf, apiKeyBodyLen)
	return head + apiKeyChecksum(head), nil
}

// LooksLikeAPIKey reports whether a bearer token is meant as an API key (it has the prefix),
// whether or not it is a valid one.
func LooksLikeAPIKey(token string) bool { return strings.HasPrefix(token, APIKeyPrefix) }

// CheckAPIKey refuses with ErrInvalidToken a key that is not well-formed: wrong length,
// characters outside base62, or a checksum that does not match.
func CheckAPIKey(secret string) error {
	if len(secret) != APIKeyLen || !LooksLikeAPIKey(secret) {
		return ErrInvalidToken
	}
	for i := len(APIKeyPrefix); i < len(secret); i++ {
		if strings.IndexByte(base62, secret[i]) < 0 {
			return ErrInvalidToken
		}
	}
	head, sum := secret[:len(secret)-apiKeyCheckLen], secret[len(secret)-apiKeyCheckLen:]
	if !hmac.Equal([]byte(apiKeyChecksum(head)), []byte(sum)) {
		return ErrInvalidToken
	}
	return nil
}

// APIKeyDisplayPrefix is the part of a key that lists show.
func APIKeyDisplayPrefix(secret string) string {
	if len(secret) < apiKeyDisplayLen {
		return secret
	}
	return secret[:apiKeyDisplayLen]
}

// APIKeyHasher computes the stored hash of API keys: HMAC-SHA256 under a key of its own, so
// that a copy of the database alone does not let anyone test guesses.
type APIKeyHasher struct{ key []byte }

// NewAPIKeyHasher derives the hashing key from the server's encryption key (any length),
// separated from its other uses by a label: the encryption key is what the server keeps secret
// at rest already, and rotating the signing key of access tokens (to end every session) must
// not break every service's key.
func NewAPIKeyHasher(encryptionKey []byte) *APIKeyHasher {
	m := hmac.New(sha256.New, encryptionKey)
	m.Write([]byte("inferia organization API key hash v1"))
	return &APIKeyHasher{key: m.Sum(nil)}
}

// Hash returns the hex HMAC-SHA256 of a key.
func (h *APIKeyHasher) Hash(secret string) string {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(secret))
	return hex.EncodeToString(m.Sum(nil))
}
