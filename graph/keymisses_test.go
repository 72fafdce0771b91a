package graph

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The count of unknown keys remembers a bounded number of addresses: past the bound it forgets
// those whose minute has ended, and then any, so that a flood from many addresses cannot grow it.
func TestKeyMissesRemembersABoundedNumberOfAddresses(t *testing.T) {
	k := newKeyMisses(2)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxKeyMissAddresses {
		k.miss(fmt.Sprintf("10.0.%d.%d", i/256, i%256), t0)
	}
	require.Len(t, k.addrs, maxKeyMissAddresses)
	k.miss("192.0.2.1", t0.Add(time.Second))
	assert.LessOrEqual(t, len(k.addrs), maxKeyMissAddresses)
	assert.Contains(t, k.addrs, "192.0.2.1")
	// A minute later every earlier address is forgotten at once.
	k.miss("192.0.2.2", t0.Add(keyMissWindow))
	assert.Len(t, k.addrs, 2)

	// The limit itself: the second miss blocks until the minute ends.
	assert.False(t, k.miss("198.51.100.1", t0))
	assert.Zero(t, k.wait("198.51.100.1", t0))
	assert.True(t, k.miss("198.51.100.1", t0.Add(time.Second)))
	assert.Equal(t, 59*time.Second, k.wait("198.51.100.1", t0.Add(time.Second)))
	assert.Zero(t, k.wait("198.51.100.1", t0.Add(keyMissWindow)))
	assert.Zero(t, newKeyMisses(0).wait("198.51.100.1", t0), "0: no limit")
}
