package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/httpapi"
)

// The golden files of these tests are rewritten with `go test ./cmd/arkserve -run TestClient -update`.
// The flag is registered in init, after every package-level variable (another test file may
// define it too).
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files")
	}
}

func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

const clientTestPassword = "cli-test-password"

// startClientTestServer runs a real server (Main) on loopback with a temporary data dir, and
// points the client verbs at a fresh credentials file (clientTestEnv). It returns the server's URL.
func startClientTestServer(t *testing.T) string {
	t.Helper()
	clientTestEnv(t)
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.ShutdownTimeout.Duration = 10 * time.Second
	m := &Main{Config: cfg, Logger: slog.New(slog.DiscardHandler)}
	if err := m.Open(context.Background()); err != nil {
		m.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return "http://" + m.HTTP.ListenAddr()
}

// clientTestEnv sets the environment of a test server and its client verbs: the admin password, a
// fresh credentials file, and no connection settings.
func clientTestEnv(t *testing.T) {
	t.Setenv("ARKSERVE_ADMIN_PASSWORD", clientTestPassword)
	for _, k := range []string{"ARKSERVE_URL", "ARKSERVE_TOKEN", "ARKSERVE_PROJECT", "ARKSERVE_PASSWORD"} {
		t.Setenv(k, "")
	}
	t.Setenv("ARKSERVE_CREDENTIALS", filepath.Join(t.TempDir(), "conf", "arkserve", "credentials.json"))
}

// cli runs the arkserve command line and returns stdout; stderr goes to the test log.
func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	if errOut.Len() > 0 {
		t.Logf("arkserve %s: stderr:\n%s", strings.Join(args, " "), errOut.String())
	}
	return out.String(), err
}

// mustCLI is cli that fails the test on an error.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := cli(t, args...)
	if err != nil {
		t.Fatalf("arkserve %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// withStdin makes the client verbs read s as stdin for the rest of the test.
func withStdin(t *testing.T, s string) {
	old := clientStdin
	clientStdin = strings.NewReader(s)
	t.Cleanup(func() { clientStdin = old })
}

// withLocation makes the client verbs show times in loc for the rest of the test.
func withLocation(t *testing.T, loc *time.Location) {
	old := clientLocation
	clientLocation = loc
	t.Cleanup(func() { clientLocation = old })
}

// login logs in through the CLI and returns the stored credentials.
func login(t *testing.T, url string) *credentials {
	t.Helper()
	withStdin(t, clientTestPassword+"\n")
	out := mustCLI(t, "login", "--url", url, "--password-stdin")
	if !strings.HasPrefix(out, "Logged in to "+url+" as admin, project default (") {
		t.Fatalf("login printed %q", out)
	}
	path := os.Getenv("ARKSERVE_CREDENTIALS")
	cr, err := readCredentials(path, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cr
}

// pythonModelDir returns a directory that user nobody can read (instances run as nobody when the
// tests run as root) holding a file "health", so that python's http.server answers GET /health.
func pythonModelDir(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs /usr/bin/python3 for the model processes")
	}
	d := t.TempDir() // TMPDIR/TestName123/001, both 0700
	for _, p := range []string{filepath.Dir(d), d} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(d, "health"), []byte("ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

const pythonCmd = `exec /usr/bin/python3 -m http.server "$PORT" --bind 127.0.0.1`

// waitFinished waits until the newest update-log entry of the service is no longer RUNNING and
// returns its result.
func waitFinished(t *testing.T, api *httpapi.Client, project, serviceID string) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		logs, _, err := api.ServiceLogs(context.Background(), project, serviceID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(logs.Logs) > 0 && logs.Logs[0].Result != "RUNNING" {
			return logs.Logs[0].Result
		}
		if time.Now().After(deadline) {
			t.Fatalf("service %s: the update is still RUNNING after 90s", serviceID)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// getBody is a plain GET with the token, to compare --json output with.
func getBody(t *testing.T, cr *credentials, path string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, cr.URL+path, nil)
	req.Header.Set("X-Auth-Token", cr.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s %v", path, resp.StatusCode, b, err)
	}
	return b
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestClientEndToEnd drives a real server through the command line: login, models, a deployment
// and two updates (one that fails) with real model processes, and the update logs as a table
// (golden file) and as the API's JSON.
func TestClientEndToEnd(t *testing.T) {
	url := startClientTestServer(t)
	dir := pythonModelDir(t)
	cr := login(t, url)
	api := &httpapi.Client{BaseURL: cr.URL, Token: cr.Token}

	// The credentials file and its new directory are private.
	path := os.Getenv("ARKSERVE_CREDENTIALS")
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700, filepath.Dir(filepath.Dir(path)): 0o700} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %04o", p, st.Mode().Perm(), err, want)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(cr.ProjectID) || cr.Token == "" || cr.URL != url ||
		time.Until(cr.ExpiresAt) < 23*time.Hour {
		t.Fatalf("credentials = %+v", cr)
	}

	create := func(name, version, cmd string) string {
		t.Helper()
		id := strings.TrimSpace(mustCLI(t, "models", "create", "--name", name, "--version", version, "--source", dir,
			"--cmd", cmd, "--description", name+" "+version))
		if !uuidRE.MatchString(id) {
			t.Fatalf("models create printed %q, want a model id", id)
		}
		return id
	}
	m1 := create("digits", "1.0.0", pythonCmd)
	m2 := create("digits", "2.0.0", pythonCmd)
	broken := create("broken", "1.0.0", "echo failing on purpose >&2; exit 3")

	out := mustCLI(t, "models", "list", "--name", "digits")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "ID ") ||
		!strings.Contains(out, m1) || !strings.Contains(out, m2) || strings.Contains(out, broken) {
		t.Fatalf("models list:\n%s", out)
	}
	var shown map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, "models", "show", m1)), &shown); err != nil ||
		shown["model_id"] != m1 || shown["cmd"] != pythonCmd || shown["source_location"] != dir {
		t.Fatalf("models show: %v %v", shown, err)
	}

	svc := strings.TrimSpace(mustCLI(t, "services", "deploy", "--name", "digits-svc", "--model", m1,
		"--spec", "arkserve.local.small", "--description", "digits"))
	if !uuidRE.MatchString(svc) {
		t.Fatalf("services deploy printed %q", svc)
	}
	if r := waitFinished(t, api, cr.ProjectID, svc); r != "SUCCESS" {
		t.Fatalf("deployment: %s", r)
	}
	mustCLI(t, "services", "update", svc, "--model", m1+":60", "--model", m2+"::2", "--spec", "arkserve.local.small")
	if r := waitFinished(t, api, cr.ProjectID, svc); r != "SUCCESS" {
		t.Fatalf("update: %s", r)
	}
	mustCLI(t, "services", "update", svc, "--model", broken, "--spec", "arkserve.local.small")
	if r := waitFinished(t, api, cr.ProjectID, svc); r != "FAIL" {
		t.Fatalf("broken update: %s, want FAIL", r)
	}

	// The table: newest first, local times, each model as name@version.
	withLocation(t, time.FixedZone("", 2*60*60))
	table := mustCLI(t, "services", "logs", svc)
	logs, raw, err := api.ServiceLogs(context.Background(), cr.ProjectID, svc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs.Logs) != 3 {
		t.Fatalf("%d log entries:\n%s", len(logs.Logs), raw)
	}
	for _, l := range logs.Logs {
		if want := time.UnixMilli(l.UpdateTime).In(clientLocation).Format("2006-01-02T15:04:05.000Z07:00"); !strings.Contains(table, want+"  "+l.Result) {
			t.Errorf("the table has no row %s %s:\n%s", want, l.Result, table)
		}
	}
	norm := regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+02:00`).ReplaceAllString(table, "2006-01-02T15:04:05.000+02:00")
	golden(t, "testdata/logs.golden", norm)

	// --json is the API's response, byte for byte.
	logsPath := "/v1/" + cr.ProjectID + "/services/" + svc + "/logs"
	if got, want := mustCLI(t, "services", "logs", svc, "--json"), getBody(t, cr, logsPath); got != string(want)+"\n" {
		t.Fatalf("logs --json:\n%s\nwant the response\n%s", got, want)
	}
	// --update-time selects one entry, by epoch milliseconds or by the time the table shows.
	middle := logs.Logs[1]
	ms := strconv.FormatInt(middle.UpdateTime, 10)
	if got, want := mustCLI(t, "services", "logs", svc, "--json", "--update-time", ms), getBody(t, cr, logsPath+"?update_time="+ms); got != string(want)+"\n" {
		t.Fatalf("logs --update-time --json:\n%s\nwant\n%s", got, want)
	}
	for _, sel := range []string{ms, formatMillis(middle.UpdateTime)} {
		out := mustCLI(t, "services", "logs", svc, "--update-time", sel)
		if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "SUCCESS  digits@1.0.0 weight=60 instances=1; digits@2.0.0 weight=40 instances=2") {
			t.Fatalf("logs --update-time %s:\n%s", sel, out)
		}
	}
	if out := mustCLI(t, "services", "logs", svc, "--update-time", strconv.FormatInt(middle.UpdateTime+1, 10)); strings.TrimSpace(out) != "UPDATE TIME  RESULT  MODELS" {
		t.Fatalf("logs of no entry:\n%q", out)
	}

	// The other service verbs.
	out = mustCLI(t, "services", "list")
	if !strings.HasPrefix(out, "ID ") || !strings.Contains(out, svc) || !strings.Contains(out, "digits-svc") {
		t.Fatalf("services list:\n%s", out)
	}
	if got, want := mustCLI(t, "services", "list", "--json", "--name", "digits"), getBody(t, cr, "/v1/"+cr.ProjectID+"/services?service_name=digits"); got != string(want)+"\n" {
		t.Fatalf("services list --json:\n%s\nwant\n%s", got, want)
	}
	var detail map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, "services", "show", svc)), &detail); err != nil || detail["service_id"] != svc {
		t.Fatalf("services show: %v %v", detail, err)
	}
	out = mustCLI(t, "services", "events", svc)
	if !strings.HasPrefix(out, "TIME ") || strings.Count(out, "\n") < 2 {
		t.Fatalf("services events:\n%s", out)
	}
	mustCLI(t, "services", "update", svc, "--description", "digits, described")
	if err := json.Unmarshal([]byte(mustCLI(t, "services", "show", svc)), &detail); err != nil || detail["description"] != "digits, described" {
		t.Fatalf("description after update: %v %v", detail["description"], err)
	}
	body := filepath.Join(t.TempDir(), "update.json")
	if err := os.WriteFile(body, []byte(`{"description": "from a file"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, "services", "update", svc, "--file", body)
	if err := json.Unmarshal([]byte(mustCLI(t, "services", "show", svc)), &detail); err != nil || detail["description"] != "from a file" {
		t.Fatalf("description after update --file: %v %v", detail["description"], err)
	}
	withStdin(t, `{"service_name":"other","infer_type":"real-time","config":[{"model_id":"00000000-0000-0000-0000-000000000000",`+
		`"weight":"100","specification":"modelarts.vm.cpu.2u","instance_count":1}]}`)
	if _, err := cli(t, "services", "deploy", "--file", "-"); err == nil || !regexp.MustCompile(`^ModelArts\.3507: .+ \(HTTP 404\)$`).MatchString(err.Error()) {
		t.Fatalf("deploy --file - with an unknown model: %v", err)
	}
	if out := mustCLI(t, "services", "stop", svc); out != "stopping service "+svc+"\n" {
		t.Fatalf("stop printed %q", out)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		s, _, err := api.ShowService(context.Background(), cr.ProjectID, svc)
		if err != nil {
			t.Fatal(err)
		}
		if s.Status == "stopped" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("service still %s 30s after stop", s.Status)
		}
	}
	if out := mustCLI(t, "services", "start", svc); out != "starting service "+svc+"\n" {
		t.Fatalf("start printed %q", out)
	}

	// Errors: the ModelArts code and message, and the HTTP status.
	_, err = cli(t, "services", "show", "00000000-0000-0000-0000-000000000000")
	if err == nil || !regexp.MustCompile(`^ModelArts\.3502: .+ \(HTTP 404\)$`).MatchString(err.Error()) || exitCode(err) != 1 {
		t.Fatalf("show unknown service: %v", err)
	}
	_, err = cli(t, "models", "delete", m1)
	if err == nil || !strings.Contains(err.Error(), "ModelArts.3009") {
		t.Fatalf("delete a model in use: %v", err)
	}

	if out := mustCLI(t, "services", "delete", svc); out != "deleted service "+svc+"\n" {
		t.Fatalf("services delete printed %q", out)
	}
	// The models stay in use until the engine has stopped the deleted service's instances.
	deleted := ""
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := cli(t, "models", "delete", m1, "--cascade")
		deleted += out
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "ModelArts.3009") || time.Now().After(deadline) {
			t.Fatalf("models delete --cascade: %v", err)
		}
	}
	if strings.Count(deleted, "deleted model") != 2 {
		t.Fatalf("models delete --cascade printed %q", deleted)
	}
	if out := mustCLI(t, "models", "list"); strings.Count(strings.TrimSpace(out), "\n") != 1 || !strings.Contains(out, broken) {
		t.Fatalf("models left:\n%s", out)
	}
}

// golden compares got with the file, or rewrites the file with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if updateGolden() {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (-update rewrites it):\n%s\nwant\n%s", path, got, want)
	}
}

// TestClientConnection covers where the client verbs find the server, the token and the project.
func TestClientConnection(t *testing.T) {
	url := startClientTestServer(t)

	// Not logged in yet.
	_, err := cli(t, "services", "list")
	if err == nil || !strings.Contains(err.Error(), "not logged in") {
		t.Fatalf("before login: %v", err)
	}
	// The password never comes as an argument, and one is required.
	if _, err := cli(t, "login", "--url", url, "secret"); exitCode(err) != 2 {
		t.Fatalf("login with a positional password: %v", err)
	}
	if _, err := cli(t, "login", "--url", url); exitCode(err) != 2 || !strings.Contains(err.Error(), "password") {
		t.Fatalf("login without a password: %v", err)
	}
	// A wrong password is the server's 401.
	withStdin(t, "wrong\n")
	_, err = cli(t, "login", "--url", url, "--password-stdin")
	var ae *httpapi.APIError
	if !errors.As(err, &ae) || ae.Status != 401 {
		t.Fatalf("login with a wrong password: %v", err)
	}
	// ARKSERVE_PASSWORD works too.
	t.Setenv("ARKSERVE_PASSWORD", clientTestPassword)
	mustCLI(t, "login", "--url", url)
	t.Setenv("ARKSERVE_PASSWORD", "")
	path := os.Getenv("ARKSERVE_CREDENTIALS")
	cr, err := readCredentials(path, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	mustCLI(t, "services", "list")

	// Flags override the environment, which overrides the file.
	t.Setenv("ARKSERVE_TOKEN", "from-env")
	_, err = cli(t, "services", "list")
	if !errors.As(err, &ae) || ae.Code != "ModelArts.0203" {
		t.Fatalf("with ARKSERVE_TOKEN: %v", err)
	}
	mustCLI(t, "services", "list", "--token", cr.Token)
	t.Setenv("ARKSERVE_TOKEN", "")
	t.Setenv("ARKSERVE_PROJECT", strings.Repeat("0", 32))
	_, err = cli(t, "services", "list")
	if !errors.As(err, &ae) || ae.Code != "ModelArts.0210" {
		t.Fatalf("with ARKSERVE_PROJECT: %v", err)
	}
	mustCLI(t, "services", "list", "--project", cr.ProjectID)
	t.Setenv("ARKSERVE_PROJECT", "")
	if _, err := cli(t, "services", "list", "--url", "http://127.0.0.1:1"); err == nil {
		t.Fatal("--url is not used")
	}

	// An expired token is reported before any request.
	old := *cr
	old.ExpiresAt = time.Now().Add(-time.Minute)
	if err := writeCredentials(path, &old); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(t, "models", "list"); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired token: %v", err)
	}
	// A second login replaces the file; it stays private.
	withStdin(t, clientTestPassword+"\r\n")
	mustCLI(t, "login", "--password-stdin") // the URL is the stored one
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials after a second login: %v %v", st, err)
	}
	mustCLI(t, "models", "list")

	// Usage errors exit with 2.
	for _, args := range [][]string{
		{"services"}, {"services", "frobnicate"}, {"models", "show"}, {"models", "show", "a", "b"},
		{"services", "deploy", "--name", "x"}, {"services", "update", "x"},
		{"services", "deploy", "--name", "x", "--model", "a:x"}, {"services", "logs", "x", "--update-time", "yesterday"},
		{"services", "deploy", "--file", "body.json", "--name", "x"}, {"models", "create", "--name", "x"},
	} {
		if _, err := cli(t, args...); exitCode(err) != 2 {
			t.Errorf("arkserve %s: %v, want a usage error", strings.Join(args, " "), err)
		}
	}
}

func TestCredentialsPath(t *testing.T) {
	for _, tc := range []struct{ creds, xdg, home, want string }{
		{"/x/creds.json", "/xdg", "/home/u", "/x/creds.json"},
		{"", "/xdg", "/home/u", "/xdg/arkserve/credentials.json"},
		{"", "relative", "/home/u", "/home/u/.config/arkserve/credentials.json"}, // XDG says: ignore relative
		{"", "", "/home/u", "/home/u/.config/arkserve/credentials.json"},
	} {
		t.Setenv("ARKSERVE_CREDENTIALS", tc.creds)
		t.Setenv("XDG_CONFIG_HOME", tc.xdg)
		t.Setenv("HOME", tc.home)
		if got, err := credentialsPath(); err != nil || got != tc.want {
			t.Errorf("%+v: credentialsPath() = %q, %v", tc, got, err)
		}
	}
}

func TestClientModelFlags(t *testing.T) {
	for _, tc := range []struct {
		models  []string
		weights []int
		counts  []int
		bad     bool
	}{
		{models: []string{"a"}, weights: []int{100}, counts: []int{1}},
		{models: []string{"a", "b"}, weights: []int{50, 50}, counts: []int{1, 1}},
		{models: []string{"a", "b", "c"}, weights: []int{34, 33, 33}, counts: []int{1, 1, 1}},
		{models: []string{"a:70", "b"}, weights: []int{70, 30}, counts: []int{1, 1}},
		{models: []string{"a:70:3", "b::2"}, weights: []int{70, 30}, counts: []int{3, 2}},
		{models: []string{"a:60", "b:40"}, weights: []int{60, 40}, counts: []int{1, 1}},
		{models: []string{"a:100", "b"}, weights: []int{100, 0}, counts: []int{1, 1}},
		{models: []string{"a:101"}, bad: true},
		{models: []string{"a:-1"}, bad: true},
		{models: []string{"a:1:0"}, bad: true},
		{models: []string{"a:1:1:1"}, bad: true},
		{models: []string{":50"}, bad: true},
	} {
		spec := "s"
		cf := &configFlags{models: tc.models, spec: &spec}
		cfg, err := cf.config()
		if tc.bad {
			if exitCode(err) != 2 {
				t.Errorf("%v: err = %v, want a usage error", tc.models, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.models, err)
			continue
		}
		for i, c := range cfg {
			if c.Weight != tc.weights[i] || c.InstanceCount != tc.counts[i] || c.Specification != "s" {
				t.Errorf("%v: entry %d = %+v, want weight %d, %d instances", tc.models, i, c, tc.weights[i], tc.counts[i])
			}
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	j := fs.Bool("json", false, "")
	n := fs.String("n", "", "")
	pos, err := parseInterspersed(fs, []string{"a", "--json", "b", "-n", "v", "--", "-c", "--json"})
	if err != nil || !*j || *n != "v" || strings.Join(pos, " ") != "a b -c --json" {
		t.Fatalf("parseInterspersed = %q, json %v, n %q, %v", pos, *j, *n, err)
	}
}
