package rest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/ent/membership"
	"github.com/inferiallm/orgserver/server/apptest"
)

// browser starts headless Chromium (Debian's chromium package). Outside CI a machine without it
// skips the test; in CI it must be there.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; .ci/run installs it")
		}
		t.Skip("chromium is not installed (apt-get install --no-install-recommends chromium)")
	}
	opts := append([]chromedp.ExecAllocatorOption{}, chromedp.DefaultExecAllocatorOptions[:]...)
	opts = append(opts,
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel3)
	require.NoError(t, chromedp.Do(ctx), "starting chromium")
	return ctx
}

// text returns the text of the first element matching a CSS selector.
func text(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	require.NoError(t, err, css)
	return v
}

func invite(t *testing.T, s *apptest.Server, token, email, role string) string {
	t.Helper()
	r := s.Operation(t, token, "InviteMember", map[string]any{"email": email, "role": role})
	require.Empty(t, r.Errors)
	return r.Str("inviteMember.token")
}

func TestTheInvitationLinkWorksInABrowserWithoutTheDashboard(t *testing.T) {
	ctx := browser(t)
	s := apptest.Start(t)
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	token := invite(t, s, admin.Access, "newcomer@example.com", "developer")
	link := s.URL + "/auth/accept-invite?token=" + token

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#password"))))
	page := text(t, ctx, "main")
	nameLabel := text(t, ctx, `label[for="name"]`)
	passwordLabel := text(t, ctx, `label[for="password"]`)
	assert.Contains(t, page, "Join "+apptest.RootOrg)
	assert.Contains(t, page, "newcomer@example.com")
	assert.Contains(t, page, "developer")
	assert.Contains(t, page, "Expires")
	assert.Equal(t, "Your name (new accounts)", nameLabel)
	assert.Equal(t, "Password", passwordLabel)

	// A password the policy refuses: the page says why and keeps the name.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#name"), "New Comer"),
		chromedp.SendKeys(chromedp.CSS("#password"), "short"),
		chromedp.Submit(chromedp.CSS("form")),
		chromedp.WaitVisible(chromedp.CSS("#form-error")),
	))
	errText := text(t, ctx, "#form-error")
	kept, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#name")))
	require.NoError(t, err)
	assert.Equal(t, "Password must be at least 8 characters", errText)
	assert.Equal(t, "New Comer", kept)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#password"), "a good password"),
		chromedp.Submit(chromedp.CSS("form")),
		chromedp.WaitVisible(chromedp.CSS(".ok")),
	))
	done := text(t, ctx, "main")
	assert.Contains(t, done, "You joined "+apptest.RootOrg+" as developer")
	n, err := s.App.Client().Membership.Query().Where(membership.Email("newcomer@example.com")).Count(apptest.SystemContext())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	s.Login(t, "newcomer@example.com", "a good password")

	// The same link again, a revoked link and an unknown one: each says what happened.
	revoked := invite(t, s, admin.Access, "later@example.com", "viewer")
	var id string
	rr := s.Operation(t, admin.Access, "Invitations", nil)
	for _, e := range rr.Get("viewer.organization.invitations.edges").([]any) {
		node := e.(map[string]any)["node"].(map[string]any)
		if node["email"] == "later@example.com" {
			id = node["id"].(string)
		}
	}
	require.NotEmpty(t, id)
	require.Empty(t, s.Operation(t, admin.Access, "RevokeInvitation", map[string]any{"id": id}).Errors)
	for want, url := range map[string]string{
		"already been used": link,
		"not valid":         s.URL + "/auth/accept-invite?token=" + revoked,
		"not valid.":        s.URL + "/auth/accept-invite?token=nonsense",
	} {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`[role="alert"]`))))
		assert.Contains(t, text(t, ctx, `[role="alert"]`), strings.TrimSuffix(want, "."), url)
	}
}

func TestTheInvitationPageLetsAnExistingAccountJoinWithItsPassword(t *testing.T) {
	ctx := browser(t)
	s := apptest.Start(t)
	admin := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	bob := s.AddUser(t, "bob@other.test", s.CreateOrg(t, "Other"), "admin")
	token := invite(t, s, admin.Access, bob.Email, "viewer")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/api/auth/accept-invite?token="+token),
		chromedp.WaitVisible(chromedp.CSS("#password")),
	))
	hint := text(t, ctx, "#form-hint")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#password"), apptest.Password(bob.Email)),
		chromedp.Submit(chromedp.CSS("form")),
		chromedp.WaitVisible(chromedp.CSS(".ok")),
	))
	assert.Contains(t, hint, "Already have an account with this e-mail? Enter its password")
	n, err := s.App.Client().Membership.Query().Where(membership.UserID(bob.ID)).Count(apptest.SystemContext())
	require.NoError(t, err)
	assert.Equal(t, 2, n, "bob keeps his other organization")
}
