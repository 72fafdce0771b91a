package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"ariga.io/atlas/sql/migrate"

	"github.com/inferiallm/orgserver/server/database"
	"github.com/inferiallm/orgserver/server/migration"
)

// Process is what the program gets from its process: the environment and standard streams.
type Process struct {
	Getenv func(string) string
	// Stdin is read by commands given --password-stdin (nil: empty).
	Stdin  io.Reader
	Stdout io.Writer
}

// RunWith is the whole program: configuration from defaults, environment and flags, then the
// command the arguments name: by default the server, until ctx is done (main cancels it on
// SIGINT and SIGTERM).
func RunWith(ctx context.Context, args []string, p Process) error {
	if p.Stdin == nil {
		p.Stdin = strings.NewReader("")
	}
	cfg := DefaultConfig()
	if err := cfg.FromEnv(p.Getenv); err != nil {
		return err
	}
	run, err := parseCommandLine(&cfg, args, p.Stdout)
	if err != nil {
		return err
	}
	return run(ctx, cfg, p)
}

// runFunc runs a command once its flags are parsed.
type runFunc func(ctx context.Context, cfg Config, p Process) error

// command is one thing the binary does, named by the words after the flags.
type command struct {
	// name is the command's words ("" for none: serve).
	name string
	// usage shows the command's own flags, e.g. "--email E [--password-stdin]".
	usage string
	help  string
	// flags declares the command's own flags on fs, and returns what runs the command with them.
	flags func(fs *flag.FlagSet) runFunc
}

// commands is what `server [flags] [command] [command flags]` runs.
var commands = []command{
	{"", "", "serve the API (pending migrations are applied first)", noFlags(serve)},
	{"migrate", "", "apply the pending database migrations, print them and exit", noFlags(migrateCommand)},
	{"migrate status", "", "print the database's revision and the pending migrations and exit", noFlags(migrateStatusCommand)},
	{"admin reset-password", "--email E [--password-stdin]", "set a new password (generated and printed, or read from standard input) and end the account's sessions", resetPasswordCommand},
	{"admin create-org", "--name N --admin-email E [--password-stdin]", "create an organization whose admin is the account of E (created if new, with a generated or given password)", createOrgCommand},
	{"admin create-user", "--email E --name N --org ORG --role R [--password-stdin]", "create an account as a member of ORG (ID or name) with role R (built-in or ORG's own)", createUserCommand},
	{"admin list-orgs", "", "list the organizations: ID, members, creation date, name", noFlags(listOrgsCommand)},
	{"version", "", "print the module version, VCS revision, time and modified flag, and Go version", noFlags(versionCommand)},
	{"schema", "", "print the GraphQL schema (SDL)", noFlags(schemaCommand)},
	{"documents", "", "print the trusted GraphQL documents (built in, and GRAPHQL_TRUSTED_DOCUMENTS_FILE's) as a JSON manifest {\"<sha256 hex>\": \"<document>\"}", noFlags(documentsCommand)},
	{"healthcheck", "", "exit 0 when the server at LISTEN_ADDR answers GET /readyz with 200 (for images without curl)", noFlags(healthcheckCommand)},
}

// noFlags is the flags of a command that has none of its own.
func noFlags(run runFunc) func(*flag.FlagSet) runFunc {
	return func(*flag.FlagSet) runFunc { return run }
}

// parseCommandLine reads the command line into cfg and returns the command it names, ready to
// run. The server's flags may come before, between or after the command's words; the command's
// own flags come after its words. An unknown command, flag or extra argument is an error: a
// mistyped command never starts the server.
func parseCommandLine(cfg *Config, args []string, out io.Writer) (runFunc, error) {
	var words []string
	for {
		name := strings.Join(words, " ")
		if named(name) && !extended(name) {
			break
		}
		fs := cfg.flagSet(out, nil)
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if args = fs.Args(); len(args) == 0 {
			break
		}
		words, args = append(words, args[0]), args[1:]
		if name = strings.Join(words, " "); !named(name) && !extended(name) {
			return nil, fmt.Errorf("unknown command %q (server -h lists the commands)", name)
		}
	}
	cmd, err := lookupCommand(words)
	if err != nil {
		return nil, err
	}
	fs := cfg.flagSet(out, &cmd)
	run := cmd.flags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%s: unexpected argument %q (server %s -h shows its usage)", cmd.name, fs.Arg(0), cmd.name)
	}
	return run, nil
}

// named reports whether a command is called name.
func named(name string) bool {
	return slices.ContainsFunc(commands, func(c command) bool { return c.name == name })
}

// extended reports whether a command's words begin with those of name and go on.
func extended(name string) bool {
	return slices.ContainsFunc(commands, func(c command) bool {
		return name == "" && c.name != "" || strings.HasPrefix(c.name, name+" ")
	})
}

// lookupCommand returns the command named by words.
func lookupCommand(words []string) (command, error) {
	name := strings.Join(words, " ")
	for _, c := range commands {
		if c.name == name {
			return c, nil
		}
	}
	var next []string
	for _, c := range commands {
		if strings.HasPrefix(c.name, name+" ") {
			next = append(next, c.name)
		}
	}
	if len(next) > 0 {
		return command{}, fmt.Errorf("%q needs one more word: %s", name, strings.Join(next, ", "))
	}
	return command{}, fmt.Errorf("unknown command %q (server -h lists the commands)", name)
}

// flagSet returns the server's flags, and cmd's own if cmd is not nil, with the usage of the
// whole program or of cmd.
func (c *Config) flagSet(out io.Writer, cmd *command) *flag.FlagSet {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(out)
	c.serverFlags(fs)
	fs.Usage = func() { usage(out, fs) }
	if cmd != nil && cmd.name != "" {
		fs.Usage = func() {
			fmt.Fprintf(out, "Usage: server [flags] %s %s\n\n%s\n\nFlags:\n", cmd.name, cmd.usage, cmd.help)
			fs.PrintDefaults()
		}
	}
	return fs
}

// usage is the help of the whole program: commands, flags and environment.
func usage(out io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(out, "Usage: server [flags] [command] [command flags]\n\nCommands:")
	for _, cmd := range commands {
		name := cmd.name
		if name == "" {
			name = "(none)"
		}
		fmt.Fprintf(out, "  %s\n      %s\n", strings.TrimSpace(name+" "+cmd.usage), cmd.help)
	}
	fmt.Fprintln(out, "\nFlags (before or after the command; -h after a command shows its flags):")
	fs.PrintDefaults()
	fmt.Fprintln(out, "\nEnvironment:")
	width := 0
	for _, e := range envVars {
		width = max(width, len(e.name))
	}
	for _, e := range envVars {
		fmt.Fprintf(out, "  %-*s %s\n", width, e.name, e.help)
	}
}

// withMigrator opens the database and runs fn with a Migrator on the migration connection (on
// PostgreSQL, holding the lock that serializes migrations).
func withMigrator(ctx context.Context, cfg Config, fn func(*migration.Migrator) error) error {
	db, err := database.Open(ctx, cfg.DatabaseURL, database.Options{MaxConns: 1, BusyTimeout: cfg.SQLiteBusyTimeout, StatementCache: -1})
	if err != nil {
		return err
	}
	defer db.Close()
	m, release, err := openMigrator(ctx, db)
	if err != nil {
		return err
	}
	defer release()
	return fn(m)
}

// migrateCommand applies the pending migrations and prints each; the server is not started.
func migrateCommand(ctx context.Context, cfg Config, p Process) error {
	out := p.Stdout
	return withMigrator(ctx, cfg, func(m *migration.Migrator) error {
		before, err := m.Status(ctx)
		if err != nil {
			return err
		}
		if before.Adopt && len(before.Mismatch) == 0 {
			fmt.Fprintf(out, "adopted the database of an auto-migrating release as %s\n", before.Baseline.Name())
		}
		n := 0
		err = m.Apply(ctx, func(f migrate.File) {
			n++
			fmt.Fprintf(out, "applied %s\n", f.Name())
		})
		if err != nil {
			return err
		}
		after, err := m.Status(ctx)
		if err != nil {
			return err
		}
		if n == 0 && !before.Adopt {
			fmt.Fprint(out, "nothing to apply; ")
		}
		fmt.Fprintf(out, "the database is at revision %s\n", revisionName(after))
		return nil
	})
}

// migrateStatusCommand prints the current revision and the pending ones, changing nothing.
func migrateStatusCommand(ctx context.Context, cfg Config, p Process) error {
	out := p.Stdout
	return withMigrator(ctx, cfg, func(m *migration.Migrator) error {
		st, err := m.Status(ctx)
		if st == nil {
			return err
		}
		switch {
		case st.Adopt:
			fmt.Fprintf(out, "current revision: none (tables made by an auto-migrating release; the next start or `server migrate` adopts them as %s)\n", st.Baseline.Name())
		case len(st.Applied) == 0:
			fmt.Fprintln(out, "current revision: none (empty database)")
		default:
			fmt.Fprintf(out, "current revision: %s\n", revisionName(st))
		}
		if err != nil {
			return err // an unknown revision: the server refuses this database
		}
		if len(st.Mismatch) > 0 {
			return &migration.MismatchError{Baseline: st.Baseline.Name(), Differences: st.Mismatch}
		}
		if len(st.Pending) == 0 {
			fmt.Fprintln(out, "pending: none")
			return nil
		}
		fmt.Fprintln(out, "pending:")
		for _, f := range st.Pending {
			fmt.Fprintf(out, "  %s\n", f.Name())
		}
		return nil
	})
}

// revisionName is the current revision as version_description.
func revisionName(st *migration.Status) string {
	if len(st.Applied) == 0 {
		return "none"
	}
	r := st.Applied[len(st.Applied)-1]
	return r.Version + "_" + r.Description
}
