package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/inferiallm/orgserver/server/apptest"
)

// BenchmarkViewerOverHTTP measures an authenticated viewer request through the whole stack:
// HTTP, middleware, token check, session and membership lookup, GraphQL execution, database.
// Run it on PostgreSQL with TEST_DATABASE_URL set.
func BenchmarkViewerOverHTTP(b *testing.B) {
	var counter apptest.StatementCounter
	s := apptest.Start(b, apptest.CountStatements(&counter))
	tok := s.Login(b, apptest.RootEmail, apptest.RootPassword)
	body, _ := json.Marshal(map[string]any{"query": `{ viewer { user { email } organization { name } permissions } }`})
	client := &http.Client{}
	before := counter.Count()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok.Access)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatal(resp.Status)
		}
	}
	b.ReportMetric(float64(counter.Count()-before)/float64(b.N), "stmts/op")
}

// BenchmarkAuthenticate measures authentication alone: the access token's signature and claims
// plus the one-statement session, membership and role lookup.
func BenchmarkAuthenticate(b *testing.B) {
	s := apptest.Start(b)
	tok := s.Login(b, apptest.RootEmail, apptest.RootPassword)
	svc := s.App.Service()
	ctx := context.Background()
	_, err := svc.Authenticate(ctx, tok.Access)
	require.NoError(b, err)
	for b.Loop() {
		if _, err := svc.Authenticate(ctx, tok.Access); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenCheck measures the signature and claims check without the database.
func BenchmarkTokenCheck(b *testing.B) {
	s := apptest.Start(b)
	tok := s.Login(b, apptest.RootEmail, apptest.RootPassword)
	tk := s.App.Service().Tokens
	for b.Loop() {
		if _, err := tk.ParseAccess(tok.Access); err != nil {
			b.Fatal(err)
		}
	}
}
