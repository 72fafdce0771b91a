package outbound

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOnlyPublicAddressesAreReached(t *testing.T) {
	for _, a := range []string{"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
		"0.0.0.0", "::1", "fe80::1", "fd00::1", "fc00::2", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "fd00:ec2::254",
		"64:ff9b::a00:1", "224.0.0.1", "255.255.255.255", "2001:db8::1"} {
		assert.ErrorIs(t, checkAddr(netip.MustParseAddr(a), false), ErrRefused, a)
	}
	for _, a := range []string{"8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"} {
		assert.NoError(t, checkAddr(netip.MustParseAddr(a), false), a)
	}
	assert.NoError(t, checkAddr(netip.MustParseAddr("127.0.0.1"), true), "loopback, when tests allow it")
	assert.ErrorIs(t, checkAddr(netip.MustParseAddr("10.0.0.1"), true), ErrRefused, "only loopback is allowed then")
}

func TestURLsAreHTTPSWithoutCredentials(t *testing.T) {
	c := New(Options{})
	for _, u := range []string{"http://idp.example.com/", "ftp://idp.example.com/", "https://user:pw@idp.example.com/",
		"https://169.254.169.254/latest/meta-data/", "https://[fd00::1]/", "/relative", "https://10.0.0.1/"} {
		assert.ErrorIs(t, c.CheckURL(u), ErrRefused, u)
	}
	assert.NoError(t, c.CheckURL("https://login.microsoftonline.com/tenant/v2.0"))
	assert.ErrorIs(t, c.CheckURL("http://127.0.0.1:8080/"), ErrRefused, "plain http to loopback only in tests")
	assert.NoError(t, New(Options{AllowLoopback: true}).CheckURL("http://127.0.0.1:8080/"))
	assert.ErrorIs(t, New(Options{AllowLoopback: true}).CheckURL("http://10.0.0.1/"), ErrRefused)
}

func TestANameThatResolvesInsideIsRefusedWhenDialled(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "inside") }))
	defer srv.Close()
	// localhost resolves to loopback: the check after resolution refuses it.
	u := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	_, err := New(Options{}).Get(u)
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrRefused), "%v", err)
}

func TestRedirectsAreNotFollowedAndAnswersAreBounded(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(make([]byte, 4096)) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := New(Options{AllowLoopback: true, MaxBytes: 1024})
	_, err := c.Get(srv.URL + "/redirect")
	assert.ErrorIs(t, err, ErrRefused)
	resp, err := c.Get(srv.URL + "/big")
	require.NoError(t, err)
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	assert.ErrorIs(t, err, ErrTooLarge)
}
