package graph

import (
	"math"
	"sync"
	"time"
)

// API keys that are well formed (their checksum holds) but unknown cost a lookup each: anyone
// can mint such keys. keyMisses counts them per client address, in this process's memory (a
// count in the database would cost a write per miss, the very cost it is there to bound), and
// past Limits.APIKeyMissesPerIP in a minute the address's next keys the authentication cache
// does not hold are refused with RATE_LIMITED before any lookup, until the minute ends. Keys the
// cache holds keep working from that address: its scripts with good keys go on. Each replica
// counts on its own, so a client spread over n replicas gets n times the allowance; the limit
// bounds the database's work, not the guessing (a key has 190 random bits).

// keyMissWindow is the span in which keyMisses counts.
const keyMissWindow = time.Minute

// maxKeyMissAddresses bounds the addresses keyMisses remembers; past it, those whose minute
// has ended are forgotten first, then any.
const maxKeyMissAddresses = 10_000

type keyMisses struct {
	limit int // misses allowed per address and minute; 0: no limit
	mu    sync.Mutex
	addrs map[string]*missCount
}

type missCount struct {
	start time.Time
	n     int
}

func newKeyMisses(limit int) *keyMisses {
	return &keyMisses{limit: limit, addrs: make(map[string]*missCount)}
}

// wait returns how long addr is refused lookups from now; 0 when it is not.
func (k *keyMisses) wait(addr string, now time.Time) time.Duration {
	if k.limit <= 0 {
		return 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	c, ok := k.addrs[addr]
	if !ok || c.n < k.limit {
		return 0
	}
	end := c.start.Add(keyMissWindow)
	if !now.Before(end) {
		delete(k.addrs, addr)
		return 0
	}
	return end.Sub(now)
}

// miss counts an unknown key from addr and reports whether that reached the limit.
func (k *keyMisses) miss(addr string, now time.Time) (blocked bool) {
	if k.limit <= 0 {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	c, ok := k.addrs[addr]
	if ok && !now.Before(c.start.Add(keyMissWindow)) {
		ok = false
	}
	if !ok {
		if len(k.addrs) >= maxKeyMissAddresses {
			k.forget(now)
		}
		c = &missCount{start: now}
		k.addrs[addr] = c
	}
	c.n++
	return c.n == k.limit
}

// forget drops the addresses whose minute has ended, and if none has, arbitrary ones, until
// there is room. Called with mu held.
func (k *keyMisses) forget(now time.Time) {
	for a, c := range k.addrs {
		if !now.Before(c.start.Add(keyMissWindow)) {
			delete(k.addrs, a)
		}
	}
	for a := range k.addrs {
		if len(k.addrs) < maxKeyMissAddresses {
			break
		}
		delete(k.addrs, a)
	}
}

// errKeyLookupsLimited refuses an address's API key lookups for wait.
func errKeyLookupsLimited(wait time.Duration) *Error {
	return &Error{Code: CodeRateLimited, Message: "Too many unknown API keys from this address. Try again later.",
		Extensions: map[string]any{"retryAfter": int(math.Ceil(wait.Seconds()))}}
}
