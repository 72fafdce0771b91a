// Package app wires the server together: configuration, database, GraphQL service, HTTP
// middleware and start-up. Package main is a few lines around Run, so tests start the real
// server in-process with New.
package app

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/server/auth"
	"github.com/inferiallm/orgserver/server/database"
)

// Config is the server's configuration. DefaultConfig gives the defaults; environment variables
// and then flags override them; Validate refuses what cannot work.
type Config struct {
	// DatabaseURL: empty for the embedded SQLite file ./inferia.db, sqlite:///path/file.db for
	// another file, postgres://... for PostgreSQL.
	DatabaseURL string
	// DBMaxConns is the PostgreSQL pool size, or the number of SQLite's read connections (SQLite
	// always has one write connection besides).
	DBMaxConns int
	// DBStatementCache is how many prepared statements each pool keeps (0: none, every
	// statement is parsed and planned each time, as behind a transaction-mode pooler).
	DBStatementCache int
	// SQLiteBusyTimeout is how long SQLite waits for a lock another process holds (the
	// server's own writers queue in the server).
	SQLiteBusyTimeout time.Duration
	// AuthCacheTTL is the longest the authentication cache keeps what it read about a session;
	// zero turns the cache off.
	AuthCacheTTL time.Duration
	// RequestTimeout bounds how long a request may wait for the database or the hashing queue;
	// past it the answer is 503 with Retry-After.
	RequestTimeout time.Duration
	// Addr is the listen address.
	Addr string
	// ManagementAddr, when set, is the address of the management listener: /metrics,
	// /healthz and /readyz. Off by default, so that servers on one host never collide.
	ManagementAddr string
	// OTLPEndpoint (OTEL_EXPORTER_OTLP_ENDPOINT) or OTLPTracesEndpoint (the traces-only
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, which wins) turn tracing on: spans go there over
	// OTLP/HTTP. The first is a base URL that /v1/traces is appended to, the second the whole URL.
	OTLPEndpoint       string
	OTLPTracesEndpoint string
	// JWTSecret signs access tokens; empty: generated once and kept in the database.
	JWTSecret string
	// EncryptionKey seals secrets kept to be shown again (invitation links, TOTP secrets);
	// empty: generated once and kept in the database.
	EncryptionKey string
	// InternalAPIKey authenticates the inference gateway's reports (POST /internal/usage, header
	// X-Internal-API-Key); empty turns those routes off (503).
	InternalAPIKey string
	// SuperAdminEmail and SuperAdminPassword create the super admin on the first start; with no
	// password one is generated and printed once.
	SuperAdminEmail    string
	SuperAdminPassword string
	// DefaultOrgName is the organization created on the first start.
	DefaultOrgName string
	// AccessTokenTTL is the lifetime of access tokens.
	AccessTokenTTL time.Duration
	// PasswordResetTTL is how long a password reset link works.
	PasswordResetTTL time.Duration
	// RefreshTokenTTL is the lifetime of a session and so of its refresh tokens.
	RefreshTokenTTL time.Duration
	// AllowedOrigins are the browser origins allowed by CORS, with credentials; "*" alone
	// allows any origin, without credentials.
	AllowedOrigins []string
	// PublicURL is where users reach the dashboard (invitation links point there).
	PublicURL string
	// SSOBaseURL is where browsers reach this server's /auth/sso/ endpoints, the base of the
	// redirect URIs registered at identity providers; empty: PublicURL.
	SSOBaseURL string
	// SSOAllowLoopback lets SSO fetches reach loopback addresses over plain http: for tests,
	// whose identity provider runs in-process. No environment variable sets it.
	SSOAllowLoopback bool
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// SMTPURL, when set, sends invitation e-mails (smtp://user:pass@host:port?from=...).
	SMTPURL string
	// Introspection enables GraphQL introspection.
	Introspection bool
	// Playground serves GraphiQL at /playground and /.
	Playground bool
	// TrustedDocuments is "off" (any document runs) or "on" (only the trusted documents run:
	// the manifest built into the binary and TrustedDocumentsFile's).
	TrustedDocuments string
	// TrustedDocumentsFile names a manifest that adds to the built-in one, in the JSON map form
	// client code generators emit: {"<sha256 hex>": "<document text>"}.
	TrustedDocumentsFile string
	// MaxBodyBytes limits request bodies.
	MaxBodyBytes int64
	// MaxQueryDepth and MaxQueryComplexity limit GraphQL queries.
	MaxQueryDepth      int
	MaxQueryComplexity int
	// MaxQueryTokens and MaxQueryFields bound the size of a GraphQL document, checked before
	// it is validated.
	MaxQueryTokens int
	MaxQueryFields int
	// Argon2 are the password hashing parameters; Hashing bounds how many hashes run at once
	// and how long a request waits for its turn.
	Argon2  auth.Argon2Params
	Hashing auth.HashLimits
	// Limits configure the rate limiter of sign-ins, invitation acceptance and 2FA attempts.
	Limits graph.Limits
	// LogLevel is debug, info, warn or error; LogFormat is json or text.
	LogLevel  string
	LogFormat string
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration
	// Now is the clock (tests inject one); nil means time.Now.
	Now func() time.Time
}

// DefaultConfig returns the defaults: SQLite in ./inferia.db, port 8000.
func DefaultConfig() Config {
	return Config{
		Addr:               ":8000",
		DBMaxConns:         database.DefaultMaxConns,
		DBStatementCache:   database.DefaultStatementCache,
		RequestTimeout:     30 * time.Second,
		AuthCacheTTL:       time.Minute,
		SQLiteBusyTimeout:  5 * time.Second,
		SuperAdminEmail:    "admin@example.com",
		DefaultOrgName:     "Default Organization",
		AccessTokenTTL:     15 * time.Minute,
		PasswordResetTTL:   graph.DefaultPasswordResetTTL,
		RefreshTokenTTL:    7 * 24 * time.Hour,
		Introspection:      true,
		Playground:         true,
		TrustedDocuments:   "off",
		MaxBodyBytes:       1 << 20,
		MaxQueryDepth:      12,
		MaxQueryComplexity: 20000,
		MaxQueryTokens:     5000,
		MaxQueryFields:     2000,
		Argon2:             auth.DefaultArgon2Params,
		Hashing:            auth.HashLimits{Concurrency: runtime.NumCPU(), MaxWait: 2 * time.Second},
		Limits:             graph.DefaultLimits,
		LogLevel:           "info",
		LogFormat:          "json",
		ShutdownTimeout:    15 * time.Second,
	}
}

// envVar describes one environment variable: its name, what it sets, and how to parse it.
type envVar struct {
	name, help string
	set        func(c *Config, v string) error
}

func str(f func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *f(c) = v; return nil }
}

func boolean(f func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		*f(c) = b
		return err
	}
}

func integer(f func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		*f(c) = n
		return err
	}
}

// atLeast parses a whole number of at least least (0 or 1).
func atLeast(v string, least int) (int, error) {
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
	case n < least && least == 1:
		err = errors.New("must be positive")
	case n < least:
		err = errors.New("must not be negative")
	}
	return n, err
}

func positive(f func(*Config) *int) func(*Config, string) error { return count(1, f) }

// nonNegative is a number where 0 turns something off.
func nonNegative(f func(*Config) *int) func(*Config, string) error { return count(0, f) }

func count(least int, f func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) (err error) {
		*f(c), err = atLeast(v, least)
		return err
	}
}

func duration(unit time.Duration, f func(*Config) *time.Duration) func(*Config, string) error {
	return durationFrom(1, unit, f)
}

// durationFrom parses a whole number of units, of at least least.
func durationFrom(least int, unit time.Duration, f func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := atLeast(v, least)
		*f(c) = time.Duration(n) * unit
		return err
	}
}

func uint32Var(f func(*Config) *uint32) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		*f(c) = uint32(n)
		return err
	}
}

// argon2Vars are the variables that set the password hashing parameters: set from the
// environment, the parameters must be at least as strong as OWASP's minimums.
var argon2Vars = []string{"PASSWORD_ARGON2_MEMORY_KIB", "PASSWORD_ARGON2_ITERATIONS", "PASSWORD_ARGON2_PARALLELISM"}

// EnvVars lists the environment variables the server reads, for Run and the README.
var envVars = []envVar{
	{"DATABASE_URL", "database (empty: SQLite ./inferia.db; sqlite:///path.db; postgres://...)", str(func(c *Config) *string { return &c.DatabaseURL })},
	{"DB_MAX_CONNS", "PostgreSQL pool size, or SQLite's read connections beside its one writer (default 10)", positive(func(c *Config) *int { return &c.DBMaxConns })},
	{"DB_STATEMENT_CACHE", "prepared statements kept per pool, each prepared once per connection (default 256; 0: none, e.g. behind PgBouncer in transaction mode)", nonNegative(func(c *Config) *int { return &c.DBStatementCache })},
	{"SQLITE_BUSY_TIMEOUT_MS", "how long SQLite waits for a lock held by another process, e.g. a backup (default 5000)", duration(time.Millisecond, func(c *Config) *time.Duration { return &c.SQLiteBusyTimeout })},
	{"AUTH_CACHE_SECONDS", "longest the authentication cache keeps a session (default 60; 0: no cache)", durationFrom(0, time.Second, func(c *Config) *time.Duration { return &c.AuthCacheTTL })},
	{"REQUEST_TIMEOUT_SECONDS", "longest a request waits for the database or the hashing queue before 503 (default 30)", duration(time.Second, func(c *Config) *time.Duration { return &c.RequestTimeout })},
	{"LISTEN_ADDR", "listen address (default :8000)", str(func(c *Config) *string { return &c.Addr })},
	{"MANAGEMENT_ADDR", "address of the management listener serving /metrics, /healthz and /readyz, e.g. 127.0.0.1:9000 (default: none)", str(func(c *Config) *string { return &c.ManagementAddr })},
	{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTLP/HTTP collector base URL, e.g. http://127.0.0.1:4318: turns tracing on (default: off); other OTEL_* variables are honoured", str(func(c *Config) *string { return &c.OTLPEndpoint })},
	{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "full OTLP/HTTP traces URL, in place of the one above", str(func(c *Config) *string { return &c.OTLPTracesEndpoint })},
	{"JWT_SECRET_KEY", "access-token signing key (default: generated and kept in the database)", str(func(c *Config) *string { return &c.JWTSecret })},
	{"ENCRYPTION_KEY", "key that encrypts stored secrets (default: generated and kept in the database)", str(func(c *Config) *string { return &c.EncryptionKey })},
	{"INTERNAL_API_KEY", "key the inference gateway sends in X-Internal-API-Key to report usage, at least 32 characters (default: none, the internal routes answer 503)", str(func(c *Config) *string { return &c.InternalAPIKey })},
	{"SUPERADMIN_EMAIL", "super admin created on the first start", str(func(c *Config) *string { return &c.SuperAdminEmail })},
	{"SUPERADMIN_PASSWORD", "its password (default: generated and printed once)", str(func(c *Config) *string { return &c.SuperAdminPassword })},
	{"DEFAULT_ORG_NAME", "organization created on the first start", str(func(c *Config) *string { return &c.DefaultOrgName })},
	{"ACCESS_TOKEN_EXPIRE_MINUTES", "access-token lifetime in minutes (default 15)", duration(time.Minute, func(c *Config) *time.Duration { return &c.AccessTokenTTL })},
	{"PASSWORD_RESET_TTL_MINUTES", "how long a password reset link works, in minutes (default 30; 5 to 1440)", duration(time.Minute, func(c *Config) *time.Duration { return &c.PasswordResetTTL })},
	{"REFRESH_TOKEN_EXPIRE_DAYS", "session and refresh-token lifetime in days (default 7)", duration(24*time.Hour, func(c *Config) *time.Duration { return &c.RefreshTokenTTL })},
	{"ALLOWED_ORIGINS", "comma-separated CORS origins (scheme://host[:port]), or * for any origin without credentials", func(c *Config, v string) (err error) {
		c.AllowedOrigins, err = parseOrigins(splitList(v))
		return err
	}},
	{"PUBLIC_URL", "URL of the dashboard, for invitation links", str(func(c *Config) *string { return &c.PublicURL })},
	{"SSO_BASE_URL", "URL at which browsers reach this server's /auth/sso/ endpoints, the base of SSO redirect URIs (default: PUBLIC_URL)", str(func(c *Config) *string { return &c.SSOBaseURL })},
	{"TRUSTED_PROXIES", "comma-separated IPs or CIDRs whose X-Forwarded-For is trusted", func(c *Config, v string) (err error) {
		c.TrustedProxies, err = parsePrefixes(splitList(v))
		return err
	}},
	{"SMTP_URL", "smtp://user:pass@host:port?from=addr to e-mail invitations", str(func(c *Config) *string { return &c.SMTPURL })},
	{"GRAPHQL_INTROSPECTION", "allow GraphQL introspection (default true)", boolean(func(c *Config) *bool { return &c.Introspection })},
	{"GRAPHQL_PLAYGROUND", "serve GraphiQL at /playground and / (default true)", boolean(func(c *Config) *bool { return &c.Playground })},
	{"GRAPHQL_TRUSTED_DOCUMENTS", "off (default: any document runs) or on: only trusted documents run, sent by documentId, persistedQuery.sha256Hash or full text; on turns the playground off unless GRAPHQL_PLAYGROUND=true", str(func(c *Config) *string { return &c.TrustedDocuments })},
	{"GRAPHQL_TRUSTED_DOCUMENTS_FILE", "a JSON manifest {\"<sha256 hex>\": \"<document>\"} of more trusted documents, e.g. a client code generator's (default: none)", str(func(c *Config) *string { return &c.TrustedDocumentsFile })},
	{"GRAPHQL_MAX_DEPTH", "deepest allowed query nesting (default 12)", integer(func(c *Config) *int { return &c.MaxQueryDepth })},
	{"GRAPHQL_MAX_COMPLEXITY", "most values a query's response may hold, lists counted at their page size (default 20000)", integer(func(c *Config) *int { return &c.MaxQueryComplexity })},
	{"GRAPHQL_MAX_TOKENS", "most tokens a GraphQL document may hold (default 5000)", integer(func(c *Config) *int { return &c.MaxQueryTokens })},
	{"GRAPHQL_MAX_FIELDS", "most selections a GraphQL document may hold, fragments counted where spread (default 2000)", integer(func(c *Config) *int { return &c.MaxQueryFields })},
	{"MAX_BODY_BYTES", "largest request body in bytes (default 1048576)", func(c *Config, v string) (err error) {
		c.MaxBodyBytes, err = strconv.ParseInt(v, 10, 64)
		return err
	}},
	{"PASSWORD_ARGON2_MEMORY_KIB", "argon2id memory per password hash in KiB (default 12288); at least OWASP's minimum for the iterations", uint32Var(func(c *Config) *uint32 { return &c.Argon2.Memory })},
	{"PASSWORD_ARGON2_ITERATIONS", "argon2id passes (default 3): with 1, 2, 3, 4, 5+ at least 47104, 19456, 12288, 9216, 7168 KiB", uint32Var(func(c *Config) *uint32 { return &c.Argon2.Iterations })},
	{"PASSWORD_ARGON2_PARALLELISM", "argon2id lanes per hash (default 1; 1 to 64)", func(c *Config, v string) error {
		n, err := strconv.ParseUint(v, 10, 8)
		c.Argon2.Parallelism = uint8(n)
		return err
	}},
	{"PASSWORD_HASH_CONCURRENCY", "password hashes (each takes its argon2id memory) run at once (default: the number of CPUs)", positive(func(c *Config) *int { return &c.Hashing.Concurrency })},
	{"PASSWORD_HASH_MAX_WAIT_MS", "longest a sign-in waits for a hashing slot before 503 (default 2000)", duration(time.Millisecond, func(c *Config) *time.Duration { return &c.Hashing.MaxWait })},
	{"RATE_LIMIT_LOGIN_PER_ACCOUNT", "failed sign-ins of one account before it is slowed down (default 5; 0: off)", integer(func(c *Config) *int { return &c.Limits.LoginPerAccount })},
	{"RATE_LIMIT_LOGIN_PER_IP", "failed sign-ins from one address before it is slowed down (default 30)", integer(func(c *Config) *int { return &c.Limits.LoginPerIP })},
	{"RATE_LIMIT_ACCEPT_PER_IP", "failed invitation acceptances from one address (default 20)", integer(func(c *Config) *int { return &c.Limits.AcceptPerIP })},
	{"RATE_LIMIT_2FA_PER_IP", "wrong 2FA codes from one address (default 10)", integer(func(c *Config) *int { return &c.Limits.TwoFactorPerIP })},
	{"RATE_LIMIT_RESET_REQUEST_PER_ACCOUNT", "password reset requests for one e-mail address, known or not (default 3)", integer(func(c *Config) *int { return &c.Limits.ResetRequestPerAccount })},
	{"RATE_LIMIT_RESET_REQUEST_PER_IP", "password reset requests from one address (default 20)", integer(func(c *Config) *int { return &c.Limits.ResetRequestPerIP })},
	{"RATE_LIMIT_RESET_PER_IP", "password resets with a bad or expired link from one address (default 20)", integer(func(c *Config) *int { return &c.Limits.ResetPerIP })},
	{"RATE_LIMIT_SSO_START_PER_IP", "single sign-ons started from one address (default 30)", integer(func(c *Config) *int { return &c.Limits.SSOStartPerIP })},
	{"RATE_LIMIT_SSO_CALLBACK_FAILURES_PER_IP", "refused single sign-on callbacks from one address (default 30; 0: off)", integer(func(c *Config) *int { return &c.Limits.SSOCallbackFailuresPerIP })},
	{"RATE_LIMIT_API_KEY_MISSES_PER_IP", "well-formed but unknown API keys from one address in a minute, counted in each replica's memory, before its uncached keys are refused for the rest of the minute (default 60; 0: off)", integer(func(c *Config) *int { return &c.Limits.APIKeyMissesPerIP })},
	{"RATE_LIMIT_WINDOW_MINUTES", "how long failures are remembered (default 15)", duration(time.Minute, func(c *Config) *time.Duration { return &c.Limits.Window })},
	{"RATE_LIMIT_MAX_DELAY_MINUTES", "longest block (default 15); blocks start at 15 s and double", duration(time.Minute, func(c *Config) *time.Duration { return &c.Limits.MaxDelay })},
	{"LOG_LEVEL", "debug, info, warn or error (default info)", func(c *Config, v string) error {
		c.LogLevel = v
		_, err := parseLogLevel(v)
		return err
	}},
	{"LOG_FORMAT", "json or text (default json)", str(func(c *Config) *string { return &c.LogFormat })},
}

// FromEnv applies the environment variables found by getenv to c.
func (c *Config) FromEnv(getenv func(string) string) error {
	var errs []error
	for _, e := range envVars {
		if v := strings.TrimSpace(getenv(e.name)); v != "" {
			if err := e.set(c, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %v", e.name, v, err))
			}
		}
	}
	// Trusted mode runs only manifest documents, which GraphiQL's are not: its playground is
	// off unless asked for.
	if c.TrustedDocuments == "on" && strings.TrimSpace(getenv("GRAPHQL_PLAYGROUND")) == "" {
		c.Playground = false
	}
	if len(errs) == 0 && slices.ContainsFunc(argon2Vars, func(name string) bool { return strings.TrimSpace(getenv(name)) != "" }) {
		if err := c.Argon2.CheckStrength(); err != nil {
			p := c.Argon2
			errs = append(errs, fmt.Errorf("password hashing (%s=%d %s=%d %s=%d): %w", argon2Vars[0], p.Memory,
				argon2Vars[1], p.Iterations, argon2Vars[2], p.Parallelism, err))
		}
	}
	return errors.Join(errs...)
}

// serverFlags declares the flags that override the environment on fs.
func (c *Config) serverFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address (LISTEN_ADDR)")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "database URL (DATABASE_URL)")
}

// Validate refuses configurations that cannot work.
func (c *Config) Validate() error {
	var errs []error
	if c.AccessTokenTTL <= 0 || c.RefreshTokenTTL <= 0 {
		errs = append(errs, errors.New("token lifetimes must be positive"))
	}
	if c.PasswordResetTTL < 5*time.Minute || c.PasswordResetTTL > 24*time.Hour {
		errs = append(errs, errors.New("PASSWORD_RESET_TTL_MINUTES must be from 5 to 1440"))
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < 32 {
		errs = append(errs, errors.New("JWT_SECRET_KEY must be at least 32 characters"))
	}
	if c.SuperAdminPassword != "" && len(c.SuperAdminPassword) < 8 {
		errs = append(errs, errors.New("SUPERADMIN_PASSWORD must be at least 8 characters"))
	}
	if _, err := auth.ParseEmail(c.SuperAdminEmail); err != nil {
		errs = append(errs, errors.New("SUPERADMIN_EMAIL must be an e-mail address"))
	}
	if strings.TrimSpace(c.DefaultOrgName) == "" {
		errs = append(errs, errors.New("DEFAULT_ORG_NAME must not be empty"))
	}
	if c.TrustedDocuments != "off" && c.TrustedDocuments != "on" {
		errs = append(errs, fmt.Errorf("GRAPHQL_TRUSTED_DOCUMENTS=%q: must be off or on", c.TrustedDocuments))
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, errors.New("MAX_BODY_BYTES must be at least 1024"))
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, errors.New("PUBLIC_URL must be an absolute URL"))
		}
	}
	if c.SSOBaseURL != "" {
		if u, err := url.Parse(c.SSOBaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, errors.New("SSO_BASE_URL must be an absolute http(s) URL without query or fragment"))
		}
	}
	if c.EncryptionKey != "" && len(c.EncryptionKey) < 32 {
		errs = append(errs, errors.New("ENCRYPTION_KEY must be at least 32 characters"))
	}
	if c.InternalAPIKey != "" && len(c.InternalAPIKey) < 32 {
		errs = append(errs, errors.New("INTERNAL_API_KEY must be at least 32 characters"))
	}
	if c.SMTPURL != "" {
		if _, err := newSMTPMailer(c.SMTPURL); err != nil {
			errs = append(errs, err)
		}
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		errs = append(errs, errors.New("LOG_FORMAT must be json or text"))
	}
	if _, err := parseLogLevel(c.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL=%q: %w", c.LogLevel, err))
	}
	if _, err := parseOrigins(c.AllowedOrigins); err != nil {
		errs = append(errs, fmt.Errorf("ALLOWED_ORIGINS: %w", err))
	}
	if p := c.Argon2; p.Iterations < 1 || p.Iterations > auth.MaxArgon2Iterations || p.Parallelism < 1 ||
		p.Parallelism > auth.MaxArgon2Parallelism || p.Memory < 8*uint32(p.Parallelism) || p.Memory > auth.MaxArgon2Memory {
		// Set from the environment they were checked against OWASP's minimums already; these
		// bounds keep any configuration from breaking or exhausting the server.
		errs = append(errs, fmt.Errorf("password hashing parameters out of range: %d KiB, %d iterations, %d lanes", p.Memory, p.Iterations, p.Parallelism))
	}
	if _, err := database.Dialect(c.DatabaseURL); err != nil {
		errs = append(errs, err)
	}
	if c.ManagementAddr != "" {
		if err := checkHostPort(c.ManagementAddr); err != nil {
			errs = append(errs, fmt.Errorf("MANAGEMENT_ADDR must be host:port or :port, e.g. 127.0.0.1:9000 (%q: %v)", c.ManagementAddr, err))
		} else if _, port, _ := net.SplitHostPort(c.Addr); c.ManagementAddr == c.Addr && port != "0" {
			errs = append(errs, fmt.Errorf("MANAGEMENT_ADDR must differ from LISTEN_ADDR (both %s)", c.Addr))
		}
	}
	for _, e := range []struct{ name, url string }{
		{"OTEL_EXPORTER_OTLP_ENDPOINT", c.OTLPEndpoint}, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", c.OTLPTracesEndpoint},
	} {
		if u, err := url.Parse(e.url); e.url != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			errs = append(errs, fmt.Errorf("%s must be an http:// or https:// URL, not %q", e.name, e.url))
		}
	}
	return errors.Join(errs...)
}

// checkHostPort accepts a TCP listen address: an optional host and a port number.
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// tracesURL is the URL spans are sent to, or "" when tracing is off.
func (c *Config) tracesURL() string {
	switch {
	case c.OTLPTracesEndpoint != "":
		return c.OTLPTracesEndpoint
	case c.OTLPEndpoint != "":
		return strings.TrimRight(c.OTLPEndpoint, "/") + "/v1/traces"
	}
	return ""
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func parsePrefixes(items []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range items {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
