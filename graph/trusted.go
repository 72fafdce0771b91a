package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// DocumentStore holds the trusted documents by the hex SHA-256 of their text: the manifest
// built into the binary (graph/documents) and, when a deployment names one, its own. A nil
// store holds none.
type DocumentStore struct {
	byHash map[string]string
	// texts are the same documents by text, so that a request carrying a document's full text
	// is recognised by a map lookup, without hashing it.
	texts map[string]struct{}
	// from names the manifest each document came from, for messages.
	from map[string]string
}

// NewDocumentStore returns an empty store.
func NewDocumentStore() *DocumentStore {
	return &DocumentStore{byHash: map[string]string{}, texts: map[string]struct{}{}, from: map[string]string{}}
}

// DocumentHash is the hex SHA-256 of a document's text: its id without the "sha256:" prefix.
func DocumentHash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

// AddManifest adds the documents of a manifest in the JSON map form client code generators
// emit: {"<sha256 hex>": "<document text>", ...}. A key may carry the "sha256:" prefix. Every
// key must be the SHA-256 of its text, so that an id always names the text its client hashed.
// name says where the manifest comes from, in errors.
func (s *DocumentStore) AddManifest(name string, raw []byte) error {
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("trusted documents %s: not a JSON object of SHA-256 hashes to document texts: %w", name, err)
	}
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(m)) {
		text := m[key]
		hash, ok := parseHash(key)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("key %q is not a SHA-256 in hexadecimal (64 digits, optionally after sha256:)", key))
		case hash != DocumentHash(text):
			errs = append(errs, fmt.Errorf("key %s is not the SHA-256 of its document (that is %s): hash the exact text the client sends", key, DocumentHash(text)))
		default:
			s.byHash[hash] = text
			s.texts[text] = struct{}{}
			if _, seen := s.from[hash]; !seen {
				s.from[hash] = name
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("trusted documents %s: %w", name, errors.Join(errs...))
	}
	return nil
}

// Len is the number of documents.
func (s *DocumentStore) Len() int {
	if s == nil {
		return 0
	}
	return len(s.byHash)
}

// Lookup returns the document whose hex SHA-256 is hash, in lower case (as parseHash reads it).
func (s *DocumentStore) Lookup(hash string) (string, bool) {
	if s == nil {
		return "", false
	}
	text, ok := s.byHash[hash]
	return text, ok
}

// Trusts reports whether text is exactly the text of a document of the store.
func (s *DocumentStore) Trusts(text string) bool {
	if s == nil {
		return false
	}
	_, ok := s.texts[text]
	return ok
}

// Manifest returns the store as a manifest in the JSON map form, keys sorted.
func (s *DocumentStore) Manifest() []byte {
	m := map[string]string{}
	if s != nil {
		m = s.byHash
	}
	out, _ := json.MarshalIndent(m, "", "  ")
	return append(out, '\n')
}

// Validate parses and validates every document against schema, so that a trusted document
// that could not run stops the start instead of failing its clients.
func (s *DocumentStore) Validate(schema *ast.Schema) error {
	if s == nil {
		return nil
	}
	var errs []error
	for _, hash := range slices.Sorted(maps.Keys(s.byHash)) {
		if _, list := gqlparser.LoadQueryWithRules(schema, s.byHash[hash], rules.NewDefaultRules()); len(list) > 0 {
			errs = append(errs, fmt.Errorf("trusted document %s (from %s): %w", hash, s.from[hash], list))
		}
	}
	return errors.Join(errs...)
}

// parseHash reads a hex SHA-256, optionally after "sha256:", into lower case. The length is
// checked first, so that a hostile string costs nothing more than its measure.
func parseHash(s string) (string, bool) {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) != sha256.Size*2 {
		return "", false
	}
	s = strings.ToLower(s)
	_, err := hex.DecodeString(s)
	return s, err == nil
}

// parseDocumentID reads a documentId: "sha256:" and the hex SHA-256 of the document.
func parseDocumentID(id string) (string, bool) {
	if !strings.HasPrefix(id, "sha256:") {
		return "", false
	}
	return parseHash(id)
}

// documentGate resolves the automatic-persisted-query form ({"extensions": {"persistedQuery":
// {"sha256Hash": ...}}}) from the trusted documents and, in trusted mode, refuses every
// document that is not one of them. It is the first operation parameter mutator: it runs
// before gqlgen's APQ, the document limits and the parser, so a refused document costs a map
// lookup, never parsing work. (A documentId is resolved by the transports, which read it.)
type documentGate struct {
	docs *DocumentStore
	// trusted refuses documents that are not in docs.
	trusted bool
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = documentGate{}

func (documentGate) ExtensionName() string                   { return "TrustedDocuments" }
func (documentGate) Validate(graphql.ExecutableSchema) error { return nil }

func (g documentGate) MutateOperationParameters(_ context.Context, p *graphql.RawParams) *gqlerror.Error {
	if hash := persistedQueryHash(p.Extensions); hash != "" {
		var text string
		norm, ok := parseHash(hash)
		if ok {
			text, ok = g.docs.Lookup(norm)
		}
		switch {
		case ok && p.Query == "":
			// Resolved here: gqlgen's APQ, which would hash the text again to compare it with
			// the hash as sent (in its case), has nothing left to do.
			p.Query = text
			delete(p.Extensions, "persistedQuery")
		case ok && p.Query != text && g.trusted:
			return refusal(ReasonDocumentNotTrusted, "The query is not the trusted document whose SHA-256 is persistedQuery.sha256Hash")
		case !ok && g.trusted:
			return refusal(ReasonPersistedDocumentNotFound, "No trusted document has the SHA-256 %s (server documents lists them)", hash)
		}
	}
	if g.trusted && !g.docs.Trusts(p.Query) {
		return refusal(ReasonDocumentNotTrusted,
			"This server runs trusted documents only: send a documentId (sha256:<hex>) or the exact text of a document of its manifest (server documents lists them)")
	}
	return nil
}
