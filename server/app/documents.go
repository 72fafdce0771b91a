package app

import (
	"context"
	"fmt"
	"os"

	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/graph/documents"
	"github.com/inferiallm/orgserver/graph/generated"
	"github.com/inferiallm/orgserver/rest"
)

// loadDocuments returns the trusted documents: the manifest built into the binary, and file's
// when one is named (GRAPHQL_TRUSTED_DOCUMENTS_FILE). A file that cannot be read, or whose keys
// are not the SHA-256 of their documents, stops the start.
func loadDocuments(file string) (*graph.DocumentStore, error) {
	docs := graph.NewDocumentStore()
	if err := docs.AddManifest("built into the server", documents.Manifest()); err != nil {
		return nil, err
	}
	if file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("GRAPHQL_TRUSTED_DOCUMENTS_FILE: %w", err)
		}
		if err := docs.AddManifest("GRAPHQL_TRUSTED_DOCUMENTS_FILE="+file, raw); err != nil {
			return nil, err
		}
	}
	return docs, nil
}

// checkDocuments validates every trusted document against the schema, so that one that could
// not run stops the start rather than its client, and, in trusted mode, makes sure the REST
// layer's document is trusted: the REST layer runs it through the same executor, and so the
// same gate, as /graphql.
func (a *App) checkDocuments(gql *graph.Server) error {
	docs := a.svc.Documents
	if err := docs.Validate(gql.Schema()); err != nil {
		return err
	}
	if a.cfg.TrustedDocuments == "on" {
		restDoc, err := rest.LoadOperations()
		if err != nil {
			return err
		}
		if !docs.Trusts(restDoc) {
			return fmt.Errorf("GRAPHQL_TRUSTED_DOCUMENTS=on: the REST layer's operations are not in the built-in manifest " +
				"(graph/documents/manifest.json is stale: run go generate ./...)")
		}
	}
	a.log.Debug("trusted documents", "mode", a.cfg.TrustedDocuments, "documents", docs.Len(), "file", a.cfg.TrustedDocumentsFile)
	return nil
}

// documentsCommand prints the trusted documents as a manifest: the built-in ones and those of
// GRAPHQL_TRUSTED_DOCUMENTS_FILE, each checked against the schema.
func documentsCommand(_ context.Context, cfg Config, p Process) error {
	docs, err := loadDocuments(cfg.TrustedDocumentsFile)
	if err != nil {
		return err
	}
	if err := docs.Validate(generated.NewExecutableSchema(generated.Config{}).Schema()); err != nil {
		return err
	}
	_, err = p.Stdout.Write(docs.Manifest())
	return err
}
