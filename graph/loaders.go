package graph

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"
	"github.com/vikstrous/dataloadgen"

	"github.com/inferiallm/orgserver/ent"
)

// loaders batch the lookups that ent's eager loading cannot: one set per GraphQL operation.
type loaders struct {
	memberCount *dataloadgen.Loader[uuid.UUID, int]
	// roles are the organizations' roles loaded by this operation: the members and invitations
	// of a page ask for them at once, and one load serves them all.
	mu    sync.Mutex
	roles map[uuid.UUID]*rolesLoad
}

// rolesLoad is one load of an organization's roles, which later askers wait for.
type rolesLoad struct {
	done  chan struct{}
	roles []*ent.Role
	err   error
}

// once runs load for org the first time the operation asks, and hands its result to every
// asker.
func (l *loaders) once(org uuid.UUID, load func() ([]*ent.Role, error)) ([]*ent.Role, error) {
	l.mu.Lock()
	r, ok := l.roles[org]
	if !ok {
		r = &rolesLoad{done: make(chan struct{})}
		l.roles[org] = r
	}
	l.mu.Unlock()
	if ok {
		<-r.done
		return r.roles, r.err
	}
	// Later askers are released even if load panics (the executor recovers the panic and goes
	// on to the next field, which may ask again); they get an error instead of waiting forever.
	defer close(r.done)
	r.err = errRolesNotLoaded
	r.roles, r.err = load()
	return r.roles, r.err
}

// errRolesNotLoaded is what askers get after the load of an organization's roles panicked.
var errRolesNotLoaded = errors.New("graph: the organization's roles could not be loaded")

type loadersKey struct{}

// withLoaders is an operation middleware that gives each operation fresh loaders.
func (s *Service) withLoaders(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	l := &loaders{
		memberCount: dataloadgen.NewLoader(s.memberCounts, dataloadgen.WithWait(200*time.Microsecond)),
		roles:       map[uuid.UUID]*rolesLoad{},
	}
	return next(context.WithValue(ctx, loadersKey{}, l))
}

func loadersFrom(ctx context.Context) *loaders {
	l, _ := ctx.Value(loadersKey{}).(*loaders)
	return l
}

// memberCount counts the active organization's members holding role id, batched per operation.
func (s *Service) memberCount(ctx context.Context, id uuid.UUID) (*int, error) {
	n, err := loadersFrom(ctx).memberCount.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	return &n, nil
}
