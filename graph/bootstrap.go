package graph

import (
	"context"
	"errors"
	"fmt"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/organization"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/schema/schematype"
	"github.com/inferiallm/orgserver/ent/serversetting"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/server/auth"
)

// BootstrapOptions say what the first start creates.
type BootstrapOptions struct {
	DefaultOrgName     string
	SuperAdminEmail    string
	SuperAdminPassword string
	Hasher             *auth.PasswordHasher
}

// BootstrapResult says what Bootstrap did.
type BootstrapResult struct {
	// FirstStart is true when this start created the default organization and super admin.
	FirstStart bool
	// GeneratedPassword is the super admin's password when none was configured. It is shown
	// once and never stored in clear.
	GeneratedPassword string
}

const bootstrappedKey = "bootstrapped_at"

// Bootstrap prepares a migrated database: it writes the built-in roles and, on the first start
// only, creates the default organization and the super admin as its admin. Later starts never
// touch the super admin again, so a changed password or role stays changed.
func Bootstrap(ctx context.Context, c *ent.Client, opts BootstrapOptions) (*BootstrapResult, error) {
	// Start-up acts as the server itself; there is no viewer.
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	if err := syncBuiltInRoles(ctx, c); err != nil {
		return nil, fmt.Errorf("built-in roles: %w", err)
	}
	if err := recountMembers(ctx, c); err != nil {
		return nil, fmt.Errorf("member counts: %w", err)
	}
	res := &BootstrapResult{}
	done, err := c.ServerSetting.Query().Where(serversetting.ID(bootstrappedKey)).Exist(ctx)
	if err != nil || done {
		return res, err
	}
	// The super admin's password is hashed before the transaction, as on the request path.
	password := opts.SuperAdminPassword
	if password == "" {
		if password, err = auth.RandomToken(18); err != nil {
			return nil, err
		}
	}
	hash, err := opts.Hasher.Hash(ctx, password)
	if err != nil {
		return nil, err
	}
	err = withTx(ctx, c, func(tx *ent.Tx) error {
		done, err := tx.ServerSetting.Query().Where(serversetting.ID(bootstrappedKey)).Exist(ctx)
		if err != nil || done {
			return err // another replica bootstrapped meanwhile
		}
		res.FirstStart = true
		org, err := tx.Organization.Query().Where(organization.Name(opts.DefaultOrgName)).Only(ctx)
		if ent.IsNotFound(err) {
			org, err = tx.Organization.Create().
				SetName(opts.DefaultOrgName).
				SetSettings(schematype.DefaultOrganizationSettings()).
				SetSecurityPolicy(schematype.DefaultSecurityPolicy()).
				Save(ctx)
		}
		if err != nil {
			return fmt.Errorf("default organization: %w", err)
		}
		exists, err := tx.User.Query().Where(user.Email(opts.SuperAdminEmail)).Exist(ctx)
		if err != nil {
			return err
		}
		if !exists {
			if opts.SuperAdminPassword == "" {
				res.GeneratedPassword = password
			}
			u, err := tx.User.Create().
				SetEmail(opts.SuperAdminEmail).
				SetName("Super Admin").
				SetPasswordHash(hash).
				SetIsSuperAdmin(true).
				SetDefaultOrgID(org.ID).
				Save(ctx)
			if err != nil {
				return fmt.Errorf("super admin: %w", err)
			}
			if err := tx.Membership.Create().
				SetOrganizationID(org.ID).
				SetUserID(u.ID).
				SetRoleID(builtInRoleID(auth.RoleAdmin)).
				Exec(ctx); err != nil {
				return fmt.Errorf("super admin membership: %w", err)
			}
		}
		return tx.ServerSetting.Create().SetID(bootstrappedKey).SetValue(org.ID.String()).Exec(ctx)
	})
	return res, err
}

// EnsureSetting returns the server setting key, creating it with generate() when absent. When
// replicas start together, the first insert wins and every replica reads the same value.
func EnsureSetting(ctx context.Context, c *ent.Client, key string, generate func() (string, error)) (string, error) {
	// Server settings are read and written only by the server itself.
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	s, err := c.ServerSetting.Get(ctx, key)
	if err == nil {
		return s.Value, nil
	}
	if !ent.IsNotFound(err) {
		return "", err
	}
	value, err := generate()
	if err != nil {
		return "", err
	}
	// The first replica to insert wins; every replica then reads its value.
	if err := c.ServerSetting.Create().SetID(key).SetValue(value).
		OnConflictColumns(serversetting.FieldID).Ignore().Exec(ctx); err != nil {
		return "", err
	}
	s, err = c.ServerSetting.Get(ctx, key)
	if err != nil {
		return "", err
	}
	return s.Value, nil
}

// withTx runs f in a transaction of c.
func withTx(ctx context.Context, c *ent.Client, f func(*ent.Tx) error) error {
	tx, err := c.Tx(ctx)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

// recountMembers sets every organization's member_count to its number of memberships where the
// two differ: the transactions that add and remove members keep the count, and this repairs what
// a path around them (a restore, hand-written SQL, a version before the count) left behind.
func recountMembers(ctx context.Context, c *ent.Client) error {
	_, err := c.ExecContext(ctx, `UPDATE organizations SET member_count =
  (SELECT COUNT(*) FROM memberships WHERE memberships.organization_id = organizations.id)
WHERE member_count <> (SELECT COUNT(*) FROM memberships WHERE memberships.organization_id = organizations.id)`)
	return err
}
