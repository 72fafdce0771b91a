package playground

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"hash"
	"html"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"strings"
	"testing"

	gqlplayground "github.com/99designs/gqlgen/graphql/playground"
	"github.com/stretchr/testify/require"
)

const (
	pagePath    = "/playground"
	assetPrefix = "/playground/assets/"
)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(pagePath, Handler("Test <Playground>", "/query", assetPrefix))
	mux.Handle(assetPrefix, http.StripPrefix(assetPrefix, Assets()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, u string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

var (
	tagRe  = regexp.MustCompile(`(?is)<[a-z][a-z0-9-]*\b[^>]*>`)
	attrRe = regexp.MustCompile(`(?is)\s([a-z][a-z0-9:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))`)
	// cssURLRe matches url(...) references in inline styles.
	cssURLRe = regexp.MustCompile(`(?i)url\(\s*['"]?([^'")\s]+)`)
	// schemeURLRe matches any absolute URL with an authority (http://, wss://, ...).
	schemeURLRe = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://`)
	// protoRelRe matches protocol-relative URLs such as "//cdn.example.com/x".
	protoRelRe = regexp.MustCompile(`(?i)["'(=\s]//[a-z0-9]`)
)

// element is one HTML start tag with its attributes.
type element struct {
	tag   string
	attrs map[string]string
}

func parseTags(page string) []element {
	var els []element
	for _, raw := range tagRe.FindAllString(page, -1) {
		name := strings.ToLower(strings.FieldsFunc(raw[1:], func(r rune) bool {
			return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '>' || r == '/'
		})[0])
		el := element{tag: name, attrs: map[string]string{}}
		for _, m := range attrRe.FindAllStringSubmatch(raw, -1) {
			el.attrs[strings.ToLower(m[1])] = html.UnescapeString(m[2] + m[3] + m[4])
		}
		els = append(els, el)
	}
	return els
}

// urlAttrs are the attributes whose values are URLs.
var urlAttrs = []string{"src", "href", "action", "formaction", "poster", "data", "srcset", "background", "manifest"}

// referencedURLs returns every URL referenced from an attribute or an
// inline url(...) in the page.
func referencedURLs(page string) []string {
	var urls []string
	for _, el := range parseTags(page) {
		for _, a := range urlAttrs {
			if v, ok := el.attrs[a]; ok {
				urls = append(urls, v)
			}
		}
	}
	for _, m := range cssURLRe.FindAllStringSubmatch(page, -1) {
		urls = append(urls, m[1])
	}
	return urls
}

func TestHandlerPage(t *testing.T) {
	srv := newServer(t)
	resp, body := get(t, srv.URL+pagePath)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	page := string(body)
	require.Contains(t, page, "<title>Test &lt;Playground&gt;</title>")
	require.Contains(t, page, `"/query"`)
	require.Contains(t, page, "GraphiQLPluginExplorer.explorerPlugin()")
}

func TestHandlerPageHasNoExternalURLs(t *testing.T) {
	srv := newServer(t)
	_, body := get(t, srv.URL+pagePath)
	page := string(body)

	require.Empty(t, schemeURLRe.FindAllString(page, -1), "absolute URL in page")
	require.Empty(t, protoRelRe.FindAllString(page, -1), "protocol-relative URL in page")

	urls := referencedURLs(page)
	require.NotEmpty(t, urls)
	for _, raw := range urls {
		u, err := url.Parse(raw)
		require.NoError(t, err, raw)
		require.False(t, u.IsAbs(), "absolute URL %q", raw)
		require.Empty(t, u.Host, "URL with host %q", raw)
		require.True(t, strings.HasPrefix(u.Path, assetPrefix), "URL %q outside %s", raw, assetPrefix)
	}
}

func TestHandlerPageAssetsAreServed(t *testing.T) {
	srv := newServer(t)
	_, body := get(t, srv.URL+pagePath)
	urls := referencedURLs(string(body))
	// graphiql js+css, react, react-dom, explorer js+css.
	require.Len(t, urls, 6)
	for _, u := range urls {
		resp, asset := get(t, srv.URL+u)
		require.Equal(t, http.StatusOK, resp.StatusCode, u)
		require.NotEmpty(t, asset, u)
		switch path.Ext(u) {
		case ".js":
			require.Equal(t, "text/javascript; charset=utf-8", resp.Header.Get("Content-Type"), u)
		case ".css":
			require.Equal(t, "text/css; charset=utf-8", resp.Header.Get("Content-Type"), u)
		default:
			t.Fatalf("unexpected asset type %q", u)
		}
		require.Contains(t, resp.Header.Get("Cache-Control"), "max-age=")
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	}
}

// checkSRI reports whether data matches one of the hashes in the integrity
// attribute value integrity.
func checkSRI(t *testing.T, integrity string, data []byte) bool {
	t.Helper()
	fields := strings.Fields(integrity)
	require.NotEmpty(t, fields, "empty integrity attribute")
	for _, f := range fields {
		alg, want, ok := strings.Cut(f, "-")
		require.True(t, ok, "malformed integrity %q", f)
		want, _, _ = strings.Cut(want, "?") // drop options
		var h hash.Hash
		switch alg {
		case "sha256":
			h = sha256.New()
		case "sha384":
			h = sha512.New384()
		case "sha512":
			h = sha512.New()
		default:
			t.Fatalf("unsupported integrity algorithm %q", alg)
		}
		h.Write(data)
		if base64.StdEncoding.EncodeToString(h.Sum(nil)) == want {
			return true
		}
	}
	return false
}

func TestHandlerPageIntegrity(t *testing.T) {
	srv := newServer(t)
	_, body := get(t, srv.URL+pagePath)
	n := 0
	for _, el := range parseTags(string(body)) {
		integrity, ok := el.attrs["integrity"]
		if !ok {
			continue
		}
		n++
		ref := el.attrs["src"] + el.attrs["href"]
		require.True(t, strings.HasPrefix(ref, assetPrefix), ref)

		embedded, err := fs.ReadFile(assetsFS, "assets/"+strings.TrimPrefix(ref, assetPrefix))
		require.NoError(t, err, ref)
		require.True(t, checkSRI(t, integrity, embedded), "embedded %s does not match %s", ref, integrity)

		_, served := get(t, srv.URL+ref)
		require.Equal(t, embedded, served, ref)
	}
	require.Equal(t, 6, n, "expected integrity on every script and stylesheet")
}

// TestIntegrityMatchesGqlgen checks that the pinned hashes are the ones gqlgen
// uses for the same CDN files, i.e. that the vendored files are the CDN ones.
func TestIntegrityMatchesGqlgen(t *testing.T) {
	rec := httptest.NewRecorder()
	gqlplayground.Handler("t", "/q", gqlplayground.WithGraphiqlEnablePluginExplorer(true)).
		ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	upstream := map[string]string{} // file name -> integrity
	for _, el := range parseTags(rec.Body.String()) {
		if sri, ok := el.attrs["integrity"]; ok {
			upstream[path.Base(el.attrs["src"]+el.attrs["href"])] = sri
		}
	}
	for _, a := range []asset{graphiqlJS, graphiqlCSS, reactJS, reactDOMJS, explorerJS} {
		require.Equal(t, upstream[path.Base(a.path)], a.sri, a.path)
	}
	// gqlgen loads jsDelivr's generated style.min.css, absent from npm.
	require.Contains(t, upstream, "style.min.css")
	require.NotContains(t, upstream, "style.css")
}

func TestAllPinnedAssetsEmbedded(t *testing.T) {
	for _, a := range []asset{graphiqlJS, graphiqlCSS, reactJS, reactDOMJS, explorerJS, explorerCSS} {
		b, err := fs.ReadFile(assetsFS, "assets/"+a.path)
		require.NoError(t, err, a.path)
		require.True(t, checkSRI(t, a.sri, b), a.path)
	}
}

func TestHandlerPrefixWithoutSlash(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler("t", "/query", "/static").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Contains(t, rec.Body.String(), `src="/static/react-18.2.0/react.production.min.js"`)
}

func TestAssets(t *testing.T) {
	srv := newServer(t)
	js := srv.URL + assetPrefix + reactJS.path

	resp, _ := get(t, js)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag)

	resp, body := get(t, js, "If-None-Match", etag)
	require.Equal(t, http.StatusNotModified, resp.StatusCode)
	require.Empty(t, body)

	resp, body = get(t, srv.URL+assetPrefix+"graphiql-4.1.2/LICENSE")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "MIT")

	for _, p := range []string{
		"", "graphiql-4.1.2/", "graphiql-4.1.2", "missing.js",
		"../playground.go", "%2e%2e/playground.go",
	} {
		resp, _ := get(t, srv.URL+assetPrefix+p)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, p)
	}

	resp, err := http.Post(js, "text/plain", strings.NewReader("x"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}
