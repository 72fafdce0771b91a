package rest_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/app"
	"github.com/inferiallm/orgserver/server/apptest"
)

// updating reports whether -update was given (the flag is defined in openapi_test.go).
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// readmeExamples returns the curl commands between the rest-examples markers of the README.
func readmeExamples(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	s := string(raw)
	start := strings.Index(s, "<!-- rest-examples -->")
	end := strings.Index(s, "<!-- /rest-examples -->")
	require.True(t, start >= 0 && end > start, "the README marks its REST examples")
	var out []string
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(s[start:end], -1) {
		cmd := strings.TrimSpace(block[1])
		if strings.HasPrefix(cmd, "curl ") {
			out = append(out, cmd)
		}
	}
	return out
}

// curlRequest is what a curl command line asks for.
type curlRequest struct {
	method, url, body string
	header            http.Header
}

// parseCurl understands the curl options the README uses: -X, -H, -d and the URL.
func parseCurl(t *testing.T, cmd string) curlRequest {
	t.Helper()
	cmd = strings.ReplaceAll(cmd, "\\\n", " ")
	var args []string
	var cur strings.Builder
	inArg := false
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		switch {
		case c == '\'' || c == '"':
			end := strings.IndexByte(cmd[i+1:], c)
			require.GreaterOrEqual(t, end, 0, "unbalanced quote in %s", cmd)
			cur.WriteString(cmd[i+1 : i+1+end])
			i += end + 1
			inArg = true
		case c == ' ' || c == '\n' || c == '\t':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	r := curlRequest{method: "GET", header: http.Header{}}
	for i := 1; i < len(args); i++ {
		switch args[i] {
		case "-X":
			i++
			r.method = args[i]
		case "-H":
			i++
			k, v, _ := strings.Cut(args[i], ":")
			r.header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		case "-d":
			i++
			r.body = args[i]
			if r.method == "GET" {
				r.method = "POST"
			}
		default:
			require.True(t, strings.HasPrefix(args[i], "http://"), "unknown curl argument %q", args[i])
			r.url = args[i]
		}
	}
	return r
}

var (
	uuidRE    = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	timeRE    = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z`)
	jwtRE     = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)
	refreshRE = regexp.MustCompile(`rt_[A-Za-z0-9_-]{40,}`)
)

// normalize makes an answer comparable across runs: IDs, times and tokens become placeholders.
func normalize(status int, body []byte, secrets map[string]string) string {
	var v any
	pretty := string(body)
	if json.Unmarshal(body, &v) == nil {
		b, _ := json.MarshalIndent(v, "", "  ")
		pretty = string(b)
	}
	for secret, name := range secrets {
		pretty = strings.ReplaceAll(pretty, secret, name)
	}
	pretty = jwtRE.ReplaceAllString(pretty, "<jwt>")
	pretty = refreshRE.ReplaceAllString(pretty, "<refresh-token>")
	pretty = uuidRE.ReplaceAllString(pretty, "<uuid>")
	pretty = timeRE.ReplaceAllString(pretty, "<time>")
	return fmt.Sprintf("%d\n\n%s\n", status, pretty)
}

// A REST test reads like the README: each documented curl call is replayed against the real
// server, in order, and its status and body are compared with a golden file.
func TestTheREADMEExamplesWorkVerbatim(t *testing.T) {
	cfg := apptest.Config(apptest.DatabaseURL(t))
	cfg.SuperAdminEmail = "admin@example.com"
	cfg.SuperAdminPassword = "YOUR_PASSWORD"
	cfg.DefaultOrgName = "Default Organization"
	s := apptest.StartWith(t, cfg, app.Options{})
	alice := s.AddUser(t, "alice@example.com", s.Org(t, "Default Organization"), "member")
	research := s.CreateOrg(t, "Research")
	admin := s.Login(t, "admin@example.com", "YOUR_PASSWORD")
	s.AddUser(t, "admin@example.com", research, "admin")

	examples := readmeExamples(t)
	require.Len(t, examples, 8, "the README shows sign-in and the seven documented calls")
	vars := map[string]string{"{user_id}": alice.ID.String(), "target-org-uuid": research.ID.String()}
	secrets := map[string]string{}
	for i, cmd := range examples {
		orig := parseCurl(t, cmd)
		for k, v := range vars {
			cmd = strings.ReplaceAll(cmd, k, v)
		}
		cmd = strings.ReplaceAll(cmd, "$TOKEN", admin.Access)
		req := parseCurl(t, cmd)
		name := fmt.Sprintf("%02d-%s-%s", i+1, strings.ToLower(orig.method),
			strings.Trim(regexp.MustCompile(`[^a-z_]+`).ReplaceAllString(strings.TrimPrefix(orig.url, "http://localhost:8000"), "-"), "-"))
		t.Run(name, func(t *testing.T) {
			require.True(t, strings.HasPrefix(req.url, "http://localhost:8000/"))
			httpReq, err := http.NewRequest(req.method, s.URL+strings.TrimPrefix(req.url, "http://localhost:8000"), strings.NewReader(req.body))
			require.NoError(t, err)
			httpReq.Header = req.header
			resp, err := http.DefaultClient.Do(httpReq)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Less(t, resp.StatusCode, 300, "%s", body)

			// The invitation's token is used by the following examples.
			var m map[string]any
			if json.Unmarshal(body, &m) == nil {
				if tok, ok := m["token"].(string); ok && strings.Contains(req.url, "register-invite") {
					vars["{token}"], vars["invitation-token"] = tok, tok
					secrets[tok] = "<invitation-token>"
				}
			}
			got := normalize(resp.StatusCode, body, secrets)
			golden := filepath.Join("testdata", "readme", name+".golden")
			if updating() {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./rest -run README -update to create it")
			assert.Equal(t, string(want), got)
		})
	}
	// The replay did what the documentation says.
	r := s.Do(t, admin.Access, `{ viewer { organization { members(first: 10) { edges { node { user { email } role { name } } } } } } }`, nil)
	require.Empty(t, r.Errors)
	assert.Contains(t, string(r.Data), `"email":"newuser@example.com"`)
	assert.True(t, bytes.Contains(r.Data, []byte(`{"user":{"email":"alice@example.com"},"role":{"name":"developer"}}`)), "%s", r.Data)
}
