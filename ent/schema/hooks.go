package schema

import (
	"context"
	"strings"

	"entgo.io/ent"
)

// normalizeEmail keeps e-mail addresses trimmed and lower-case, so that one address means one
// account and one pending invitation, whatever case it was typed in.
func normalizeEmail() ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			if v, ok := m.Field("email"); ok {
				if s, ok := v.(string); ok {
					if err := m.SetField("email", strings.ToLower(strings.TrimSpace(s))); err != nil {
						return nil, err
					}
				}
			}
			return next.Mutate(ctx, m)
		})
	}
}
