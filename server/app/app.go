package app

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"entgo.io/ent/dialect"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/rest"
	"github.com/inferiallm/orgserver/server/auth"
	"github.com/inferiallm/orgserver/server/database"
	"github.com/inferiallm/orgserver/server/playground"
)

// App is a running server: its database, GraphQL service and HTTP handler.
type App struct {
	// background ends the work the app runs besides requests (listening, pruning).
	background context.CancelFunc
	watcher    *database.Watcher
	cfg        Config
	log        *slog.Logger
	client     *ent.Client
	db         *database.DB
	driver     dialect.Driver
	svc        *graph.Service
	handler    http.Handler
}

// Options are the parts of New that only tests change.
type Options struct {
	// Logs is where structured logs go (default: standard error).
	Logs io.Writer
	// Out is where the first start prints the generated super admin password (default: stdout).
	Out io.Writer
	// WrapDriver wraps the database driver, e.g. to count statements.
	WrapDriver func(dialect.Driver) dialect.Driver
}

// New opens and migrates the database, bootstraps it on the first start, and builds the HTTP
// handler. The caller must Close the App.
func New(ctx context.Context, cfg Config, opts Options) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Logs == nil {
		opts.Logs = os.Stderr
	}
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	log := newLogger(cfg, opts.Logs)
	db, err := database.Open(ctx, cfg.DatabaseURL, database.Options{MaxConns: cfg.DBMaxConns, BusyTimeout: cfg.SQLiteBusyTimeout, StatementCache: statementCache(cfg.DBStatementCache)})
	if err != nil {
		return nil, err
	}
	drv := db.Driver
	if opts.WrapDriver != nil {
		drv = opts.WrapDriver(drv)
	}
	a := &App{cfg: cfg, log: log, client: ent.NewClient(ent.Driver(drv)), db: db, driver: drv}
	if err := a.start(ctx, opts.Out); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// statementCache is the database option of DB_STATEMENT_CACHE, where 0 means none.
func statementCache(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// newLogger builds the logger cfg asks for (cfg is valid) and logs cfg at debug level, its
// secrets redacted (Config.LogValue).
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	level, _ := parseLogLevel(cfg.LogLevel)
	o := &slog.HandlerOptions{Level: level}
	log := slog.New(slog.NewJSONHandler(w, o))
	if cfg.LogFormat == "text" {
		log = slog.New(slog.NewTextHandler(w, o))
	}
	log.Debug("configuration", "config", cfg)
	return log
}

// start migrates, bootstraps, loads the signing key and builds the handler.
func (a *App) start(ctx context.Context, out io.Writer) error {
	hasher := auth.NewPasswordHasher(a.cfg.Argon2, a.cfg.Hashing)
	var boot *graph.BootstrapResult
	err := migrateAndBootstrap(ctx, a.db, a.log, func(ctx context.Context, c *ent.Client) (err error) {
		boot, err = graph.Bootstrap(ctx, c, graph.BootstrapOptions{
			DefaultOrgName:     strings.TrimSpace(a.cfg.DefaultOrgName),
			SuperAdminEmail:    auth.NormalizeEmail(a.cfg.SuperAdminEmail),
			SuperAdminPassword: a.cfg.SuperAdminPassword,
			Hasher:             hasher,
		})
		return err
	})
	if err != nil {
		return err
	}
	if boot.FirstStart {
		a.log.Info("first start: created the default organization and the super admin",
			"organization", a.cfg.DefaultOrgName, "email", a.cfg.SuperAdminEmail)
	}
	if boot.GeneratedPassword != "" {
		fmt.Fprintf(out, "\n  Super admin: %s\n  Password:    %s\n  (shown once; set SUPERADMIN_PASSWORD to choose it, change it after signing in)\n\n",
			a.cfg.SuperAdminEmail, boot.GeneratedPassword)
	}
	secret := a.cfg.JWTSecret
	if secret == "" {
		secret, err = graph.EnsureSetting(ctx, a.client, "jwt_secret", func() (string, error) {
			return auth.RandomToken(48)
		})
		if err != nil {
			return fmt.Errorf("signing key: %w", err)
		}
	}
	key := []byte(secret)
	if raw, err := base64.RawURLEncoding.DecodeString(secret); err == nil && a.cfg.JWTSecret == "" {
		key = raw
	}
	dataKey := a.cfg.EncryptionKey
	if dataKey == "" {
		dataKey, err = graph.EnsureSetting(ctx, a.client, "encryption_key", func() (string, error) {
			return auth.RandomToken(32)
		})
		if err != nil {
			return fmt.Errorf("encryption key: %w", err)
		}
	}
	sealer, err := auth.NewSealer([]byte(dataKey))
	if err != nil {
		return err
	}
	var mailer graph.Mailer
	if a.cfg.SMTPURL != "" {
		if mailer, err = newSMTPMailer(a.cfg.SMTPURL); err != nil {
			return err
		}
	}
	now := a.cfg.Now
	if now == nil {
		now = time.Now
	}
	var watcher *database.Watcher
	if a.db.Dialect == dialect.SQLite && a.cfg.AuthCacheTTL > 0 {
		// An in-memory database has no second connection to watch from: no cache then.
		if watcher, err = a.db.NewWatcher(ctx); err != nil {
			a.log.Info("authentication cache off", "reason", err.Error())
			watcher = nil
		} else {
			a.watcher = watcher
		}
	}
	a.log.Debug("database", "dialect", a.db.Dialect, "pool", a.cfg.DBMaxConns, "statement_cache", a.cfg.DBStatementCache,
		"auth_cache_ttl", a.cfg.AuthCacheTTL, "auth_cache_feed", authCacheFeed(a.db.Dialect, a.cfg.AuthCacheTTL, watcher != nil))
	a.svc = graph.NewService(graph.Options{
		Client:        a.client,
		Driver:        a.driver,
		Dialect:       a.db.Dialect,
		Tokens:        &auth.Tokens{Secret: key, Issuer: "inferia", AccessTTL: a.cfg.AccessTokenTTL, Now: now},
		Hasher:        hasher,
		RefreshTTL:    a.cfg.RefreshTokenTTL,
		Logger:        a.log,
		Now:           now,
		Introspection: a.cfg.Introspection,
		MaxDepth:      a.cfg.MaxQueryDepth,
		MaxComplexity: a.cfg.MaxQueryComplexity,
		MaxTokens:     a.cfg.MaxQueryTokens,
		MaxFields:     a.cfg.MaxQueryFields,
		Sealer:        sealer,
		PublicURL:     a.cfg.PublicURL,
		Mailer:        mailer,
		Limits:        a.cfg.Limits,
		AuthCacheTTL:  a.cfg.AuthCacheTTL,
		AuthWatcher:   watcher,
	})
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.background = cancel
	if a.db.Dialect == dialect.Postgres && a.cfg.AuthCacheTTL > 0 {
		channel, err := a.db.NotifyChannel(ctx, authChangesChannel)
		if err != nil {
			return err
		}
		if err := database.Listen(bg, a.cfg.DatabaseURL, channel, 15*time.Second, a.svc.AuthChanged, a.authFeed); err != nil {
			return err
		}
	}
	go a.pruneAuthChanges(bg)
	a.handler, err = a.routes()
	return err
}

// routes builds the HTTP handler.
func (a *App) routes() (http.Handler, error) {
	mux := http.NewServeMux()
	gql := graph.NewServer(a.svc)
	if err := graph.CheckPermissionNames(gql.Schema()); err != nil {
		return nil, err
	}
	mux.Handle("/graphql", gql)
	api, err := rest.New(gql.Executor(), gql.Schema(), rest.Options{Logger: a.log})
	if err != nil {
		return nil, err
	}
	api.Mount(mux)
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", a.readyz)
	if a.cfg.Playground {
		page := playground.Handler("InferiaLLM GraphQL", "/graphql", "/playground/assets/")
		mux.Handle("GET /playground", page)
		mux.Handle("GET /{$}", page)
		mux.Handle("GET /playground/assets/", http.StripPrefix("/playground/assets/", playground.Assets()))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, http.StatusNotFound, graph.CodeNotFound, "Not Found")
	})
	var h http.Handler = mux
	h = a.authenticate(h)
	h = a.limitBody(h)
	h = a.cors(h)
	h = securityHeaders(h)
	h = a.recoverPanics(h)
	h = a.withClient(h)
	return h, nil
}

// Client returns the ent client (for tests and tools that seed data).
func (a *App) Client() *ent.Client { return a.client }

// Service returns the GraphQL service.
func (a *App) Service() *graph.Service { return a.svc }

// Close sends the e-mail still queued (for at most ShutdownTimeout) and closes the database.
func (a *App) Close() error {
	if a.background != nil {
		a.background()
	}
	if a.watcher != nil {
		a.watcher.Close()
	}
	if a.svc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		defer cancel()
		if err := a.svc.Close(ctx); err != nil {
			a.log.Warn("e-mail still queued at shutdown was not sent", "err", err)
		}
	}
	return a.db.Close()
}

// Serve serves HTTP on ln until ctx is done, then shuts down gracefully: it stops accepting,
// lets requests in flight finish (up to ShutdownTimeout) and returns.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("listening", "addr", ln.Addr().String(), "database", a.db.Dialect,
		"playground", a.cfg.Playground, "introspection", a.cfg.Introspection)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Run is the whole program: configuration from defaults, environment and flags, then the
// command the arguments name (see commands.go): by default the server, until ctx is done (main
// cancels it on SIGINT and SIGTERM).
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg := DefaultConfig()
	if err := cfg.FromEnv(getenv); err != nil {
		return err
	}
	words, err := cfg.FromFlags(args, stdout)
	if err != nil {
		return err
	}
	cmd, err := lookupCommand(words)
	if err != nil {
		return err
	}
	return cmd.run(ctx, cfg, getenv, stdout)
}

// serve runs the server until ctx is done.
func serve(ctx context.Context, cfg Config, getenv func(string) string, stdout io.Writer) error {
	gc := tuneGC(getenv)
	a, err := New(ctx, cfg, Options{Out: stdout})
	if err != nil {
		return err
	}
	defer a.Close()
	limit := "none"
	if gc.MemoryLimit != math.MaxInt64 {
		limit = fmt.Sprintf("%d MiB", gc.MemoryLimit>>20)
	}
	a.log.Info("garbage collector", "GOGC", gc.GOGC, "GOMEMLIMIT", limit, "limit_from", gc.From)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	return a.Serve(ctx, ln)
}

// authFeed follows the state of the PostgreSQL listener that brings changes to the
// authentication cache.
func (a *App) authFeed(up bool) {
	if up {
		a.log.Info("authentication cache: change notifications arrive; caching")
	} else {
		a.log.Warn("authentication cache: change notifications do not arrive; every request checks the database")
	}
	a.svc.AuthFeed(up)
}

// pruneAuthChanges deletes auth_changes rows older than an hour (or twice AUTH_CACHE_SECONDS,
// if longer), now and every ten minutes: the caches that read them keep nothing longer than
// AUTH_CACHE_SECONDS, so a SQLite replica never loses a row it has yet to read.
func (a *App) pruneAuthChanges(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		if err := a.svc.PruneAuthChanges(ctx, max(time.Hour, 2*a.cfg.AuthCacheTTL)); err != nil && ctx.Err() == nil {
			a.log.Warn("pruning auth_changes", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
