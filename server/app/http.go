package app

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/server/auth"
	"github.com/inferiallm/orgserver/server/database"
	"github.com/inferiallm/orgserver/server/telemetry"
)

// The HTTP middleware, outermost first: request id and client address, access log, recover,
// security headers, CORS, body limit, bearer token → viewer.

// statusRecorder remembers the status code written through it, and gives every 401 the
// challenge HTTP requires of it (bearerChallenge), whichever handler wrote it.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
	client *auth.Client
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
		if code == http.StatusUnauthorized && r.Header().Get("WWW-Authenticate") == "" {
			r.Header().Set("WWW-Authenticate", bearerChallenge(r.client))
		}
	}
	r.ResponseWriter.WriteHeader(code)
}

// bearerChallenge is the WWW-Authenticate of a 401 (RFC 6750): the scheme alone when the
// request carried no access token, and error="invalid_token" when it carried one that is
// malformed, expired or revoked, so that a client knows to refresh rather than sign in.
func bearerChallenge(c *auth.Client) string {
	if c != nil && c.AuthError != nil {
		return `Bearer error="invalid_token", error_description="The access token is invalid or expired"`
	}
	return "Bearer"
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// validRequestID accepts client-supplied request ids that are short and plain.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// withClient puts the request id, client IP and user agent in the context, echoes the request
// id, bounds the request's waits by RequestTimeout, gives it its one database connection at a
// time (database.WithGate), and logs the request when it is done. With metrics it counts the
// request by route, and with tracing it gives it a span and logs its trace id (telemetry.go);
// with neither, it does nothing more.
func (a *App) withClient(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if !validRequestID(id) {
			id = uuid.NewString()
		}
		w.Header().Set("X-Request-ID", id)
		// Headers may carry any bytes; what is stored and logged is valid UTF-8.
		c := &auth.Client{IP: a.clientIP(r), UserAgent: strings.ToValidUTF8(r.UserAgent(), "\uFFFD"), RequestID: id}
		ctx := auth.WithClient(r.Context(), c)
		var span trace.Span
		if a.tracer != nil {
			ctx, span = a.startSpan(ctx, r)
		}
		// Where recordRoute notes the pattern, when metrics or spans need it.
		var pattern *string
		if a.metrics != nil || span != nil {
			pattern = new(string)
			ctx = context.WithValue(ctx, routeKey{}, pattern)
			defer a.metrics.RequestStarted()()
		}
		ctx = database.WithGate(ctx)
		ctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
		defer cancel()
		rec := &statusRecorder{ResponseWriter: w, client: c}
		next.ServeHTTP(rec, r.WithContext(ctx))
		status, level, msg := rec.status, slog.LevelInfo, "request"
		switch {
		case r.Context().Err() != nil:
			// The client went away before the answer: nginx's 499, and not the server's fault.
			status, msg = 499, "request cancelled by the client"
		case status == http.StatusServiceUnavailable:
			// Back-pressure or an outage, logged where its cause is known.
		case status >= 500:
			level = slog.LevelError
		}
		attrs := []slog.Attr{
			slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", redactPath(r.URL.Path)),
			slog.Int("status", status), slog.Int("bytes", rec.bytes),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000), slog.String("ip", c.IP),
		}
		if v := c.ActedAs; v != nil {
			if v.IsAPIKey() {
				attrs = append(attrs, slog.String("api_key_id", v.APIKeyID.String()))
			} else {
				attrs = append(attrs, slog.String("user_id", v.UserID.String()))
			}
			attrs = append(attrs, slog.String("org_id", v.OrgID.String()))
		}
		if pattern != nil {
			route := routeLabel(*pattern, r.Method)
			a.metrics.HTTPRequest(route, r.Method, status, time.Since(start))
			if span != nil {
				endSpan(span, telemetry.Method(r.Method), route, status)
				if sc := span.SpanContext(); sc.HasTraceID() {
					attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
				}
			}
		}
		a.log.LogAttrs(ctx, level, msg, attrs...)
	})
}

// clientIP is the peer address, or for a trusted proxy peer the nearest untrusted address of
// X-Forwarded-For.
func (a *App) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !a.trusted(peer) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		hop = hop.Unmap()
		if !a.trusted(hop) {
			return hop.String()
		}
		peer = hop
	}
	return peer.String()
}

func (a *App) trusted(ip netip.Addr) bool {
	return slices.ContainsFunc(a.cfg.TrustedProxies, func(p netip.Prefix) bool { return p.Contains(ip) })
}

// recoverPanics turns a panic in a handler into a logged 500 without details.
func (a *App) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.log.ErrorContext(r.Context(), "panic", "panic", p, "stack", string(debug.Stack()),
					"request_id", auth.ClientFromContext(r.Context()).RequestID)
				a.writeError(w, r, http.StatusInternalServerError, graph.CodeInternal, "Internal server error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// securityHeaders sets headers every response should carry.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// cors answers preflight requests and sets CORS headers on every response to an allowed origin,
// errors included, so that browsers let the dashboard read 401s and refresh. A listed origin is
// echoed with credentials allowed; "*" lets any origin call without credentials: a wildcard
// never goes with them, so no site a user visits can call with the user's browser credentials.
func (a *App) cors(next http.Handler) http.Handler {
	// Validate checked them; parsing again gives the form browsers send.
	listed, _ := parseOrigins(a.cfg.AllowedOrigins)
	anyOrigin := slices.Equal(listed, []string{"*"})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && (anyOrigin || slices.Contains(listed, strings.ToLower(origin))) {
			h := w.Header()
			h.Add("Vary", "Origin")
			if anyOrigin {
				h.Set("Access-Control-Allow-Origin", "*")
			} else {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Credentials", "true")
			}
			h.Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After, WWW-Authenticate")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-ID")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// limitBody refuses bodies over the limit: at once when Content-Length says so, and otherwise
// when reading passes it.
func (a *App) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > a.cfg.MaxBodyBytes {
			a.writeError(w, r, http.StatusRequestEntityTooLarge, graph.CodeBadUserInput,
				"Request body too large (limit "+strconv.FormatInt(a.cfg.MaxBodyBytes, 10)+" bytes)")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// authenticate turns a bearer access token into the request's viewer. An invalid token does not
// fail the request here: it leaves no viewer and records why, and whatever needs a viewer
// answers UNAUTHENTICATED (REST: 401).
func (a *App) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearerToken(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		c := auth.ClientFromContext(ctx)
		c.BearerToken = token
		v, err := a.svc.Authenticate(ctx, token)
		var limited *graph.Error
		switch {
		case err == nil:
			c.ActedAs = v
			ctx = auth.NewContext(ctx, v)
		case errors.Is(err, auth.ErrInvalidToken):
			c.AuthError = err
		case errors.As(err, &limited) && limited.Code == graph.CodeRateLimited: // too many unknown API keys
			if secs, ok := limited.RetryAfter(); ok {
				w.Header().Set("Retry-After", strconv.Itoa(secs))
			}
			a.writeError(w, r, http.StatusTooManyRequests, graph.CodeRateLimited, limited.Message)
			return
		case errors.Is(r.Context().Err(), context.Canceled):
			return // the client has gone
		case database.IsUnavailable(err), r.Context().Err() != nil: // or the request's deadline passed
			a.log.WarnContext(ctx, "authenticating: database unavailable", "err", err, "request_id", c.RequestID)
			w.Header().Set("Retry-After", "1")
			a.writeError(w, r, http.StatusServiceUnavailable, graph.CodeUnavailable, "The database is unavailable; try again shortly")
			return
		default:
			a.log.ErrorContext(ctx, "authenticating", "err", err, "request_id", c.RequestID)
			a.writeError(w, r, http.StatusInternalServerError, graph.CodeInternal, "Internal server error")
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// writeError answers with an error in the shape the endpoint speaks: GraphQL errors on
// /graphql, {"detail": ...} elsewhere.
func (a *App) writeError(w http.ResponseWriter, r *http.Request, status int, code graph.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	var body any = map[string]any{"detail": msg, "code": code}
	if strings.HasSuffix(r.URL.Path, "/graphql") {
		ext := map[string]any{"code": code}
		if secs, err := strconv.Atoi(w.Header().Get("Retry-After")); err == nil {
			ext["retryAfter"] = secs // as on every GraphQL refusal to retry sooner
		}
		body = map[string]any{"errors": []any{map[string]any{"message": msg, "extensions": ext}}}
	}
	_ = json.NewEncoder(w).Encode(body)
}

// healthz answers liveness probes.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// readyz answers readiness probes: ready when the database answers.
func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	if err := a.db.Ping(ctx); err != nil {
		a.log.WarnContext(ctx, "readiness check failed", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"unavailable","database":"down"}` + "\n"))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ok","database":"up"}` + "\n"))
}

// redactPath keeps invitation tokens, which are credentials, out of the access log. The tokens
// of /auth/accept-invite?token= and /auth/reset-password?token= are in the query, which the
// access log never writes (rest/passwordreset_test.go checks the reset token's absence).
func redactPath(p string) string {
	if i := strings.Index(p, "/auth/invitations/"); i >= 0 {
		return p[:i] + "/auth/invitations/<token>"
	}
	return p
}
