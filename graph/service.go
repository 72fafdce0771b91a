package graph

import (
	"context"
	"log/slog"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/server/auth"
)

// Options is what the GraphQL service needs from the server.
type Options struct {
	Client *ent.Client
	// Dialect is the database dialect of Client (dialect.SQLite or dialect.Postgres).
	Dialect string
	Tokens  *auth.Tokens
	Hasher  *auth.PasswordHasher
	// RefreshTTL is the lifetime of a session (and so of its refresh tokens).
	RefreshTTL time.Duration
	Logger     *slog.Logger
	// Now is the clock; tests inject one.
	Now func() time.Time
	// Introspection enables GraphQL introspection (and so the playground's docs).
	Introspection bool
	// MaxDepth limits how deeply a query may nest selections (introspection excluded).
	MaxDepth int
	// MaxComplexity limits the computed complexity of a query.
	MaxComplexity int
	// MaxPageSize is the largest first/last a connection accepts.
	MaxPageSize int
	// Sealer encrypts secrets kept to be shown again (invitation tokens).
	Sealer *auth.Sealer
	// PublicURL is where users reach the dashboard; invitation links point there.
	PublicURL string
	// Mailer sends invitation e-mails; nil logs the links instead.
	Mailer Mailer
	// Limits configure the rate limiter; zero values take DefaultLimits.
	Limits Limits
}

// Service holds the dependencies of the workflows and resolvers.
type Service struct {
	Options
	client *ent.Client
	log    *slog.Logger
}

// NewService returns a Service with cfg, filling in defaults.
func NewService(cfg Options) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Limits == (Limits{}) {
		cfg.Limits = DefaultLimits
	}
	if cfg.MaxPageSize == 0 {
		cfg.MaxPageSize = 100
	}
	s := &Service{Options: cfg, client: cfg.Client, log: cfg.Logger}
	if s.Mailer == nil {
		s.Mailer = logMailer{s}
	}
	return s
}

func (s *Service) now() time.Time { return s.Now().UTC() }

// db returns the ent client of the request: the transaction's client inside a mutation.
func (s *Service) db(ctx context.Context) *ent.Client {
	if c := ent.FromContext(ctx); c != nil {
		return c
	}
	return s.client
}

// NewServer builds the GraphQL handler shared by /graphql and the REST layer: transports,
// query cache, limits, transactions per mutation, directives and the error presenter.
func NewServer(s *Service) *handler.Server {
	cfg := ExecutableConfig(s)
	srv := handler.New(NewExecutableSchema(cfg))
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	if s.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	srv.Use(depthLimit{max: s.MaxDepth})
	if s.MaxComplexity > 0 {
		srv.Use(extension.FixedComplexityLimit(s.MaxComplexity))
	}
	srv.Use(&transactions{svc: s})
	srv.AroundOperations(s.withLoaders)
	srv.AroundFields(markResolverErrors)
	srv.SetErrorPresenter(errorPresenter(s.log))
	srv.SetRecoverFunc(recoverFunc(s.log))
	return srv
}

// ExecutableConfig returns the gqlgen configuration: resolvers, directives and complexity.
func ExecutableConfig(s *Service) Config {
	cfg := Config{Resolvers: &Resolver{Service: s}}
	cfg.Directives.HasPermission = hasPermission
	cfg.Directives.SuperAdmin = superAdmin
	cfg.Directives.Authenticated = authenticated
	setComplexity(&cfg.Complexity, s.MaxPageSize)
	return cfg
}

// operationIsMutation reports whether ctx belongs to a mutation.
func operationIsMutation(ctx context.Context) bool {
	if !graphql.HasOperationContext(ctx) {
		return false
	}
	op := graphql.GetOperationContext(ctx).Operation
	return op != nil && op.Operation == ast.Mutation
}
