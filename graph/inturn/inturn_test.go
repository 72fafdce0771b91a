package inturn

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/stretchr/testify/assert"
)

// MarshalSlice keeps gqlgen's contract: every element marshalled, in order, with its index in
// its field context; one that panics is reported once and becomes null, the others unharmed.
func TestMarshalSliceInTurn(t *testing.T) {
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter,
		func(context.Context, any) error { return errors.New("internal system error") })
	var order []int
	ret := MarshalSlice(ctx, 3, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
		order = append(order, *graphql.GetFieldContext(ctx).Index)
		if i == 1 {
			panic("boom")
		}
		return graphql.MarshalInt(i)
	})
	assert.Equal(t, []int{0, 1, 2}, order)
	var buf bytes.Buffer
	ret.MarshalGQL(&buf)
	assert.Equal(t, "[0,null,2]", buf.String())
	errs := graphql.GetErrors(ctx)
	if assert.Len(t, errs, 1) {
		assert.Equal(t, "internal system error", errs[0].Message)
	}
	assert.Empty(t, MarshalSlice(ctx, 0, 0, false, nil))
}
