package rest

import (
	"errors"
	"html/template"
	"net/http"

	"github.com/inferiallm/orgserver/server/auth"
)

// Password reset: the routes of operations/passwordreset.graphql, and the page a reset link
// opens (like the invitation page: rendered here, no external assets, no scripts).
var passwordResetRoutes = []route{
	{Pattern: "POST /auth/forgot-password", Op: opRequestPasswordReset, Vars: withBody(forgotPasswordVars),
		Status: http.StatusAccepted, Reply: message(resetRequested), Auth: "public",
		Summary: "Ask for a password reset link by e-mail; the same answer whether or not the address has an account"},
	{Pattern: "GET /auth/reset-password", Serve: servedWithoutBody(serveResetPage), Ops: []string{opPasswordResetPreview},
		Auth: "public", Summary: "The password reset page (HTML); ?token= from the e-mailed link"},
	{Pattern: "POST /auth/reset-password", Serve: served(serveReset), Ops: []string{opResetPassword, opPasswordResetPreview, opRequestPasswordReset},
		Reply: message(passwordWasReset), Auth: "public",
		Summary: "Set a new password with a reset link's {token, password}; ends every session of the account"},
	{Pattern: "POST /admin/users/{user_id}/password-reset", Op: "SendPasswordReset", Vars: fromPath("userId", "user_id"),
		Status: http.StatusAccepted, Reply: message("Password reset link sent"), Auth: auth.RoleUpdate,
		Summary: "E-mail a member a password reset link (never sets their password); the caller must be able to manage the member"},
}

// The operations the Go code below names, beside the rows that run them.
const (
	opRequestPasswordReset = "RequestPasswordReset"
	opPasswordResetPreview = "PasswordResetPreview"
	opResetPassword        = "ResetPassword"
)

const (
	resetRequested   = "If an account has this e-mail address, a password reset link is on its way to it."
	passwordWasReset = "Password reset. Sign in with the new password."
)

type forgotPasswordBody struct {
	Email string `json:"email"`
}

func forgotPasswordVars(_ *call, b forgotPasswordBody) (map[string]any, error) {
	return map[string]any{"email": b.Email}, nil
}

type resetPasswordBody struct {
	Token    *string `json:"token,omitempty"`
	Password *string `json:"password,omitempty"`
}

// serveReset resets a password: JSON for API clients and the dashboard, HTML for the forms of
// the reset page.
func serveReset(c *call, b resetPasswordBody) {
	if c.form != nil {
		serveResetForm(c)
		return
	}
	switch {
	case deref(b.Token) == "":
		c.fail(unprocessable("Field required: token"))
	case b.Password == nil:
		c.fail(unprocessable("Field required: password"))
	default:
		c.respond(opResetPassword, map[string]any{"token": *b.Token, "password": *b.Password}, http.StatusOK, message(passwordWasReset))
	}
}

// resetPreview is what a working reset link shows (PasswordResetPreview).
type resetPreview struct {
	Email             string `gql:"email"`
	ExpiresAt         string `gql:"expiresAt"`
	PasswordMinLength int    `gql:"passwordMinLength"`
}

var resetPageTemplate = template.Must(template.New("reset").Funcs(pageFuncs).Parse(pageHead + `{{- if .Sent}}
  <h1>Check your e-mail</h1>
  <p class="ok" role="status">If an account has this e-mail address, a new password reset link is on its way to it.</p>
{{- else if .Done}}
  <h1>Password changed</h1>
  <p class="ok" role="status">Your password has been reset and every session signed out.</p>
  <p>Sign in to the InferiaLLM dashboard with <strong>{{.Preview.Email}}</strong> and your new password.
  If you use two-factor authentication, you will be asked for a code as usual.</p>
{{- else if .Problem}}
  <h1>{{.Title}}</h1>
  <p class="error" role="alert" id="problem">{{.Problem}}</p>
  <form method="post" action="{{.Action}}">
    <label for="email">Send me a new link</label>
    <input id="email" name="email" type="email" autocomplete="email" required aria-describedby="problem">
    <button type="submit">Request a new link</button>
  </form>
{{- else}}
  <h1>Choose a new password</h1>
  <dl>
    <dt>Account</dt><dd>{{.Preview.Email}}</dd>
    <dt>Link expires</dt><dd>{{date .Preview.ExpiresAt}}</dd>
  </dl>
  {{- with .Error}}<p class="error" role="alert" id="form-error">{{.}}</p>{{end}}
  <form method="post" action="{{.Action}}">
    <input type="hidden" name="token" value="{{.Token}}">
    <label for="password">New password</label>
    <input id="password" name="password" type="password" autocomplete="new-password" required
      minlength="{{.Preview.PasswordMinLength}}" aria-describedby="password-hint{{if .Error}} form-error{{end}}">
    <p class="hint" id="password-hint">At least {{.Preview.PasswordMinLength}} characters (the strictest rule of your organizations).
    Every session will be signed out.</p>
    <button type="submit">Set new password</button>
  </form>
{{- end}}
` + pageFoot))

type resetPageData struct {
	Title   string
	Problem string
	Preview *resetPreview
	Token   string
	Error   string
	Done    bool
	Sent    bool
	Action  string
}

func (c *call) renderResetPage(status int, d resetPageData) {
	d.Action = c.r.URL.Path
	setPageHeaders(c.w.Header())
	c.w.WriteHeader(status)
	if err := resetPageTemplate.Execute(c.w, d); err != nil {
		c.h.log.ErrorContext(c.r.Context(), "rendering the password reset page", "err", err)
	}
}

// errLinkUnusable is how a link that does not work reads on the page.
var errLinkUnusable = &httpError{Status: http.StatusNotFound,
	Detail: "This password reset link is not valid: it has expired, has been used, or was replaced by a newer one."}

// resetPreviewFor loads what the page shows for token; errLinkUnusable when the link does not work.
func (c *call) resetPreviewFor(token string) (*resetPreview, error) {
	if token == "" {
		return nil, errLinkUnusable
	}
	data, err := c.run(opPasswordResetPreview, map[string]any{"token": token})
	if err != nil {
		return nil, err
	}
	p, err := read[*resetPreview](data, "passwordResetPreview")
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, errLinkUnusable
	}
	return p, nil
}

// resetPageProblem shows err instead of the form, with a way to ask for a new link.
func (c *call) resetPageProblem(err error) {
	var he *httpError
	if !errors.As(err, &he) {
		c.h.log.ErrorContext(c.r.Context(), "password reset page", "err", err)
		he = &httpError{Status: http.StatusInternalServerError, Detail: "Something went wrong. Please try again later."}
	}
	c.renderResetPage(he.Status, resetPageData{Title: "Password reset", Problem: he.Detail})
}

// serveResetPage shows the form of a reset link.
func serveResetPage(c *call) {
	token := deref(c.query("token"))
	p, err := c.resetPreviewFor(token)
	if err != nil {
		c.resetPageProblem(err)
		return
	}
	c.renderResetPage(http.StatusOK, resetPageData{Title: "Choose a new password", Preview: p, Token: token})
}

// serveResetForm handles the page's two forms: a new password with the link's token, or an
// e-mail address asking for a new link.
func serveResetForm(c *call) {
	if email := c.form.Get("email"); email != "" && c.form.Get("token") == "" {
		if _, err := c.run(opRequestPasswordReset, map[string]any{"email": email}); err != nil {
			c.resetPageProblem(err)
			return
		}
		c.renderResetPage(http.StatusAccepted, resetPageData{Title: "Check your e-mail", Sent: true})
		return
	}
	token, password := c.form.Get("token"), c.form.Get("password")
	// The preview (the account, for the page) is read first, since a reset uses the link up; but
	// the reset runs whatever the preview says, so that a bad link posted by the form counts
	// against the per-address limit and is audited as through JSON or GraphQL.
	p, perr := c.resetPreviewFor(token)
	if _, err := c.run(opResetPassword, map[string]any{"token": token, "password": password}); err != nil {
		var e *httpError
		switch {
		case perr != nil || !errors.As(err, &e) || e.Status >= 500 || e.Status == http.StatusNotFound || e.Status == http.StatusTooManyRequests:
			c.resetPageProblem(err)
		default:
			c.renderResetPage(e.Status, resetPageData{Title: "Choose a new password", Preview: p, Token: token, Error: e.Detail})
		}
		return
	}
	if perr != nil {
		// Only a database error reading the preview gets here: the reset itself worked.
		c.fail(perr)
		return
	}
	c.renderResetPage(http.StatusOK, resetPageData{Title: "Password changed", Preview: p, Done: true})
}
