package apptest

import (
	"time"

	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/server/app"
)

// RoomyLimits keep the rate limiter out of the way of tests about something else.
var RoomyLimits = graph.Limits{
	LoginPerAccount: 1000, LoginPerIP: 1000, AcceptPerIP: 1000, TwoFactorPerIP: 1000,
	Window: 15 * time.Minute, BaseDelay: 15 * time.Second, MaxDelay: 15 * time.Minute,
}

// WithLimits makes the server limit failed attempts by l.
func WithLimits(l graph.Limits) Option {
	return func(c *app.Config, _ *app.Options) { c.Limits = l }
}
