package database

import (
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// freezingProxy forwards TCP connections to target until frozen: then it stops passing bytes
// either way but keeps the connections open, as a link that died without a reset does.
type freezingProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	frozen bool
	thaw   chan struct{}
}

func newFreezingProxy(t *testing.T, target string) *freezingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &freezingProxy{ln: ln, thaw: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); up.Close() })
			go p.pipe(up, c)
			go p.pipe(c, up)
		}
	}()
	return p
}

func (p *freezingProxy) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			frozen, thaw := p.frozen, p.thaw
			p.mu.Unlock()
			if frozen {
				<-thaw
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *freezingProxy) freeze(v bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v == p.frozen {
		return
	}
	p.frozen = v
	if !v {
		close(p.thaw)
		p.thaw = make(chan struct{})
	}
}

// A listener whose link goes silent (no reset, so no error for minutes) is reported down by
// its next ping, and up again when the link answers.
func TestListenReportsASilentLinkDown(t *testing.T) {
	if os.Getenv("TEST_DATABASE_URL") == "" {
		t.Skip("LISTEN/NOTIFY needs PostgreSQL (TEST_DATABASE_URL)")
	}
	u, err := url.Parse(scratchURL(t))
	require.NoError(t, err)
	proxy := newFreezingProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	states := make(chan bool, 16)
	require.NoError(t, Listen(ctx, u.String(), "watch_test", 100*time.Millisecond, func(string) {}, func(up bool) { states <- up }))
	next := func(within time.Duration) (bool, bool) {
		select {
		case v := <-states:
			return v, true
		case <-time.After(within):
			return false, false
		}
	}
	v, ok := next(5 * time.Second)
	require.True(t, ok && v, "up at first")

	proxy.freeze(true)
	v, ok = next(2 * time.Second)
	require.True(t, ok, "a silent link must be reported within a few pings")
	require.False(t, v)

	proxy.freeze(false)
	v, ok = next(5 * time.Second)
	require.True(t, ok && v, "up again once the link answers")
}
