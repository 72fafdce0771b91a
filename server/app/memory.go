package app

import (
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// The garbage collector's defaults for a server process, chosen from measurements (README,
// "What makes requests cheap"):
//
//   - GOGC 400 instead of Go's 100: a request allocates much and keeps little (the live heap is a
//     few MiB beside the argon2 buffers, which are allocated and dropped per hash), so collecting
//     a quarter as often costs little memory and gives its CPU back to requests: at 8 clients
//     the Users page served 600-610 req/s at GOGC 200 and 700-865 at 400 (800: no better).
//     The heap may grow to five times what is live; the soft limit below bounds it in a
//     container, and GOGC/GOMEMLIMIT in the environment bound it anywhere.
//   - A soft memory limit of 90 % of the container's (cgroup) limit, when there is one: the
//     collector works harder near it instead of letting the process be killed. Without a
//     container limit there is no soft limit.
//
// GOGC and GOMEMLIMIT set in the environment are Go's own and win.
const (
	defaultGOGC          = 400
	memoryLimitOfCgroup  = 0.9
	cgroupV2MemoryMax    = "/sys/fs/cgroup/memory.max"
	cgroupV1MemoryLimit  = "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	cgroupV1NoLimitAbove = 1 << 60
)

// gcSettings are what tuneGC chose, for the start-up log.
type gcSettings struct {
	GOGC        int
	MemoryLimit int64 // bytes; math.MaxInt64 when none
	From        string
}

// tuneGC applies the defaults above unless the environment sets GOGC or GOMEMLIMIT.
func tuneGC(getenv func(string) string) gcSettings {
	s := gcSettings{GOGC: -1, MemoryLimit: debug.SetMemoryLimit(-1), From: "environment"}
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGOGC)
		s.GOGC = defaultGOGC
	} else if n, err := strconv.Atoi(getenv("GOGC")); err == nil {
		s.GOGC = n
	}
	if getenv("GOMEMLIMIT") == "" {
		if limit, ok := cgroupMemoryLimit(cgroupV2MemoryMax, cgroupV1MemoryLimit); ok {
			s.MemoryLimit = int64(float64(limit) * memoryLimitOfCgroup)
			debug.SetMemoryLimit(s.MemoryLimit)
			s.From = "cgroup"
		} else {
			s.From = "none"
		}
	}
	return s
}

// cgroupMemoryLimit reads the memory limit of the process's container from the first of files
// that exists, if it has one.
func cgroupMemoryLimit(files ...string) (int64, bool) {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n >= cgroupV1NoLimitAbove || n == math.MaxInt64 {
			return 0, false // "max": no limit
		}
		return n, true
	}
	return 0, false
}
