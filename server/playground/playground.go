// Package playground serves a GraphiQL playground that works without
// internet access.
//
// The page itself is rendered by gqlgen's playground handler
// (github.com/99designs/gqlgen/graphql/playground), but every script and
// stylesheet it loads is served from files embedded in the binary instead of
// a CDN. The embedded files live in ./assets and were fetched from the npm
// registry with `npm pack` by fetch-assets.sh:
//
//	graphiql@4.1.2                   graphiql.min.js, graphiql.min.css
//	react@18.2.0                     umd/react.production.min.js
//	react-dom@18.2.0                 umd/react-dom.production.min.js
//	@graphiql/plugin-explorer@4.0.6  dist/index.umd.js, dist/style.css
//
// These are the versions gqlgen v0.17.98 loads, and the files are
// byte-identical to the CDN copies, so the SRI hashes below are the ones
// gqlgen ships (except for the explorer stylesheet: gqlgen uses jsDelivr's
// auto-minified style.min.css, which is not part of the npm package).
//
// Typical wiring:
//
//	mux.Handle("/playground", playground.Handler("GraphQL", "/query", "/playground/assets/"))
//	mux.Handle("/playground/assets/", http.StripPrefix("/playground/assets/", playground.Assets()))
package playground

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"net/http"
	"path"
	"strings"

	gqlplayground "github.com/99designs/gqlgen/graphql/playground"
)

//go:embed assets
var assetsFS embed.FS

// asset is one embedded file referenced by the playground page.
type asset struct {
	path string // relative to the assets directory
	sri  string // Subresource Integrity value of the file
}

var (
	graphiqlJS = asset{
		"graphiql-4.1.2/graphiql.min.js",
		"sha256-hnImuor1znlJkD/FOTL3jayfS/xsyNoP04abi8bFJWs=",
	}
	graphiqlCSS = asset{
		"graphiql-4.1.2/graphiql.min.css",
		"sha256-MEh+B2NdMSpj9kexQNN3QKc8UzMrCXW/Sx/phcpuyIU=",
	}
	reactJS = asset{
		"react-18.2.0/react.production.min.js",
		"sha256-S0lp+k7zWUMk2ixteM6HZvu8L9Eh//OVrt+ZfbCpmgY=",
	}
	reactDOMJS = asset{
		"react-dom-18.2.0/react-dom.production.min.js",
		"sha256-IXWO0ITNDjfnNXIu5POVfqlgYoop36bDzhodR6LW5Pc=",
	}
	explorerJS = asset{
		"graphiql-plugin-explorer-4.0.6/index.umd.js",
		"sha256-UM8sWOS0Xa9yLY85q6Clh0pF4qpxX+TOcJ41flECqBs=",
	}
	explorerCSS = asset{
		"graphiql-plugin-explorer-4.0.6/style.css",
		"sha256-aJCaSuI7+t/EWRrLTis8jU9EFTua5/o7fnwxnroxDvE=",
	}
)

// Handler returns an http.Handler serving the GraphiQL page for the GraphQL
// endpoint at endpoint (a path such as "/query", or an absolute URL).
// Every script and stylesheet on the page is loaded from assetPrefix (for
// example "/playground/assets/"), where the caller must mount Assets.
// The explorer plugin is enabled.
func Handler(title, endpoint, assetPrefix string) http.Handler {
	if !strings.HasSuffix(assetPrefix, "/") {
		assetPrefix += "/"
	}
	url := func(a asset) string { return assetPrefix + a.path }
	return gqlplayground.Handler(title, endpoint,
		gqlplayground.WithGraphiqlVersion(
			url(graphiqlJS), url(graphiqlCSS), graphiqlJS.sri, graphiqlCSS.sri),
		gqlplayground.WithGraphiqlReactVersion(
			url(reactJS), url(reactDOMJS), reactJS.sri, reactDOMJS.sri),
		gqlplayground.WithGraphiqlPluginExplorerVersion(
			url(explorerJS), url(explorerCSS), explorerJS.sri, explorerCSS.sri),
		gqlplayground.WithGraphiqlEnablePluginExplorer(true),
	)
}

// contentTypes overrides the system MIME table for the asset types we serve.
var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".md":  "text/markdown; charset=utf-8",
	"":     "text/plain; charset=utf-8", // LICENSE files
}

// Assets returns an http.Handler serving the embedded playground assets,
// with request paths relative to the assets directory (for example
// "react-18.2.0/react.production.min.js"). Mount it with http.StripPrefix
// under the prefix passed to Handler. Directory listings are not served.
// Asset paths contain the package version, so responses may be cached
// indefinitely.
func Assets() http.Handler {
	sub, err := fs.Sub(assetsFS, "assets")
	if err != nil {
		panic(err) // unreachable: "assets" is a valid embedded directory
	}

	// Embedded files have no modification time; give them strong ETags so
	// clients that do revalidate get 304s.
	etags := map[string]string{}
	err = fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		etags[name] = `"` + base64.RawURLEncoding.EncodeToString(sum[:]) + `"`
		return nil
	})
	if err != nil {
		panic(err) // unreachable: reading embedded files cannot fail
	}

	files := http.FileServer(http.FS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		etag, ok := etags[name]
		if !ok { // unknown file or a directory
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		if ct, ok := contentTypes[path.Ext(name)]; ok {
			h.Set("Content-Type", ct)
		}
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("ETag", etag)
		files.ServeHTTP(w, r)
	})
}
