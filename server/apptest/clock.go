package apptest

import (
	"sync"
	"time"

	"github.com/inferiallm/orgserver/server/app"
)

// Clock is a settable clock for tests that must not sleep.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at the current time.
func NewClock() *Clock { return &Clock{now: time.Now().UTC()} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// WithClock makes the server use c for tokens, sessions, expiries and activity.
func WithClock(c *Clock) Option {
	return func(cfg *app.Config, _ *app.Options) { cfg.Now = c.Now }
}

// NewWholeSecondClock returns a clock at the current time rounded up to a whole second, so that
// times survive the databases' precision unchanged and retry delays come out exact.
func NewWholeSecondClock() *Clock {
	c := NewClock()
	c.Advance(time.Second - time.Duration(c.Now().Nanosecond()))
	return c
}
