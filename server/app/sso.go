package app

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/server/auth"
)

// The browser's side of single sign-on: two plain HTTP endpoints around the provider's pages.
// GET /auth/sso/{connection}/start sets the state cookie and redirects to the provider;
// GET /auth/sso/{connection}/callback checks what comes back (graph.FinishSSO) and redirects to
// the dashboard with a single-use code in the URL fragment, or, for an admin's test sign-in,
// shows the mapped claims.

// ssoCookiePath is the path the state cookie is sent to: the /auth/sso/ endpoints under the
// prefix the request came through (/ or /api).
func ssoCookiePath(r *http.Request) string {
	if i := strings.Index(r.URL.Path, "/auth/sso/"); i >= 0 {
		return r.URL.Path[:i] + "/auth/sso/"
	}
	return "/auth/sso/"
}

// ssoCookie is the state cookie: HttpOnly, and SameSite=Lax so that the top-level navigation
// back from the provider carries it (Strict would drop it there).
func (a *App) ssoCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: graph.SSOCookie, Value: value, Path: ssoCookiePath(r), MaxAge: maxAge,
		HttpOnly: true, Secure: strings.HasPrefix(a.svc.SSOBaseURL, "https://"), SameSite: http.SameSiteLaxMode}
}

func (a *App) ssoStart(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	id, err := uuid.Parse(r.PathValue("connection"))
	if err != nil {
		a.ssoFail(w, r, graph.UnknownSSOConnection("malformed connection id"))
		return
	}
	q := r.URL.Query()
	st, err := a.svc.StartSSO(r.Context(), id, q.Get("test"), q.Get("return_to"))
	if err != nil {
		a.ssoFail(w, r, err)
		return
	}
	http.SetCookie(w, a.ssoCookie(r, st.BrowserSecret, int(graph.SSOAttemptTTL/time.Second)))
	http.Redirect(w, r, st.Redirect, http.StatusFound)
}

func (a *App) ssoCallback(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	id, err := uuid.Parse(r.PathValue("connection"))
	if err != nil {
		a.ssoFail(w, r, graph.UnknownSSOConnection("malformed connection id"))
		return
	}
	var secret string
	if c, err := r.Cookie(graph.SSOCookie); err == nil {
		secret = c.Value
	}
	// The cookie served this attempt; it is never needed again.
	http.SetCookie(w, a.ssoCookie(r, "", -1))
	fin, err := a.svc.FinishSSO(r.Context(), id, r.URL.Query(), secret)
	if err != nil {
		a.ssoFail(w, r, err)
		return
	}
	if fin.TestClaims != nil {
		claims, _ := json.MarshalIndent(fin.TestClaims, "", "  ")
		a.ssoPage(w, http.StatusOK, "Test sign-in succeeded",
			"The provider signed you in. These are the claims as the connection maps them; no session was started. You can activate the connection now.",
			string(claims))
		return
	}
	http.Redirect(w, r, fin.Redirect, http.StatusSeeOther)
}

// ssoFail shows a refusal: its safe message, never the reason, which goes to the log (and, for
// refusals of a callback, to the audit log).
func (a *App) ssoFail(w http.ResponseWriter, r *http.Request, err error) {
	var f *graph.SSOFailure
	if !errors.As(err, &f) {
		a.log.ErrorContext(r.Context(), "single sign-on", "err", err)
		f = &graph.SSOFailure{Status: http.StatusInternalServerError, Message: "Internal server error"}
	} else {
		a.log.InfoContext(r.Context(), "single sign-on refused", "status", f.Status, "reason", f.Reason,
			"connection", r.PathValue("connection"), "request_id", auth.ClientFromContext(r.Context()).RequestID)
	}
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
	}
	a.ssoPage(w, f.Status, "Single sign-on failed", f.Message, "")
}

var ssoPageTemplate = template.Must(template.New("sso").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>{{.Title}}</h1><p id="message">{{.Message}}</p>{{if .Claims}}<pre id="claims">{{.Claims}}</pre>{{end}}
</body></html>`))

func (a *App) ssoPage(w http.ResponseWriter, status int, title, message, claims string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	_ = ssoPageTemplate.Execute(w, struct{ Title, Message, Claims string }{title, message, claims})
}
