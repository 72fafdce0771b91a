package schema

import (
	"context"

	"entgo.io/ent"

	gen "github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/hook"
	"github.com/inferiallm/orgserver/server/auth"
)

// normalizeEmail keeps e-mail addresses trimmed and lower-case, so that one address means one
// account and one pending invitation, whatever case it was typed in.
func normalizeEmail() ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			if v, ok := m.Field("email"); ok {
				if s, ok := v.(string); ok {
					if err := m.SetField("email", auth.NormalizeEmail(s)); err != nil {
						return nil, err
					}
				}
			}
			return next.Mutate(ctx, m)
		})
	}
}

// validSecurityPolicy keeps every stored security policy within the ranges of its settings.
func validSecurityPolicy() ent.Hook {
	return hook.On(func(next ent.Mutator) ent.Mutator {
		return hook.OrganizationFunc(func(ctx context.Context, m *gen.OrganizationMutation) (ent.Value, error) {
			if p, ok := m.SecurityPolicy(); ok {
				if err := p.Validate(); err != nil {
					return nil, err
				}
			}
			return next.Mutate(ctx, m)
		})
	}, ent.OpCreate|ent.OpUpdate|ent.OpUpdateOne)
}

// forgetPasswordReset keeps a password reset link from outliving the password it was sent for:
// an update that changes the password hash by any way (changePassword, the command line, a
// rehash at sign-in) also clears the pending reset, unless it sets one itself.
func forgetPasswordReset() ent.Hook {
	return hook.On(func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			_, changes := m.Field("password_hash")
			_, sets := m.Field("password_reset_hash")
			if changes && !sets && !m.FieldCleared("password_reset_hash") {
				if err := m.ClearField("password_reset_hash"); err != nil {
					return nil, err
				}
				if err := m.ClearField("password_reset_expires_at"); err != nil {
					return nil, err
				}
			}
			return next.Mutate(ctx, m)
		})
	}, ent.OpUpdate|ent.OpUpdateOne)
}
