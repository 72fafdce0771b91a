package graph

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"
	"github.com/vikstrous/dataloadgen"
)

// loaders batch the lookups that ent's eager loading cannot: one set per GraphQL operation.
type loaders struct {
	memberCount *dataloadgen.Loader[uuid.UUID, int]
}

type loadersKey struct{}

// withLoaders is an operation middleware that gives each operation fresh loaders.
func (s *Service) withLoaders(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	l := &loaders{
		memberCount: dataloadgen.NewLoader(s.memberCounts, dataloadgen.WithWait(200*time.Microsecond)),
	}
	return next(context.WithValue(ctx, loadersKey{}, l))
}

func loadersFrom(ctx context.Context) *loaders {
	return ctx.Value(loadersKey{}).(*loaders)
}

// memberCount counts the active organization's members holding role id, batched per operation.
func (s *Service) memberCount(ctx context.Context, id uuid.UUID) (*int, error) {
	n, err := loadersFrom(ctx).memberCount.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	return &n, nil
}
