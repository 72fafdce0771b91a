package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"entgo.io/ent/dialect"
)

// logLevels are the values LOG_LEVEL takes (case does not matter; "warning" is "warn").
var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "warning": slog.LevelWarn, "error": slog.LevelError,
}

// parseLogLevel reads LOG_LEVEL. Anything else is refused rather than read as info, so that a
// typo does not silently hide the logs it was meant to show.
func parseLogLevel(s string) (slog.Level, error) {
	if l, ok := logLevels[strings.ToLower(strings.TrimSpace(s))]; ok {
		return l, nil
	}
	return 0, errors.New("must be debug, info, warn or error")
}

// LogValue is the configuration as the debug log shows it at start: what shapes the server's
// behaviour, and of each secret only whether it is set. A field not named here is not logged,
// so a secret added later stays out until someone decides how to show it.
func (c Config) LogValue() slog.Value {
	origins := strings.Join(c.AllowedOrigins, ",")
	proxies := make([]string, len(c.TrustedProxies))
	for i, p := range c.TrustedProxies {
		proxies[i] = p.String()
	}
	return slog.GroupValue(
		slog.String("database_url", redactURL(c.DatabaseURL)),
		slog.Int("db_max_conns", c.DBMaxConns),
		slog.Int("db_statement_cache", c.DBStatementCache),
		slog.String("sqlite_busy_timeout", c.SQLiteBusyTimeout.String()),
		slog.String("auth_cache_ttl", c.AuthCacheTTL.String()),
		slog.String("request_timeout", c.RequestTimeout.String()),
		slog.String("listen_addr", c.Addr),
		slog.String("management_addr", c.ManagementAddr),
		slog.String("otel_exporter_otlp_endpoint", redactURL(c.OTLPEndpoint)),
		slog.String("otel_exporter_otlp_traces_endpoint", redactURL(c.OTLPTracesEndpoint)),
		slog.String("jwt_secret_key", secretState(c.JWTSecret)),
		slog.String("encryption_key", secretState(c.EncryptionKey)),
		slog.String("internal_api_key", secretState(c.InternalAPIKey)),
		slog.String("superadmin_email", c.SuperAdminEmail),
		slog.String("superadmin_password", secretState(c.SuperAdminPassword)),
		slog.String("default_org_name", c.DefaultOrgName),
		slog.String("access_token_ttl", c.AccessTokenTTL.String()),
		slog.String("refresh_token_ttl", c.RefreshTokenTTL.String()),
		slog.String("allowed_origins", origins),
		slog.String("public_url", c.PublicURL),
		slog.String("trusted_proxies", strings.Join(proxies, ",")),
		slog.String("smtp_url", redactURL(c.SMTPURL)),
		slog.Bool("introspection", c.Introspection),
		slog.Bool("playground", c.Playground),
		slog.String("graphql_trusted_documents", c.TrustedDocuments),
		slog.String("graphql_trusted_documents_file", c.TrustedDocumentsFile),
		slog.Int64("max_body_bytes", c.MaxBodyBytes),
		slog.Int("graphql_max_depth", c.MaxQueryDepth),
		slog.Int("graphql_max_complexity", c.MaxQueryComplexity),
		slog.Int("graphql_max_tokens", c.MaxQueryTokens),
		slog.Int("graphql_max_fields", c.MaxQueryFields),
		slog.String("argon2", fmt.Sprintf("m=%d KiB, t=%d, p=%d", c.Argon2.Memory, c.Argon2.Iterations, c.Argon2.Parallelism)),
		slog.Int("password_hash_concurrency", c.Hashing.Concurrency),
		slog.String("password_hash_max_wait", c.Hashing.MaxWait.String()),
		slog.String("log_level", c.LogLevel),
		slog.String("log_format", c.LogFormat),
	)
}

// secretState tells whether a secret is set, never what it is.
func secretState(s string) string {
	if s == "" {
		return "(not set)"
	}
	return "(set)"
}

// redactURL hides the password of a URL (DATABASE_URL, SMTP_URL), also one given as a query
// parameter, which lib/pq accepts.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable, not shown)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// authCacheFeed says how the authentication cache learns of changes, for the debug log.
func authCacheFeed(d string, ttl time.Duration, watching bool) string {
	switch {
	case ttl == 0:
		return "none: the cache is off"
	case d == dialect.Postgres:
		return "PostgreSQL notifications"
	case watching:
		return "a watcher of the SQLite file"
	}
	return "none: an in-memory database, the cache is off"
}
