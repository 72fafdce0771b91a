package graph

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/organization"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/role"
	"github.com/inferiallm/orgserver/ent/schema/schematype"
	"github.com/inferiallm/orgserver/ent/serversetting"
	"github.com/inferiallm/orgserver/ent/session"
	"github.com/inferiallm/orgserver/ent/user"
	"github.com/inferiallm/orgserver/server/auth"
)

// The workflows of the command line (`server admin ...`). The operator of the server acts on its
// database directly, with no viewer: each workflow bypasses privacy explicitly, checks what the
// API would check (password policies, e-mail domains, name clashes), hashes passwords with the
// configured parameters outside any transaction, and audits its change with the actor
// CommandLineActor in every organization it concerns. Its writes go through the same ent hooks as
// the API's, so each records its auth_changes rows in its transaction and running servers drop
// what they cached about the account.

// CommandLineActor is the actor of the audit entries the command line writes.
const CommandLineActor = "cli"

// commandLine returns the context of a command-line workflow: the operator may do anything, and
// the audit entries say where the change came from.
func commandLine(ctx context.Context) context.Context {
	ctx = auth.WithClient(ctx, &auth.Client{UserAgent: "server admin (command line)"})
	// The operator of the server acts on its database; there is no viewer to decide for.
	return privacy.DecisionContext(ctx, privacy.Allow)
}

// cliAudit records e in the current transaction as the command line's.
func (s *Service) cliAudit(ctx context.Context, org uuid.UUID, e auditEntry) error {
	e.OrgID, e.ActorEmail = &org, CommandLineActor
	return s.audit(ctx, e)
}

// Bootstrapped reports whether a server has set the database up: built-in roles, the first
// organization and the super admin. The command line works on such databases only.
func Bootstrapped(ctx context.Context, c *ent.Client) (bool, error) {
	// Server settings are the server's own.
	return c.ServerSetting.Query().Where(serversetting.ID(bootstrappedKey)).Exist(privacy.DecisionContext(ctx, privacy.Allow))
}

// minGeneratedPassword is the shortest password the command line generates: 130 random bits.
const minGeneratedPassword = 26

// generatePassword returns a random password of at least n characters (and at least
// minGeneratedPassword) from crypto/rand.
func generatePassword(n int) string {
	n = max(n, minGeneratedPassword)
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(rand.Text())
	}
	return b.String()[:n]
}

// passwordFor returns the password to set under the policies: given, it must satisfy each of them;
// empty, one is generated, long enough for the strictest. generated says which.
func passwordFor(given string, policies []schematype.SecurityPolicy) (password string, generated bool, err error) {
	if given != "" {
		if err := checkPasswordPolicies(given, policies); err != nil {
			return "", false, err
		}
		return given, false, nil
	}
	return generatePassword(longestMinPassword(policies)), true, nil
}

// PasswordReset is what ResetPassword did.
type PasswordReset struct {
	User *ent.User
	// Password is the generated password; empty when one was given.
	Password string
	// SessionsEnded counts the sessions revoked.
	SessionsEnded int
}

// ResetPassword sets the password of the account of email and ends all its sessions.
//  1. Find the account and its organizations; the password (given or generated) must satisfy the
//     strictest of their policies; hash it.
//  2. In one transaction: replace the hash only if it is still the one read, revoke every live
//     session, audit in each of its organizations.
func (s *Service) ResetPassword(ctx context.Context, email, password string) (*PasswordReset, error) {
	ctx = commandLine(ctx)
	email, err := normalizeEmail(email)
	if err != nil {
		return nil, err
	}
	u, err := s.db(ctx).User.Query().Where(user.Email(email)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, Errorf(CodeNotFound, "No account has the e-mail address %s", email)
	}
	if err != nil {
		return nil, err
	}
	orgs, err := s.accountOrganizations(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	password, generated, err := passwordFor(password, policiesOf(orgs))
	if err != nil {
		return nil, err
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return nil, err
	}
	res := &PasswordReset{User: u}
	if generated {
		res.Password = password
	}
	err = s.inTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		n, err := db.User.Update().Where(user.ID(u.ID), user.PasswordHash(u.PasswordHash)).
			SetPasswordHash(hash).Save(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return Errorf(CodeConflict, "The account changed meanwhile; try again")
		}
		res.SessionsEnded, err = db.Session.Update().
			Where(session.UserID(u.ID), session.RevokedAtIsNil()).
			SetRevokedAt(s.now()).SetRevokeReason("password reset").Save(ctx)
		if err != nil {
			return err
		}
		for _, o := range orgs {
			if err := s.cliAudit(ctx, o.ID, auditEntry{Action: "security.password_reset", Category: categorySecurity,
				ResourceType: "user", ResourceID: u.ID.String(),
				Details: map[string]any{"email": u.Email, "sessions_revoked": res.SessionsEnded, "generated": generated}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// NewAccount is an organization member the command line added.
type NewAccount struct {
	Organization *ent.Organization
	User         *ent.User
	Role         *ent.Role
	// Created tells whether the account was created (else it existed and joined).
	Created bool
	// Password is the generated password of a created account; empty when one was given.
	Password string
}

// CreateOrganization creates an organization whose admin is the account of adminEmail: an
// existing account joins it, otherwise one is created, with password or a generated one.
//  1. Check the name is free and the address valid; for a new account, check the password
//     against the new organization's policy (the default) and hash it.
//  2. In one transaction: check the name again, create the organization and, if needed, the
//     account, make it the admin, audit.
func (s *Service) CreateOrganization(ctx context.Context, name, adminEmail, password string) (*NewAccount, error) {
	ctx = commandLine(ctx)
	name, err := s.freeOrganizationName(ctx, name, uuid.Nil)
	if err != nil {
		return nil, err
	}
	email, err := normalizeEmail(adminEmail)
	if err != nil {
		return nil, err
	}
	existing, err := s.db(ctx).User.Query().Where(user.Email(email)).Only(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return nil, err
	}
	res := &NewAccount{User: existing, Created: existing == nil}
	var hash string
	if existing != nil && password != "" {
		return nil, Errorf(CodeConflict, "%s has an account already, whose password stays as it is (admin reset-password changes it)", email)
	}
	if existing == nil {
		var generated bool
		if password, generated, err = passwordFor(password, policiesOf(nil)); err != nil {
			return nil, err
		}
		if hash, err = s.hashPassword(ctx, password); err != nil {
			return nil, err
		}
		if generated {
			res.Password = password
		}
	}
	err = s.inTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		if _, err := s.freeOrganizationName(ctx, name, uuid.Nil); err != nil {
			return err
		}
		org, err := db.Organization.Create().
			SetName(name).
			SetSettings(schematype.DefaultOrganizationSettings()).
			SetSecurityPolicy(schematype.DefaultSecurityPolicy()).
			Save(ctx)
		if ent.IsConstraintError(err) {
			return Errorf(CodeConflict, "Organization name already exists") // since it was checked
		}
		if err != nil {
			return err
		}
		res.Organization = org
		if res.Created {
			if res.User, err = s.createAccount(ctx, email, defaultName(email), hash, org.ID); err != nil {
				return err
			}
		} else if res.User, err = db.User.Get(ctx, existing.ID); err != nil {
			return err // the account is gone since it was looked up
		}
		if res.Role, err = db.Role.Get(ctx, builtInRoleID(auth.RoleAdmin)); err != nil {
			return err
		}
		if err := s.cliAudit(ctx, org.ID, auditEntry{Action: "organization.create", Category: categoryOrganization,
			ResourceType: "organization", ResourceID: org.ID.String(),
			Details: map[string]any{"name": name, "admin": email}}); err != nil {
			return err
		}
		return s.addMember(ctx, res)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// CreateUser creates the account of email, named name, as a member of the organization orgRef
// (its ID or name) with the role roleName (built-in or one of the organization's).
//  1. Find the organization and the role; check the address against the organization's
//     domains and that no account has it; check the password against the organization's policy
//     (or generate one) and hash it.
//  2. In one transaction: create the account and its membership, audit.
func (s *Service) CreateUser(ctx context.Context, email, name, orgRef, roleName, password string) (*NewAccount, error) {
	ctx = commandLine(ctx)
	db := s.db(ctx)
	org, err := s.FindOrganization(ctx, orgRef)
	if err != nil {
		return nil, err
	}
	roleName = strings.ToLower(strings.TrimSpace(roleName))
	r, err := db.Role.Query().
		Where(role.Name(roleName), role.Or(role.OrganizationIDIsNil(), role.OrganizationID(org.ID))).
		Only(ctx)
	if ent.IsNotFound(err) {
		return nil, Errorf(CodeBadUserInput, "Role '%s' does not exist in %s", roleName, org.Name)
	}
	if err != nil {
		return nil, err
	}
	if email, err = normalizeEmail(email); err != nil {
		return nil, err
	}
	if err := checkEmailDomain(org, email); err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	if err := schematype.UserName(name); err != nil {
		return nil, err
	}
	taken, err := db.User.Query().Where(user.Email(email)).Exist(ctx)
	if err != nil {
		return nil, err
	}
	if taken {
		return nil, errEmailTaken(email)
	}
	password, generated, err := passwordFor(password, []schematype.SecurityPolicy{org.SecurityPolicy})
	if err != nil {
		return nil, err
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return nil, err
	}
	res := &NewAccount{Organization: org, Role: r, Created: true}
	if generated {
		res.Password = password
	}
	err = s.inTx(ctx, func(ctx context.Context) (err error) {
		if res.User, err = s.createAccount(ctx, email, name, hash, org.ID); err != nil {
			return err
		}
		return s.addMember(ctx, res)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// createAccount creates an account whose default organization is org.
func (s *Service) createAccount(ctx context.Context, email, name, hash string, org uuid.UUID) (*ent.User, error) {
	u, err := s.db(ctx).User.Create().SetEmail(email).SetName(name).SetPasswordHash(hash).
		SetDefaultOrgID(org).Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, errEmailTaken(email) // since it was looked up
	}
	return u, err
}

func errEmailTaken(email string) error {
	return Errorf(CodeConflict, "%s has an account already", email)
}

// defaultName is the name of an account created without one: the address's local part, as when
// an invitation is accepted without a name.
func defaultName(email string) string { return email[:strings.IndexByte(email, '@')] }

// addMember makes a.User a member of a.Organization with a.Role, and audits it.
func (s *Service) addMember(ctx context.Context, a *NewAccount) error {
	err := s.db(ctx).Membership.Create().
		SetUserID(a.User.ID).SetOrganizationID(a.Organization.ID).SetRoleID(a.Role.ID).SetEmail(a.User.Email).
		Exec(ctx)
	if ent.IsConstraintError(err) {
		return Errorf(CodeConflict, "%s is a member of %s already", a.User.Email, a.Organization.Name)
	}
	if err != nil {
		return err
	}
	return s.cliAudit(ctx, a.Organization.ID, auditEntry{Action: "member.add", Category: categoryUserManagement,
		ResourceType: "user", ResourceID: a.User.ID.String(),
		Details: map[string]any{"email": a.User.Email, "role": a.Role.Name, "account_created": a.Created}})
}

// FindOrganization returns the organization ref names: its ID, or its name (whatever the case).
// A ref that could mean two organizations is refused, with their IDs.
func (s *Service) FindOrganization(ctx context.Context, ref string) (*ent.Organization, error) {
	ctx = commandLine(ctx)
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, Errorf(CodeBadUserInput, "An organization ID or name is needed")
	}
	match := organization.NameEqualFold(ref)
	if id, err := uuid.Parse(ref); err == nil {
		match = organization.Or(match, organization.ID(id))
	}
	found, err := s.db(ctx).Organization.Query().Where(match).Order(ent.Asc(organization.FieldName)).Limit(10).All(ctx)
	if err != nil {
		return nil, err
	}
	switch len(found) {
	case 0:
		return nil, Errorf(CodeNotFound, "No organization has the ID or name %q", ref)
	case 1:
		return found[0], nil
	}
	ids := make([]string, len(found))
	for i, o := range found {
		ids[i] = fmt.Sprintf("%s (%s)", o.ID, o.Name)
	}
	return nil, Errorf(CodeBadUserInput, "%q could mean any of %s; give the ID", ref, strings.Join(ids, ", "))
}

// Organizations lists every organization by name.
func (s *Service) Organizations(ctx context.Context) ([]*ent.Organization, error) {
	ctx = commandLine(ctx)
	return s.db(ctx).Organization.Query().Order(ent.Asc(organization.FieldName), ent.Asc(organization.FieldID)).All(ctx)
}
