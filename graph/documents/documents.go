// Package documents holds the GraphQL documents the server ships and trusts: the dashboard's
// operations, one file a Settings page (dashboard/*.graphql, the contract between the dashboard
// and the API), and the manifest of trusted documents built from them and the REST layer's
// operations by `go generate` (manifest.json, in the JSON map form client code generators
// emit: {"<sha256 hex>": "<document text>"}). In GRAPHQL_TRUSTED_DOCUMENTS=on mode only the
// manifest's documents (and those of GRAPHQL_TRUSTED_DOCUMENTS_FILE) run.
package documents

import (
	"embed"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:generate go run ./manifestgen

//go:embed dashboard/*.graphql
var dashboardFiles embed.FS

//go:embed manifest.json
var manifest []byte

// Manifest returns the built-in manifest (manifest.json).
func Manifest() []byte { return manifest }

// Page is one dashboard page's document.
type Page struct {
	// Name is the file's name without .graphql, e.g. "users".
	Name string
	// File is the file's path in the repository.
	File string
	// Text is the document exactly as the dashboard sends it.
	Text string
}

// Dashboard returns the dashboard's documents, one per Settings page, by file name.
func Dashboard() []Page {
	names, err := fs.Glob(dashboardFiles, "dashboard/*.graphql")
	if err != nil {
		panic(err) // a constant, valid pattern
	}
	sort.Strings(names)
	pages := make([]Page, 0, len(names))
	for _, n := range names {
		b, err := dashboardFiles.ReadFile(n)
		if err != nil {
			panic(err) // embedded
		}
		pages = append(pages, Page{Name: strings.TrimSuffix(path.Base(n), ".graphql"), File: "graph/documents/" + n, Text: string(b)})
	}
	return pages
}
