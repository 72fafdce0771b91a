package app

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestGCDefaultsYieldToTheEnvironment(t *testing.T) {
	before := debug.SetGCPercent(100)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(before); debug.SetMemoryLimit(limit) })

	s := tuneGC(func(string) string { return "" })
	assert.Equal(t, defaultGOGC, s.GOGC)
	assert.Equal(t, defaultGOGC, debug.SetGCPercent(100), "the default applied")

	env := map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}
	s = tuneGC(func(k string) string { return env[k] })
	assert.Equal(t, 50, s.GOGC)
	assert.Equal(t, 100, debug.SetGCPercent(100), "GOGC from the environment is left to the runtime")
	assert.Equal(t, "environment", s.From)
}

func TestCgroupMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	write := func(name, v string) string {
		f := filepath.Join(dir, name)
		assert.NoError(t, os.WriteFile(f, []byte(v), 0o600))
		return f
	}
	n, ok := cgroupMemoryLimit(write("v2", "1073741824\n"))
	assert.True(t, ok)
	assert.EqualValues(t, 1<<30, n)
	_, ok = cgroupMemoryLimit(write("v2max", "max\n"))
	assert.False(t, ok, "cgroup v2 without a limit")
	_, ok = cgroupMemoryLimit(write("v1", "9223372036854771712\n"))
	assert.False(t, ok, "cgroup v1 without a limit")
	n, ok = cgroupMemoryLimit(filepath.Join(dir, "absent"), write("v1b", "536870912"))
	assert.True(t, ok)
	assert.EqualValues(t, 512<<20, n)
	_, ok = cgroupMemoryLimit(filepath.Join(dir, "absent"))
	assert.False(t, ok)
}
