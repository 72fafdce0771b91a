package rest_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

var loggedResetLink = regexp.MustCompile(`https://dash\.example/auth/reset-password\?token=([A-Za-z0-9_%\-]+)`)

// startLoggingLinks starts a server without SMTP_URL, whose reset links land in the returned logs.
func startLoggingLinks(t *testing.T) (*apptest.Server, *apptest.Logs) {
	t.Helper()
	logs := &apptest.Logs{}
	s := apptest.Start(t, func(c *app.Config, o *app.Options) {
		c.PublicURL = "https://dash.example"
		c.LogLevel = "info"
		o.Logs = logs
	})
	return s, logs
}

// nthLoggedResetToken waits for the n-th logged reset link and returns its token.
func nthLoggedResetToken(t *testing.T, logs *apptest.Logs, n int) string {
	t.Helper()
	var all [][]string
	require.Eventually(t, func() bool {
		all = loggedResetLink.FindAllStringSubmatch(logs.String(), -1)
		return len(all) >= n
	}, 5*time.Second, 20*time.Millisecond)
	token, err := url.QueryUnescape(all[n-1][1])
	require.NoError(t, err)
	return token
}

func TestPasswordResetOverREST(t *testing.T) {
	s, logs := startLoggingLinks(t)
	acme := s.Org(t, apptest.RootOrg)
	const email = "lena@acme.test"
	lena := s.AddUser(t, email, acme, "developer")

	// The same answer for a known and an unknown address.
	known := s.REST(t, apptest.RESTRequest{Method: "POST", Path: "/auth/forgot-password", Body: map[string]any{"email": email}})
	unknown := s.REST(t, apptest.RESTRequest{Method: "POST", Path: "/api/auth/forgot-password", Body: map[string]any{"email": "ghost@acme.test"}})
	assert.Equal(t, http.StatusAccepted, known.Status)
	assert.Equal(t, known.Status, unknown.Status)
	assert.Equal(t, string(known.Raw), string(unknown.Raw))
	token := nthLoggedResetToken(t, logs, 1)

	// The access log never holds the token; only the logged link does, once.
	page := s.REST(t, apptest.RESTRequest{Method: "GET", Path: "/auth/reset-password?token=" + url.QueryEscape(token)})
	assert.Equal(t, http.StatusOK, page.Status)
	assert.Contains(t, string(page.Raw), "At least 8 characters")
	assert.Equal(t, "no-referrer", page.Header.Get("Referrer-Policy"))
	assert.Equal(t, 1, strings.Count(logs.String(), token), "the token appears only in the logged link")

	short := s.REST(t, apptest.RESTRequest{Method: "POST", Path: "/auth/reset-password", Body: map[string]any{"token": token, "password": "short"}})
	assert.Equal(t, http.StatusBadRequest, short.Status)
	ok := s.REST(t, apptest.RESTRequest{Method: "POST", Path: "/auth/reset-password", Body: map[string]any{"token": token, "password": "lena's new password"}})
	assert.Equal(t, http.StatusOK, ok.Status, "%s", ok.Raw)
	again := s.REST(t, apptest.RESTRequest{Method: "POST", Path: "/auth/reset-password", Body: map[string]any{"token": token, "password": "lena's other password"}})
	assert.Equal(t, http.StatusNotFound, again.Status)
	s.Login(t, email, "lena's new password")
	assert.Equal(t, 1, strings.Count(logs.String(), token))

	// An admin sends a link; a developer may not.
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	sent := s.REST(t, apptest.RESTRequest{Method: "POST", Path: "/admin/users/" + lena.ID.String() + "/password-reset", Bearer: admin.Access})
	assert.Equal(t, http.StatusAccepted, sent.Status, "%s", sent.Raw)
	nthLoggedResetToken(t, logs, 2)
	dev := s.Login(t, email, "lena's new password")
	root, err := s.App.Client().User.Query().All(apptest.SystemContext())
	require.NoError(t, err)
	for _, u := range root {
		if u.Email == apptest.RootEmail {
			refused := s.REST(t, apptest.RESTRequest{Method: "POST", Path: "/admin/users/" + u.ID.String() + "/password-reset", Bearer: dev.Access})
			assert.Equal(t, http.StatusForbidden, refused.Status)
		}
	}
}

func TestAnUnusableResetLinkOffersANewOne(t *testing.T) {
	s, logs := startLoggingLinks(t)
	acme := s.Org(t, apptest.RootOrg)
	s.AddUser(t, "mo@acme.test", acme, "viewer")
	page := s.REST(t, apptest.RESTRequest{Method: "GET", Path: "/auth/reset-password?token=nonsense"})
	assert.Equal(t, http.StatusNotFound, page.Status)
	assert.Contains(t, string(page.Raw), "not valid")
	assert.Contains(t, string(page.Raw), "Request a new link")
	sent := s.REST(t, apptest.RESTRequest{Method: "POST", Path: "/auth/reset-password",
		Body: url.Values{"email": {"mo@acme.test"}}})
	assert.Equal(t, http.StatusAccepted, sent.Status)
	assert.Contains(t, string(sent.Raw), "Check your e-mail")
	nthLoggedResetToken(t, logs, 1)
}

func TestTheResetLinkWorksInABrowser(t *testing.T) {
	ctx := browser(t)
	s, logs := startLoggingLinks(t)
	acme := s.Org(t, apptest.RootOrg)
	const email = "nia@acme.test"
	s.AddUser(t, email, acme, "developer")

	// Request from the page a dead link leads to, like someone whose link expired.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/auth/reset-password?token=expired-or-unknown"),
		chromedp.WaitVisible(chromedp.CSS("#email")),
	))
	assert.Contains(t, text(t, ctx, `[role="alert"]`), "not valid")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.Submit(chromedp.CSS("form")),
		chromedp.WaitVisible(chromedp.CSS(".ok")),
	))
	assert.Contains(t, text(t, ctx, "main"), "Check your e-mail")

	// The link from the "e-mail" (logged, as without SMTP_URL), on this server.
	token := nthLoggedResetToken(t, logs, 1)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/auth/reset-password?token="+url.QueryEscape(token)),
		chromedp.WaitVisible(chromedp.CSS("#password")),
	))
	page := text(t, ctx, "main")
	assert.Contains(t, page, "Choose a new password")
	assert.Contains(t, page, email)
	assert.Contains(t, page, "At least 8 characters")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#password"), "nia's browser password"),
		chromedp.Submit(chromedp.CSS("form")),
		chromedp.WaitVisible(chromedp.CSS(".ok")),
	))
	assert.Contains(t, text(t, ctx, "main"), "Password changed")
	s.Login(t, email, "nia's browser password")

	// The same link again says it is used up and offers a new one.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/auth/reset-password?token="+url.QueryEscape(token)),
		chromedp.WaitVisible(chromedp.CSS(`[role="alert"]`)),
	))
	assert.Contains(t, text(t, ctx, `[role="alert"]`), "has been used")
	assert.Contains(t, text(t, ctx, "main"), "Send me a new link")
}

// The page's form runs the reset like JSON and GraphQL do, so a bad link posted by the form
// counts against the per-address limit of bad links too.
func TestBadLinksPostedByTheFormCountAgainstTheLimit(t *testing.T) {
	limits := graph.DefaultLimits
	limits.ResetPerIP = 2
	s := apptest.Start(t, apptest.WithLimits(limits))
	post := func() *http.Response {
		res, err := http.PostForm(s.URL+"/auth/reset-password", url.Values{"token": {"not-a-link"}, "password": {"a new good password"}})
		require.NoError(t, err)
		res.Body.Close()
		return res
	}
	for range 2 {
		assert.NotEqual(t, http.StatusTooManyRequests, post().StatusCode)
	}
	assert.Equal(t, http.StatusTooManyRequests, post().StatusCode, "the form's bad links were counted")
	r := s.REST(t, apptest.RESTRequest{Method: "POST", Path: "/auth/reset-password", Body: map[string]any{"token": "not-a-link", "password": "a new good password"}})
	assert.Equal(t, http.StatusTooManyRequests, r.Status, "and the limit is the JSON route's too")
}
