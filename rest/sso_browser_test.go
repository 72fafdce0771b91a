package rest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

// The sign-in through the real redirects, in headless Chromium: the server's start endpoint,
// the provider on another site (localhost, where the server is 127.0.0.1), the callback with
// its Lax state cookie, and a stand-in dashboard page that reads the code from the fragment,
// exchanges it over REST and uses the access token, as the dashboard does with a password
// sign-in's AuthToken.
func TestASingleSignOnWorksInABrowserThroughTheRealRedirects(t *testing.T) {
	ctx := browser(t)
	var api string
	dashboard := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><p id="out">signing in</p><script>
const code = new URLSearchParams(location.hash.slice(1)).get("sso_code");
const out = document.getElementById("out");
fetch(%q + "/api/auth/sso/exchange", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({code})})
  .then(r => r.json())
  .then(t => fetch(%q + "/api/auth/me", {headers: {Authorization: "Bearer " + t.access_token}}))
  .then(r => r.json())
  .then(me => { out.textContent = me.email + " " + me.roles.join(","); out.className = "done"; })
  .catch(e => { out.textContent = String(e); out.className = "done"; });
</script>`, api, api)
	}))
	t.Cleanup(dashboard.Close)

	dns := &apptest.FakeDNS{}
	s := apptest.Start(t, apptest.WithSSO(dns), func(c *app.Config, _ *app.Options) {
		c.PublicURL = dashboard.URL
		c.AllowedOrigins = []string{dashboard.URL}
		api = c.SSOBaseURL
	})
	idp := apptest.StartIdP(t)
	idp.UseHost("localhost")
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	conn := s.SetUpSSO(t, root.Access, idp, dns, "acme.test", map[string]any{"jitEnabled": true, "defaultRole": "developer"})
	idp.SignIn(apptest.Person{Subject: "chrome-1", Email: "chris@acme.test", EmailVerified: true, Name: "Chris"}, nil)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(s.Config.SSOBaseURL+"/auth/sso/"+conn+"/start?return_to=/welcome"),
		chromedp.WaitVisible(chromedp.CSS("#out.done")),
	))
	assert.Equal(t, "chris@acme.test developer", text(t, ctx, "#out"))
	location, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	assert.Equal(t, dashboard.URL+"/welcome#sso_code=", location[:len(dashboard.URL)+len("/welcome#sso_code=")])
}
