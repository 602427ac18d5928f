package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/arkserve/arkserve/internal/iam"
)

const adminUsage = `Usage: arkserve admin [--data-dir DIR] [--database postgres://...] [--master-key-file FILE] [--token-ttl 24h] <command>

Works directly on a data dir and its database (the server may be running). Commands:
  project create NAME [--description TEXT] [--domain Default]
  project list
  user create NAME [--domain Default]       password from stdin (first line) or ARKSERVE_NEW_PASSWORD
  user password NAME                        set a new password (same sources)
  user list
  role assign --user USER --project PROJECT --role admin|member|reader
  role unassign --user USER --project PROJECT --role admin|member|reader
  access-key create --user USER [--description TEXT]   prints the secret key once
  access-key list [--user USER]
  access-key delete ACCESS_KEY
  node credential create --project PROJECT [--description TEXT]
                                            a credential for edge agents of the project
                                            (arkserve agent); printed once
  node credential list [--project PROJECT]
  node credential revoke ID                 agents presenting it are refused from then on
  rotate-token-key                          add a new token key: it signs from now on (every server
                                            within a minute); the previous keys verify their tokens
                                            until now + --token-ttl + 5m, then are retired
  token-key list                            the token keyring: ids, creation, states
  migrate --from sqlite:PATH --to postgres://... [--force]
                                            copy a SQLite database into PostgreSQL
`

// runAdmin runs the admin commands on a data dir.
func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("arkserve admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, adminUsage) }
	def := os.Getenv("ARKSERVE_DATA_DIR")
	if def == "" {
		def = DefaultConfig().DataDir
	}
	dataDir := fs.String("data-dir", def, "data directory (env ARKSERVE_DATA_DIR)")
	dbFlag := fs.String("database", os.Getenv("ARKSERVE_DATABASE"), "postgres://... or sqlite:PATH (env ARKSERVE_DATABASE; default sqlite:DATA/arkserve.db)")
	masterKey := fs.String("master-key-file", os.Getenv("ARKSERVE_MASTER_KEY_FILE"), "master key file (env ARKSERVE_MASTER_KEY_FILE; default DATA/token.key)")
	defTTL := DefaultConfig().TokenTTL
	if v := os.Getenv("ARKSERVE_TOKEN_TTL"); v != "" {
		if err := defTTL.UnmarshalText([]byte(v)); err != nil {
			return usageError("ARKSERVE_TOKEN_TTL: " + err.Error())
		}
	}
	ttl := fs.Duration("token-ttl", defTTL.Duration, "the servers' longest token lifetime, for rotate-token-key (env ARKSERVE_TOKEN_TTL; default 24h)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) > 0 && rest[0] == "migrate" {
		return runMigrate(ctx, rest[1:], stdout, stderr)
	}
	if len(rest) == 1 && rest[0] == "rotate-token-key" {
		rest = []string{"token-key", "rotate"}
	}
	if len(rest) >= 3 && rest[0] == "node" && rest[1] == "credential" {
		rest = append([]string{"node-credential"}, rest[2:]...)
	}
	if len(rest) < 2 {
		fmt.Fprint(stderr, adminUsage)
		return usageError("admin: a noun and a verb are required")
	}
	d, err := parseDatabase(*dbFlag, *dataDir)
	if err != nil {
		return usageError(err.Error())
	}
	if _, err := os.Stat(d.dsn); d.engine == "sqlite" && err != nil {
		return fmt.Errorf("no arkserve database in %s (start the server once, or pass --data-dir): %w", *dataDir, err)
	}
	db, err := openStore(ctx, d, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer db.Close()
	key, err := loadMasterKey(*masterKey, *dataDir)
	if err != nil {
		return err
	}
	svc := &iam.Service{Store: db, Key: key, TTL: *ttl}
	if err := svc.Open(ctx); err != nil {
		return err
	}
	a := &admin{iam: svc, stdout: stdout, stderr: stderr, stdin: os.Stdin}
	return a.run(ctx, rest[0], rest[1], rest[2:])
}

type admin struct {
	iam    *iam.Service
	stdout io.Writer
	stderr io.Writer
	stdin  io.Reader
}

func (a *admin) run(ctx context.Context, noun, verb string, args []string) error {
	fs := flag.NewFlagSet("arkserve admin "+noun+" "+verb, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	domain := fs.String("domain", "Default", "domain name or id")
	desc := fs.String("description", "", "description")
	user := fs.String("user", "", "user name or id")
	project := fs.String("project", "", "project name or id")
	role := fs.String("role", "", "admin, member or reader")
	// Flags may follow the positional NAME.
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	name := ""
	if len(pos) > 0 {
		name = pos[0]
	}
	needName := func() error {
		if name == "" {
			return usageError(fmt.Sprintf("admin %s %s: NAME is required", noun, verb))
		}
		return nil
	}
	switch noun + " " + verb {
	case "project create":
		if err := needName(); err != nil {
			return err
		}
		p, err := a.iam.CreateProject(ctx, *domain, name, *desc)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "created project %s (id %s)\n", p.Name, p.ID)
	case "project list":
		ps, err := a.iam.ListProjects(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tDOMAIN\tROLES")
		for _, p := range ps {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Project.ID, p.Project.Name, p.Project.DomainID, roles(p.Roles, true))
		}
		return tw.Flush()
	case "user create", "user password":
		if err := needName(); err != nil {
			return err
		}
		pw, err := a.readPassword()
		if err != nil {
			return err
		}
		if verb == "password" {
			if err := a.iam.SetPassword(ctx, name, pw); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "password of %s changed\n", name)
			return nil
		}
		u, err := a.iam.CreateUser(ctx, *domain, name, pw)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "created user %s (id %s)\n", u.Name, u.ID)
	case "user list":
		us, err := a.iam.ListUsers(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tDOMAIN\tENABLED\tROLES")
		for _, u := range us {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\n", u.User.ID, u.User.Name, u.User.DomainID, u.User.Enabled, roles(u.Roles, false))
		}
		return tw.Flush()
	case "role assign", "role unassign":
		if *user == "" || *project == "" || *role == "" {
			return usageError("admin role " + verb + ": --user, --project and --role are required")
		}
		op := a.iam.AssignRole
		if verb == "unassign" {
			op = a.iam.UnassignRole
		}
		if err := op(ctx, *user, *project, *role); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "role %s %sed: user %s, project %s\n", *role, verb, *user, *project)
	case "access-key create":
		if *user == "" {
			return usageError("admin access-key create: --user is required")
		}
		k, secret, err := a.iam.CreateAccessKey(ctx, *user, *desc)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "access key: %s\nsecret key: %s\n", k.ID, secret)
		fmt.Fprintln(a.stderr, "The secret key is shown only now: keep it safe.")
	case "access-key list":
		ks, err := a.iam.ListAccessKeys(ctx, *user)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCESS KEY\tUSER ID\tCREATED\tDESCRIPTION")
		for _, k := range ks {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.UserID, k.CreatedAt.UTC().Format(time.RFC3339), k.Description)
		}
		return tw.Flush()
	case "access-key delete":
		if err := needName(); err != nil {
			return err
		}
		if err := a.iam.DeleteAccessKey(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "deleted access key %s\n", name)
	case "node-credential create":
		if *project == "" {
			return usageError("admin node credential create: --project is required")
		}
		c, token, err := a.iam.CreateNodeCredential(ctx, *project, *desc)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "node credential %s (project %s):\n%s\n", c.ID, c.ProjectID, token)
		fmt.Fprintln(a.stderr, "The credential is shown only now: give it to the agent in a file (--credential-file), mode 0600.")
	case "node-credential list":
		cs, err := a.iam.ListNodeCredentials(ctx, *project)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPROJECT ID\tCREATED\tREVOKED\tDESCRIPTION")
		for _, c := range cs {
			revoked := "-"
			if !c.RevokedAt.IsZero() {
				revoked = c.RevokedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.ProjectID, c.CreatedAt.UTC().Format(time.RFC3339), revoked, c.Description)
		}
		return tw.Flush()
	case "node-credential revoke":
		if err := needName(); err != nil {
			return err
		}
		if err := a.iam.RevokeNodeCredential(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "revoked node credential %s\n", name)
	case "token-key rotate":
		id, err := a.iam.RotateTokenKey(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "new token key %s: it signs every new token once each server has reloaded the keyring (within a minute); the previous keys verify their tokens until %s\n",
			id, time.Now().Add(a.iam.TTL+iam.RotationGrace).UTC().Format(time.RFC3339))
	case "token-key list":
		keys, err := a.iam.TokenKeys(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCREATED\tNOT AFTER\tSTATE")
		for _, k := range keys {
			na := "-"
			if !k.NotAfter.IsZero() {
				na = k.NotAfter.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.CreatedAt.UTC().Format(time.RFC3339), na, k.State)
		}
		tw.Flush()
	default:
		fmt.Fprint(a.stderr, adminUsage)
		return usageError(fmt.Sprintf("admin: unknown command %q", noun+" "+verb))
	}
	return nil
}

// readPassword takes the password from ARKSERVE_NEW_PASSWORD or the first line of stdin, never
// from a flag (flags show in ps).
func (a *admin) readPassword() (string, error) {
	if pw := os.Getenv("ARKSERVE_NEW_PASSWORD"); pw != "" {
		return pw, nil
	}
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", usageError("a password is required: set ARKSERVE_NEW_PASSWORD or write it to stdin")
	}
	return pw, nil
}

func roles(as []iam.Assignment, byUser bool) string {
	parts := make([]string, 0, len(as))
	for _, a := range as {
		who := a.ProjectName
		if byUser {
			who = a.UserName
		}
		parts = append(parts, who+":"+a.Role)
	}
	return strings.Join(parts, ",")
}
