package app_test

import (
	"bytes"
	"context"
	"database/sql"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/auditlog"
	"github.com/inferiallm/orgserver/ent/schema/schematype"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

// The admin commands, run in-process against the database of a running test server, as an
// operator runs them beside a running server.

// runWith runs the binary's RunWith with args, DATABASE_URL=url and stdin, and returns what it
// printed.
func runWith(t *testing.T, url, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := app.RunWith(context.Background(), args, app.Process{
		Getenv: func(k string) string { return map[string]string{"DATABASE_URL": url, "LOG_LEVEL": "error"}[k] },
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
	})
	return out.String(), err
}

// generatedPassword returns the password a command printed.
func generatedPassword(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^Password: (\S+)$`).FindStringSubmatch(out)
	require.Len(t, m, 2, "no password in: %s", out)
	return m[1]
}

// cliAudits returns the command line's audit entries of action.
func cliAudits(t *testing.T, s *apptest.Server, action string) []*ent.AuditLog {
	t.Helper()
	all, err := s.App.Client().AuditLog.Query().
		Where(auditlog.Action(action), auditlog.ActorEmail(graph.CommandLineActor), auditlog.ActorIDIsNil()).
		All(apptest.SystemContext())
	require.NoError(t, err)
	return all
}

const viewerQuery = `{ viewer { user { email } } }`

func TestResetPasswordEndsTheSessionsARunningServerCachedAndAudits(t *testing.T) {
	s := apptest.Start(t, func(c *app.Config, _ *app.Options) { c.AuthCacheTTL = time.Hour })
	require.Eventually(t, s.App.Service().AuthCacheServing, 10*time.Second, 10*time.Millisecond)
	acme := s.Org(t, apptest.RootOrg)
	strict := s.CreateOrg(t, "Strict")
	policy := schematype.DefaultSecurityPolicy()
	policy.PasswordMinLength = 40
	require.NoError(t, s.App.Client().Organization.UpdateOne(strict).SetSecurityPolicy(policy).Exec(apptest.SystemContext()))
	bob := s.AddUser(t, "bob@example.com", acme, "developer")
	s.AddUser(t, "bob@example.com", strict, "viewer")
	tok := s.Login(t, "bob@example.com", apptest.Password("bob@example.com"))
	// Twice: the second answer comes from the server's authentication cache.
	for range 2 {
		require.Empty(t, s.Do(t, tok.Access, viewerQuery, nil).Errors)
	}

	out, err := runWith(t, s.Config.DatabaseURL, "", "admin", "reset-password", "--email", "Bob@Example.com")
	require.NoError(t, err)
	assert.Contains(t, out, "Reset the password of bob@example.com and ended 1 session.\n")
	password := generatedPassword(t, out)
	assert.GreaterOrEqual(t, len(password), 40, "long enough for the strictest of bob's organizations")
	assert.Equal(t, 1, strings.Count(out, password), "printed once")

	require.Eventually(t, func() bool {
		return s.Do(t, tok.Access, viewerQuery, nil).Code() == string(graph.CodeUnauthenticated)
	}, 5*time.Second, 10*time.Millisecond, "the running server refuses the ended session at once, not after the cache's hour")
	r := s.Do(t, "", `mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }`, map[string]any{"t": tok.Refresh})
	assert.NotEmpty(t, r.Errors, "the refresh token of the ended session is refused")
	r = s.Do(t, "", `mutation { login(input: {email: "bob@example.com", password: "password-bob@example.com"}) { accessToken } }`, nil)
	assert.NotEmpty(t, r.Errors, "the old password is refused")
	s.Login(t, "bob@example.com", password)

	entries := cliAudits(t, s, "security.password_reset")
	require.Len(t, entries, 2, "one entry in each of bob's organizations")
	assert.ElementsMatch(t, []uuid.UUID{acme.ID, strict.ID}, []uuid.UUID{*entries[0].OrganizationID, *entries[1].OrganizationID})
	for _, e := range entries {
		assert.Equal(t, bob.ID.String(), e.ResourceID)
		assert.EqualValues(t, 1, e.Details["sessions_revoked"])
	}

	// A password from standard input: checked against every policy, never echoed.
	_, err = runWith(t, s.Config.DatabaseURL, "short-but-fine-elsewhere\n", "admin", "reset-password", "--email", "bob@example.com", "--password-stdin")
	require.ErrorContains(t, err, "at least 40 characters")
	chosen := "a password of forty-two characters, chosen"
	out, err = runWith(t, s.Config.DatabaseURL, chosen+"\n", "admin", "reset-password", "--email", "bob@example.com", "--password-stdin")
	require.NoError(t, err)
	assert.NotContains(t, out, chosen)
	assert.NotContains(t, out, "Password")
	s.Login(t, "bob@example.com", chosen)

	_, err = runWith(t, s.Config.DatabaseURL, "", "admin", "reset-password", "--email", "nobody@example.com")
	assert.ErrorContains(t, err, "No account has the e-mail address nobody@example.com")
	_, err = runWith(t, s.Config.DatabaseURL, "", "admin", "reset-password", "--email", "bob@example.com", "--password-stdin")
	assert.ErrorContains(t, err, "standard input holds no password")
}

func TestCreateOrgMakesAnAdminOfANewOrAnExistingAccount(t *testing.T) {
	s := apptest.Start(t)
	url := s.Config.DatabaseURL

	out, err := runWith(t, url, "", "admin", "create-org", "--name", "Initech", "--admin-email", "peter@initech.test")
	require.NoError(t, err)
	initech := s.Org(t, "Initech")
	assert.Contains(t, out, "Created the organization Initech ("+initech.ID.String()+").\n")
	assert.Regexp(t, `peter@initech.test \(new account, [0-9a-f-]{36}\) is an admin of Initech.\n`, out)
	tok := s.Login(t, "peter@initech.test", generatedPassword(t, out))
	assert.Equal(t, initech.ID.String(), tok.OrgID)
	r := s.Do(t, tok.Access, `{ viewer { role { name } } }`, nil)
	assert.Equal(t, "admin", r.Str("viewer.role.name"))

	out, err = runWith(t, url, "", "admin", "create-org", "--name", "Globex", "--admin-email", apptest.RootEmail)
	require.NoError(t, err)
	assert.Contains(t, out, "root@example.com (existing account, ")
	assert.NotContains(t, out, "Password")
	globex := s.Org(t, "Globex")
	tok = s.Login(t, apptest.RootEmail, apptest.RootPassword)
	r = s.Do(t, tok.Access, `mutation($o: ID!) { switchOrganization(organizationId: $o) { accessToken } }`, map[string]any{"o": globex.ID})
	assert.Empty(t, r.Errors, "the existing account is a member of the new organization")
	assert.EqualValues(t, 1, globex.MemberCount)

	_, err = runWith(t, url, "", "admin", "create-org", "--name", "initech", "--admin-email", "x@initech.test")
	assert.ErrorContains(t, err, "Organization name already exists")
	_, err = runWith(t, url, "a-long-enough-password\n", "admin", "create-org", "--name", "Hooli", "--admin-email", apptest.RootEmail, "--password-stdin")
	assert.ErrorContains(t, err, "has an account already")
	_, err = runWith(t, url, "a-long-enough-password\n", "admin", "create-org", "--name", "Hooli", "--admin-email", "gavin@hooli.test", "--password-stdin")
	require.NoError(t, err)
	s.Login(t, "gavin@hooli.test", "a-long-enough-password")

	entries := cliAudits(t, s, "organization.create")
	assert.Len(t, entries, 3)
	assert.Len(t, cliAudits(t, s, "member.add"), 3)
}

func TestCreateUserJoinsAnOrganizationByIDOrNameWithABuiltInOrCustomRole(t *testing.T) {
	s := apptest.Start(t)
	url := s.Config.DatabaseURL
	acme := s.Org(t, apptest.RootOrg)
	root := s.Login(t, apptest.RootEmail, apptest.RootPassword)
	r := s.Do(t, root.Access, `mutation { createRole(input: {name: "auditor", permissions: ["member:list"]}) { name } }`, nil)
	require.Empty(t, r.Errors)

	out, err := runWith(t, url, "", "admin", "create-user", "--email", "alice@acme.test", "--name", "Alice", "--org", "acme", "--role", "Auditor")
	require.NoError(t, err)
	assert.Regexp(t, `^alice@acme.test \(new account, [0-9a-f-]{36}\) is an auditor of Acme.\nPassword: \S+\n`, out)
	tok := s.Login(t, "alice@acme.test", generatedPassword(t, out))
	r = s.Do(t, tok.Access, `{ viewer { user { name } role { name } } }`, nil)
	assert.Equal(t, "Alice", r.Str("viewer.user.name"))
	assert.Equal(t, "auditor", r.Str("viewer.role.name"))

	out, err = runWith(t, url, "a-chosen-password\n", "admin", "create-user", "--email", "carol@acme.test", "--name", "Carol", "--org", acme.ID.String(), "--role", "viewer", "--password-stdin")
	require.NoError(t, err)
	assert.NotContains(t, out, "a-chosen-password")
	s.Login(t, "carol@acme.test", "a-chosen-password")
	entries := cliAudits(t, s, "member.add")
	require.Len(t, entries, 2)
	for _, e := range entries {
		assert.Equal(t, acme.ID, *e.OrganizationID)
		assert.Equal(t, true, e.Details["account_created"])
	}

	_, err = runWith(t, url, "", "admin", "create-user", "--email", "alice@acme.test", "--name", "Alice", "--org", "Acme", "--role", "viewer")
	assert.ErrorContains(t, err, "alice@acme.test has an account already")
	_, err = runWith(t, url, "", "admin", "create-user", "--email", "dave@acme.test", "--name", "Dave", "--org", "Acme", "--role", "janitor")
	assert.ErrorContains(t, err, "Role 'janitor' does not exist in Acme")
	_, err = runWith(t, url, "", "admin", "create-user", "--email", "dave@acme.test", "--name", "Dave", "--org", "Nowhere", "--role", "viewer")
	assert.ErrorContains(t, err, `No organization has the ID or name "Nowhere"`)
	_, err = runWith(t, url, "short\n", "admin", "create-user", "--email", "dave@acme.test", "--name", "Dave", "--org", "Acme", "--role", "viewer", "--password-stdin")
	assert.ErrorContains(t, err, "Password must be at least 8 characters")

	// An organization named like another's ID: the reference could mean either.
	s.CreateOrg(t, acme.ID.String())
	_, err = runWith(t, url, "", "admin", "create-user", "--email", "dave@acme.test", "--name", "Dave", "--org", acme.ID.String(), "--role", "viewer")
	assert.ErrorContains(t, err, "could mean any of")
	exists, err := s.App.Client().User.Query().Where(user.Email("dave@acme.test")).Exist(apptest.SystemContext())
	require.NoError(t, err)
	assert.False(t, exists, "nothing was created by the refused commands")
}

func TestListOrgsListsEveryOrganization(t *testing.T) {
	s := apptest.Start(t)
	s.CreateOrg(t, "Globex")
	out, err := runWith(t, s.Config.DatabaseURL, "", "admin", "list-orgs")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	assert.Regexp(t, `^ID\s+MEMBERS\s+CREATED\s+NAME$`, lines[0])
	assert.Regexp(t, `^`+s.Org(t, apptest.RootOrg).ID.String()+`\s+1\s+\d{4}-\d\d-\d\d\s+Acme$`, lines[1])
	assert.Regexp(t, `^[0-9a-f-]{36}\s+0\s+\d{4}-\d\d-\d\d\s+Globex$`, lines[2])
}

func TestAdminCommandsRefuseADatabaseNoServerHasSetUp(t *testing.T) {
	url := apptest.DatabaseURL(t)
	_, err := runWith(t, url, "", "admin", "list-orgs")
	if path, ok := strings.CutPrefix(url, "sqlite://"); ok {
		assert.ErrorContains(t, err, "there is no database "+path)
		assert.NoFileExists(t, path, "a command in the wrong directory leaves no empty database behind")
	}
	_, err = run(t, url, "migrate", "status") // on SQLite, opens an empty file
	require.NoError(t, err)
	_, err = runWith(t, url, "", "admin", "list-orgs")
	assert.ErrorContains(t, err, "the database is empty: start the server once")
	_, err = run(t, url, "migrate")
	require.NoError(t, err)
	_, err = runWith(t, url, "", "admin", "create-org", "--name", "Initech", "--admin-email", "peter@initech.test")
	assert.ErrorContains(t, err, "no server has set this database up yet")
	db, err := sql.Open(map[bool]string{true: "postgres", false: "sqlite"}[strings.HasPrefix(url, "postgres")],
		strings.TrimPrefix(url, "sqlite://"))
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM organizations").Scan(&n))
	assert.Zero(t, n)
}
