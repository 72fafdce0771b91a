// Command manifestgen writes graph/documents/manifest.json, the manifest of trusted documents
// built into the server: the REST layer's document (every rest/operations file, as the REST
// layer runs it) and each dashboard page's document, by the hex SHA-256 of its exact text.
// `go generate ./...` runs it, so CI's drift check fails when a document changed without it.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/graph/documents"
	"github.com/inferiallm/orgserver/rest"
)

func main() {
	if err := run("manifest.json"); err != nil {
		fmt.Fprintln(os.Stderr, "manifestgen:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	restDoc, err := rest.LoadOperations()
	if err != nil {
		return err
	}
	m := map[string]string{graph.DocumentHash(restDoc): restDoc}
	for _, p := range documents.Dashboard() {
		m[graph.DocumentHash(p.Text)] = p.Text
	}
	b, err := json.MarshalIndent(m, "", "  ") // keys sorted
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(b, '\n'), 0o644)
}
