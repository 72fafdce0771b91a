// Package outbound is the HTTP client for requests the server makes to URLs an admin supplied
// (an identity provider's discovery document, keys, token and userinfo endpoints). Such URLs
// must not turn the server into a proxy into its own network: the client speaks https only,
// refuses private, loopback, link-local, metadata and other non-public addresses after the name
// is resolved (so DNS cannot point a public name inside), follows no redirects, and bounds the
// time and size of every answer.
package outbound

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// Options configure a client.
type Options struct {
	// AllowLoopback admits loopback addresses and plain http to them: for tests, whose identity
	// provider runs in-process, and never set from the environment.
	AllowLoopback bool
	// Timeout bounds a whole request (default 10 s).
	Timeout time.Duration
	// MaxBytes bounds an answer's body (default 1 MiB); Read refuses longer ones.
	MaxBytes int64
}

// ErrRefused is wrapped by every refusal of a destination.
var ErrRefused = errors.New("outbound: destination refused")

// Client is a guarded HTTP client.
type Client struct {
	*http.Client
	opts Options
}

// New returns a guarded client.
func New(o Options) *Client {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = 1 << 20
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		// Control runs after resolution, for the very address about to be connected.
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %s", ErrRefused, address)
		}
		return checkAddr(ap.Addr(), o.AllowLoopback)
	}}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would connect on our behalf, past the address check
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: o.Timeout,
		MaxIdleConns:          10,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	c := &Client{opts: o}
	c.Client = &http.Client{
		Timeout: o.Timeout,
		Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
			if err := c.CheckURL(r.URL.String()); err != nil {
				return nil, err
			}
			resp, err := tr.RoundTrip(r)
			if err != nil {
				return nil, err
			}
			resp.Body = &limitedBody{ReadCloser: resp.Body, r: io.LimitReader(resp.Body, o.MaxBytes+1), max: o.MaxBytes}
			return resp, nil
		}),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return fmt.Errorf("%w: redirects are not followed", ErrRefused)
		},
	}
	return c
}

// CheckURL refuses a URL the client would not fetch: not https (or http to a loopback host
// when loopback is allowed), with credentials, or naming a literal address it refuses.
func (c *Client) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%w: not an absolute URL", ErrRefused)
	}
	if u.User != nil {
		return fmt.Errorf("%w: URLs with credentials are not fetched", ErrRefused)
	}
	host := u.Hostname()
	switch u.Scheme {
	case "https":
	case "http":
		ip, err := netip.ParseAddr(host)
		if !c.opts.AllowLoopback || (host != "localhost" && (err != nil || !ip.IsLoopback())) {
			return fmt.Errorf("%w: only https URLs are fetched", ErrRefused)
		}
	default:
		return fmt.Errorf("%w: only https URLs are fetched", ErrRefused)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return checkAddr(ip, c.opts.AllowLoopback)
	}
	return nil
}

// checkAddr refuses every address that is not a public unicast one.
func checkAddr(ip netip.Addr, allowLoopback bool) error {
	ip = ip.Unmap()
	if ip.IsLoopback() && allowLoopback {
		return nil
	}
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() || ip.IsInterfaceLocalMulticast() || !ip.IsGlobalUnicast() {
		return fmt.Errorf("%w: %s is not a public address", ErrRefused, ip)
	}
	for _, p := range refusedPrefixes {
		if p.Contains(ip) {
			return fmt.Errorf("%w: %s is not a public address", ErrRefused, ip)
		}
	}
	return nil
}

// refusedPrefixes are special-purpose ranges that IsPrivate and friends do not cover.
var refusedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("169.254.0.0/16"),  // link-local, cloud metadata (169.254.169.254)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: may map to an inside IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4: embeds an IPv4 address
	netip.MustParsePrefix("fc00::/7"),        // unique local
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
	netip.MustParsePrefix("fd00:ec2::/32"),   // AWS metadata over IPv6
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// ErrTooLarge is the error of reading past MaxBytes.
var ErrTooLarge = errors.New("outbound: answer too large")

type limitedBody struct {
	io.ReadCloser
	r   io.Reader
	max int64
	n   int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.n > b.max {
		return n, ErrTooLarge
	}
	return n, err
}
