package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/arkserve/arkserve/internal/httpapi"
)

// The client verbs talk to a server over HTTP with a token that `arkserve login` stored in the
// credentials file. Every verb takes --url, --token and --project (a project id), which override
// ARKSERVE_URL, ARKSERVE_TOKEN and ARKSERVE_PROJECT, which override the credentials file.

const clientUsage = `Client verbs (they use the token that "arkserve login" stored):
  arkserve login [--url URL] [--user admin] [--password-stdin] [--domain Default] [--project default]
  arkserve models create --name N --version V --source DIR [--type Image] [--cmd CMD] [--health-url /health]
                         [--description D] [--runtime R]
  arkserve models list [--name N] [--limit N] [--offset N] [--json]
  arkserve models show ID
  arkserve models delete ID [--cascade]
  arkserve services deploy --name N --model ID[:WEIGHT[:INSTANCES]]... [--spec S] [--description D] [--wait]
  arkserve services deploy --file BODY.json [--wait]
  arkserve services list [--name N] [--status S] [--model ID] [--limit N] [--offset N] [--json]
  arkserve services show ID
  arkserve services update ID [--model ID[:WEIGHT[:INSTANCES]]... [--spec S]] [--description D] [--wait]
  arkserve services update ID --file BODY.json [--wait]
  arkserve services start|stop ID [--wait]
  arkserve services delete ID[,ID...] [ID...]
  arkserve services events ID [--type normal|abnormal] [--limit N] [--offset N] [--json]
  arkserve services logs ID [--update-time MS|TIME] [--json]
  arkserve access-key create [--description D]   your own access key (AK/SK) for signed requests; the secret is shown once
  arkserve access-key list
  arkserve access-key delete AK
  arkserve nodes list [--json]                  the project's edge nodes (arkserve agent)
  arkserve nodes show ID
  arkserve nodes delete ID                      refused while the node has placements

Connection flags of every verb but login: --url URL (env ARKSERVE_URL), --token TOKEN (env ARKSERVE_TOKEN),
--project PROJECT_ID (env ARKSERVE_PROJECT); the defaults come from the credentials file
($ARKSERVE_CREDENTIALS, default $XDG_CONFIG_HOME/arkserve/credentials.json or ~/.config/arkserve/credentials.json).
The password of login comes from stdin with --password-stdin, or from ARKSERVE_PASSWORD.

--wait [--timeout 15m] follows the rollout that deploy, update, start or stop began, until its update-log
entry is SUCCESS or FAIL (deploy, update) or the service is running or stopped, or failed (start, stop). It
shows the phase, each model version's ready/desired instances and the elapsed time: redrawn in place on a
terminal, one line per change otherwise (deploy prints the service id first). It keeps polling through
errors that may pass (the server restarting) until the timeout.

Exit status: 0 success (with --wait: the entry SUCCESS, the service running or stopped); 1 an error; 2 a
usage error; with --wait, 3 a rollout that failed (the entry FAIL or the service failed; the newest abnormal
events say why) and 4 a rollout that did not end within --timeout (it goes on on the server).
`

// defaultServerURL is where login goes without --url: the server's default listen address.
const defaultServerURL = "http://127.0.0.1:8111"

// Variables the tests replace.
var (
	clientStdin io.Reader = os.Stdin
	// clientLocation is the zone times are shown in; nil means time.Local.
	clientLocation *time.Location
	clientHTTP     = &http.Client{Timeout: 2 * time.Minute}
)

// runClient runs the client verbs (login, models, services, access-key, nodes).
func runClient(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("a command is required")
	}
	switch args[0] {
	case "login":
		return runLogin(ctx, args[1:], stdout, stderr)
	case "models":
		return runVerb(ctx, "models", modelVerbs, args[1:], stdout, stderr)
	case "services":
		return runVerb(ctx, "services", serviceVerbs, args[1:], stdout, stderr)
	case "access-key":
		return runVerb(ctx, "access-key", accessKeyVerbs, args[1:], stdout, stderr)
	case "nodes":
		return runVerb(ctx, "nodes", nodeVerbs, args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, clientUsage)
	return usageError(fmt.Sprintf("unknown command %q", args[0]))
}

// verb is a client verb: cmd parses its flags into a FlagSet and returns the function that runs
// it with a connected client.
type verb func(fs *flag.FlagSet) func(ctx context.Context, c *conn, args []string) error

func runVerb(ctx context.Context, noun string, verbs map[string]verb, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, clientUsage)
		if len(args) == 0 {
			return usageError(noun + ": a verb is required")
		}
		return flag.ErrHelp
	}
	v, ok := verbs[args[0]]
	if !ok {
		fmt.Fprint(stderr, clientUsage)
		return usageError(fmt.Sprintf("%s: unknown verb %q", noun, args[0]))
	}
	name := "arkserve " + noun + " " + args[0]
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addConnFlags(fs)
	runFn := v(fs)
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	c, err := cf.connect(stdout, stderr)
	if err != nil {
		return err
	}
	return runFn(ctx, c, pos)
}

// parseInterspersed parses flags that may come before, between or after the positional
// arguments, which it returns; everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

type connFlags struct{ url, token, project *string }

func addConnFlags(fs *flag.FlagSet) *connFlags {
	return &connFlags{
		url:     fs.String("url", "", "server base URL (env ARKSERVE_URL; default from the credentials file)"),
		token:   fs.String("token", "", "token (env ARKSERVE_TOKEN; default from the credentials file)"),
		project: fs.String("project", "", "project id (env ARKSERVE_PROJECT; default from the credentials file)"),
	}
}

// conn is a connected client verb: the API client, the project and the output streams.
type conn struct {
	api     *httpapi.Client
	project string
	stdout  io.Writer
	stderr  io.Writer
}

// connect resolves URL, token and project: flags, then environment, then the credentials file
// (read only when something is still missing).
func (cf *connFlags) connect(stdout, stderr io.Writer) (*conn, error) {
	pick := func(flagVal, env string) string {
		if flagVal != "" {
			return flagVal
		}
		return os.Getenv(env)
	}
	url := pick(*cf.url, "ARKSERVE_URL")
	token := pick(*cf.token, "ARKSERVE_TOKEN")
	project := pick(*cf.project, "ARKSERVE_PROJECT")
	if url == "" || token == "" || project == "" {
		path, err := credentialsPath()
		if err != nil {
			return nil, err
		}
		cr, err := readCredentials(path, stderr)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("not logged in (no %s): run arkserve login, or set --url, --token and --project", path)
		}
		if err != nil {
			return nil, err
		}
		if token == "" {
			if !cr.ExpiresAt.IsZero() && time.Now().After(cr.ExpiresAt) {
				return nil, fmt.Errorf("the token in %s expired at %s: run arkserve login again", path, formatTime(cr.ExpiresAt))
			}
			token = cr.Token
		}
		if url == "" {
			url = cr.URL
		}
		if project == "" {
			project = cr.ProjectID
		}
	}
	if url == "" || token == "" || project == "" {
		return nil, errors.New("server URL, token and project id are required: run arkserve login")
	}
	return &conn{api: &httpapi.Client{BaseURL: url, Token: token, HTTP: clientHTTP}, project: project,
		stdout: stdout, stderr: stderr}, nil
}

// credentials is the credentials file.
type credentials struct {
	URL       string    `json:"url"`
	Token     string    `json:"token"`
	ProjectID string    `json:"project_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// credentialsPath is $ARKSERVE_CREDENTIALS, $XDG_CONFIG_HOME/arkserve/credentials.json or
// ~/.config/arkserve/credentials.json.
func credentialsPath() (string, error) {
	if p := os.Getenv("ARKSERVE_CREDENTIALS"); p != "" {
		return p, nil
	}
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "arkserve", "credentials.json"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("credentials file: %w (set ARKSERVE_CREDENTIALS)", err)
	}
	return filepath.Join(home, ".config", "arkserve", "credentials.json"), nil
}

func readCredentials(path string, stderr io.Writer) (*credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(stderr, "arkserve: warning: %s is readable by other users (mode %04o); it holds a token, chmod 600 it\n", path, st.Mode().Perm())
	}
	var cr credentials
	if err := json.NewDecoder(io.LimitReader(f, 1<<20)).Decode(&cr); err != nil {
		return nil, fmt.Errorf("credentials file %s: %w", path, err)
	}
	return &cr, nil
}

// writeCredentials writes the file atomically with mode 0600, creating missing directories with
// mode 0700.
func writeCredentials(path string, cr *credentials) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("credentials dir: %w", err)
	}
	b, err := json.MarshalIndent(cr, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".credentials-*.json") // mode 0600
	if err != nil {
		return fmt.Errorf("credentials file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(b, '\n'))
	err = errors.Join(err, tmp.Chmod(0o600), tmp.Sync(), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("credentials file: %w", err)
	}
	return nil
}

func runLogin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("arkserve login", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "server base URL (env ARKSERVE_URL; default the stored URL, else "+defaultServerURL+")")
	user := fs.String("user", "admin", "user name")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin (otherwise from env ARKSERVE_PASSWORD)")
	domain := fs.String("domain", "Default", "domain name of the user and the project")
	project := fs.String("project", "default", "project name")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError(fmt.Sprintf("login: unexpected argument %q (the password is never an argument: use --password-stdin or ARKSERVE_PASSWORD)", pos[0]))
	}
	path, err := credentialsPath()
	if err != nil {
		return err
	}
	if *url == "" {
		*url = os.Getenv("ARKSERVE_URL")
	}
	if *url == "" {
		if cr, err := readCredentials(path, io.Discard); err == nil && cr.URL != "" {
			*url = cr.URL
		} else {
			*url = defaultServerURL
		}
	}
	var password string
	if *pwStdin {
		if password, err = readPassword(clientStdin); err != nil {
			return err
		}
	} else if password = os.Getenv("ARKSERVE_PASSWORD"); password == "" {
		return usageError("login: a password is required: pipe it with --password-stdin, or set ARKSERVE_PASSWORD")
	}
	api := &httpapi.Client{BaseURL: strings.TrimRight(*url, "/"), HTTP: clientHTTP}
	res, err := api.Authenticate(ctx, *user, password, *domain, *project)
	if err != nil {
		return err
	}
	if err := writeCredentials(path, &credentials{URL: api.BaseURL, Token: res.Token, ProjectID: res.ProjectID,
		ExpiresAt: res.ExpiresAt}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Logged in to %s as %s, project %s (%s); the token expires at %s.\nCredentials saved in %s.\n",
		api.BaseURL, *user, *project, res.ProjectID, formatTime(res.ExpiresAt), path)
	return nil
}

// readPassword reads the first line of r, without its line ending.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("login: the password on stdin is empty")
	}
	return line, nil
}

// formatTime shows t in the local zone (clientLocation), RFC 3339 with milliseconds, so that
// update times are exact and can be passed back to --update-time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	loc := clientLocation
	if loc == nil {
		loc = time.Local
	}
	return t.In(loc).Format("2006-01-02T15:04:05.000Z07:00")
}

// formatMillis is formatTime of epoch milliseconds; 0 is "-".
func formatMillis(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return formatTime(time.UnixMilli(ms))
}

// printRaw prints a response body unchanged, ending the output with a newline.
func printRaw(w io.Writer, data []byte) error {
	if _, err := w.Write(data); err != nil {
		return err
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		_, err := io.WriteString(w, "\n")
		return err
	}
	return nil
}

// printIndented prints a JSON body indented, keeping the server's field order.
func printIndented(w io.Writer, data []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		return printRaw(w, data)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// table writes tab-separated rows as aligned columns.
func table(w io.Writer, header string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		for i, c := range r {
			// A tab or newline in a value would break the columns.
			r[i] = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(c)
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// oneArg returns the single positional argument of a verb.
func oneArg(args []string, what string) (string, error) {
	if len(args) != 1 || args[0] == "" {
		return "", usageError(fmt.Sprintf("exactly one %s is required", what))
	}
	return args[0], nil
}
