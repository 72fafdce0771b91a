package graph

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/trace"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/graph/generated"
	"github.com/inferiallm/orgserver/server/auth"
	"github.com/inferiallm/orgserver/server/database"
	"github.com/inferiallm/orgserver/server/outbound"
	"github.com/inferiallm/orgserver/server/telemetry"
)

// Options is what the GraphQL service needs from the server.
type Options struct {
	Client *ent.Client
	// Driver is the driver under Client, for the few statements written in SQL.
	Driver dialect.Driver
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
	// MaxComplexity limits the cost of an operation: the most values its response can hold
	// (see costLimit).
	MaxComplexity int
	// MaxTokens limits the tokens of a document, so that parsing stays cheap.
	MaxTokens int
	// MaxFields limits the selections of a document, fragments counted where they are spread,
	// checked before validation (see checkDocument).
	MaxFields int
	// MaxPageSize is the largest first/last a connection accepts.
	MaxPageSize int
	// Sealer encrypts secrets kept to be shown again (invitation tokens).
	Sealer *auth.Sealer
	// APIKeys hashes organization API keys; nil: a hasher with a random key, for this process
	// only (tests).
	APIKeys *auth.APIKeyHasher
	// PublicURL is where users reach the dashboard; invitation links point there.
	PublicURL string
	// PasswordResetTTL is how long a password reset link works; zero: DefaultPasswordResetTTL.
	PasswordResetTTL time.Duration
	// Mailer sends invitation and password reset e-mails; nil logs the links instead.
	Mailer Mailer
	// Limits configure the rate limiter; zero values take DefaultLimits.
	Limits Limits
	// AuthCacheTTL is how long the authentication cache keeps an entry at most; zero: no cache.
	// On SQLite AuthWatcher must be set for a cache; on PostgreSQL the cache serves once
	// AuthFeed(true) says the change notifications arrive.
	AuthCacheTTL time.Duration
	AuthWatcher  *database.Watcher
	// Metrics count operations, sign-ins and rate-limit blocks; nil counts nothing.
	Metrics *telemetry.Metrics
	// Tracer gives each operation a span; nil starts none.
	Tracer trace.Tracer
	// Documents are the trusted documents, which clients may name by documentId or
	// persistedQuery.sha256Hash; nil: none.
	Documents *DocumentStore
	// TrustedDocumentsOnly refuses every document that is not one of Documents, before any
	// parsing work (GRAPHQL_TRUSTED_DOCUMENTS=on).
	TrustedDocumentsOnly bool
	// SSOClient fetches from identity providers (discovery, keys, tokens); nil: a guarded
	// client that admits public https destinations only.
	SSOClient *outbound.Client
	// TXTResolver looks up domain verification records; nil: net.DefaultResolver.
	TXTResolver TXTResolver
	// SSOBaseURL is where browsers reach this server's /auth/sso/ endpoints: the base of the
	// redirect URIs registered at identity providers. Empty: SSO sign-in cannot start.
	SSOBaseURL string
	// DashboardURL is where an SSO sign-in lands (PUBLIC_URL); empty: relative to this server.
	DashboardURL string
}

// Service holds the dependencies of the workflows and resolvers.
type Service struct {
	Options
	outbox    *outbox
	authCache *authCache
	keyMisses *keyMisses
	// busyRefusals and busyReported throttle the log of a full hashing queue.
	busyRefusals, busyReported atomic.Int64
	// operationNames are the names that label operations in metrics and spans.
	operationNames telemetry.OperationNames
	// ssoKeys are the identity providers' signing keys, by connection (ssokeys.go).
	ssoKeys ssoKeySets
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
	if cfg.APIKeys == nil {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		cfg.APIKeys = auth.NewAPIKeyHasher(key)
	}
	if cfg.SSOClient == nil {
		cfg.SSOClient = outbound.New(outbound.Options{})
	}
	if cfg.TXTResolver == nil {
		cfg.TXTResolver = net.DefaultResolver
	}
	s := &Service{Options: cfg}
	if s.Mailer == nil {
		s.Mailer = logMailer{s}
	}
	s.outbox = newOutbox(s)
	s.keyMisses = newKeyMisses(s.Limits.APIKeyMissesPerIP)
	if s.Dialect != dialect.SQLite || s.AuthWatcher != nil {
		s.authCache = newAuthCache(s.AuthCacheTTL, s.AuthWatcher, s.now)
	}
	if s.authCache != nil && s.Client != nil {
		s.Client.Use(s.dropOnCommit)
	}
	if s.Client != nil {
		s.Client.SSOConnection.Use(s.forgetSSOKeysOnChange)
	}
	return s
}

func (s *Service) now() time.Time { return s.Now().UTC() }

// KnowOperations lets the names of operations the server itself runs (the REST layer's) label
// metrics and name spans whoever sends them; others must come from a signed-in caller first.
func (s *Service) KnowOperations(names ...string) { s.operationNames.Know(names...) }

// Close sends the e-mail still queued, waiting at most until ctx ends.
func (s *Service) Close(ctx context.Context) error { return s.outbox.close(ctx) }

// Server is the GraphQL endpoint: the HTTP transports over one executor, which the REST layer
// shares, so both paths run the same directives, limits, transactions and error presenter.
type Server struct {
	schema     graphql.ExecutableSchema
	exec       *executor.Executor
	transports []graphql.Transport
}

// NewServer builds the GraphQL executor (query cache, limits, transactions per mutation,
// loaders, directives, error presenter) and its HTTP transports.
func NewServer(s *Service) *Server {
	es := generated.NewExecutableSchema(ExecutableConfig(s))
	exec := executor.New(es)
	if s.Metrics != nil || s.Tracer != nil {
		// First, so that it is the outermost: the operation's span holds all it runs.
		exec.Use(observer{metrics: s.Metrics, tracer: s.Tracer, names: &s.operationNames})
	}
	validated := smallOnly[*ast.QueryDocument]{Cache: lru.New[*ast.QueryDocument](1000), size: func(q string, _ *ast.QueryDocument) int { return len(q) }}
	exec.SetQueryCache(validated)
	exec.SetParserTokenLimit(s.MaxTokens)
	if s.Introspection {
		exec.Use(extension.Introspection{})
	}
	// First of the parameter mutators: a document refused in trusted mode costs no parsing.
	exec.Use(documentGate{docs: s.Documents, trusted: s.TrustedDocumentsOnly})
	if !s.TrustedDocumentsOnly {
		// Trusted mode answers the APQ form from the manifest alone: nothing registers.
		exec.Use(extension.AutomaticPersistedQuery{Cache: smallOnly[string]{Cache: lru.New[string](100), size: func(_, q string) int { return len(q) }}})
	}
	// After APQ, which fills in the query; the last parameter mutator, so before validation.
	exec.Use(documentLimits{maxTokens: s.MaxTokens, maxFields: s.MaxFields, validated: validated})
	exec.Use(depthLimit{max: s.MaxDepth})
	exec.Use(noNUL{})
	exec.Use(oneCredentialCheck{})
	exec.Use(costLimit{max: s.MaxComplexity, maxPage: s.MaxPageSize})
	exec.Use(&transactions{svc: s})
	exec.AroundOperations(answerLateOperations)
	exec.AroundOperations(s.withLoaders)
	// One field middleware, not two: it runs for every field of every response (hundreds on a
	// Users page), and each layer costs a closure per field.
	exec.AroundFields(func(ctx context.Context, next graphql.Resolver) (any, error) {
		return markResolverErrors(payloadViewerContext(ctx), next)
	})
	exec.SetErrorPresenter(errorPresenter(s.Logger))
	exec.SetRecoverFunc(recoverFunc(s.Logger))
	return &Server{
		schema:     es,
		exec:       exec,
		transports: []graphql.Transport{transport.Options{}, getQuery{docs: s.Documents}, postJSON{docs: s.Documents}},
	}
}

// Executor returns the executor, for the REST layer.
func (srv *Server) Executor() *executor.Executor { return srv.exec }

// Schema returns the GraphQL schema.
func (srv *Server) Schema() *ast.Schema { return srv.schema.Schema() }

// ServeHTTP serves GraphQL over HTTP (GET and POST, JSON).
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := context.WithValue(r.Context(), responseHeaderKey{}, &responseHeader{h: w.Header()})
	r = r.WithContext(graphql.StartOperationTrace(ctx))
	for _, t := range srv.transports {
		if t.Supports(r) {
			t.Do(w, r, srv.exec)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte(`{"errors":[{"message":"Send GraphQL as POST with Content-Type: application/json, or as GET with ?query=","extensions":{"code":"BAD_USER_INPUT"}}]}`))
}

// ExecutableConfig returns the gqlgen configuration: resolvers and directives. (Complexity is
// costLimit's, computed from the schema.)
func ExecutableConfig(s *Service) generated.Config {
	cfg := generated.Config{Resolvers: &Resolver{Service: s}}
	cfg.Directives.HasPermission = hasPermission
	cfg.Directives.SuperAdmin = superAdmin
	cfg.Directives.Authenticated = authenticated
	cfg.Directives.Person = person
	cfg.Directives.ActiveOrganization = activeOrganization
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

func ptr[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
