package app

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// originForm is how ALLOWED_ORIGINS' refusals show what an entry must look like.
const originForm = "expected scheme://host[:port], e.g. https://dashboard.example.com or http://localhost:3000"

// parseOrigins checks ALLOWED_ORIGINS' entries and returns them as browsers write an Origin
// header (lower case, no trailing slash, no default port), so that matching is a comparison.
// "*" stands alone: it already allows every origin.
func parseOrigins(entries []string) ([]string, error) {
	if len(entries) > 1 && slices.Contains(entries, "*") {
		return nil, errors.New(`"*" allows every origin: list origins, or "*" alone`)
	}
	out := make([]string, 0, len(entries))
	var errs []error
	for _, e := range entries {
		if e == "*" {
			out = append(out, e)
			continue
		}
		o, err := parseOrigin(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("%q is not an origin (%v): %s", e, err, originForm))
			continue
		}
		out = append(out, o)
	}
	return out, errors.Join(errs...)
}

// parseOrigin returns the serialized origin of s, which must be scheme://host[:port] with an
// http or https scheme and nothing else: a path, query or user name never appears in a
// browser's Origin header, so an entry with one could never match.
func parseOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", errors.New("unparsable")
	case u.Scheme == "" || u.Opaque != "" || u.Host == "" && u.Path != "":
		return "", errors.New("no scheme")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("scheme %s: only http and https", u.Scheme)
	case u.User != nil:
		return "", errors.New("user info")
	case u.Hostname() == "":
		return "", errors.New("no host")
	case strings.Contains(u.Hostname(), "*"):
		return "", errors.New(`wildcard hosts are not supported: list each origin, or "*" alone`)
	case u.Path != "" && u.Path != "/":
		return "", fmt.Errorf("path %s", u.Path)
	case u.RawQuery != "" || u.ForceQuery:
		return "", errors.New("query")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "", errors.New("fragment")
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("port %s", p)
		}
		if !(u.Scheme == "https" && n == 443 || u.Scheme == "http" && n == 80) {
			host += ":" + strconv.Itoa(n)
		}
	}
	return u.Scheme + "://" + host, nil
}
