package graph

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent"
)

// A load of roles that panics (recovered by the executor, which goes on to the next field) must
// not leave the next asker waiting forever.
func TestRolesLoadThatPanicsReleasesLaterAskers(t *testing.T) {
	l := &loaders{roles: map[uuid.UUID]*rolesLoad{}}
	org := uuid.New()
	require.Panics(t, func() {
		_, _ = l.once(org, func() ([]*ent.Role, error) { panic("boom") })
	})
	done := make(chan error, 1)
	go func() {
		_, err := l.once(org, func() ([]*ent.Role, error) { return nil, nil })
		done <- err
	}()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, errRolesNotLoaded)
	case <-time.After(5 * time.Second):
		t.Fatal("the second asker still waits for a load that panicked")
	}
}
