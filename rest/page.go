package rest

import (
	"errors"
	"html/template"
	"net/http"
	"time"
)

// The invitation page: what an invitation link opens when no dashboard serves it. It is
// rendered here (no external assets, no scripts) and posts to the same acceptInvitation
// operation as the JSON route.

// pageFuncs are the functions of the pages' templates.
var pageFuncs = template.FuncMap{
	"date": func(s string) string {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return s
		}
		return t.UTC().Format("2 January 2006, 15:04 UTC")
	},
}

var pageTemplate = template.Must(template.New("page").Funcs(pageFuncs).Parse(pageHead + `{{- if .Problem}}
  <h1>{{.Title}}</h1>
  <p class="error" role="alert">{{.Problem}}</p>
  <p class="hint">Ask an administrator of the organization to send you a new invitation.</p>
{{- else if .Joined}}
  <h1>Welcome to {{.Preview.OrganizationName}}</h1>
  <p class="ok" role="status">You joined <strong>{{.Preview.OrganizationName}}</strong> as <strong>{{.Preview.Role}}</strong>.</p>
  <p>Sign in to the InferiaLLM dashboard with <strong>{{.Preview.Email}}</strong>.</p>
{{- else}}
  <h1>Join {{.Preview.OrganizationName}}</h1>
  <dl>
    <dt>Organization</dt><dd>{{.Preview.OrganizationName}}</dd>
    <dt>E-mail</dt><dd>{{.Preview.Email}}</dd>
    <dt>Role</dt><dd>{{.Preview.Role}}</dd>
    {{- with .Preview.InvitedBy}}<dt>Invited by</dt><dd>{{.}}</dd>{{end}}
    <dt>Expires</dt><dd>{{date .Preview.ExpiresAt}}</dd>
  </dl>
  {{- with .Error}}<p class="error" role="alert" id="form-error">{{.}}</p>{{end}}
  <form method="post" action="{{.Action}}">
    <input type="hidden" name="token" value="{{.Token}}">
    <p class="hint" id="form-hint">New here? Enter your name and choose a password. Already have an
    account with this e-mail? Enter its password; no name is needed.</p>
    <label for="name">Your name <span class="hint">(new accounts)</span></label>
    <input id="name" name="name" type="text" autocomplete="name" value="{{.Name}}" aria-describedby="form-hint">
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="new-password" required aria-describedby="password-hint{{if .Error}} form-error{{end}}">
    <p class="hint" id="password-hint">A new password needs at least {{.Preview.PasswordMinLength}} characters.</p>
    <button type="submit">Accept invitation</button>
  </form>
{{- end}}
` + pageFoot))

// pageHead and pageFoot frame every page the server renders (the invitation and the password
// reset page), so that they look alike: inline style, no external assets, no scripts.
const pageHead = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · InferiaLLM</title>
<style>
  body { font-family: system-ui, sans-serif; background: #f4f5f7; color: #1d2433; margin: 0; }
  main { max-width: 26rem; margin: 3rem auto; background: #fff; padding: 2rem; border-radius: .5rem; box-shadow: 0 1px 3px rgba(0,0,0,.15); }
  h1 { font-size: 1.4rem; margin-top: 0; }
  dl { display: grid; grid-template-columns: auto 1fr; gap: .3rem 1rem; }
  dt { color: #5a6275; }
  label { display: block; margin-top: 1rem; font-weight: 600; }
  input { width: 100%; box-sizing: border-box; padding: .6rem; margin-top: .3rem; border: 1px solid #9aa1b1; border-radius: .3rem; font-size: 1rem; }
  input:focus { outline: 3px solid #7aa7ff; }
  button { margin-top: 1.5rem; width: 100%; padding: .7rem; font-size: 1rem; background: #2457d6; color: #fff; border: 0; border-radius: .3rem; cursor: pointer; }
  .hint { color: #5a6275; font-size: .9rem; }
  .error { background: #fdecec; color: #8a1c1c; padding: .8rem; border-radius: .3rem; }
  .ok { background: #e7f6ec; color: #1c5e32; padding: .8rem; border-radius: .3rem; }
</style>
</head>
<body>
<main>
`

const pageFoot = `</main>
</body>
</html>
`

type pageData struct {
	Title   string
	Problem string
	Preview *preview
	Token   string
	Name    string
	Error   string
	Joined  bool
	Action  string
}

func (c *call) renderPage(status int, d pageData) {
	setPageHeaders(c.w.Header())
	c.w.WriteHeader(status)
	if err := pageTemplate.Execute(c.w, d); err != nil {
		c.h.log.ErrorContext(c.r.Context(), "rendering the invitation page", "err", err)
	}
}

// setPageHeaders are the headers of a rendered page: no scripts, no external assets, not framed,
// not cached, and no Referer that could carry a token in the page's URL elsewhere.
func setPageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
}

// invitationFor loads the invitation the page shows for token. A token that leads to no
// invitation that can be accepted is an *httpError worded for the page.
func (c *call) invitationFor(token string) (*preview, error) {
	if token == "" {
		return nil, &httpError{Status: http.StatusNotFound, Detail: "This invitation link is incomplete."}
	}
	data, err := c.run(opInvitationPreview, map[string]any{"token": token})
	if err != nil {
		return nil, err
	}
	p, err := read[*preview](data, "invitationPreview")
	if err != nil {
		return nil, err
	}
	switch he := previewError(p); {
	case he == nil:
		return p, nil
	case he.Status == http.StatusNotFound:
		he.Detail = "This invitation link is not valid. It may have been revoked or replaced by a newer one."
		return nil, he
	case p.Status == "EXPIRED":
		he.Detail = "This invitation has expired."
		return nil, he
	default:
		he.Detail = "This invitation has already been used. Sign in to the dashboard instead."
		return nil, he
	}
}

// pageProblem shows err instead of the invitation: its detail when it is an *httpError.
func (c *call) pageProblem(err error) {
	var he *httpError
	if !errors.As(err, &he) {
		c.h.log.ErrorContext(c.r.Context(), "invitation page", "err", err)
		he = &httpError{Status: http.StatusInternalServerError, Detail: "Something went wrong. Please try again later."}
	}
	c.renderPage(he.Status, pageData{Title: "Invitation", Problem: he.Detail})
}

// serveAcceptPage shows the invitation and its form.
func serveAcceptPage(c *call) {
	token := deref(c.query("token"))
	p, err := c.invitationFor(token)
	if err != nil {
		c.pageProblem(err)
		return
	}
	c.renderPage(http.StatusOK, pageData{Title: "Join " + p.OrganizationName, Preview: p, Token: token, Action: c.r.URL.Path})
}

// serveAcceptForm accepts the invitation from the page's form and shows the outcome.
func serveAcceptForm(c *call) {
	token, name, password := c.form.Get("token"), c.form.Get("name"), c.form.Get("password")
	p, err := c.invitationFor(token)
	if err != nil {
		c.pageProblem(err)
		return
	}
	vars := map[string]any{"token": token, "password": password, "name": name}
	if _, err := c.run(opAcceptInvitation, vars); err != nil {
		var e *httpError
		if !errors.As(err, &e) || e.Status >= 500 {
			c.pageProblem(err)
			return
		}
		c.renderPage(e.Status, pageData{Title: "Join " + p.OrganizationName, Preview: p, Token: token, Name: name,
			Error: e.Detail, Action: c.r.URL.Path})
		return
	}
	c.renderPage(http.StatusOK, pageData{Title: "Welcome", Preview: p, Joined: true})
}
