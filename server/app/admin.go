package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/graph"
	"github.com/inferiallm/orgserver/server/auth"
	"github.com/inferiallm/orgserver/server/database"
)

// The admin commands act on the database directly, through the workflows in graph/admin.go, so
// the API's rules, hooks and audit trail hold for them too. They change no schema: the database
// must be at this binary's revision and set up by a server's first start (a command that
// migrated or bootstrapped would create a super admin whose generated password nobody sees, or
// move the schema under running servers of another version).

// resetPasswordCommand is `admin reset-password --email E [--password-stdin]`.
func resetPasswordCommand(fs *flag.FlagSet) runFunc {
	email := fs.String("email", "", "e-mail address of the account")
	stdin := fs.Bool("password-stdin", false, "read the new password from standard input instead of generating one")
	return func(ctx context.Context, cfg Config, p Process) error {
		if err := required("admin reset-password", "--email", *email); err != nil {
			return err
		}
		password, err := readPassword(p, *stdin)
		if err != nil {
			return err
		}
		return withService(ctx, cfg, func(ctx context.Context, svc *graph.Service) error {
			res, err := svc.ResetPassword(ctx, *email, password)
			if err != nil {
				return err
			}
			fmt.Fprintf(p.Stdout, "Reset the password of %s and ended %s.\n", res.User.Email, plural(res.SessionsEnded, "session"))
			printPassword(p.Stdout, res.Password)
			return nil
		})
	}
}

// createOrgCommand is `admin create-org --name N --admin-email E [--password-stdin]`.
func createOrgCommand(fs *flag.FlagSet) runFunc {
	name := fs.String("name", "", "name of the organization")
	email := fs.String("admin-email", "", "e-mail address of its admin (an account is created if none has it)")
	stdin := fs.Bool("password-stdin", false, "read a new admin account's password from standard input instead of generating one")
	return func(ctx context.Context, cfg Config, p Process) error {
		if err := required("admin create-org", "--name", *name, "--admin-email", *email); err != nil {
			return err
		}
		password, err := readPassword(p, *stdin)
		if err != nil {
			return err
		}
		return withService(ctx, cfg, func(ctx context.Context, svc *graph.Service) error {
			res, err := svc.CreateOrganization(ctx, *name, *email, password)
			if err != nil {
				return err
			}
			fmt.Fprintf(p.Stdout, "Created the organization %s (%s).\n", res.Organization.Name, res.Organization.ID)
			printMember(p.Stdout, res)
			return nil
		})
	}
}

// createUserCommand is `admin create-user --email E --name N --org ORG --role R [--password-stdin]`.
func createUserCommand(fs *flag.FlagSet) runFunc {
	email := fs.String("email", "", "e-mail address of the new account")
	name := fs.String("name", "", "the person's name")
	org := fs.String("org", "", "the organization it joins: its ID or name")
	role := fs.String("role", "", "its role there: built-in (admin, developer, member, viewer) or one of the organization's")
	stdin := fs.Bool("password-stdin", false, "read the password from standard input instead of generating one")
	return func(ctx context.Context, cfg Config, p Process) error {
		if err := required("admin create-user", "--email", *email, "--name", *name, "--org", *org, "--role", *role); err != nil {
			return err
		}
		password, err := readPassword(p, *stdin)
		if err != nil {
			return err
		}
		return withService(ctx, cfg, func(ctx context.Context, svc *graph.Service) error {
			res, err := svc.CreateUser(ctx, *email, *name, *org, *role, password)
			if err != nil {
				return err
			}
			printMember(p.Stdout, res)
			return nil
		})
	}
}

// listOrgsCommand is `admin list-orgs`.
func listOrgsCommand(ctx context.Context, cfg Config, p Process) error {
	return withService(ctx, cfg, func(ctx context.Context, svc *graph.Service) error {
		orgs, err := svc.Organizations(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(p.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tMEMBERS\tCREATED\tNAME")
		for _, o := range orgs {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", o.ID, o.MemberCount, o.CreatedAt.UTC().Format("2006-01-02"), o.Name)
		}
		return w.Flush()
	})
}

// withService opens the database and runs fn with a GraphQL service over it that caches
// nothing: its writes reach running servers' caches through auth_changes, like any other write.
func withService(ctx context.Context, cfg Config, fn func(context.Context, *graph.Service) error) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if f := database.SQLiteFile(cfg.DatabaseURL); f != "" {
		// Opening would create an empty file, for the next start in this directory to use.
		if _, err := os.Stat(f); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("there is no database %s: set DATABASE_URL (or -database-url) to the server's", f)
		}
	}
	db, err := database.Open(ctx, cfg.DatabaseURL, database.Options{MaxConns: 2, BusyTimeout: cfg.SQLiteBusyTimeout, StatementCache: -1})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := checkRevision(ctx, db); err != nil {
		return err
	}
	client := ent.NewClient(ent.Driver(db.Direct))
	if ok, err := graph.Bootstrapped(ctx, client); err != nil || !ok {
		return errors.Join(err, errors.New("no server has set this database up yet: start the server once (its first start creates the first organization and the super admin)"))
	}
	svc := graph.NewService(graph.Options{
		Client:  client,
		Driver:  db.Direct,
		Dialect: db.Dialect,
		Hasher:  auth.NewPasswordHasher(cfg.Argon2, cfg.Hashing),
		Logger:  newLogger(cfg, os.Stderr),
		Now:     cfg.Now,
	})
	defer svc.Close(context.WithoutCancel(ctx))
	return fn(ctx, svc)
}

// checkRevision refuses a database that is not at this binary's revision.
func checkRevision(ctx context.Context, db *database.DB) error {
	m, release, err := openMigrator(ctx, db)
	if err != nil {
		return err
	}
	defer release()
	st, err := m.Status(ctx)
	switch {
	case err != nil:
		return err // a revision this binary does not know
	case len(st.Applied) == 0 && !st.Adopt:
		return errors.New("the database is empty: start the server once (it migrates the database and creates the first organization and the super admin)")
	case st.Adopt || len(st.Pending) > 0:
		return fmt.Errorf("the database is not at this server's revision (%s pending): run `server migrate` or start the server first",
			plural(len(st.Pending), "migration"))
	}
	return nil
}

// maxPasswordInput bounds what --password-stdin reads: MaxPasswordLength characters of 4 bytes.
const maxPasswordInput = 4 * 256

// readPassword reads the password from standard input when fromStdin, without its final line
// break; otherwise it returns "" (a password is to be generated).
func readPassword(p Process, fromStdin bool) (string, error) {
	if !fromStdin {
		return "", nil
	}
	data, err := io.ReadAll(io.LimitReader(p.Stdin, maxPasswordInput+1))
	if err != nil {
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	if len(data) > maxPasswordInput {
		return "", errors.New("--password-stdin: standard input holds more than a password")
	}
	password := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if password == "" {
		return "", errors.New("--password-stdin: standard input holds no password")
	}
	if strings.ContainsAny(password, "\r\n") {
		return "", errors.New("--password-stdin: the password must be one line")
	}
	return password, nil
}

// required refuses an empty value of any of the flags (given as name, value pairs).
func required(cmd string, flags ...string) error {
	var missing []string
	for i := 0; i+1 < len(flags); i += 2 {
		if strings.TrimSpace(flags[i+1]) == "" {
			missing = append(missing, flags[i])
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s needs %s (server %s -h shows its usage)", cmd, strings.Join(missing, " and "), cmd)
	}
	return nil
}

// printMember tells who joined which organization, and the generated password if there is one.
func printMember(out io.Writer, a *graph.NewAccount) {
	account := "existing account"
	if a.Created {
		account = "new account"
	}
	fmt.Fprintf(out, "%s (%s, %s) is %s of %s.\n", a.User.Email, account, a.User.ID, withArticle(a.Role.Name), a.Organization.Name)
	printPassword(out, a.Password)
}

// printPassword prints a generated password, the only secret the command line ever prints.
func printPassword(out io.Writer, password string) {
	if password != "" {
		fmt.Fprintf(out, "Password: %s\n(shown once; change it after signing in)\n", password)
	}
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func withArticle(noun string) string {
	if noun != "" && strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an " + noun
	}
	return "a " + noun
}
