package graph

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

func TestWriteResponseMatchesJSONMarshal(t *testing.T) {
	hasNext := false
	for name, resp := range map[string]*graphql.Response{
		"data alone":      {Data: json.RawMessage(`{"viewer":{"user":{"email":"a\u003cb@example.com","name":"Ann"}}}`)},
		"data and errors": {Data: json.RawMessage(`{"viewer":null}`), Errors: gqlerror.List{{Message: "Forbidden", Extensions: map[string]any{"code": "FORBIDDEN"}}}},
		"errors alone":    {Errors: gqlerror.List{{Message: "Syntax Error"}}},
		"extensions":      {Data: json.RawMessage(`{"a":1}`), Extensions: map[string]any{"cost": 3}},
		"incremental":     {Data: json.RawMessage(`{"a":1}`), HasNext: &hasNext},
		"nothing":         nil,
	} {
		t.Run(name, func(t *testing.T) {
			var got bytes.Buffer
			writeResponse(&got, resp)
			if resp == nil {
				resp = &graphql.Response{}
			}
			want, err := json.Marshal(resp)
			require.NoError(t, err)
			assert.Equal(t, string(want), got.String())
		})
	}
}

// json.Marshal escapes <, > and & in the data for HTML; the direct way leaves them as the
// executor wrote them. Both are the same JSON, and the answer is never HTML (nosniff).
func TestWriteResponseLeavesHTMLCharacters(t *testing.T) {
	resp := &graphql.Response{Data: json.RawMessage(`{"name":"<b>Ann & Bob</b>"}`)}
	var got bytes.Buffer
	writeResponse(&got, resp)
	want, err := json.Marshal(resp)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), got.String())
	assert.Equal(t, `{"data":{"name":"<b>Ann & Bob</b>"}}`, got.String())
}

func TestResponseMediaFollowsAccept(t *testing.T) {
	for accept, want := range map[string]string{
		"":                                  "application/json",
		"*/*":                               "application/json",
		"application/*":                     "application/json",
		"application/json":                  "application/json",
		"application/graphql-response+json": "application/graphql-response+json",
		"text/html, application/graphql-response+json;q=0.9, application/json": "application/graphql-response+json",
		"text/html":                          "application/graphql-response+json",
		"not a media type, application/json": "application/json",
	} {
		assert.Equal(t, want, responseMedia(accept), "Accept: %q", accept)
	}
}
