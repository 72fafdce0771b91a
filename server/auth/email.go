package auth

import (
	"errors"
	"net/mail"
	"strings"
)

// E-mail addresses are compared in one form: trimmed and lower-case, so that one address means
// one account and one pending invitation, whatever case it was typed in.

// NormalizeEmail returns the form of s in which addresses are stored and compared.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ErrInvalidEmail is the refusal of something that is not a plain e-mail address.
var ErrInvalidEmail = errors.New("invalid e-mail address")

// ParseEmail checks that s is a plain address (no display name, at most 254 characters, a
// domain with a dot or localhost) and returns it normalized.
func ParseEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > 254 {
		// Before parsing, whose cost grows with the input.
		return "", ErrInvalidEmail
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return "", ErrInvalidEmail
	}
	domain := s[strings.LastIndexByte(s, '@')+1:]
	if !strings.Contains(domain, ".") && domain != "localhost" {
		return "", ErrInvalidEmail
	}
	return NormalizeEmail(s), nil
}
